"""Translation between the compliance messages and the vault's value types."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from vault.api.v1 import compliance_pb2, vault_pb2
from vault.core.retention import RetentionResult
from vault.errors import InvalidArgument
from vault.types import ErasureReceipt

__all__ = [
    "decode_receipt",
    "decode_retention",
    "encode_receipt",
    "encode_retention",
]

_MAX_PROOF_HASHES = 64


def encode_receipt(receipt: ErasureReceipt) -> vault_pb2.ErasureReceipt:
    """Encode an erasure receipt."""
    return vault_pb2.ErasureReceipt(
        entry=receipt.entry,
        leaf_index=receipt.leaf_index,
        inclusion_proof=list(receipt.inclusion_proof),
        checkpoint=receipt.checkpoint,
    )


def decode_receipt(message: vault_pb2.ErasureReceipt) -> ErasureReceipt:
    """Decode an erasure receipt (client side; it is verified, not trusted).

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


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(round(seconds * 1e9))
    return stamp


def encode_retention(results: list[RetentionResult]) -> compliance_pb2.EnforceRetentionResponse:
    """Encode the outcome of a retention run."""
    return compliance_pb2.EnforceRetentionResponse(
        collections=[
            compliance_pb2.RetentionErasures(
                collection=r.collection,
                retention_seconds=r.retention_seconds,
                cutoff=_timestamp(r.cutoff),
                erased_subject_ids=list(r.erased),
            )
            for r in results
        ],
        erased=sum(len(r.erased) for r in results),
    )


def decode_retention(message: compliance_pb2.EnforceRetentionResponse) -> list[RetentionResult]:
    """Decode the outcome of a retention run (client side)."""
    return [
        RetentionResult(
            collection=c.collection,
            retention_seconds=c.retention_seconds,
            cutoff=c.cutoff.ToNanoseconds() / 1e9,
            erased=tuple(c.erased_subject_ids),
        )
        for c in message.collections
    ]
