"""The matching node's client of ``biovault.v1.TemplateVault`` (see docs/sdk.md).

It speaks in the vault's frozen value types and numpy arrays, streams enrollments
in chunks under the message limit, and turns every gRPC failure into a
:class:`~vault.client.channel.ClientError` carrying the status code and details::

    with VaultClient("127.0.0.1:50051") as vc:
        v = vc.verify("faces", "alice", probe, purpose="access")   # v.match, v.score
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vault.api.v1 import vault_pb2, vault_pb2_grpc
from vault.client import codec
from vault.client.channel import ChannelClient, translated_errors
from vault.client.enrollment import default_chunk_rows, enrollment_chunks, rows_metadata
from vault.errors import InvalidArgument
from vault.types import (
    CollectionInfo,
    CollectionPolicy,
    CollectionSpec,
    DeleteResult,
    IdentifyResult,
    ProtectionMode,
    VerifyResult,
)

__all__ = ["VaultClient"]

_HEALTH_TIMEOUT: Final = 5.0
#: Ids per DeleteMany call: the service refuses more than 10,000 in one call
#: (vault.service.codec.MAX_DELETE_MANY_IDS), and a reply of 10,000 receipts stays
#: well under the default message limit.
DELETE_MANY_CHUNK: Final = 10_000


class VaultClient(ChannelClient):
    """A matching node's connection to a running vault; a context manager (or :meth:`close`).

    Takes the arguments of :class:`~vault.client.channel.ChannelClient`: the target
    ``HOST:PORT`` first, TLS by ``ca_file=``, ``cert_file=``, ``key_file=``
    (plaintext only to loopback without them), ``timeout=``, ``max_message_bytes=``.
    """

    def _connected(self, channel: grpc.Channel) -> None:
        self._stub = vault_pb2_grpc.TemplateVaultStub(channel)

    def create_collection(
        self,
        name: str | CollectionSpec,
        *,
        mode: ProtectionMode | str | None = None,
        dim: int | None = None,
        allow_identification: bool = False,
        purposes: Iterable[str] = (),
        match_threshold: float | None = None,
        retention_seconds: float | None = None,
        score_decimals: int | None = None,
        max_top_k: int | None = None,
        decision_only: bool = False,
        embedding_profile: bytes = b"",
        policy: CollectionPolicy | None = None,
    ) -> CollectionInfo:
        """Create a collection and return it as stored.

        The keywords are the fields of :class:`~vault.types.CollectionSpec` (``mode``
        also as text: ``"ckks"``, ``"cancelable"``, ``"hybrid"``); None keeps the
        vault's default. ``policy`` is a whole :class:`~vault.types.CollectionPolicy`;
        the knob keywords (``retention_seconds`` ...) override its fields.
        ``name`` may instead be a whole spec, with no keyword.

        Raises:
            InvalidArgument: If ``mode`` or ``dim`` is missing or unknown.
            ClientError: If the service refuses (e.g. ALREADY_EXISTS).
        """
        if isinstance(name, CollectionSpec):
            spec = name
        else:
            if mode is None or dim is None:
                raise InvalidArgument("create_collection needs mode= and dim=")
            try:
                protection = ProtectionMode(mode)
            except ValueError:
                raise InvalidArgument(
                    f"mode must be one of ckks, cancelable, hybrid, not {mode!r}"
                ) from None
            spec = CollectionSpec(
                name=name,
                mode=protection,
                dim=dim,
                allow_identification=allow_identification,
                purposes=tuple(purposes),
                policy=_with_knobs(
                    policy or CollectionPolicy(),
                    retention_seconds=retention_seconds,
                    score_decimals=score_decimals,
                    max_top_k=max_top_k,
                    decision_only=decision_only or None,
                ),
                embedding_profile=embedding_profile,
            )
            if match_threshold is not None:
                spec = dataclasses.replace(spec, match_threshold=match_threshold)
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
        templates = np.asarray(templates)
        subject_ids = list(subject_ids)
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
            probe=codec.encode_templates(np.atleast_2d(np.asarray(template))),
            purpose=purpose,
        )
        with translated_errors():
            reply = self._stub.Verify(request, timeout=self._timeout)
        return codec.decode_verify_result(reply)

    def identify(
        self, collection: str, probes: np.ndarray, *, top_k: int, purpose: str = ""
    ) -> IdentifyResult:
        """Search for each probe row; one best-first candidate list per row, holding
        only candidates at or above the collection's match threshold.

        Args:
            collection: A collection created with ``allow_identification=True``.
            probes: An (n, dim) array (a single (dim,) probe counts as one row).
            top_k: Candidates per probe (the collection's policy may cap it).
            purpose: Processing purpose.

        Returns:
            One list per probe row of :class:`~vault.types.Match` (``.subject_id``,
            ``.score``), best first; ``.top_k_capped`` says whether ``top_k`` was
            above the collection's cap.
        """
        request = vault_pb2.IdentifyRequest(
            collection=collection,
            probes=codec.encode_templates(np.atleast_2d(np.asarray(probes))),
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

    def delete_many(
        self,
        collection: str,
        subject_ids: Sequence[str],
        *,
        purpose: str = "",
        chunk: int = DELETE_MANY_CHUNK,
    ) -> list[DeleteResult]:
        """Erase many subjects; one result (with its own receipt) per id, in order.

        Each call of ``chunk`` ids is all-or-nothing on the service: an unknown,
        empty or repeated id erases nobody of that call. Across calls it is not: when
        a later chunk fails, the subjects of the earlier chunks stay erased (their
        results are lost with the exception, their receipts are in the audit log).
        A list of at most ``chunk`` ids is therefore erased entirely or not at all.

        Raises:
            ClientError: The service refused a chunk (NOT_FOUND for an id that is
                not enrolled, INVALID_ARGUMENT for an empty or repeated one).
            InvalidArgument: ``chunk`` is not in 1..10,000, or a list longer than
                ``chunk`` repeats an id (checked before any call).
        """
        if not 1 <= chunk <= DELETE_MANY_CHUNK:
            raise InvalidArgument(f"chunk must be in 1..{DELETE_MANY_CHUNK}, got {chunk}")
        ids = list(subject_ids)
        if len(ids) > chunk and len(set(ids)) != len(ids):
            # Within one call the service refuses a repeat; across calls only a
            # check up front keeps the second occurrence from failing after the first
            # chunk is gone.
            raise InvalidArgument("subject_ids names a subject twice; nothing was erased")
        results: list[DeleteResult] = []
        # An empty list still makes one call, so the service's refusal is the answer.
        for start in range(0, max(len(ids), 1), chunk):
            request = vault_pb2.DeleteManyRequest(
                collection=collection, subject_ids=ids[start : start + chunk], purpose=purpose
            )
            with translated_errors():
                reply = self._stub.DeleteMany(request, timeout=self._timeout)
            results.extend(codec.decode_delete_result(r) for r in reply.results)
        return results

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


def _with_knobs(policy: CollectionPolicy, **knobs: Any) -> CollectionPolicy:
    """``policy`` with the knobs that are not None replaced."""
    return dataclasses.replace(policy, **{k: v for k, v in knobs.items() if v is not None})
