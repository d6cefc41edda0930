"""Enrollment streams: reassembly in the servicer (chunking is :mod:`vault.client.enrollment`).

A large enrollment travels as a client stream of ``EnrollRequest`` chunks so no
single message crosses the gRPC size limit; the servicer gathers the whole
stream into one array and one id list so the core enrolls it all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from vault.api.v1 import vault_pb2
from vault.errors import InvalidArgument, ResourceExhausted
from vault.service.codec import decode_templates
from vault.service.wire import MalformedRequest

__all__ = [
    "DEFAULT_MAX_ENROLL_BYTES",
    "Enrollment",
    "collect_enrollment",
]

#: Largest template payload one Enroll stream may carry (memory guard).
DEFAULT_MAX_ENROLL_BYTES: Final = 1024 * 1024 * 1024
_CONSENT_FIELDS: Final = ("collection", "purpose", "consent_ref", "legal_basis")


@dataclass(frozen=True)
class Enrollment:
    """A whole Enroll stream, reassembled."""

    collection: str
    subject_ids: tuple[str, ...]
    templates: np.ndarray
    purpose: str
    consent_ref: str
    legal_basis: str


def collect_enrollment(
    chunks: Iterable[vault_pb2.EnrollRequest | MalformedRequest],
    *,
    max_bytes: int = DEFAULT_MAX_ENROLL_BYTES,
) -> Enrollment:
    """Gather an Enroll stream into one :class:`Enrollment`.

    Args:
        chunks: The request iterator of the stream.
        max_bytes: Largest total template payload accepted.

    Returns:
        All ids and rows of the stream, in order.

    Raises:
        InvalidArgument: If the stream is empty, the first chunk names no
            collection, a later chunk changes a consent field, dim or dtype, or a
            chunk's id count differs from its row count.
        ResourceExhausted: If the payload exceeds ``max_bytes``.
    """
    first: vault_pb2.EnrollRequest | None = None
    ids: list[str] = []
    arrays: list[np.ndarray] = []
    total_bytes = 0
    for number, chunk in enumerate(chunks, start=1):
        if isinstance(chunk, MalformedRequest):
            raise chunk.error()
        where = f"enroll chunk {number}"
        if first is None:
            if not chunk.collection:
                raise InvalidArgument("the first enroll chunk must name the collection")
            first = chunk
        else:
            _check_consistent(first, chunk, where)
        total_bytes += len(chunk.templates.data)
        if total_bytes > max_bytes:
            raise ResourceExhausted(
                f"enroll stream exceeds {max_bytes} bytes of templates; split it into several calls"
            )
        rows = decode_templates(chunk, "templates")
        if arrays and (rows.shape[1], rows.dtype) != (arrays[0].shape[1], arrays[0].dtype):
            raise InvalidArgument(f"{where} changes the dim or dtype of the templates")
        if len(chunk.subject_ids) != rows.shape[0]:
            raise InvalidArgument(
                f"{where} has {len(chunk.subject_ids)} subject_ids for {rows.shape[0]} rows"
            )
        ids.extend(chunk.subject_ids)
        arrays.append(rows)
    if first is None:
        raise InvalidArgument("the enroll stream carried no chunks")
    templates = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    return Enrollment(
        collection=first.collection,
        subject_ids=tuple(ids),
        templates=templates,
        purpose=first.purpose,
        consent_ref=first.consent_ref,
        legal_basis=first.legal_basis,
    )


def _check_consistent(first: Any, chunk: Any, where: str) -> None:
    for name in _CONSENT_FIELDS:
        value = getattr(chunk, name)
        if value and value != getattr(first, name):
            raise InvalidArgument(f"{where} changes {name}; only the first chunk sets it")
