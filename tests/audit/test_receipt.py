"""Erasure receipts: JSON form, offline verification, and tampering."""

import json

import pytest

from tests.audit.conftest import event
from vault.audit.note import NoteSigner, NoteVerifier
from vault.audit.receipt import (
    ReceiptError,
    load_receipt,
    receipt_from_json,
    receipt_to_json,
    verify_receipt,
)


@pytest.fixture
def receipt(make_log):
    log = make_log()
    for i in range(5):
        log.append(event(i))
    seq = log.append(event(5, action="consent.withdraw"))
    log.append(event(6))
    return log.receipt(seq)


def test_json_round_trip(receipt):
    """The JSON written for a data subject parses back to the same receipt."""
    text = json.dumps(receipt_to_json(receipt))
    assert load_receipt(text) == receipt


def test_receipt_verifies_with_the_public_key_alone(receipt, signer):
    """Signature, inclusion and the erasure action are checked offline."""
    entry, checkpoint = verify_receipt(receipt, NoteVerifier(signer.verifier_key))
    assert (entry.action, entry.seq, checkpoint.size) == ("consent.withdraw", 5, 6)


def test_tampered_receipts_fail(receipt, signer):
    """Another entry, a changed proof, index or checkpoint - or another key - fail."""
    verifier = NoteVerifier(signer.verifier_key)
    record = receipt_to_json(receipt)
    tampered = [
        record | {"entry": record["entry"].replace("consent.withdraw", "delete")},
        record | {"leaf_index": 4},
        record | {"inclusion_proof": record["inclusion_proof"][::-1]},
        record | {"inclusion_proof": record["inclusion_proof"][:-1]},
        record | {"checkpoint": record["checkpoint"].replace("\n6\n", "\n7\n")},
    ]
    for changed in tampered:
        with pytest.raises(ReceiptError):
            verify_receipt(receipt_from_json(changed), verifier)
    with pytest.raises(ReceiptError):
        verify_receipt(receipt, NoteVerifier(NoteSigner.generate(signer.name).verifier_key))


@pytest.mark.parametrize(
    "record",
    [{}, {"format": "other"}, "text", {"format": "biovault erasure receipt v1", "leaf_index": -1}],
)
def test_malformed_receipts_are_refused(record):
    """Anything but a complete receipt is a ReceiptError."""
    with pytest.raises(ReceiptError):
        receipt_from_json(record)
