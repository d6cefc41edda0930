"""Shards that read the PostgreSQL store: a sharded vault on PostgreSQL over real Ray.

The front-end serves with ``--store-url`` and the shards open the same database
read-only (no writer lock) with the password from the file the front-end names.
The server runs outside the cluster's network namespace, so everything reaches it
through its unix-domain socket (a file, which crosses namespaces). Two blocks
(5,000 templates): block 0 on shard 0, block 1 on shard 1.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from tests.cluster.frontend import Front, start_front, unit
from tests.support.postgres import PostgresServer
from tests.support.ray_cluster import RayCluster

DIM = 64
GALLERY = 5000


@pytest.fixture(scope="module")
def pg_front(ray_cluster: RayCluster, postgres_server: PostgresServer) -> Front:
    database = postgres_server.create_database()
    secret = ray_cluster.temp_dir / "pg-password"
    secret.write_text(postgres_server.app_password + "\n")
    secret.chmod(0o600)
    flags = (
        "--store-url", postgres_server.socket_url(database), "--store-password-file", str(secret),
    )  # fmt: skip
    return start_front(ray_cluster, gallery=GALLERY, dim=DIM, extra=flags)


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
