"""The ``biovault.v1.KeyAdmin`` servicer: key status and online rotation.

Translation only: decode the request, one call into
:class:`~vault.core.keyops.KeyOps`, encode the reply. A rotation runs on the
core's own thread; this handler only relays its progress, so a client that goes
away does not stop it. Errors leave through the same mapping as every other RPC.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import grpc

from vault.api.v1 import admin_pb2, admin_pb2_grpc
from vault.core.keyops import KeyStatus, RotationHandle
from vault.errors import InvalidArgument
from vault.keys.rotation import RotationOptions, RotationProgress, RotationSummary
from vault.service.errors import rpc_boundary, stream_boundary
from vault.service.servicer import request_context
from vault.service.wire import add_service
from vault.types import RequestContext

__all__ = ["KEY_ADMIN_SERVICE_NAME", "KeyAdminApi", "KeyAdminServicer", "add_key_admin"]

KEY_ADMIN_SERVICE_NAME: str = admin_pb2.DESCRIPTOR.services_by_name["KeyAdmin"].full_name

_KINDS = {admin_pb2.ROTATION_KIND_KEK: "kek", admin_pb2.ROTATION_KIND_DEK: "dek"}
_KIND_CODES = {name: code for code, name in _KINDS.items()}
_DEFAULT_BATCH = 128


class KeyAdminApi(Protocol):
    """What the servicer needs from the core (implemented by KeyOps)."""

    def status(self, ctx: RequestContext) -> KeyStatus:
        """Key versions and blob counts."""
        ...

    def rotate(self, options: RotationOptions, ctx: RequestContext) -> RotationHandle:
        """Start (or attach to) a rotation."""
        ...


def decode_rotation_request(request: admin_pb2.RotateKeysRequest) -> RotationOptions:
    """Wire request -> options (ranges are checked by the core).

    Raises:
        InvalidArgument: Unknown kind or a non-finite number.
    """
    kind = _KINDS.get(request.kind)
    if kind is None:
        raise InvalidArgument("rotation kind must be KEK or DEK")
    throttle = float(request.throttle_seconds)
    trim_after = request.trim_after_seconds if request.HasField("trim_after_seconds") else None
    if throttle != throttle or (trim_after is not None and trim_after != trim_after):
        raise InvalidArgument("throttle and trim-after must be numbers")
    return RotationOptions(
        kind=kind,
        resume_only=request.resume_only,
        collections=tuple(request.collections),
        batch_size=request.batch_size or _DEFAULT_BATCH,
        throttle=throttle,
        trim_after=trim_after,
    )


def _journal_versions(journal: dict[str, Any]) -> tuple[int, int]:
    """(from, to) of a journal; a DEK journal spans its collections' versions."""
    steps = journal.get("collections")
    if isinstance(steps, dict) and steps:
        froms = [int(s.get("from") or 0) for s in steps.values()]
        tos = [int(s.get("to") or 0) for s in steps.values()]
        return min(froms), max(tos)
    return int(journal.get("from_version") or 0), int(journal.get("to_version") or 0)


def encode_status(status: KeyStatus) -> admin_pb2.KeyStatus:
    """Core status -> wire message."""
    reply = admin_pb2.KeyStatus(
        kek_name=status.kek_name,
        kek_version=status.kek_version,
        min_decryption_version=status.min_decryption_version,
        min_available_version=status.min_available_version,
        running=status.running,
        auth_method=status.auth_method,
    )
    reply.blobs_by_kek_version.update(status.blobs_by_kek_version)
    reply.wrapped_keys_by_kek_version.update(status.wrapped_keys_by_kek_version)
    for secret in status.secrets:
        reply.secrets.add(
            kind=secret.kind,
            owner=secret.owner,
            version=secret.version,
            kek_version=secret.kek_version,
        )
    for collection in status.collections:
        entry = reply.collections.add(
            name=collection.name,
            dek_version=collection.dek_version,
            dek_versions=collection.dek_versions,
            blocks=collection.blocks,
        )
        entry.blocks_by_dek_version.update(collection.blocks_by_dek_version)
    for kind, journal in sorted(status.rotations.items()):
        from_version, to_version = _journal_versions(journal)
        state = reply.rotations.add(
            kind=_KIND_CODES.get(kind, admin_pb2.ROTATION_KIND_UNSPECIFIED),
            state=str(journal.get("state", "")),
            from_version=from_version,
            to_version=to_version,
            started_at=float(journal.get("started_at") or 0.0),
            finished_at=float(journal.get("finished_at") or 0.0),
            trimmed=bool(journal.get("trimmed")),
        )
        if journal.get("trim_at") is not None:
            state.trim_at = float(journal["trim_at"])
    return reply


def encode_event(event: RotationProgress | RotationSummary) -> admin_pb2.RotationEvent:
    """Core progress or summary -> wire event."""
    if isinstance(event, RotationProgress):
        return admin_pb2.RotationEvent(
            progress=admin_pb2.RotationProgress(
                phase=event.phase, done=event.done, total=event.total, detail=event.detail
            )
        )
    summary = admin_pb2.RotationSummary(
        kind=_KIND_CODES[event.kind],
        key_version=event.key_version,
        from_version=event.from_version,
        rewrapped=event.rewrapped,
        remaining_old=event.remaining_old,
        resumed=event.resumed,
        noop=event.noop,
        resealed=event.resealed,
        keyset_resealed=event.keyset_resealed,
        started_at=event.started_at,
        finished_at=event.finished_at,
    )
    summary.collections.update(event.collections)
    if event.trim_at is not None:
        summary.trim_at = event.trim_at
    return admin_pb2.RotationEvent(summary=summary)


class KeyAdminServicer(admin_pb2_grpc.KeyAdminServicer):
    """Serves ``KeyAdmin`` from a :class:`KeyAdminApi`."""

    def __init__(self, api: KeyAdminApi) -> None:
        self._api = api

    @rpc_boundary
    def GetKeyStatus(
        self, request: admin_pb2.GetKeyStatusRequest, context: Any
    ) -> admin_pb2.KeyStatus:
        """Report key versions and blob counts."""
        return encode_status(self._api.status(request_context(context)))

    @stream_boundary
    def RotateKeys(
        self, request: admin_pb2.RotateKeysRequest, context: Any
    ) -> Iterator[admin_pb2.RotationEvent]:
        """Start or follow a rotation and relay its events."""
        handle = self._api.rotate(decode_rotation_request(request), request_context(context))
        for event in handle.events():
            yield encode_event(event)


def add_key_admin(api: KeyAdminApi, server: grpc.Server) -> str:
    """Register the KeyAdmin service for ``api``; returns its full name."""
    return add_service(admin_pb2, "KeyAdmin", KeyAdminServicer(api), server)
