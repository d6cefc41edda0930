"""The Merkle audit log on a real SQLite file: signing, persistence, tamper refusal."""

import sqlite3
import threading

import pytest

from tests.audit.conftest import ORIGIN, event
from vault.audit.checkpoint import open_checkpoint
from vault.audit.entry import decode_entry
from vault.audit.merkle import leaf_hash, root_of, verify_consistency
from vault.audit.note import NoteSigner, NoteVerifier
from vault.audit.receipt import ReceiptError, verify_receipt
from vault.errors import ConfigurationError, IntegrityError, NotFound, StorageError


def test_every_append_is_covered_by_a_signed_checkpoint(make_log, signer):
    """Entry i is stored with the signed checkpoint of size i + 1 over entries 0..i."""
    log = make_log()
    verifier = NoteVerifier(signer.verifier_key)
    leaves = []
    for i in range(9):
        assert log.append(event(i)) == i
        seq, data, note = next(log.iter_rows(i, i + 1))
        leaves.append(leaf_hash(data))
        checkpoint = open_checkpoint(verifier, note)
        assert (seq, checkpoint.origin, checkpoint.size) == (i, ORIGIN, i + 1)
        assert checkpoint.root == root_of(leaves)
    assert log.checkpoint() == note and log.size == 9


def test_reopening_continues_the_same_log(make_log, signer):
    """A reopened log keeps its entries, checkpoints and numbering, consistently."""
    log = make_log()
    for i in range(5):
        log.append(event(i))
    first = open_checkpoint(NoteVerifier(signer.verifier_key), log.checkpoint())
    log.close()
    again = make_log()
    assert again.size == 5 and again.append(event(5)) == 5
    latest = open_checkpoint(NoteVerifier(signer.verifier_key), again.checkpoint())
    assert verify_consistency(
        old_size=5,
        new_size=6,
        proof=again.consistency_proof(5, 6),
        old_root=first.root,
        new_root=latest.root,
    )


def test_entry_times_never_go_backwards(make_log):
    """An event stamped earlier than the last entry is logged at the last entry's time."""
    log = make_log()
    log.append(event(10))
    log.append(event(3))
    times = [decode_entry(data).time_us for _, data, _ in log.iter_rows(0, 2)]
    assert times[0] == times[1]


def test_a_log_altered_at_rest_refuses_to_open(make_log, tmp_path):
    """Rewriting one stored entry makes the next start fail with IntegrityError."""
    log = make_log()
    for i in range(4):
        log.append(event(i))
    log.close()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        data = db.execute("SELECT entry FROM entries WHERE seq = 1").fetchone()[0]
        db.execute(
            "UPDATE entries SET entry = ? WHERE seq = 1",
            (bytes(data).replace(b'"match"', b'"nomat"'),),
        )
    with pytest.raises(IntegrityError, match="altered"):
        make_log()


def test_a_dropped_row_refuses_to_open(make_log, tmp_path):
    """Deleting a row in the middle is detected on open."""
    log = make_log()
    for i in range(4):
        log.append(event(i))
    log.close()
    with sqlite3.connect(tmp_path / "audit.db") as db:
        db.execute("DELETE FROM entries WHERE seq = 2")
    with pytest.raises(IntegrityError, match="missing"):
        make_log()


def test_another_key_or_origin_is_refused(make_log):
    """A log signed by one key does not open under another, nor under another origin."""
    make_log().append(event(0))
    with pytest.raises(ConfigurationError):
        make_log(key=NoteSigner.generate(ORIGIN))
    with pytest.raises(ConfigurationError, match="belongs to log"):
        make_log(key=NoteSigner.generate("biovault.local/audit/other"))


def test_a_missing_log_is_not_silently_recreated(make_log):
    """With create=False (the key existed before) a missing file is an IntegrityError."""
    with pytest.raises(IntegrityError, match="missing"):
        make_log("gone.db", create=False)


def test_concurrent_appends_form_one_consistent_log(make_log, signer):
    """Eight threads appending at once give contiguous numbers and a verifying tree."""
    log = make_log()

    def work(worker: int) -> None:
        for i in range(25):
            log.append(event(worker * 100 + i))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = list(log.iter_rows(0, log.size))
    assert [seq for seq, _, _ in rows] == list(range(200))
    checkpoint = open_checkpoint(NoteVerifier(signer.verifier_key), log.checkpoint())
    assert checkpoint.root == root_of([leaf_hash(data) for _, data, _ in rows])


def test_capture_sees_only_this_threads_entries(make_log):
    """capture() collects the sequence numbers appended by the calling thread only."""
    log = make_log()
    log.append(event(0))
    other = threading.Thread(target=lambda: log.append(event(1)))
    with log.capture() as mine:
        other.start()
        other.join()
        log.append(event(2))
    assert mine == [2]


def test_receipts_verify_offline(make_log, signer):
    """A receipt of a delete entry verifies with the public key alone; others are refused."""
    log = make_log()
    log.append(event(0))
    seq = log.append(event(1, action="delete"))
    log.append(event(2))
    verifier = NoteVerifier(signer.verifier_key)
    entry, checkpoint = verify_receipt(log.receipt(seq), verifier)
    assert (entry.seq, entry.action, checkpoint.size) == (1, "delete", 2)
    with pytest.raises(ReceiptError, match="not a successful erasure"):
        verify_receipt(log.receipt(0), verifier)
    with pytest.raises(NotFound):
        log.receipt(3)


def test_closed_log_refuses_appends(make_log):
    """After close, appends fail loudly instead of being lost."""
    log = make_log()
    log.close()
    with pytest.raises(StorageError):
        log.append(event(0))
