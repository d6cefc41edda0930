"""Bundles: an honest export verifies offline; every kind of tampering is caught and named."""

import json
import random

import pytest

from tests.audit.conftest import ORIGIN, event, write_bundle
from vault.audit.bundle import CHECKPOINT, ENTRIES, MANIFEST, PROOFS, export_bundle
from vault.audit.note import NoteSigner
from vault.audit.receipt import receipt_to_json
from vault.audit.verify import BundleInvalid, verify_bundle


def _lines(path):
    return path.read_bytes().splitlines(keepends=True)


def test_an_honest_bundle_verifies(make_bundle, signer):
    """Entries, checkpoints and proofs of a 12-entry log all verify with the public key."""
    bundle = make_bundle()
    verified = verify_bundle(bundle, signer.verifier_key)
    assert (verified.origin, verified.size) == (ORIGIN, 12)
    assert [e.seq for e in verified.entries] == list(range(12))
    assert verified.checkpoint == (bundle / CHECKPOINT).read_text()


def test_another_key_is_refused(make_bundle):
    """A bundle does not verify under another log's key of the same name."""
    with pytest.raises(BundleInvalid, match="MANIFEST"):
        verify_bundle(make_bundle(), NoteSigner.generate(ORIGIN).verifier_key)


def test_every_byte_of_a_bundle_is_covered(make_bundle, signer):
    """One flipped bit in any byte of any file fails verification; in entries.jsonl the
    error names the entry whose line was hit."""
    bundle = make_bundle([event(i) for i in range(3)])
    rng = random.Random(6962)
    for path in sorted(bundle.iterdir()):
        original = path.read_bytes()
        line_of = [i for i, line in enumerate(original.splitlines(True)) for _ in line]
        offsets = [(o, o % 8) for o in range(len(original))]
        offsets += [(rng.randrange(len(original)), bit) for bit in range(8) for _ in range(10)]
        for offset, bit in offsets:
            changed = bytearray(original)
            changed[offset] ^= 1 << bit
            path.write_bytes(changed)
            with pytest.raises(BundleInvalid) as caught:
                verify_bundle(bundle, signer.verifier_key)
            if path.name == ENTRIES and original[offset] != ord("\n"):
                assert caught.value.entry == line_of[offset], (offset, str(caught.value))
        path.write_bytes(original)
    verify_bundle(bundle, signer.verifier_key)


def test_removed_or_duplicated_lines_are_named(make_bundle, signer):
    """Dropping the last entry, or replaying an entry, names the entry concerned."""
    bundle = make_bundle()
    entries = _lines(bundle / ENTRIES)
    (bundle / ENTRIES).write_bytes(b"".join(entries[:-1]))
    with pytest.raises(BundleInvalid, match="entry 11 is missing") as caught:
        verify_bundle(bundle, signer.verifier_key)
    assert caught.value.entry == 11
    (bundle / ENTRIES).write_bytes(b"".join([*entries[:5], entries[4], *entries[5:-1]]))
    with pytest.raises(BundleInvalid, match="entry 5 carries sequence number 4") as caught:
        verify_bundle(bundle, signer.verifier_key)
    assert caught.value.entry == 5


def test_swapped_entries_are_named(make_bundle, signer):
    """Swapping two entries (without the key) names the first of them."""
    bundle = make_bundle()
    entries = _lines(bundle / ENTRIES)
    entries[3], entries[7] = entries[7], entries[3]
    (bundle / ENTRIES).write_bytes(b"".join(entries))
    with pytest.raises(BundleInvalid) as caught:
        verify_bundle(bundle, signer.verifier_key)
    assert caught.value.entry == 3


def test_a_proof_line_swapped_in_is_blamed_on_the_proof(make_bundle, signer):
    """A wrong proof for an intact entry is reported as a bad proof, not a bad entry."""
    bundle = make_bundle()
    proofs = _lines(bundle / PROOFS)
    record = json.loads(proofs[6])
    record["inclusion"] = json.loads(proofs[5])["inclusion"]
    proofs[6] = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
    (bundle / PROOFS).write_bytes(b"".join(proofs))
    with pytest.raises(BundleInvalid, match=r"entry 6 .*inclusion proof"):
        verify_bundle(bundle, signer.verifier_key)


def test_unlisted_and_missing_files_are_refused(make_bundle, signer):
    """A file the manifest does not cover, or a missing one, fails verification."""
    bundle = make_bundle()
    (bundle / "notes.txt").write_text("trust me")
    with pytest.raises(BundleInvalid, match="unexpected file"):
        verify_bundle(bundle, signer.verifier_key)
    (bundle / "notes.txt").unlink()
    (bundle / MANIFEST).unlink()
    with pytest.raises(BundleInvalid, match="no MANIFEST"):
        verify_bundle(bundle, signer.verifier_key)


# --- an operator who holds the signing key and rewrites history ----------------------
def _forged(make_log, make_bundle, events):
    """A log re-signed with the real key over a chosen event sequence."""
    log = make_log(f"forged-{len(events)}-{id(events)}.db")
    for e in events:
        log.append(e)
    return make_bundle(log=log)


@pytest.fixture
def honest(make_log, make_bundle, tmp_path):
    """An honest log of 12 events, its bundle, and the checkpoint an auditor kept at 8."""
    events = [event(i) for i in range(12)]
    log = make_log("honest.db")
    for e in events[:8]:
        log.append(e)
    kept = tmp_path / "checkpoint-at-8"
    kept.write_text(log.checkpoint())
    for e in events[8:]:
        log.append(e)
    return events, log, make_bundle(log=log), kept


def test_previous_checkpoint_passes_for_an_extension(honest, signer):
    """The honest bundle extends the checkpoint kept earlier."""
    _, _, bundle, kept = honest
    assert verify_bundle(bundle, signer.verifier_key, previous=kept).previous.size == 8


def test_resigned_truncation_is_caught_with_a_previous_checkpoint(
    honest, make_log, make_bundle, signer
):
    """A validly re-signed log cut back to 6 entries fails against the kept checkpoint,
    naming the first missing entry."""
    events, _, _, kept = honest
    forged = _forged(make_log, make_bundle, events[:6])
    verify_bundle(forged, signer.verifier_key)  # self-consistent on its own...
    with pytest.raises(BundleInvalid, match="entries 6 to 7 are missing") as caught:
        verify_bundle(forged, signer.verifier_key, previous=kept)
    assert caught.value.entry == 6


def test_resigned_reordering_is_caught_with_a_previous_checkpoint(
    honest, make_log, make_bundle, signer
):
    """Two entries swapped and the log re-signed: the kept checkpoint exposes it; an
    earlier bundle names the exact entry."""
    events, _, honest_bundle, kept = honest
    reordered = list(events)
    reordered[2], reordered[5] = reordered[5], reordered[2]
    forged = _forged(make_log, make_bundle, reordered)
    verify_bundle(forged, signer.verifier_key)
    with pytest.raises(BundleInvalid, match="not those of the previous checkpoint"):
        verify_bundle(forged, signer.verifier_key, previous=kept)
    with pytest.raises(BundleInvalid, match="differs from entry 2 of the previous bundle") as e:
        verify_bundle(forged, signer.verifier_key, previous=honest_bundle)
    assert e.value.entry == 2


def test_replaying_an_old_bundle_is_caught(honest, make_bundle, tmp_path, signer):
    """An older bundle presented after a newer checkpoint was kept fails as a rollback."""
    _, log, bundle, _ = honest
    newer = tmp_path / "newer-checkpoint"
    log.append(event(99))
    newer.write_text(log.checkpoint())
    with pytest.raises(BundleInvalid, match="missing"):
        verify_bundle(bundle, signer.verifier_key, previous=newer)


def test_a_receipt_pins_its_erasure(make_log, make_bundle, signer, tmp_path):
    """A kept erasure receipt exposes a re-signed log that dropped or changed the erasure."""
    events = [event(i) for i in range(6)]
    events[3] = event(3, action="delete")
    log = make_log("with-delete.db")
    for e in events:
        log.append(e)
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(receipt_to_json(log.receipt(3))))
    assert verify_bundle(make_bundle(log=log), signer.verifier_key, previous=receipt)
    without = [*events[:3], event(3), *events[4:]]
    forged = _forged(make_log, make_bundle, without)
    with pytest.raises(BundleInvalid, match=r"entry 3 .*receipt") as caught:
        verify_bundle(forged, signer.verifier_key, previous=receipt)
    assert caught.value.entry == 3


def test_a_previous_checkpoint_of_another_log_is_refused(make_bundle, signer, tmp_path):
    """A kept checkpoint signed by another key cannot vouch for this log."""
    stranger = NoteSigner.generate(ORIGIN)
    other_log = tmp_path / "other-checkpoint"
    other_log.write_text(stranger.sign(f"{ORIGIN}\n1\n{'A' * 43}=\n"))
    with pytest.raises(BundleInvalid, match="previous checkpoint"):
        verify_bundle(make_bundle(), signer.verifier_key, previous=other_log)


def test_bundle_export_is_byte_stable(make_log, tmp_path):
    """Exporting the same log twice gives identical files (Ed25519 is deterministic)."""
    log = make_log()
    for i in range(5):
        log.append(event(i))
    first = write_bundle(export_bundle(log), tmp_path / "one")
    second = write_bundle(export_bundle(log), tmp_path / "two")
    for name in (ENTRIES, PROOFS, CHECKPOINT, MANIFEST):
        assert (first / name).read_bytes() == (second / name).read_bytes()
