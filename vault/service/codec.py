"""The service's half of the wire translation: requests to value types and arrays,
value types to replies (the client's half is :mod:`vault.client.codec`).

Decoding is strict: anything malformed raises :class:`vault.errors.InvalidArgument`
with a message that names the field but never quotes template data. Semantic
checks (finiteness, norms, dimension of the collection) belong to the core.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from vault.api.policy import decode_policy, encode_policy, legacy_policy_fields
from vault.api.v1 import vault_pb2
from vault.errors import InvalidArgument
from vault.service.compliance_codec import encode_receipt
from vault.types import (
    CollectionInfo,
    CollectionSpec,
    DeleteResult,
    Match,
    ProtectionMode,
    VerifyResult,
)

__all__ = [
    "MAX_DELETE_MANY_IDS",
    "decode_collection_spec",
    "decode_mode",
    "decode_probe",
    "decode_subject_ids",
    "decode_templates",
    "decode_top_k",
    "encode_collection",
    "encode_delete_result",
    "encode_matches",
    "encode_mode",
    "encode_verify_result",
]

_WIRE_DTYPES: Final[dict[int, np.dtype[Any]]] = {
    vault_pb2.DTYPE_FLOAT32: np.dtype("<f4"),
    vault_pb2.DTYPE_FLOAT64: np.dtype("<f8"),
}
_MODE_ENUMS: Final[dict[ProtectionMode, vault_pb2.ProtectionMode]] = {
    ProtectionMode.CKKS: vault_pb2.PROTECTION_MODE_CKKS,
    ProtectionMode.CANCELABLE: vault_pb2.PROTECTION_MODE_CANCELABLE,
    ProtectionMode.HYBRID: vault_pb2.PROTECTION_MODE_HYBRID,
}
_MODES: Final[dict[int, ProtectionMode]] = {wire: mode for mode, wire in _MODE_ENUMS.items()}


def decode_templates(message: Any, field: str) -> np.ndarray:
    """Decode the :class:`TemplateBatch` in ``message.<field>`` into an (n, dim) array.

    Args:
        message: The request holding the batch.
        field: Name of the batch field, also used in error messages.

    Returns:
        A writable, native-byte-order float32 or float64 array with n >= 1 rows.

    Raises:
        InvalidArgument: If the batch is missing, has dim 0, an unknown dtype, or a
            data length that is not a positive whole number of rows.
    """
    if not message.HasField(field):
        raise InvalidArgument(f"{field} is required")
    batch = getattr(message, field)
    wire_dtype = _WIRE_DTYPES.get(batch.dtype)
    if wire_dtype is None:
        raise InvalidArgument(f"{field}.dtype must be DTYPE_FLOAT32 or DTYPE_FLOAT64")
    if batch.dim == 0:
        raise InvalidArgument(f"{field}.dim must be greater than 0")
    row_bytes = batch.dim * wire_dtype.itemsize
    rows, remainder = divmod(len(batch.data), row_bytes)
    if remainder or rows == 0:
        raise InvalidArgument(
            f"{field}.data holds {len(batch.data)} bytes, which is not a positive whole "
            f"number of rows of {batch.dim} x {wire_dtype.itemsize}-byte values"
        )
    flat = np.frombuffer(batch.data, dtype=wire_dtype)
    return flat.reshape(rows, batch.dim).astype(wire_dtype.newbyteorder("="), copy=True)


def decode_probe(message: Any, field: str) -> np.ndarray:
    """Decode a :class:`TemplateBatch` that must hold exactly one row.

    Returns:
        A (1, dim) array.

    Raises:
        InvalidArgument: As :func:`decode_templates`, or if there is more than one row.
    """
    probe = decode_templates(message, field)
    if probe.shape[0] != 1:
        raise InvalidArgument(f"{field} must hold exactly one row, not {probe.shape[0]}")
    return probe


def decode_mode(value: int) -> ProtectionMode:
    """Decode a wire ``ProtectionMode``.

    Raises:
        InvalidArgument: If the value is unspecified or unknown.
    """
    try:
        return _MODES[value]
    except KeyError:
        raise InvalidArgument("mode must be CKKS, CANCELABLE or HYBRID") from None


def encode_mode(mode: ProtectionMode) -> vault_pb2.ProtectionMode:
    """Encode a :class:`ProtectionMode` as its wire enum value."""
    return _MODE_ENUMS[mode]


def decode_top_k(value: int) -> int:
    """Check the ``top_k`` of an identify request (0 means unset in proto3).

    Raises:
        InvalidArgument: If it is 0.
    """
    if value < 1:
        raise InvalidArgument("top_k must be at least 1")
    return value


def decode_collection_spec(request: vault_pb2.CreateCollectionRequest) -> CollectionSpec:
    """Decode a create request; an unset threshold keeps the vault's default.

    Raises:
        InvalidArgument: If the mode is unknown or dim is 0.
    """
    if request.dim == 0:
        raise InvalidArgument("dim must be greater than 0")
    spec = CollectionSpec(
        name=request.name,
        mode=decode_mode(request.mode),
        dim=request.dim,
        allow_identification=request.allow_identification,
        purposes=tuple(request.purposes),
    )
    if request.HasField("match_threshold"):
        spec = dataclasses.replace(spec, match_threshold=request.match_threshold)
    return dataclasses.replace(
        spec, policy=decode_policy(request), embedding_profile=request.embedding_profile
    )


def encode_collection(info: CollectionInfo) -> vault_pb2.Collection:
    """Encode a :class:`CollectionInfo` for the wire."""
    return vault_pb2.Collection(
        name=info.name,
        mode=encode_mode(info.mode),
        dim=info.dim,
        allow_identification=info.allow_identification,
        purposes=list(info.purposes),
        match_threshold=info.match_threshold,
        size=info.size,
        created_at=_timestamp(info.created_at),
        embedding_profile_sha256=info.embedding_profile_sha256,
        policy=encode_policy(info.policy),
        **legacy_policy_fields(info.policy),
    )


def encode_verify_result(result: VerifyResult) -> vault_pb2.VerifyResponse:
    """Encode the outcome of a 1:1 comparison."""
    return vault_pb2.VerifyResponse(match=result.match, score=result.score)


def encode_matches(results: Sequence[Sequence[Match]]) -> vault_pb2.IdentifyResponse:
    """Encode one candidate list per probe, keeping the order of both (and, for an
    :class:`IdentifyResult`, whether top_k was capped)."""
    return vault_pb2.IdentifyResponse(
        results=[
            vault_pb2.ProbeResult(
                matches=[vault_pb2.Candidate(subject_id=m.subject_id, score=m.score) for m in row]
            )
            for row in results
        ],
        top_k_capped=bool(getattr(results, "top_k_capped", False)),
    )


#: Most subject ids one DeleteMany call may list: bounds the work under one
#: request and the size of the reply (a receipt per subject); clients chunk.
MAX_DELETE_MANY_IDS: Final = 10_000


def decode_subject_ids(ids: Sequence[str]) -> list[str]:
    """The ids of a bulk erasure, refused as a whole (InvalidArgument, nothing
    erased) when none, too many, an empty one or a repeated one is listed."""
    if not ids:
        raise InvalidArgument("subject_ids lists no subject")
    if len(ids) > MAX_DELETE_MANY_IDS:
        raise InvalidArgument(
            f"subject_ids lists {len(ids)} subjects; at most {MAX_DELETE_MANY_IDS} per call"
        )
    seen: set[str] = set()
    for index, subject_id in enumerate(ids):
        if not subject_id:
            raise InvalidArgument(f"subject_ids[{index}] is empty")
        if subject_id in seen:
            # The id itself stays out of the message: errors reach logs.
            raise InvalidArgument(f"subject_ids[{index}] repeats an earlier id")
        seen.add(subject_id)
    return list(ids)


def encode_delete_result(result: DeleteResult) -> vault_pb2.DeleteResponse:
    """Encode the receipt of an erasure."""
    return vault_pb2.DeleteResponse(
        subject_id=result.subject_id,
        erased=result.erased,
        erased_at=_timestamp(result.erased_at),
        receipt=None if result.receipt is None else encode_receipt(result.receipt),
    )


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(round(seconds * 1e9))
    return stamp
