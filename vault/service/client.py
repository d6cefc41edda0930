"""A small synchronous client of ``biovault.v1.TemplateVault`` for the CLI and tests.

It speaks in the vault's value types and numpy arrays, streams enrollments in
chunks under the message limit, and turns every gRPC failure into a
:class:`ClientError` carrying the status code and details.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Final

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vault.api.v1 import vault_pb2, vault_pb2_grpc
from vault.service import codec
from vault.service.enrollment import default_chunk_rows, enrollment_chunks, rows_metadata
from vault.service.tls import ChannelClient, ClientTls
from vault.types import CollectionInfo, CollectionSpec, DeleteResult, Match, VerifyResult

__all__ = [
    "DEFAULT_CLIENT_MAX_MESSAGE_BYTES",
    "DEFAULT_TIMEOUT",
    "ClientError",
    "VaultClient",
    "client_error",
    "translated_errors",
]

DEFAULT_TIMEOUT: Final = 300.0
DEFAULT_CLIENT_MAX_MESSAGE_BYTES: Final = 64 * 1024 * 1024
_HEALTH_TIMEOUT: Final = 5.0


class ClientError(Exception):
    """A call failed; ``code`` is the gRPC status, ``details`` the server's message.

    Args:
        code: The status code.
        details: One line explaining the failure.
    """

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


def client_error(error: grpc.RpcError) -> ClientError:
    """The :class:`ClientError` for a failed call (status code and one-line details)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = " ".join(str(error.details() if hasattr(error, "details") else error).split())
    return ClientError(code, details or code.name.lower())


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Within the block, a gRPC failure is raised as :class:`ClientError`."""
    try:
        yield
    except grpc.RpcError as error:
        raise client_error(error) from None


class VaultClient(ChannelClient):
    """Connection to a running vault; use as a context manager or call :meth:`close`.

    Args:
        target: ``HOST:PORT`` of the service; must be loopback without ``tls``.
        timeout: Deadline of each call in seconds (``None`` for none).
        max_message_bytes: Largest message the channel sends or receives.
        tls: CA file and client certificate (None: loopback plaintext).

    Raises:
        ConfigurationError: If ``target`` is malformed or not a loopback address.
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_message_bytes: int = DEFAULT_CLIENT_MAX_MESSAGE_BYTES,
        tls: ClientTls | None = None,
    ) -> None:
        super().__init__(
            target,
            tls,
            timeout=timeout,
            options=[
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.max_receive_message_length", max_message_bytes),
            ],
        )
        self._stub = vault_pb2_grpc.TemplateVaultStub(self._channel)

    def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        """Create a collection and return it as stored."""
        with translated_errors():
            reply = self._stub.CreateCollection(
                codec.encode_collection_spec(spec), timeout=self._timeout
            )
        return codec.decode_collection(reply)

    def get_collection(self, name: str) -> CollectionInfo:
        """Describe a collection."""
        with translated_errors():
            reply = self._stub.GetCollection(
                vault_pb2.GetCollectionRequest(name=name), timeout=self._timeout
            )
        return codec.decode_collection(reply)

    def enroll(
        self,
        collection: str,
        subject_ids: Sequence[str],
        templates: np.ndarray,
        *,
        purpose: str = "",
        consent_ref: str = "",
        legal_basis: str = "",
        chunk_rows: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> int:
        """Stream an enrollment; the service enrolls all rows or none.

        Args:
            collection: Target collection.
            subject_ids: One id per row.
            templates: An (n, dim) float32/float64 array.
            purpose: Processing purpose.
            consent_ref: Reference to the recorded consent.
            legal_basis: Legal basis of the processing.
            chunk_rows: Rows per streamed message; by default sized to ~3 MiB.
            on_progress: Called with the number of rows sent after each chunk.

        Returns:
            The number of templates enrolled.

        Raises:
            InvalidArgument: If ids and rows do not align or the array is malformed.
            ClientError: If the call fails.
        """
        if chunk_rows is None:
            longest_id = max((len(i.encode()) for i in subject_ids), default=0)
            chunk_rows = default_chunk_rows(
                templates.shape[-1], templates.dtype.itemsize, longest_id=longest_id
            )
        chunks = enrollment_chunks(
            collection,
            subject_ids,
            templates,
            chunk_rows=chunk_rows,
            purpose=purpose,
            consent_ref=consent_ref,
            legal_basis=legal_basis,
            on_chunk=on_progress,
        )
        first = next(chunks, None)  # surfaces local validation errors before the call
        if first is None:
            return 0
        with translated_errors():
            reply = self._stub.Enroll(
                _prepend(first, chunks),
                timeout=self._timeout,
                metadata=rows_metadata(len(subject_ids)),
            )
        return int(reply.enrolled)

    def verify(
        self, collection: str, subject_id: str, template: np.ndarray, *, purpose: str = ""
    ) -> VerifyResult:
        """Compare one probe, shape (dim,) or (1, dim), with one enrolled subject."""
        request = vault_pb2.VerifyRequest(
            collection=collection,
            subject_id=subject_id,
            probe=codec.encode_templates(np.atleast_2d(template)),
            purpose=purpose,
        )
        with translated_errors():
            reply = self._stub.Verify(request, timeout=self._timeout)
        return codec.decode_verify_result(reply)

    def identify(
        self, collection: str, probes: np.ndarray, *, top_k: int, purpose: str = ""
    ) -> list[list[Match]]:
        """Search for each probe row; one best-first candidate list per row."""
        request = vault_pb2.IdentifyRequest(
            collection=collection,
            probes=codec.encode_templates(probes),
            top_k=top_k,
            purpose=purpose,
        )
        with translated_errors():
            reply = self._stub.Identify(request, timeout=self._timeout)
        return codec.decode_matches(reply)

    def delete(self, collection: str, subject_id: str, *, purpose: str = "") -> DeleteResult:
        """Erase one subject's templates and return the receipt."""
        request = vault_pb2.DeleteRequest(
            collection=collection, subject_id=subject_id, purpose=purpose
        )
        with translated_errors():
            reply = self._stub.Delete(request, timeout=self._timeout)
        return codec.decode_delete_result(reply)

    def health_check(self, service: str = "", *, timeout: float = _HEALTH_TIMEOUT) -> str:
        """Ask the standard health service.

        Args:
            service: Service name; "" is the overall status.
            timeout: Deadline in seconds.

        Returns:
            The status name, e.g. ``"SERVING"`` or ``"NOT_SERVING"``.

        Raises:
            ClientError: If the service is unreachable or the name unknown.
        """
        stub = health_pb2_grpc.HealthStub(self._channel)
        with translated_errors():
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def _prepend(
    first: vault_pb2.EnrollRequest, rest: Iterator[vault_pb2.EnrollRequest]
) -> Iterator[vault_pb2.EnrollRequest]:
    yield first
    yield from rest
