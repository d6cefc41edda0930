"""The ``biovault.v1.TransformKeyAdmin`` servicer (its client is :mod:`vault.client.keys`).

Translation only: decode the request, one core call
(:meth:`~vault.core.vault.VaultCore.renew_transform_key` or
:meth:`~vault.core.vault.VaultCore.transform_key_status`), encode the reply. Errors
leave through the single mapping of :mod:`vault.service.errors`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import grpc

from vault.api.v1 import transform_keys_pb2, transform_keys_pb2_grpc
from vault.core.renewal import TransformRenewal
from vault.service.errors import rpc_boundary
from vault.service.servicer import request_context
from vault.service.wire import add_service
from vault.types import RequestContext

__all__ = [
    "TRANSFORM_KEY_ADMIN_SERVICE_NAME",
    "TransformKeyApi",
    "add_transform_key_admin",
]

TRANSFORM_KEY_ADMIN_SERVICE_NAME: str = transform_keys_pb2.DESCRIPTOR.services_by_name[
    "TransformKeyAdmin"
].full_name


@runtime_checkable
class TransformKeyApi(Protocol):
    """What the servicer needs from the core (implemented by VaultCore)."""

    def renew_transform_key(
        self, collection: str, ctx: RequestContext, *, revoke_old: bool = False
    ) -> TransformRenewal:
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
        done = self._api.renew_transform_key(
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
