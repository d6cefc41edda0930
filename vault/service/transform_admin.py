"""The ``biovault.v1.TransformKeyAdmin`` servicer and its client.

Translation only: decode the request, one core call
(:meth:`~vault.core.vault.VaultCore.rotate_transform_key` or
:meth:`~vault.core.vault.VaultCore.transform_key_status`), encode the reply. Errors
leave through the single mapping of :mod:`vault.service.errors`. The client returns
plain dictionaries shaped like the CLI's JSON, so the command stays free of protobuf.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import grpc

from vault.api.v1 import transform_keys_pb2, transform_keys_pb2_grpc
from vault.core.renewal import TransformRotation
from vault.service.client import DEFAULT_TIMEOUT, client_error
from vault.service.errors import rpc_boundary
from vault.service.servicer import request_context
from vault.service.tls import ChannelClient, ClientTls
from vault.service.wire import add_service
from vault.types import RequestContext

__all__ = [
    "TRANSFORM_KEY_ADMIN_SERVICE_NAME",
    "TransformKeyAdminClient",
    "TransformKeyApi",
    "add_transform_key_admin",
]

TRANSFORM_KEY_ADMIN_SERVICE_NAME: str = transform_keys_pb2.DESCRIPTOR.services_by_name[
    "TransformKeyAdmin"
].full_name


@runtime_checkable
class TransformKeyApi(Protocol):
    """What the servicer needs from the core (implemented by VaultCore)."""

    def rotate_transform_key(
        self, collection: str, ctx: RequestContext, *, revoke_old: bool = False
    ) -> TransformRotation:
        """Start a new transform key version, optionally revoking older templates."""
        ...

    def transform_key_status(self, collection: str) -> dict[int, int]:
        """Live templates per transform key version."""
        ...


class TransformKeyAdminServicer(transform_keys_pb2_grpc.TransformKeyAdminServicer):
    """Serves ``TransformKeyAdmin`` from a :class:`TransformKeyApi`."""

    def __init__(self, api: TransformKeyApi) -> None:
        self._api = api

    @rpc_boundary
    def RotateTransformKey(
        self, request: transform_keys_pb2.RotateTransformKeyRequest, context: Any
    ) -> transform_keys_pb2.TransformKeyRotation:
        """Renew one collection's transform key."""
        done = self._api.rotate_transform_key(
            request.collection, request_context(context), revoke_old=request.revoke_old
        )
        return transform_keys_pb2.TransformKeyRotation(
            collection=done.collection,
            key_version=done.key_version,
            revoked=done.revoked,
            templates_by_key_version=done.templates_by_key_version,
        )

    @rpc_boundary
    def GetTransformKeyStatus(
        self, request: transform_keys_pb2.GetTransformKeyStatusRequest, context: Any
    ) -> transform_keys_pb2.TransformKeyStatus:
        """Live templates per key version of one collection."""
        counts = self._api.transform_key_status(request.collection)
        return transform_keys_pb2.TransformKeyStatus(
            collection=request.collection, templates_by_key_version=counts
        )


def add_transform_key_admin(api: TransformKeyApi, server: grpc.Server) -> str:
    """Register the TransformKeyAdmin service for ``api``; returns its full name."""
    return add_service(
        transform_keys_pb2, "TransformKeyAdmin", TransformKeyAdminServicer(api), server
    )


def _counts(reply: Any) -> dict[str, int]:
    return {str(v): int(n) for v, n in sorted(reply.templates_by_key_version.items())}


class TransformKeyAdminClient(ChannelClient):
    """Connection to a running vault's TransformKeyAdmin service."""

    def __init__(
        self,
        target: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        tls: ClientTls | None = None,
    ) -> None:
        super().__init__(target, tls, timeout=timeout)
        self._stub = transform_keys_pb2_grpc.TransformKeyAdminStub(self._channel)

    def rotate(self, collection: str, *, revoke_old: bool = False) -> dict[str, Any]:
        """The JSON document of ``biovault keys rotate cancelable``."""
        request = transform_keys_pb2.RotateTransformKeyRequest(
            collection=collection, revoke_old=revoke_old
        )
        try:
            reply = self._stub.RotateTransformKey(request, timeout=self._timeout)
        except grpc.RpcError as error:
            raise client_error(error) from None
        return {
            "kind": "cancelable",
            "collection": reply.collection,
            "key_version": reply.key_version,
            "revoked": reply.revoked,
            "templates_by_key_version": _counts(reply),
        }

    def status(self, collection: str) -> dict[str, Any]:
        """Live templates per transform key version of one collection."""
        request = transform_keys_pb2.GetTransformKeyStatusRequest(collection=collection)
        try:
            reply = self._stub.GetTransformKeyStatus(request, timeout=self._timeout)
        except grpc.RpcError as error:
            raise client_error(error) from None
        return {"collection": reply.collection, "templates_by_key_version": _counts(reply)}
