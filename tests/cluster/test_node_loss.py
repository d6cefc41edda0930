"""A lost Ray worker node: its shard moves to the remaining node and reloads.

Own cluster: a head with two CPUs (room for a second shard) and one worker node
with one; the head's GCS is told to notice a dead node within a second or two.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import pytest

from tests.cluster.frontend import Front, start_front, unit
from tests.support.ray_cluster import RayNetns, start_cluster

DIM = 64
GALLERY = 5000  # blocks 0 (shard 0) and 1 (shard 1)


@pytest.fixture(scope="module")
def lossy() -> Iterator[Front]:
    netns = RayNetns.create()
    try:
        cluster = start_cluster(
            netns,
            nodes=2,
            cpus_per_node=1,
            head_cpus=2,
            head_env={
                "RAY_health_check_period_ms": "500",
                "RAY_health_check_timeout_ms": "500",
                "RAY_health_check_failure_threshold": "3",
            },
        )
        yield start_front(cluster, gallery=GALLERY, dim=DIM)
    finally:
        netns.destroy()


def test_shard_of_a_lost_node_moves_and_reloads(lossy: Front) -> None:
    """Kill the worker node (its raylet's process group and the shard on it): the shard
    comes back on the head node with all its templates, and identify finds them."""
    before = lossy.status()
    head_node = _head_node(lossy)
    on_worker = [s for s in before if s["node"] != head_node]
    assert len(on_worker) == 1, before
    victim = on_worker[0]
    os.killpg(lossy.cluster.netns.groups[1], signal.SIGKILL)  # the worker's `ray start`
    with contextlib.suppress(ProcessLookupError):
        os.kill(victim["pid"], signal.SIGKILL)
    lost = time.monotonic()
    back = lossy.wait_alive(victim["shard"], victim["pid"], limit=90)
    moved = time.monotonic() - lost
    assert back["node"] == head_node, "the shard must leave the dead node"
    assert back["templates"] == victim["templates"]
    rows = [10, 4500]  # one template per shard
    probes = unit(lossy.templates[rows].astype(np.float64))
    out = lossy.call("identify", probes=lossy.save("lost", probes), top_k=1)
    assert [row[0][0] for row in out["results"]] == [f"s{r}" for r in rows]
    print(f"shard {victim['shard']} moved to the head node and reloaded in {moved:.1f} s")


def _head_node(front: Front) -> str:
    """The head's node id, from the file Ray writes for every node it starts."""
    out = front.call("nodes", ray=front.cluster.address)
    return next(n["node"] for n in out["nodes"] if n["head"])
