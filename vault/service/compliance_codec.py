"""The service's half of the compliance messages (the client's is :mod:`vault.client.codec`)."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from vault.api.v1 import compliance_pb2, vault_pb2
from vault.core.retention import RetentionResult
from vault.types import ErasureReceipt

__all__ = [
    "encode_receipt",
    "encode_retention",
]


def encode_receipt(receipt: ErasureReceipt) -> vault_pb2.ErasureReceipt:
    """Encode an erasure receipt."""
    return vault_pb2.ErasureReceipt(
        entry=receipt.entry,
        leaf_index=receipt.leaf_index,
        inclusion_proof=list(receipt.inclusion_proof),
        checkpoint=receipt.checkpoint,
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
