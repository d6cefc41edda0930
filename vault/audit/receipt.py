"""Erasure receipts: one audit entry, its inclusion proof and a signed checkpoint.

A data subject or auditor verifies a receipt with nothing but the log's public
key: the checkpoint's signature, the entry's inclusion in that checkpoint's tree,
and that the entry records a successful erasure. Kept later, the receipt's
checkpoint doubles as ``--previous-checkpoint`` for a bundle: a log that dropped
the erasure cannot pass.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Final

from vault.audit.actions import ERASURE_ACTIONS
from vault.audit.checkpoint import Checkpoint, open_checkpoint
from vault.audit.entry import EntryError, LogEntry, decode_entry
from vault.audit.merkle import leaf_hash, verify_inclusion
from vault.audit.note import NoteError, NoteVerifier
from vault.errors import IntegrityError
from vault.types import ErasureReceipt

__all__ = [
    "ERASURE_ACTIONS",  # re-exported: receipts are for erasures
    "RECEIPT_FORMAT",
    "ReceiptError",
    "load_receipt",
    "receipt_from_json",
    "receipt_to_json",
    "verify_receipt",
]

RECEIPT_FORMAT: Final = "biovault erasure receipt v1"


class ReceiptError(IntegrityError):
    """A receipt is malformed or does not prove what it claims."""


def receipt_to_json(receipt: ErasureReceipt) -> dict[str, Any]:
    """The JSON form written by ``biovault delete --receipt``."""
    return {
        "format": RECEIPT_FORMAT,
        "leaf_index": receipt.leaf_index,
        "entry": receipt.entry.decode("ascii"),
        "inclusion_proof": [base64.b64encode(h).decode() for h in receipt.inclusion_proof],
        "checkpoint": receipt.checkpoint,
    }


def receipt_from_json(record: object) -> ErasureReceipt:
    """Parse the JSON form.

    Raises:
        ReceiptError: Missing or mistyped fields.
    """
    try:
        if not isinstance(record, dict) or record.get("format") != RECEIPT_FORMAT:
            raise ReceiptError(f"not a '{RECEIPT_FORMAT}'")
        index = record["leaf_index"]
        if type(index) is not int or index < 0:
            raise ReceiptError("receipt leaf_index is not a non-negative integer")
        proof = tuple(base64.b64decode(h, validate=True) for h in record["inclusion_proof"])
        entry, checkpoint = record["entry"], record["checkpoint"]
        if not isinstance(entry, str) or not isinstance(checkpoint, str):
            raise ReceiptError("receipt entry and checkpoint must be text")
        return ErasureReceipt(entry.encode("ascii"), index, proof, checkpoint)
    except (KeyError, TypeError, ValueError, binascii.Error, UnicodeEncodeError) as e:
        if isinstance(e, ReceiptError):
            raise
        raise ReceiptError(f"malformed receipt: {type(e).__name__}") from None


def load_receipt(text: str) -> ErasureReceipt:
    """Parse a receipt file's text."""
    try:
        return receipt_from_json(json.loads(text))
    except json.JSONDecodeError:
        raise ReceiptError("receipt is not JSON") from None


def verify_receipt(receipt: ErasureReceipt, verifier: NoteVerifier) -> tuple[LogEntry, Checkpoint]:
    """Check a receipt offline; returns the erasure entry and the checkpoint.

    Raises:
        ReceiptError: Bad signature, the entry is not included in the signed
            tree at its index, or the entry does not record a successful erasure.
    """
    try:
        checkpoint = open_checkpoint(verifier, receipt.checkpoint)
        entry = decode_entry(receipt.entry)
    except (NoteError, EntryError) as e:
        raise ReceiptError(f"receipt does not verify: {e}") from e
    if not verify_inclusion(
        leaf=leaf_hash(receipt.entry),
        index=receipt.leaf_index,
        size=checkpoint.size,
        proof=receipt.inclusion_proof,
        root=checkpoint.root,
    ):
        raise ReceiptError(
            f"receipt's entry is not entry {receipt.leaf_index} of the signed tree "
            f"of size {checkpoint.size}"
        )
    if entry.seq != receipt.leaf_index:
        raise ReceiptError("receipt's entry carries another sequence number")
    if entry.action not in ERASURE_ACTIONS or entry.outcome != "ok":
        raise ReceiptError(
            f"receipt's entry records {entry.action!r} -> {entry.outcome!r}, "
            "not a successful erasure"
        )
    return entry, checkpoint
