"""The sharded front-end of the Ray tests: started in the cluster's namespace, driven there.

pytest stays outside the namespace, so every client call goes through
``tests.cluster.driver`` run with ``ip netns exec`` (it prints one JSON object).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.ray_cluster import BIN, RayCluster

COLLECTION = "faces"
TARGET = "127.0.0.1:50051"
METRICS = "127.0.0.1:9464"


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@dataclass
class Front:
    """The front-end in the namespace, and a way to drive it from there."""

    cluster: RayCluster
    work: Path
    templates: np.ndarray
    log: Path
    serve: subprocess.Popen[bytes]
    target: str = TARGET

    def call(self, action: str, **args: Any) -> dict[str, Any]:
        args.setdefault("collection", COLLECTION)
        args.setdefault("target", self.target)
        done = self.cluster.netns.run(
            BIN / "python", "-m", "tests.cluster.driver", action, json.dumps(args)
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    def save(self, name: str, array: np.ndarray) -> str:
        path = self.work / f"{name}.npy"
        np.save(path, array)
        return str(path)

    def status(self) -> list[dict[str, Any]]:
        return self.call("status")["shards"]

    def wait_alive(self, shard: int, old_pid: int, limit: float = 60.0) -> dict[str, Any]:
        """The shard's status once it is ALIVE in a new process."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            entry = self.status()[shard]
            if entry["state"] == "ALIVE" and entry["pid"] != old_pid:
                return entry
            time.sleep(0.1)
        pytest.fail(f"shard {shard} did not come back within {limit:g} s")


def launch_serve(
    cluster: RayCluster,
    work: Path,
    *,
    shards: int = 2,
    extra: tuple[str, ...] = (),
    target: str = TARGET,
    metrics: str = METRICS,
    name: str = "serve",
) -> subprocess.Popen[bytes]:
    """``serve --ray-address --shards`` in the namespace; returns once it is SERVING.

    ``extra`` adds flags (a PostgreSQL store, an external key service); ``name``
    names its data directory and log, so two front-ends can share one ``work``.
    """
    log = work / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BIOVAULT_"))}
    data = work / ("data" if name == "serve" else f"data-{name}")
    child = cluster.netns.popen(
        BIN / "biovault", "serve", "--data-dir", data, "--listen", target,
        "--ray-address", cluster.address, "--shards", str(shards),
        "--rate-limit", "0", "--retention-interval", "0", "--metrics-listen", metrics,
        *extra, log=log, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while cluster.netns.run(BIN / "biovault", "health", "--target", target).returncode != 0:
        if time.monotonic() > deadline or child.poll() is not None:
            pytest.fail(f"the sharded front-end did not come up:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)
    return child


def start_front(
    cluster: RayCluster, *, gallery: int, dim: int, shards: int = 2, extra: tuple[str, ...] = ()
) -> Front:
    """A sharded front-end in the namespace, with one enrolled collection."""
    work = cluster.temp_dir / "work"
    work.mkdir()
    serve = launch_serve(cluster, work, shards=shards, extra=extra)
    rng = np.random.default_rng(16)
    templates = unit(rng.standard_normal((gallery, dim))).astype(np.float32)
    front = Front(cluster, work, templates, work / "serve.log", serve)
    assert front.call("create", dim=dim) == {"created": COLLECTION}
    ids = work / "ids.txt"
    ids.write_text("".join(f"s{i}\n" for i in range(gallery)))
    enrolled = front.call("enroll", ids=str(ids), templates=front.save("gallery", templates))
    assert enrolled == {"enrolled": gallery}
    return front
