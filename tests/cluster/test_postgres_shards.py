"""A sharded vault on PostgreSQL over real Ray: shards that read the store, and two
front-ends on one store, one key service and one cluster.

Front-end A serves with ``--store-url`` and the shards open the same database
read-only (no writer lock) with the password from the file the front-end names.
The server runs outside the cluster's network namespace, so everything reaches it
through its unix-domain socket (a file, which crosses namespaces). Two blocks
(5,000 templates): block 0 on shard 0, block 1 on shard 1. Front-end B is a second
``serve`` on the same store, A's (embedded) OpenBao and the same shards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import numpy as np
import psycopg
import pytest

from tests.cluster.frontend import Front, launch_serve, start_front, unit
from tests.support.postgres import PostgresServer
from tests.support.ray_cluster import BIN, RayCluster

DIM = 64
GALLERY = 5000


TARGET_B = "127.0.0.1:50052"


@pytest.fixture(scope="module")
def pg_database(ray_cluster: RayCluster, postgres_server: PostgresServer) -> tuple[str, ...]:
    """The store flags of both front-ends (a database of its own; the password in a file)."""
    database = postgres_server.create_database()
    secret = ray_cluster.temp_dir / "pg-password"
    secret.write_text(postgres_server.app_password + "\n")
    secret.chmod(0o600)
    url = postgres_server.socket_url(database)
    return ("--store-url", url, "--store-password-file", str(secret), database)


@pytest.fixture(scope="module")
def pg_front(ray_cluster: RayCluster, pg_database: tuple[str, ...]) -> Front:
    return start_front(ray_cluster, gallery=GALLERY, dim=DIM, extra=pg_database[:4])


@pytest.fixture(scope="module")
def front_b(
    ray_cluster: RayCluster, pg_front: Front, pg_database: tuple[str, ...]
) -> Iterator[Front]:
    """A second serve on the same store, key service (A's embedded OpenBao, by its root
    token in a file) and shards."""
    home = pg_front.work / "data" / "openbao"
    api = json.loads((home / "ports.json").read_text())["api_port"]
    token = pg_front.work / "bao-token"
    token.write_text(json.loads((home / "init.json").read_text())["root_token"] + "\n")
    token.chmod(0o600)
    flags = (*pg_database[:4], "--vault-addr", f"http://127.0.0.1:{api}",
             "--vault-token-file", str(token))  # fmt: skip
    serve = launch_serve(
        ray_cluster, pg_front.work, extra=flags, target=TARGET_B, metrics="127.0.0.1:9465",
        name="b",
    )  # fmt: skip
    front = Front(
        ray_cluster, pg_front.work, pg_front.templates, pg_front.work / "b.log", serve, TARGET_B
    )
    yield front
    serve.send_signal(signal.SIGTERM)
    serve.wait(timeout=60)


def _identify(front: Front, rows: list[int], name: str) -> list[str]:
    out = front.call("identify", probes=front.save(name, front.templates[rows]), top_k=1)
    assert "results" in out, out
    return [row[0][0] for row in out["results"]]


def test_shards_load_their_blocks_from_postgresql(pg_front: Front) -> None:
    """Both shards hold their block, read from PostgreSQL; identify finds every block."""
    shards = pg_front.status()
    assert {s["state"] for s in shards} == {"ALIVE"}
    assert [s["templates"] for s in shards] == [4096, GALLERY - 4096]
    rows = [1, 4095, 4096, 4999]
    assert _identify(pg_front, rows, "pg") == [f"s{r}" for r in rows]
    served = pg_front.log.read_text()
    assert "PostgreSQL" in served and "vault.db" not in served


def test_killed_shard_reloads_from_postgresql(pg_front: Front) -> None:
    """kill -9 of shard 1: Ray restarts it, it reloads block 1 from PostgreSQL and the
    next answer is complete; an enrolment made meanwhile is visible once it is back."""
    victim = pg_front.status()[1]
    os.kill(victim["pid"], signal.SIGKILL)
    killed = time.monotonic()
    fresh = unit(np.random.default_rng(7).standard_normal((3, DIM))).astype(np.float32)
    ids = pg_front.work / "pgfresh.txt"
    ids.write_text("".join(f"pg{i}\n" for i in range(3)))
    out = pg_front.call("enroll", ids=str(ids), templates=pg_front.save("pgfresh", fresh))
    assert out == {"enrolled": 3}, out
    back = pg_front.wait_alive(1, victim["pid"])
    assert back["templates"] == victim["templates"] + 3, "the appended block-1 slots reloaded"
    assert back["restarts"] >= 1
    rows = [10, 4100, 4990]
    assert _identify(pg_front, rows, "pgback") == [f"s{r}" for r in rows]
    found = pg_front.call("identify", probes=pg_front.save("pgq", fresh), top_k=1)
    assert [row[0][0] for row in found["results"]] == [f"pg{i}" for i in range(3)]
    print(f"shard back after {time.monotonic() - killed:.2f} s, load {back['load_seconds']:.2f} s")


def _enrol(front: Front, prefix: str, rows: np.ndarray) -> None:
    ids = front.work / f"{prefix}.txt"
    ids.write_text("".join(f"{prefix}{i}\n" for i in range(len(rows))))
    out = front.call("enroll", ids=str(ids), templates=front.save(prefix, rows))
    assert out == {"enrolled": len(rows)}, out


def _fresh(seed: int, n: int) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((n, DIM))).astype(np.float32)


def test_two_front_ends_see_each_others_writes(pg_front: Front, front_b: Front) -> None:
    """B shares A's shards. What A enrols, B's next Identify/Verify finds; what B
    deletes, A no longer finds; what B enrols, A finds."""
    assert [s["pid"] for s in front_b.status()] == [s["pid"] for s in pg_front.status()]
    xs = _fresh(11, 4)
    _enrol(pg_front, "x", xs)
    assert [r[0][0] for r in front_b.call("identify", probes=front_b.save("bx", xs), top_k=1)[
        "results"]] == [f"x{i}" for i in range(4)]  # fmt: skip
    probe = front_b.save("bx1", xs[1:2])
    assert abs(front_b.call("verify", id="x1", probe=probe)["score"] - 1.0) < 5e-3
    assert front_b.call("delete", id="x2") == {"erased": 1}
    assert front_b.call("delete", id="s100") == {"erased": 1}  # enrolled by A at start
    gone = np.vstack([xs[2:3], pg_front.templates[100:101]])
    rows = pg_front.call("identify", probes=pg_front.save("gone", gone), top_k=3)["results"]
    assert "x2" not in [m[0] for m in rows[0]] and "s100" not in [m[0] for m in rows[1]]
    ys = _fresh(12, 3)
    _enrol(front_b, "y", ys)
    found = pg_front.call("identify", probes=pg_front.save("ay", ys), top_k=1)["results"]
    assert [r[0][0] for r in found] == [f"y{i}" for i in range(3)]


def test_a_collection_created_by_one_is_served_by_the_other(
    pg_front: Front, front_b: Front
) -> None:
    """A creates a collection after B started; B enrols into it (opening A's data key
    from the store), A finds B's templates; B's own create is refused: it ran once."""
    assert pg_front.call("create", collection="late", dim=DIM) == {"created": "late"}
    again = front_b.call("create", collection="late", dim=DIM)
    assert again.get("error") == "ALREADY_EXISTS", again
    rows = _fresh(31, 3)
    ids = front_b.work / "late.txt"
    ids.write_text("".join(f"late{i}\n" for i in range(3)))
    out = front_b.call(
        "enroll", collection="late", ids=str(ids), templates=front_b.save("late", rows)
    )
    assert out == {"enrolled": 3}, out
    found = pg_front.call("identify", collection="late", probes=pg_front.save("lq", rows), top_k=1)
    assert [r[0][0] for r in found["results"]] == [f"late{i}" for i in range(3)]


def test_enrolments_at_once_from_both_never_overwrite(pg_front: Front, front_b: Front) -> None:
    """A and B enrol into the same open block at the same time: every template of both
    is found by both (the collection lock makes the second plan from the first's block)."""
    batches = {"pa": (pg_front, _fresh(21, 40)), "pb": (front_b, _fresh(22, 40))}
    threads = [threading.Thread(target=_enrol, args=(f, p, r)) for p, (f, r) in batches.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    probes = np.vstack([r for _, r in batches.values()])
    expected = [f"{p}{i}" for p in batches for i in range(40)]
    for front in (pg_front, front_b):
        out = front.call("identify", probes=front.save(f"both-{front.target[-1]}", probes), top_k=1)
        assert [r[0][0] for r in out["results"]] == expected


def test_the_audit_log_is_one_gap_free_sequence(
    pg_front: Front, front_b: Front, postgres_server: PostgresServer,
    pg_database: tuple[str, ...],
) -> None:  # fmt: skip
    """Both front-ends appended to one log: sequence numbers 0..n-1 with no gap, and the
    offline verifier accepts the bundle exported through B (entries A wrote included)."""
    url = postgres_server.url(pg_database[4])
    with psycopg.connect(url, password=postgres_server.app_password) as conn:
        seqs = [int(r[0]) for r in conn.execute("SELECT seq FROM audit_entries ORDER BY seq")]
    assert seqs == list(range(len(seqs))) and len(seqs) > 20
    bundle, key = pg_front.work / "bundle", pg_front.work / "audit.pub"
    for argv in (
        ("audit", "public-key", "--target", TARGET_B, "--out", key),
        ("audit", "export", "--target", TARGET_B, "--out", bundle),
    ):
        done = pg_front.cluster.netns.run(BIN / "biovault", *argv)
        assert done.returncode == 0, done.stderr[-2000:]
    verify = ("audit", "verify", "--bundle", bundle, "--public-key", key, "--json", "-")
    verified = subprocess.run(
        [BIN / "biovault", *verify], capture_output=True, text=True, timeout=120, check=False
    )
    assert verified.returncode == 0, verified.stdout[-2000:] + verified.stderr[-2000:]
    summary = json.loads(verified.stdout)
    assert summary["verified"] and summary["tree_size"] >= len(seqs), summary
