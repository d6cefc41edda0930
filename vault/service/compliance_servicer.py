"""The ``biovault.v1.AuditLog`` and ``biovault.v1.Compliance`` servicers.

Translation only: decode the request, one call into the core's
:class:`~vault.core.compliance.ComplianceApi`, encode the reply. Errors leave
through the single mapping of :mod:`vault.service.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc

from vault.api.v1 import compliance_pb2
from vault.core.compliance import ComplianceApi
from vault.service import codec
from vault.service.compliance_codec import encode_retention
from vault.service.errors import rpc_boundary, stream_boundary
from vault.service.servicer import request_context
from vault.service.wire import add_service

__all__ = [
    "AUDIT_LOG_SERVICE_NAME",
    "COMPLIANCE_SERVICE_NAME",
    "AuditLogServicer",
    "ComplianceServicer",
    "add_compliance_services",
]

AUDIT_LOG_SERVICE_NAME: str = compliance_pb2.DESCRIPTOR.services_by_name["AuditLog"].full_name
COMPLIANCE_SERVICE_NAME: str = compliance_pb2.DESCRIPTOR.services_by_name["Compliance"].full_name


class AuditLogServicer:
    """Serves the audit log to auditors."""

    def __init__(self, api: ComplianceApi) -> None:
        self._api = api

    @rpc_boundary
    def GetPublicKey(
        self, request: compliance_pb2.GetPublicKeyRequest, context: Any
    ) -> compliance_pb2.PublicKey:
        """The log's verifier key."""
        key = self._api.audit_public_key()
        return compliance_pb2.PublicKey(verifier_key=key, origin=key.split("+", 1)[0])

    @rpc_boundary
    def GetCheckpoint(
        self, request: compliance_pb2.GetCheckpointRequest, context: Any
    ) -> compliance_pb2.SignedCheckpoint:
        """The latest signed checkpoint."""
        return compliance_pb2.SignedCheckpoint(note=self._api.audit_checkpoint())

    @stream_boundary
    def Export(
        self, request: compliance_pb2.ExportRequest, context: Any
    ) -> Iterator[compliance_pb2.BundleChunk]:
        """Stream a bundle of the whole log."""
        ctx = request_context(context, purpose=request.purpose)
        for name, chunk in self._api.export_audit(ctx):
            yield compliance_pb2.BundleChunk(file=name, data=chunk)


class ComplianceServicer:
    """Serves consent withdrawal and retention enforcement."""

    def __init__(self, api: ComplianceApi) -> None:
        self._api = api

    @rpc_boundary
    def EnforceRetention(
        self, request: compliance_pb2.EnforceRetentionRequest, context: Any
    ) -> compliance_pb2.EnforceRetentionResponse:
        """Erase expired templates now."""
        results = self._api.enforce_retention(request_context(context), request.collection or None)
        return encode_retention(results)

    @rpc_boundary
    def WithdrawConsent(
        self, request: compliance_pb2.WithdrawConsentRequest, context: Any
    ) -> compliance_pb2.WithdrawConsentResponse:
        """Erase a subject whose consent was withdrawn."""
        ctx = request_context(context, consent_ref=request.consent_ref)
        result = self._api.withdraw_consent(request.collection, request.subject_id, ctx)
        return compliance_pb2.WithdrawConsentResponse(erasure=codec.encode_delete_result(result))


def add_compliance_services(api: ComplianceApi, server: grpc.Server) -> tuple[str, str]:
    """Register both services on ``server``; returns their full names."""
    return (
        add_service(compliance_pb2, "AuditLog", AuditLogServicer(api), server),
        add_service(compliance_pb2, "Compliance", ComplianceServicer(api), server),
    )
