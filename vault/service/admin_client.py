"""A small synchronous client of ``biovault.v1.KeyAdmin`` for ``biovault keys``.

Replies are plain dictionaries shaped like the CLI's JSON output, so the command
module stays free of protobuf; every gRPC failure becomes a :class:`ClientError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc

from vault.api.v1 import admin_pb2, admin_pb2_grpc
from vault.service.client import DEFAULT_TIMEOUT, ClientError, client_error
from vault.service.tls import ChannelClient, ClientTls

__all__ = ["KeyAdminClient"]

_KIND_CODES = {"kek": admin_pb2.ROTATION_KIND_KEK, "dek": admin_pb2.ROTATION_KIND_DEK}
_KIND_NAMES = {code: name for name, code in _KIND_CODES.items()}


def _status_json(reply: admin_pb2.KeyStatus) -> dict[str, Any]:
    return {
        "kek_name": reply.kek_name,
        "kek_version": reply.kek_version,
        "min_decryption_version": reply.min_decryption_version,
        "min_available_version": reply.min_available_version,
        "blobs_by_kek_version": {
            str(v): int(n) for v, n in sorted(reply.blobs_by_kek_version.items())
        },
        "wrapped_keys_by_kek_version": {
            str(v): int(n) for v, n in sorted(reply.wrapped_keys_by_kek_version.items())
        },
        "collections": [
            {
                "name": c.name,
                "dek_version": c.dek_version,
                "dek_versions": list(c.dek_versions),
                "blocks": c.blocks,
                "blocks_by_dek_version": {
                    str(v): int(n) for v, n in sorted(c.blocks_by_dek_version.items())
                },
            }
            for c in reply.collections
        ],
        "rotations": {
            _KIND_NAMES.get(r.kind, "unknown"): {
                "state": r.state,
                "from_version": r.from_version,
                "to_version": r.to_version,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "trim_at": r.trim_at if r.HasField("trim_at") else None,
                "trimmed": r.trimmed,
            }
            for r in reply.rotations
        },
        "running": reply.running or None,
        "auth_method": reply.auth_method,
    }


def _summary_json(summary: admin_pb2.RotationSummary) -> dict[str, Any]:
    kind = _KIND_NAMES.get(summary.kind, "unknown")
    result: dict[str, Any] = {
        "kind": kind,
        "key_version": summary.key_version,
        "rewrapped": summary.rewrapped,
        "remaining_old": summary.remaining_old,
        "from_version": summary.from_version,
        "resumed": summary.resumed,
        "noop": summary.noop,
        "started_at": summary.started_at,
        "finished_at": summary.finished_at,
    }
    if kind == "kek":
        result["trim_at"] = summary.trim_at if summary.HasField("trim_at") else None
    else:
        result["resealed"] = summary.resealed
        result["collections"] = dict(sorted(summary.collections.items()))
        result["keyset_resealed"] = summary.keyset_resealed
    return result


class KeyAdminClient(ChannelClient):
    """Connection to a running vault's KeyAdmin service.

    Args:
        target: ``HOST:PORT`` of the service; loopback until TLS exists.
        timeout: Deadline of a status call, and of a whole rotation (None: none).
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        tls: ClientTls | None = None,
    ) -> None:
        super().__init__(target, tls, timeout=timeout)
        self._stub = admin_pb2_grpc.KeyAdminStub(self._channel)

    def status(self) -> dict[str, Any]:
        """Key status as the JSON document of ``biovault keys status``."""
        try:
            reply = self._stub.GetKeyStatus(admin_pb2.GetKeyStatusRequest(), timeout=self._timeout)
        except grpc.RpcError as error:
            raise client_error(error) from None
        return _status_json(reply)

    def rotate(
        self,
        kind: str,
        *,
        resume_only: bool = False,
        collections: Sequence[str] = (),
        batch_size: int = 0,
        throttle: float = 0.0,
        trim_after: float | None = None,
        on_progress: Callable[[str, int, int, str], None] | None = None,
    ) -> dict[str, Any]:
        """Run (or follow) a rotation to its end; returns the summary JSON.

        Args:
            kind: ``"kek"`` or ``"dek"``.
            resume_only: Only finish an interrupted rotation.
            collections: DEK rotation scope (empty: everything).
            batch_size: Wrapped keys per Transit batch (0: the service's default).
            throttle: Seconds to pause after each batch / block.
            trim_after: KEK: delete old versions this many seconds after success.
            on_progress: Called with (phase, done, total, detail) per report.

        Raises:
            ClientError: The call failed or the stream ended without a summary.
        """
        request = admin_pb2.RotateKeysRequest(
            kind=_KIND_CODES[kind],
            resume_only=resume_only,
            collections=list(collections),
            batch_size=batch_size,
            throttle_seconds=throttle,
        )
        if trim_after is not None:
            request.trim_after_seconds = trim_after
        summary = None
        try:
            for event in self._stub.RotateKeys(request, timeout=self._timeout):
                if event.HasField("summary"):
                    summary = event.summary
                elif on_progress is not None:
                    p = event.progress
                    on_progress(p.phase, p.done, p.total, p.detail)
        except grpc.RpcError as error:
            raise client_error(error) from None
        if summary is None:
            raise ClientError(grpc.StatusCode.UNAVAILABLE, "the rotation stream ended early")
        return _summary_json(summary)
