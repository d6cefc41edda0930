"""An in-memory stand-in for :class:`vault.core.api.VaultApi` and a served fixture.

The fake validates like the real core (shapes, finiteness, names, policy) and keeps
plaintext templates - acceptable only because it never leaves the test suite.
"""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np

from vault.client import VaultClient
from vault.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    TemplateError,
)
from vault.service.health import VaultHealth
from vault.service.server import build_server
from vault.types import (
    CollectionInfo,
    CollectionSpec,
    DeleteResult,
    Match,
    RequestContext,
    VerifyResult,
)

CREATED_AT = 1_700_000_000.25


@dataclass
class _Collection:
    spec: CollectionSpec
    ids: list[str] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)


class FakeVault:
    """Plaintext cosine matching with the core's validation and error behaviour."""

    def __init__(self) -> None:
        self.serving = True
        self.fail_with: BaseException | None = None
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.contexts: list[RequestContext] = []
        self._collections: dict[str, _Collection] = {}
        self._lock = threading.Lock()

    def _enter(self, name: str, ctx: RequestContext, *args: Any) -> None:
        self.calls.append((name, args))
        self.contexts.append(ctx)
        if self.fail_with is not None:
            raise self.fail_with

    def _get(self, name: str) -> _Collection:
        if name not in self._collections:
            raise NotFound(f"collection {name!r} does not exist")
        return self._collections[name]

    @staticmethod
    def _check_rows(rows: np.ndarray, dim: int) -> np.ndarray:
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        if rows.ndim != 2 or rows.shape[1] != dim:
            raise TemplateError(f"templates must have {dim} columns")
        if not np.all(np.isfinite(rows)):
            raise TemplateError("templates must be finite")
        norms = np.linalg.norm(rows, axis=1)
        if np.any(norms == 0) or not np.all(np.isfinite(norms)):
            raise TemplateError("templates must have a finite, non-zero norm")
        return rows / norms[:, None]

    def create_collection(self, spec: CollectionSpec, ctx: RequestContext) -> CollectionInfo:
        self._enter("create_collection", ctx, spec)
        if not spec.name or not spec.name.isprintable():
            raise InvalidArgument("collection name must be printable and non-empty")
        if spec.dim < 1 or spec.dim > 4096 or not math.isfinite(spec.match_threshold):
            raise InvalidArgument("dim or threshold out of range")
        with self._lock:
            if spec.name in self._collections:
                raise AlreadyExists(f"collection {spec.name!r} already exists")
            self._collections[spec.name] = _Collection(spec)
        return self._info(spec.name)

    def get_collection(self, name: str, ctx: RequestContext) -> CollectionInfo:
        self._enter("get_collection", ctx, name)
        return self._info(name)

    def _info(self, name: str) -> CollectionInfo:
        spec = self._get(name).spec
        return CollectionInfo(
            name=spec.name,
            mode=spec.mode,
            dim=spec.dim,
            allow_identification=spec.allow_identification,
            purposes=spec.purposes,
            match_threshold=spec.match_threshold,
            size=len(self._collections[name].ids),
            created_at=CREATED_AT,
        )

    def enroll(
        self,
        collection: str,
        subject_ids: Sequence[str],
        templates: np.ndarray,
        ctx: RequestContext,
    ) -> int:
        self._enter("enroll", ctx, collection, tuple(subject_ids), templates)
        target = self._get(collection)
        rows = self._check_rows(templates, target.spec.dim)
        if len(subject_ids) != rows.shape[0] or any(not i for i in subject_ids):
            raise InvalidArgument("one non-empty id per row")
        if len(set(subject_ids)) != len(subject_ids) or set(subject_ids) & set(target.ids):
            raise AlreadyExists("subject id already enrolled")
        target.ids.extend(subject_ids)
        target.rows.extend(rows)
        return len(subject_ids)

    def verify(
        self, collection: str, subject_id: str, template: np.ndarray, ctx: RequestContext
    ) -> VerifyResult:
        self._enter("verify", ctx, collection, subject_id, template)
        target = self._get(collection)
        probe = self._check_rows(template, target.spec.dim)[0]
        if subject_id not in target.ids:
            return VerifyResult(match=False, score=0.0)
        score = float(target.rows[target.ids.index(subject_id)] @ probe)
        return VerifyResult(match=score >= target.spec.match_threshold, score=score)

    def identify(
        self, collection: str, probes: np.ndarray, top_k: int, ctx: RequestContext
    ) -> list[list[Match]]:
        self._enter("identify", ctx, collection, probes, top_k)
        target = self._get(collection)
        if not target.spec.allow_identification:
            raise FailedPrecondition(f"collection {collection!r} does not allow identification")
        if top_k < 1:
            raise InvalidArgument("top_k must be >= 1")
        rows = self._check_rows(probes, target.spec.dim)
        if not target.ids:
            return [[] for _ in rows]
        scores = rows @ np.stack(target.rows).T
        order = np.argsort(-scores, axis=1)[:, :top_k]
        return [
            [Match(target.ids[j], float(scores[i, j])) for j in order[i]] for i in range(len(rows))
        ]

    def delete(self, collection: str, subject_id: str, ctx: RequestContext) -> DeleteResult:
        self._enter("delete", ctx, collection, subject_id)
        target = self._get(collection)
        if subject_id not in target.ids:
            raise NotFound(f"subject {subject_id!r} is not enrolled")
        index = target.ids.index(subject_id)
        del target.ids[index], target.rows[index]
        return DeleteResult(subject_id=subject_id, erased=1, erased_at=CREATED_AT + 1)

    def delete_many(
        self, collection: str, subject_ids: Sequence[str], ctx: RequestContext
    ) -> list[DeleteResult]:
        """The core's all-or-nothing contract: check every id, then erase them all."""
        self._enter("delete_many", ctx, collection, tuple(subject_ids))
        target = self._get(collection)
        if len(set(subject_ids)) != len(subject_ids):
            raise InvalidArgument("the list of subjects to erase names a subject twice")
        missing = [s for s in subject_ids if s not in target.ids]
        if missing:
            raise NotFound(f"{len(missing)} of the listed subjects are not in this collection")
        gone = set(subject_ids)
        kept = [(i, r) for i, r in zip(target.ids, target.rows, strict=True) if i not in gone]
        target.ids[:] = [i for i, _ in kept]
        target.rows[:] = [r for _, r in kept]
        return [DeleteResult(subject_id=s, erased=1, erased_at=CREATED_AT + 1) for s in subject_ids]

    def is_serving(self) -> bool:
        if isinstance(self.fail_with, Exception) and not self.serving:
            raise self.fail_with
        return self.serving


@dataclass
class Served:
    """A real gRPC server on loopback around a :class:`FakeVault`."""

    api: FakeVault
    server: grpc.Server
    health: VaultHealth
    port: int

    @property
    def target(self) -> str:
        """Where clients connect."""
        return f"127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> VaultClient:
        """A new client of this server."""
        return VaultClient(self.target, **kwargs)


@contextmanager
def served(api: FakeVault, **kwargs: Any) -> Iterator[Served]:
    """Serve ``api`` on 127.0.0.1 with a free port until the block ends."""
    options: dict[str, Any] = {"max_message_bytes": 4 * 1024 * 1024, "workers": 4}
    options.update(kwargs)
    server, health, port = build_server(api, "127.0.0.1:0", **options)
    server.start()
    try:
        yield Served(api, server, health, port)
    finally:
        health.close()
        server.stop(None).wait()


def unit_rows(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    """Random float32 rows of unit norm."""
    values = rng.standard_normal((rows, dim))
    return (values / np.linalg.norm(values, axis=1, keepdims=True)).astype(np.float32)


def free_port() -> int:
    """A loopback TCP port nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
