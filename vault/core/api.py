"""The transport-free use-case surface the gRPC servicer talks to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from vault.types import (
    CollectionInfo,
    CollectionSpec,
    DeleteResult,
    Match,
    RequestContext,
    VerifyResult,
)

__all__ = ["VaultApi"]


class VaultApi(Protocol):
    """Use cases of the vault. Every method validates its input before any
    cryptography runs, raises only ``vault.errors.VaultError`` subclasses, and
    writes an audit event."""

    def create_collection(self, spec: CollectionSpec, ctx: RequestContext) -> CollectionInfo:
        """Create a collection (AlreadyExists if taken, InvalidArgument if malformed)."""
        ...

    def get_collection(self, name: str, ctx: RequestContext) -> CollectionInfo:
        """Describe a collection (NotFound if unknown)."""
        ...

    def enroll(
        self,
        collection: str,
        subject_ids: Sequence[str],
        templates: np.ndarray,
        ctx: RequestContext,
    ) -> int:
        """Enroll rows of ``templates`` (n, dim) under ``subject_ids``; all or nothing.
        Returns the number enrolled."""
        ...

    def verify(
        self, collection: str, subject_id: str, template: np.ndarray, ctx: RequestContext
    ) -> VerifyResult:
        """1:1 comparison of one probe (dim,) or (1, dim) with one enrolled subject.
        An unknown subject id gives a non-match, indistinguishable from a mismatch."""
        ...

    def identify(
        self, collection: str, probes: np.ndarray, top_k: int, ctx: RequestContext
    ) -> list[list[Match]]:
        """1:N search of each probe row; best first, only candidates at or above the
        match threshold (an :class:`~vault.types.IdentifyResult` from the core).
        FailedPrecondition unless the collection allows identification."""
        ...

    def delete(self, collection: str, subject_id: str, ctx: RequestContext) -> DeleteResult:
        """Erase a subject's template (NotFound if unknown)."""
        ...

    def delete_many(
        self, collection: str, subject_ids: Sequence[str], ctx: RequestContext
    ) -> list[DeleteResult]:
        """Erase every listed subject, one result (and receipt) each, in order; all or
        nothing: a repeated id is InvalidArgument and an unknown one NotFound, and
        either erases nobody."""
        ...

    def is_serving(self) -> bool:
        """True while keys are loaded and the key service answers."""
        ...
