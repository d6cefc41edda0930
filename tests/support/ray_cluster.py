"""A real multi-node Ray cluster in a network namespace that has only loopback.

Outside such a namespace Ray binds the machine's own address, which tests here
must not use; inside one, ``127.0.0.1`` is the namespace's own loopback. So every
process that talks to the cluster - head, worker nodes, the ``serve`` front-end
and the client driving it - runs with ``ip netns exec``; pytest itself stays
outside and drives them as subprocesses (a client in pytest could not reach the
namespace's loopback).

Each ``ray start`` runs in its own process group (its daemons inherit it); the
fixture stops what it started by process group and by the pids the namespace
still holds (never through a stop-everything command or by name), then deletes
the namespace.
If the namespace or Ray cannot be had the tests fail: they are not skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RAY_PORT = 6379


def _run(argv: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class RayNetns:
    """A loopback-only network namespace and the processes started in it."""

    name: str
    temp_dir: Path
    groups: list[int] = field(default_factory=list)
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def create(cls) -> RayNetns:
        name = f"bvray-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        made = _run(["ip", "netns", "add", name])
        if made.returncode != 0:
            pytest.fail(f"cannot create network namespace {name}: {made.stderr.strip()}")
        up = _run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"])
        if up.returncode != 0:
            _run(["ip", "netns", "del", name])
            pytest.fail(f"cannot bring up loopback in {name}: {up.stderr.strip()}")
        # Short path: Ray's unix sockets live under it (sun_path is 108 bytes).
        return cls(name, Path(tempfile.mkdtemp(prefix="bvray", dir="/tmp")))

    def argv(self, *argv: str | os.PathLike[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *map(str, argv)]

    def popen(
        self, *argv: str | os.PathLike[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process in the namespace, in its own process group."""
        with open(log, "ab") as out:
            child = subprocess.Popen(
                self.argv(*argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=REPO,
            )
        self.groups.append(child.pid)
        self.started.append(child)
        return child

    def run(
        self, *argv: str | os.PathLike[str], timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the namespace to completion."""
        return subprocess.run(
            self.argv(*argv), capture_output=True, text=True, timeout=timeout, cwd=REPO
        )

    def pids(self) -> list[int]:
        listed = _run(["ip", "netns", "pids", self.name])
        return [int(p) for p in listed.stdout.split()]

    def destroy(self) -> None:
        """Stop every process this namespace holds (by group, then by pid), delete it."""
        for sig, pause in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.5)):
            for group in self.groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, sig)
            for pid in self.pids():  # actor workers a raylet started in its own group
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + pause
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.1)
        for child in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
        _run(["ip", "netns", "del", self.name])
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@dataclass
class RayCluster:
    """A running cluster: its GCS address (inside the namespace) and where it writes."""

    netns: RayNetns
    address: str
    nodes: int
    startup_seconds: float

    @property
    def temp_dir(self) -> Path:
        return self.netns.temp_dir


def start_cluster(
    netns: RayNetns,
    *,
    nodes: int = 2,
    cpus_per_node: int = 1,
    head_cpus: int | None = None,
    head_env: dict[str, str] | None = None,
) -> RayCluster:
    """``ray start --head`` plus ``nodes - 1`` worker nodes, each its own raylet."""
    started = time.monotonic()
    ray = BIN / "ray"
    common = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    cpus = ["--num-cpus", str(cpus_per_node)]
    head_cpus_flag = ["--num-cpus", str(head_cpus or cpus_per_node)]
    env = None if head_env is None else {**os.environ, **head_env}
    head = netns.popen(
        ray, "start", "--head", "--port", str(RAY_PORT), "--temp-dir", netns.temp_dir,
        "--include-dashboard=false", "--resources", json.dumps({"node_0": 1}), *common,
        *head_cpus_flag, log=netns.temp_dir / "head.out", env=env,
    )  # fmt: skip
    if head.wait(timeout=120) != 0:
        pytest.fail(f"ray start --head failed: {(netns.temp_dir / 'head.out').read_text()}")
    for n in range(1, nodes):
        log = netns.temp_dir / f"node{n}.out"
        worker = netns.popen(
            ray, "start", "--address", f"127.0.0.1:{RAY_PORT}",
            "--resources", json.dumps({f"node_{n}": 1}), *common, *cpus, log=log,
        )  # fmt: skip
        if worker.wait(timeout=120) != 0:
            pytest.fail(f"ray start (node {n}) failed: {log.read_text()}")
    return RayCluster(netns, f"127.0.0.1:{RAY_PORT}", nodes, time.monotonic() - started)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """A two-node Ray cluster on the loopback of a fresh namespace; torn down after."""
    if shutil.which("ip") is None:
        pytest.fail("the Ray tests need iproute2 (`ip netns`) and root")
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.fail("the Ray tests need the cluster extra: pip install -e '.[dev]'")
    netns = RayNetns.create()
    try:
        yield start_cluster(netns, nodes=2)
    finally:
        netns.destroy()
