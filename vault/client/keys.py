"""The key officer's client of ``biovault.v1.KeyAdmin`` and ``TransformKeyAdmin``.

Replies are frozen values of :mod:`vault.client.results` (``biovault keys`` turns
them into its JSON); every gRPC failure becomes a
:class:`~vault.client.channel.ClientError`. Nothing here ever carries key
material: versions, counts and timestamps only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import grpc

from vault.api.v1 import admin_pb2, admin_pb2_grpc, transform_keys_pb2, transform_keys_pb2_grpc
from vault.client.channel import ChannelClient, ClientError, translated_errors
from vault.client.results import (
    CollectionKeys,
    KeyStatus,
    RotationJournal,
    RotationSummary,
    SecretStatus,
    TransformKeyRenewal,
    TransformKeyStatus,
)

__all__ = ["ROTATION_KINDS", "KeyAdminClient"]

_KIND_CODES: Final = {"kek": admin_pb2.ROTATION_KIND_KEK, "dek": admin_pb2.ROTATION_KIND_DEK}
_KIND_NAMES: Final = {code: name for name, code in _KIND_CODES.items()}
#: The kinds :meth:`KeyAdminClient.rotate` accepts.
ROTATION_KINDS: Final = tuple(_KIND_CODES)

ProgressCallback = Callable[[str, int, int, str], None]


def _counts(wire: Mapping[Any, Any]) -> dict[int, int]:
    return {int(v): int(n) for v, n in sorted(wire.items())}


def _decode_status(reply: admin_pb2.KeyStatus) -> KeyStatus:
    return KeyStatus(
        kek_name=reply.kek_name,
        kek_version=reply.kek_version,
        min_decryption_version=reply.min_decryption_version,
        min_available_version=reply.min_available_version,
        blobs_by_kek_version=_counts(reply.blobs_by_kek_version),
        wrapped_keys_by_kek_version=_counts(reply.wrapped_keys_by_kek_version),
        collections=tuple(
            CollectionKeys(
                name=c.name,
                dek_version=c.dek_version,
                dek_versions=tuple(c.dek_versions),
                blocks=c.blocks,
                blocks_by_dek_version=_counts(c.blocks_by_dek_version),
            )
            for c in reply.collections
        ),
        rotations={
            _KIND_NAMES.get(r.kind, "unknown"): RotationJournal(
                kind=_KIND_NAMES.get(r.kind, "unknown"),
                state=r.state,
                from_version=r.from_version,
                to_version=r.to_version,
                started_at=r.started_at,
                finished_at=r.finished_at,
                trim_at=r.trim_at if r.HasField("trim_at") else None,
                trimmed=r.trimmed,
            )
            for r in reply.rotations
        },
        running=reply.running or None,
        auth_method=reply.auth_method,
        secrets=tuple(
            SecretStatus(kind=s.kind, owner=s.owner, version=s.version, kek_version=s.kek_version)
            for s in reply.secrets
        ),
    )


def _decode_summary(summary: admin_pb2.RotationSummary) -> RotationSummary:
    return RotationSummary(
        kind=_KIND_NAMES.get(summary.kind, "unknown"),
        key_version=summary.key_version,
        rewrapped=summary.rewrapped,
        remaining_old=summary.remaining_old,
        from_version=summary.from_version,
        resumed=summary.resumed,
        noop=summary.noop,
        started_at=summary.started_at,
        finished_at=summary.finished_at,
        trim_at=summary.trim_at if summary.HasField("trim_at") else None,
        resealed=summary.resealed,
        collections=dict(sorted(summary.collections.items())),
        keyset_resealed=summary.keyset_resealed,
    )


class KeyAdminClient(ChannelClient):
    """A key officer's connection to a running vault's key administration.

    Takes the arguments of :class:`~vault.client.channel.ChannelClient` (target,
    ``ca_file=``, ``cert_file=``, ``key_file=``, ...); ``timeout=`` bounds a status
    call and a whole rotation.
    """

    def _connected(self, channel: grpc.Channel) -> None:
        self._stub = admin_pb2_grpc.KeyAdminStub(channel)
        self._transform = transform_keys_pb2_grpc.TransformKeyAdminStub(channel)

    def status(self) -> KeyStatus:
        """Which KEK and DEK versions protect what, and the last rotations."""
        with translated_errors():
            reply = self._stub.GetKeyStatus(admin_pb2.GetKeyStatusRequest(), timeout=self._timeout)
        return _decode_status(reply)

    def rotate(
        self,
        kind: str,
        *,
        resume_only: bool = False,
        collections: Sequence[str] = (),
        batch_size: int = 0,
        throttle: float = 0.0,
        trim_after: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> RotationSummary:
        """Run (or follow) a rotation to its end inside the service, online.

        Args:
            kind: ``"kek"`` or ``"dek"``.
            resume_only: Only finish an interrupted rotation.
            collections: DEK rotation scope (empty: everything).
            batch_size: Wrapped keys per Transit batch (0: the service's default).
            throttle: Seconds to pause after each batch / block.
            trim_after: KEK: delete old versions this many seconds after success.
            on_progress: Called with (phase, done, total, detail) per report.

        Returns:
            The summary; ``remaining_old`` > 0 means the rotation did not finish.

        Raises:
            ValueError: If ``kind`` is not one of :data:`ROTATION_KINDS`.
            ClientError: The call failed or the stream ended without a summary.
        """
        if kind not in _KIND_CODES:
            raise ValueError(f"kind must be one of {', '.join(ROTATION_KINDS)}, not {kind!r}")
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
        with translated_errors():
            for event in self._stub.RotateKeys(request, timeout=self._timeout):
                if event.HasField("summary"):
                    summary = event.summary
                elif on_progress is not None:
                    p = event.progress
                    on_progress(p.phase, p.done, p.total, p.detail)
        if summary is None:
            raise ClientError(grpc.StatusCode.UNAVAILABLE, "the rotation stream ended early")
        return _decode_summary(summary)

    def renew_transform_key(
        self, collection: str, *, revoke_old: bool = False
    ) -> TransformKeyRenewal:
        """Start a new transform key version of a cancelable or hybrid collection.

        Args:
            collection: The keyed collection.
            revoke_old: Erase every template enrolled under an older key version.

        Raises:
            ClientError: The call failed (FAILED_PRECONDITION for a ckks collection).
        """
        request = transform_keys_pb2.RotateTransformKeyRequest(
            collection=collection, revoke_old=revoke_old
        )
        with translated_errors():
            reply = self._transform.RotateTransformKey(request, timeout=self._timeout)
        return TransformKeyRenewal(
            collection=reply.collection,
            key_version=reply.key_version,
            revoked=reply.revoked,
            templates_by_key_version=_counts(reply.templates_by_key_version),
        )

    def transform_key_status(self, collection: str) -> TransformKeyStatus:
        """Live templates per transform key version of one keyed collection.

        Raises:
            ClientError: The call failed (FAILED_PRECONDITION for a ckks collection).
        """
        request = transform_keys_pb2.GetTransformKeyStatusRequest(collection=collection)
        with translated_errors():
            reply = self._transform.GetTransformKeyStatus(request, timeout=self._timeout)
        return TransformKeyStatus(
            collection=reply.collection,
            templates_by_key_version=_counts(reply.templates_by_key_version),
        )
