"""The client's half of the wire translation: value types and arrays to requests,
replies to frozen value types.

The service's half (strict decoding of requests) is :mod:`vault.service.codec`;
the two meet only in the generated messages of :mod:`vault.api`, so each side
keeps its own small table of the wire enums.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from vault.api.policy import decode_policy, encode_policy, legacy_policy_fields
from vault.api.v1 import compliance_pb2, vault_pb2
from vault.client.results import RetentionErasures
from vault.errors import InvalidArgument
from vault.types import (
    CollectionInfo,
    CollectionSpec,
    DeleteResult,
    ErasureReceipt,
    IdentifyResult,
    Match,
    ProtectionMode,
    VerifyResult,
)

__all__ = [
    "decode_collection",
    "decode_delete_result",
    "decode_matches",
    "decode_receipt",
    "decode_retention",
    "decode_verify_result",
    "encode_collection_spec",
    "encode_templates",
]

_DTYPE_ENUMS: Final[dict[str, vault_pb2.DType]] = {
    "float32": vault_pb2.DTYPE_FLOAT32,
    "float64": vault_pb2.DTYPE_FLOAT64,
}
_MODE_ENUMS: Final[dict[ProtectionMode, vault_pb2.ProtectionMode]] = {
    ProtectionMode.CKKS: vault_pb2.PROTECTION_MODE_CKKS,
    ProtectionMode.CANCELABLE: vault_pb2.PROTECTION_MODE_CANCELABLE,
    ProtectionMode.HYBRID: vault_pb2.PROTECTION_MODE_HYBRID,
}
_MODES: Final[dict[int, ProtectionMode]] = {wire: mode for mode, wire in _MODE_ENUMS.items()}
# A receipt's audit path grows with log2 of the log; more than this is not a proof.
_MAX_PROOF_HASHES: Final = 64


def encode_templates(templates: np.ndarray) -> vault_pb2.TemplateBatch:
    """Encode an (n, dim) float32/float64 array as a little-endian :class:`TemplateBatch`.

    Args:
        templates: The rows to send (any byte order or memory layout).

    Returns:
        The wire batch.

    Raises:
        InvalidArgument: If the array is not 2-D float32/float64 with n, dim >= 1.
    """
    wire_dtype = _DTYPE_ENUMS.get(templates.dtype.name)
    if wire_dtype is None:
        raise InvalidArgument(f"templates must be float32 or float64, not {templates.dtype}")
    if templates.ndim != 2 or templates.shape[0] == 0 or templates.shape[1] == 0:
        raise InvalidArgument(
            f"templates must have shape (n, dim) with n, dim >= 1, not {templates.shape}"
        )
    little = np.ascontiguousarray(templates, dtype=templates.dtype.newbyteorder("<"))
    return vault_pb2.TemplateBatch(dim=templates.shape[1], dtype=wire_dtype, data=little.tobytes())


def encode_collection_spec(spec: CollectionSpec) -> vault_pb2.CreateCollectionRequest:
    """Encode a :class:`CollectionSpec` as a create request."""
    return vault_pb2.CreateCollectionRequest(
        name=spec.name,
        mode=_MODE_ENUMS[spec.mode],
        dim=spec.dim,
        allow_identification=spec.allow_identification,
        purposes=list(spec.purposes),
        match_threshold=spec.match_threshold,
        embedding_profile=spec.embedding_profile,
        policy=encode_policy(spec.policy),
        **legacy_policy_fields(spec.policy),  # what an older server reads
    )


def decode_collection(message: vault_pb2.Collection) -> CollectionInfo:
    """Decode a wire ``Collection``.

    Raises:
        InvalidArgument: If the server sent an unknown mode.
    """
    mode = _MODES.get(message.mode)
    if mode is None:
        raise InvalidArgument("mode must be CKKS, CANCELABLE or HYBRID")
    return CollectionInfo(
        name=message.name,
        mode=mode,
        dim=message.dim,
        allow_identification=message.allow_identification,
        purposes=tuple(message.purposes),
        match_threshold=message.match_threshold,
        size=message.size,
        created_at=message.created_at.ToNanoseconds() / 1e9,
        policy=decode_policy(message),
        embedding_profile_sha256=message.embedding_profile_sha256,
    )


def decode_verify_result(response: vault_pb2.VerifyResponse) -> VerifyResult:
    """Decode the outcome of a 1:1 comparison."""
    score = response.score if response.HasField("score") else None
    return VerifyResult(match=response.match, score=score)


def decode_matches(response: vault_pb2.IdentifyResponse) -> IdentifyResult:
    """Decode an identify response into one candidate list per probe (and whether
    the requested top-k was capped)."""
    return IdentifyResult(
        (
            [Match(c.subject_id, c.score if c.HasField("score") else None) for c in result.matches]
            for result in response.results
        ),
        top_k_capped=response.top_k_capped,
    )


def decode_receipt(message: vault_pb2.ErasureReceipt) -> ErasureReceipt:
    """Decode an erasure receipt (it is verified offline, not trusted).

    Raises:
        InvalidArgument: An absurdly long proof.
    """
    if len(message.inclusion_proof) > _MAX_PROOF_HASHES:
        raise InvalidArgument("erasure receipt has an over-long inclusion proof")
    return ErasureReceipt(
        entry=bytes(message.entry),
        leaf_index=message.leaf_index,
        inclusion_proof=tuple(bytes(h) for h in message.inclusion_proof),
        checkpoint=message.checkpoint,
    )


def decode_delete_result(response: vault_pb2.DeleteResponse) -> DeleteResult:
    """Decode the receipt of an erasure."""
    return DeleteResult(
        subject_id=response.subject_id,
        erased=response.erased,
        erased_at=response.erased_at.ToNanoseconds() / 1e9,
        receipt=decode_receipt(response.receipt) if response.HasField("receipt") else None,
    )


def decode_retention(
    message: compliance_pb2.EnforceRetentionResponse,
) -> list[RetentionErasures]:
    """Decode the outcome of a retention run."""
    return [
        RetentionErasures(
            collection=c.collection,
            retention_seconds=c.retention_seconds,
            cutoff=c.cutoff.ToNanoseconds() / 1e9,
            erased=tuple(c.erased_subject_ids),
        )
        for c in message.collections
    ]
