"""A vault served over a real two-node Ray cluster: sharded answers, kill -9, no leaks.

One cluster and one ``serve --ray-address ... --shards 2`` front-end for the whole
module (start-up dominates). The gallery has three blocks (9,000 templates at
4,096 slots per block): blocks 0 and 2 on shard 0, block 1 on shard 1.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from tests.cluster.frontend import METRICS, Front, launch_serve, start_front, unit
from tests.support.leakscan import scan_tree, template_fingerprints
from tests.support.ray_cluster import RayCluster

DIM = 128
GALLERY = 9000


@pytest.fixture(scope="module")
def front(ray_cluster: RayCluster) -> Front:
    return start_front(ray_cluster, gallery=GALLERY, dim=DIM)


def _plaintext_top(templates: np.ndarray, probes: np.ndarray, k: int) -> list[list[str]]:
    scores = unit(probes.astype(np.float64)) @ templates.astype(np.float64).T
    return [[f"s{i}" for i in np.argsort(-row)[:k]] for row in scores]


def _probes(front: Front, rows: list[int], noise: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(sum(rows))
    return unit(front.templates[rows] + noise * rng.standard_normal((len(rows), DIM)) / DIM**0.5)


def test_every_shard_is_alive_and_holds_its_blocks(front: Front) -> None:
    """cluster status: two ALIVE shards on two nodes; shard 0 holds blocks 0 and 2."""
    shards = front.status()
    assert [s["shard"] for s in shards] == [0, 1]
    assert {s["state"] for s in shards} == {"ALIVE"}
    assert len({s["node"] for s in shards}) == 2, "SPREAD puts one shard on each node"
    assert [s["templates"] for s in shards] == [4096 + (GALLERY - 8192), 4096]
    assert all(s["pid"] > 0 for s in shards)


def test_prometheus_exports_each_shard(front: Front) -> None:
    """The exporter has per-shard gauges: up, templates held, restarts."""
    text = front.call("metrics", metrics=METRICS)["text"]
    assert 'biovault_shard_up{shard="0"} 1.0' in text
    assert 'biovault_shard_up{shard="1"} 1.0' in text
    assert 'biovault_shard_templates{shard="1"} 4096.0' in text
    assert "biovault_shard_restarts" in text


def test_identify_over_shards_ranks_like_plaintext(front: Front) -> None:
    """Top-5 of probes near templates of every block equals the plaintext top-5."""
    rows = [3, 4100, 8500, 12, 6000, 8999]
    probes = _probes(front, rows)
    out = front.call("identify", probes=front.save("probes", probes), top_k=5)
    found = [[m[0] for m in row] for row in out["results"]]
    assert found == _plaintext_top(front.templates, probes, 5)
    assert [row[0] for row in found] == [f"s{r}" for r in rows]
    exact = unit(probes) @ front.templates.astype(np.float64).T
    for r, row in enumerate(out["results"]):
        for subject, score in row:
            assert abs(score - exact[r, int(subject[1:])]) < 5e-3


def test_hybrid_collection_under_two_key_versions(front: Front) -> None:
    """A hybrid collection whose templates span two transform key versions is scored
    through the shards' full score vectors (gathered in block order) and still finds
    each probe's own template."""
    rng = np.random.default_rng(5)
    first, second = (unit(rng.standard_normal((40, DIM))).astype(np.float32) for _ in "ab")
    assert front.call("create", collection="hyb", mode="hybrid", dim=DIM)["created"] == "hyb"
    for name, rows in (("h1", first), ("h2", second)):
        ids = front.work / f"{name}.txt"
        ids.write_text("".join(f"{name}-{i}\n" for i in range(len(rows))))
        out = front.call("enroll", collection="hyb", ids=str(ids), templates=front.save(name, rows))
        assert out == {"enrolled": len(rows)}
        if name == "h1":
            assert front.call("rotate", collection="hyb")["key_version"] == 2
    probes = np.vstack([first[:3], second[:3]])
    out = front.call("identify", collection="hyb", probes=front.save("hq", probes), top_k=1)
    expected = [f"h1-{i}" for i in range(3)] + [f"h2-{i}" for i in range(3)]
    assert [row[0][0] for row in out["results"]] == expected


def test_verify_reaches_the_owning_shard(front: Front) -> None:
    """Verify of a subject in block 1 (shard 1) scores its own template ~1, another's ~0
    (the collection's threshold is -1, so both "match": the scores tell)."""
    probe = front.save("verify", front.templates[5000:5001])
    own = front.call("verify", id="s5000", probe=probe)["score"]
    other = front.call("verify", id="s10", probe=probe)["score"]
    exact = float(front.templates[5000].astype(np.float64) @ front.templates[10])
    assert abs(own - 1.0) < 5e-3
    assert abs(other - exact) < 5e-3


def test_killed_shard_answers_completely_or_unavailable(front: Front) -> None:
    """kill -9 of shard 1: each identify is complete or UNAVAILABLE, never OK-but-short;
    Ray restarts the shard, which reloads its blocks from the store."""
    victim = front.status()[1]
    rows = [4200, 5000, 7000]  # all in block 1, on the killed shard
    probes = front.save("kill", _probes(front, rows, noise=0.0))
    os.kill(victim["pid"], signal.SIGKILL)
    killed = time.monotonic()
    answers = [front.call("identify", probes=probes, top_k=3, timeout=t) for t in (1, 60)]
    for out in answers:
        if "error" in out:
            assert out["error"] in ("UNAVAILABLE", "DEADLINE_EXCEEDED"), out
        else:
            assert [row[0][0] for row in out["results"]] == [f"s{r}" for r in rows], out
    assert "results" in answers[-1], "a call with a long deadline waits for the restart"
    back = front.wait_alive(1, victim["pid"])
    assert back["templates"] == victim["templates"]
    assert back["restarts"] >= 1
    print(f"shard back after {time.monotonic() - killed:.2f} s, load {back['load_seconds']:.2f} s")


def test_enrolment_during_a_restart_is_visible_once_back(front: Front) -> None:
    """Templates acknowledged while their shard (block 2's, shard 0) is down are found after."""
    victim = front.status()[0]
    held = sum(s["templates"] for s in front.status())
    fresh = unit(np.random.default_rng(99).standard_normal((5, DIM))).astype(np.float32)
    ids = front.work / "fresh.txt"
    ids.write_text("".join(f"new{i}\n" for i in range(5)))
    os.kill(victim["pid"], signal.SIGKILL)
    out = front.call("enroll", ids=str(ids), templates=front.save("fresh", fresh))
    assert out == {"enrolled": 5}, out
    front.wait_alive(0, victim["pid"])
    found = front.call("identify", probes=front.save("freshq", fresh), top_k=1)
    assert [row[0][0] for row in found["results"]] == [f"new{i}" for i in range(5)]
    assert sum(s["templates"] for s in front.status()) == held + 5


def test_erasure_is_seen_by_the_shard(front: Front) -> None:
    """A deleted subject of shard 1 is no longer a candidate."""
    probe = front.save("gone", front.templates[4500:4501])
    before = front.call("identify", probes=probe, top_k=1)["results"][0][0][0]
    assert before == "s4500"
    assert front.call("delete", id="s4500") == {"erased": 1}
    after = front.call("identify", probes=probe, top_k=3)["results"][0]
    assert "s4500" not in [m[0] for m in after]


def test_front_end_killed_loses_nothing(front: Front) -> None:
    """kill -9 of the front-end (its embedded OpenBao dies with it): a new one on the same
    data directory reattaches to the running shards, and every template answers."""
    pids = [s["pid"] for s in front.status()]
    expected = sum(s["templates"] for s in front.status())
    os.killpg(front.serve.pid, signal.SIGKILL)
    front.serve.wait(timeout=30)
    front.serve = launch_serve(front.cluster, front.work)
    now = front.status()
    assert [s["pid"] for s in now] == pids, "the detached shards kept running"
    assert sum(s["templates"] for s in now) == expected
    rows = [0, 4096, 8300]
    out = front.call("identify", probes=front.save("again", front.templates[rows]), top_k=1)
    assert [row[0][0] for row in out["results"]] == [f"s{r}" for r in rows]


def test_ray_session_holds_no_template_bytes(front: Front) -> None:
    """After enrolment and identification (probes = enrolled templates), nothing Ray
    wrote - logs, spill files, session state - holds a template's float32/64 bytes."""
    probe = front.save("leak", front.templates[:64])
    assert "results" in front.call("identify", probes=probe, top_k=1)
    session = sorted(front.cluster.temp_dir.glob("session_*"))
    assert session, "Ray wrote no session directory where it was told to"
    files = [p for p in session[0].rglob("*") if p.is_file() and not p.is_socket()]
    assert files, "nothing to scan"
    hits = scan_tree(files, template_fingerprints(front.templates))
    assert hits == {}, hits


def test_sigterm_still_shuts_the_front_end_down_cleanly(front: Front) -> None:
    """Joining Ray must not take over SIGTERM: serve drains and exits 0."""
    front.serve.send_signal(signal.SIGTERM)
    assert front.serve.wait(timeout=60) == 0, front.log.read_text()[-3000:]
