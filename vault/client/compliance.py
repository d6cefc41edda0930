"""The auditor's client of ``biovault.v1.AuditLog`` and ``biovault.v1.Compliance``.

Every gRPC failure becomes a :class:`~vault.client.channel.ClientError`. Nothing
the service sends is trusted: bundles and receipts are verified offline by
:mod:`vault.audit.verify` and :mod:`vault.audit.receipt` (``biovault audit verify``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO, Final

import grpc

from vault.api.v1 import compliance_pb2, compliance_pb2_grpc
from vault.client import codec
from vault.client.channel import ChannelClient, translated_errors
from vault.client.results import RetentionErasures
from vault.types import DeleteResult

__all__ = ["ComplianceClient"]

# A bundle file name as the service may send it: a bare name, never a path. Which
# names belong in a bundle is for the offline verifier to judge, not the download.
_BUNDLE_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class ComplianceClient(ChannelClient):
    """An auditor's connection to a running vault's audit and compliance services.

    Takes the arguments of :class:`~vault.client.channel.ChannelClient` (target,
    ``ca_file=``, ``cert_file=``, ``key_file=``, ``timeout=``, ...).
    """

    def _connected(self, channel: grpc.Channel) -> None:
        self._audit = compliance_pb2_grpc.AuditLogStub(channel)
        self._compliance = compliance_pb2_grpc.ComplianceStub(channel)

    def public_key(self) -> str:
        """The log's verifier key (to be checked against an independent copy)."""
        with translated_errors():
            reply = self._audit.GetPublicKey(
                compliance_pb2.GetPublicKeyRequest(), timeout=self._timeout
            )
        return str(reply.verifier_key)

    def checkpoint(self) -> str:
        """The latest signed checkpoint (a signed note)."""
        with translated_errors():
            reply = self._audit.GetCheckpoint(
                compliance_pb2.GetCheckpointRequest(), timeout=self._timeout
            )
        return str(reply.note)

    def export(self, directory: Path, *, purpose: str = "") -> list[str]:
        """Download a bundle into ``directory`` (created; must not exist or be empty).

        Returns:
            The file names written.

        Raises:
            ClientError: The call failed (files written so far stay, and will not
                verify).
            FileExistsError: ``directory`` holds files.
            ValueError: The service sent a file name that is not a bare file name.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.iterdir()):
            raise FileExistsError(f"{directory} is not empty")
        written: dict[str, BinaryIO] = {}
        try:
            with translated_errors():
                for chunk in self._audit.Export(
                    compliance_pb2.ExportRequest(purpose=purpose), timeout=self._timeout
                ):
                    if not _BUNDLE_FILE_NAME.fullmatch(chunk.file):  # never a path from the wire
                        raise ValueError(f"the service sent an unexpected file {chunk.file!r}")
                    if chunk.file not in written:
                        written[chunk.file] = (directory / chunk.file).open("xb")
                    written[chunk.file].write(chunk.data)
        finally:
            for handle in written.values():
                handle.close()
        return sorted(written)

    def enforce_retention(self, collection: str | None = None) -> list[RetentionErasures]:
        """Erase expired templates now (one collection, or all)."""
        with translated_errors():
            reply = self._compliance.EnforceRetention(
                compliance_pb2.EnforceRetentionRequest(collection=collection or ""),
                timeout=self._timeout,
            )
        return codec.decode_retention(reply)

    def withdraw_consent(
        self, collection: str, subject_id: str, *, consent_ref: str = ""
    ) -> DeleteResult:
        """Record a withdrawal of consent; the subject's template is erased."""
        request = compliance_pb2.WithdrawConsentRequest(
            collection=collection, subject_id=subject_id, consent_ref=consent_ref
        )
        with translated_errors():
            reply = self._compliance.WithdrawConsent(request, timeout=self._timeout)
        return codec.decode_delete_result(reply.erasure)
