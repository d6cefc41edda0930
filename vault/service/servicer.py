"""The ``biovault.v1.TemplateVault`` servicer: decode, one core call, encode.

No policy lives here. Every method runs inside :func:`rpc_boundary`, which maps
errors to status codes; validation beyond the wire format is the core's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vault.api.v1 import vault_pb2, vault_pb2_grpc
from vault.core.api import VaultApi
from vault.service import codec
from vault.service.authz import actor_of
from vault.service.enrollment import (
    DEFAULT_MAX_ENROLL_BYTES,
    collect_enrollment,
    declared_rows,
)
from vault.service.errors import rpc_boundary
from vault.types import RequestContext

__all__ = ["TemplateVaultServicer", "request_context"]


def request_context(
    context: Any, *, purpose: str = "", consent_ref: str = "", legal_basis: str = ""
) -> RequestContext:
    """Build the core's :class:`RequestContext` from the transport context.

    Args:
        context: The ``grpc.ServicerContext`` of the call.
        purpose: Processing purpose from the request.
        consent_ref: Consent reference from the request.
        legal_basis: Legal basis from the request.

    Returns:
        Who asks (the client certificate's identity, else the transport peer) and why.
    """
    peer = context.peer()
    return RequestContext(
        actor=actor_of(context),
        purpose=purpose,
        consent_ref=consent_ref,
        legal_basis=legal_basis,
        extra={"peer": peer},
    )


class TemplateVaultServicer(vault_pb2_grpc.TemplateVaultServicer):
    """Serves the wire API from a :class:`VaultApi`.

    Args:
        api: The core use cases.
        max_enroll_bytes: Largest template payload of one Enroll stream.
    """

    def __init__(self, api: VaultApi, *, max_enroll_bytes: int = DEFAULT_MAX_ENROLL_BYTES) -> None:
        self._api = api
        self._max_enroll_bytes = max_enroll_bytes

    @rpc_boundary
    def CreateCollection(
        self, request: vault_pb2.CreateCollectionRequest, context: Any
    ) -> vault_pb2.Collection:
        """Create a collection."""
        spec = codec.decode_collection_spec(request)
        return codec.encode_collection(self._api.create_collection(spec, request_context(context)))

    @rpc_boundary
    def GetCollection(
        self, request: vault_pb2.GetCollectionRequest, context: Any
    ) -> vault_pb2.Collection:
        """Describe a collection."""
        return codec.encode_collection(
            self._api.get_collection(request.name, request_context(context))
        )

    @rpc_boundary
    def Enroll(
        self, request_iterator: Iterator[vault_pb2.EnrollRequest], context: Any
    ) -> vault_pb2.EnrollResponse:
        """Gather the whole stream, then enroll it in one core call."""
        batch = collect_enrollment(
            request_iterator,
            max_bytes=self._max_enroll_bytes,
            expected_rows=declared_rows(context.invocation_metadata()),
        )
        ctx = request_context(
            context,
            purpose=batch.purpose,
            consent_ref=batch.consent_ref,
            legal_basis=batch.legal_basis,
        )
        enrolled = self._api.enroll(batch.collection, batch.subject_ids, batch.templates, ctx)
        return vault_pb2.EnrollResponse(enrolled=enrolled)

    @rpc_boundary
    def Verify(self, request: vault_pb2.VerifyRequest, context: Any) -> vault_pb2.VerifyResponse:
        """Compare one probe with one enrolled subject."""
        probe = codec.decode_probe(request, "probe")
        ctx = request_context(context, purpose=request.purpose)
        result = self._api.verify(request.collection, request.subject_id, probe, ctx)
        return codec.encode_verify_result(result)

    @rpc_boundary
    def Identify(
        self, request: vault_pb2.IdentifyRequest, context: Any
    ) -> vault_pb2.IdentifyResponse:
        """Search the collection for each probe row."""
        probes = codec.decode_templates(request, "probes")
        top_k = codec.decode_top_k(request.top_k)
        ctx = request_context(context, purpose=request.purpose)
        return codec.encode_matches(self._api.identify(request.collection, probes, top_k, ctx))

    @rpc_boundary
    def Delete(self, request: vault_pb2.DeleteRequest, context: Any) -> vault_pb2.DeleteResponse:
        """Erase one subject's templates."""
        ctx = request_context(context, purpose=request.purpose)
        result = self._api.delete(request.collection, request.subject_id, ctx)
        return codec.encode_delete_result(result)

    @rpc_boundary
    def DeleteMany(
        self, request: vault_pb2.DeleteManyRequest, context: Any
    ) -> vault_pb2.DeleteManyResponse:
        """Erase many subjects all-or-nothing (the core groups them by block)."""
        subject_ids = codec.decode_subject_ids(request.subject_ids)
        ctx = request_context(context, purpose=request.purpose)
        results = self._api.delete_many(request.collection, subject_ids, ctx)
        return vault_pb2.DeleteManyResponse(
            results=[codec.encode_delete_result(r) for r in results]
        )
