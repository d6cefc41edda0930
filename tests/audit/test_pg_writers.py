"""Two writers (front-ends) on one PostgreSQL append to ONE Merkle log (issue 16,
item 3): each takes the log's advisory lock, reads what the other appended, and
numbers after it - so seqs are 0..n-1 and the offline verifier accepts the whole
log. Real server, two connections, threads interleaving."""

from __future__ import annotations

import dataclasses
import threading

import psycopg
import pytest

from tests.audit.conftest import event, write_bundle
from vault.audit.bundle import export_bundle
from vault.audit.checkpoint import open_checkpoint
from vault.audit.entry import decode_entry, encode_entry
from vault.audit.log import MerkleAuditLog
from vault.audit.merkle import leaf_hash, verify_inclusion
from vault.audit.note import NoteSigner, NoteVerifier
from vault.audit.receipt import verify_receipt
from vault.audit.verify import verify_bundle
from vault.errors import IntegrityError
from vault.store.postgres import PostgresLogRows, PostgresTemplateStore

ORIGIN = "biovault.local/audit/two-writers"


@pytest.fixture
def two_logs(pg_url):
    """Two front-ends' logs: each its own store connection, the same signing key."""
    signer = NoteSigner.generate(ORIGIN)
    stores = [PostgresTemplateStore(pg_url) for _ in range(2)]
    logs = [MerkleAuditLog(PostgresLogRows(store), signer) for store in stores]
    yield signer, logs, stores
    for log in logs:
        log.close()
    for store in stores:
        store.close()


def test_two_writers_interleaved_form_one_verifiable_log(two_logs, pg_url, tmp_path) -> None:
    """Four threads over two logs (single appends, batches, and a joint transaction
    that fails): the rows are 0..n-1, a third reader exports them and the offline
    verifier accepts every checkpoint; each writer's receipts verify."""
    signer, logs, _ = two_logs
    mine: dict[int, list[int]] = {0: [], 1: [], 2: [], 3: []}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        log = logs[worker % 2]
        try:
            for i in range(20):
                n = worker * 1000 + i
                if i % 5 == 4:
                    mine[worker] += log.append_many([event(n), event(n + 500)])
                elif i % 7 == 6:
                    # A joint transaction that fails: its entry must vanish everywhere.
                    with pytest.raises(RuntimeError), log.transaction() as joint:
                        assert joint
                        log.append(event(n, action="delete"))
                        raise RuntimeError("the store change failed")
                else:
                    mine[worker].append(log.append(event(n)))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    taken = sorted(seq for seqs in mine.values() for seq in seqs)
    total = len(taken)
    assert total == 4 * (14 + 4 * 2)  # per thread: 14 singles, 4 batches of 2 (2 failed)
    assert taken == list(range(total))  # no gap, no seq given twice
    with psycopg.connect(pg_url) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM audit_entries ORDER BY seq")]
    assert seqs == list(range(total))

    store = PostgresTemplateStore(pg_url)
    reader = MerkleAuditLog(PostgresLogRows(store), signer, create=False)
    try:
        assert reader.size == total
        verified = verify_bundle(
            write_bundle(export_bundle(reader), tmp_path / "bundle"), signer.verifier_key
        )
    finally:
        reader.close()
        store.close()
    assert verified.size == total
    assert [e.seq for e in verified.entries] == list(range(total))
    # A writer that has caught up proves inclusion of the other's entries too.
    logs[0].append(event(9999))
    verifier = NoteVerifier(signer.verifier_key)
    head = open_checkpoint(verifier, logs[0].checkpoint())
    assert head.size == total + 1
    for seq in (mine[1][0], mine[3][-1]):  # appended through the other connection
        entry = logs[0].receipt(seq).entry
        assert verify_inclusion(
            leaf=leaf_hash(entry), index=seq, size=head.size,
            proof=logs[0].inclusion_proof(seq, head.size), root=head.root,
        )  # fmt: skip
    delete_seq = logs[1].append(event(10_000, action="delete"))
    entry, checkpoint = verify_receipt(logs[1].receipt(delete_seq), verifier)
    assert (entry.seq, checkpoint.size) == (total + 1, total + 2)


def test_a_writer_refuses_rows_that_do_not_match_their_checkpoint(two_logs, pg_url) -> None:
    """Another writer's row altered in the database: the next append refuses to
    extend a log whose entries no longer hash to the signed checkpoint."""
    _, (first, second), _ = two_logs
    first.append(event(0))
    second.append(event(1))
    first.append(event(2))
    with psycopg.connect(pg_url) as conn:
        [data] = conn.execute("SELECT entry FROM audit_entries WHERE seq = 2").fetchone()
        forged = dataclasses.replace(decode_entry(bytes(data)), actor="someone-else")
        conn.execute("UPDATE audit_entries SET entry = %s WHERE seq = 2", (encode_entry(forged),))
    with pytest.raises(IntegrityError, match="do not hash"):
        second.append(event(3))
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_entries").fetchone() == (3,)


def test_sync_shows_a_reader_what_the_other_writer_committed(two_logs) -> None:
    """A front-end that has not written since sees the other's entries after sync():
    the same size and the same signed checkpoint, and proofs over them."""
    _, (first, second), _ = two_logs
    second.append(event(0))
    for i in range(1, 5):
        first.append(event(i))
    assert second.size == 1
    assert second.sync() == 5 == first.size
    assert second.checkpoint() == first.checkpoint()
    assert second.consistency_proof(1, 5) == first.consistency_proof(1, 5)
