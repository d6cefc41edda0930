"""A live `biovault serve` under the signals and process deaths of real operations.

* a SIGTERM to the whole process group (systemd's KillMode=control-group, a shell's
  job control), repeated 0.3 s later, ends it gracefully and in bounded time;
* a SIGKILLed encryption worker fails only the call it was working for (UNAVAILABLE),
  health streams NOT_SERVING while the pool is replaced and SERVING after, and
  enrolment, erasure and shutdown keep working.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.service import ServiceProcess, run_cli
from tests.support.synthetic import identities
from vault.client import ClientError, VaultClient

PURPOSE = {"purpose": "access", "consent_ref": "c-1", "legal_basis": "consent"}
#: A correctness bound (the service must end), not a speed target.
EXIT_BOUND_SECONDS = 30.0


def _children(pid: int) -> list[int]:
    """Live (non-zombie) child pids of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        for child in _children(todo.pop()):
            out.add(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _encryption_workers(service: ServiceProcess) -> set[int]:
    """Python processes under serve that have no Python children: the TenSEAL workers
    (whatever forks them), not a process that only forks them."""
    assert service.process is not None
    exe = os.readlink(f"/proc/{service.process.pid}/exe")

    def python(pid: int) -> bool:
        try:
            return os.readlink(f"/proc/{pid}/exe") == exe
        except OSError:
            return False

    workers = {
        pid
        for pid in _descendants(service.process.pid)
        if python(pid) and not any(python(child) for child in _children(pid))
    }
    assert workers, "serve has no encryption workers"
    return workers


def _create(service: ServiceProcess, name: str, dim: int) -> None:
    done = run_cli(
        "collection", "create", "--target", service.target, "--name", name, "--mode", "ckks",
        "--dim", str(dim), "--allow-identification", "--purposes", "access",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _watch(target: str) -> tuple[queue.Queue, grpc.Channel]:
    """Statuses of a Watch stream on the overall service, as they arrive."""
    channel = grpc.insecure_channel(target)
    statuses: queue.Queue = queue.Queue()
    stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))

    def pump() -> None:
        try:
            for response in stream:
                statuses.put(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
        except grpc.RpcError as error:
            statuses.put(error.code().name)

    threading.Thread(target=pump, daemon=True).start()
    return statuses, channel


def _wait_for_log(path: Path, text: str, *, after: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace")[after:]:
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.02)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _wait_until_busy(pid: int, ticks: int = 5, timeout: float = 60.0) -> None:
    """Return once the idle process ``pid`` has used ``ticks`` more CPU ticks."""
    start, deadline = _cpu_ticks(pid), time.monotonic() + timeout
    while _cpu_ticks(pid) - start < ticks:
        assert time.monotonic() < deadline, f"worker {pid} never started working"
        time.sleep(0.005)


def _group_sigterm_twice(service: ServiceProcess) -> float:
    """SIGTERM the process group and every descendant (what a cgroup kill reaches),
    again 0.3 s later; return the seconds until serve exited."""
    assert service.process is not None
    pid = service.process.pid
    started = time.monotonic()
    for _ in range(2):
        for target in _descendants(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGTERM)
        os.killpg(os.getpgid(pid), signal.SIGTERM)
        time.sleep(0.3)
    try:
        code = service.process.wait(timeout=EXIT_BOUND_SECONDS)
    except subprocess.TimeoutExpired as hung:
        service.process.kill()
        raise AssertionError(
            f"serve ignored the group SIGTERM:\n{service.log_path.read_text()[-3000:]}"
        ) from hung
    elapsed = time.monotonic() - started
    assert code == 0, service.log_path.read_text()[-3000:]
    return elapsed


def test_a_group_sigterm_ends_serve_gracefully(tmp_path: Path) -> None:
    """With workers busy-able and the embedded OpenBao up, two group SIGTERMs end serve
    with status 0 in bounded time and leave no worker, host or key server behind."""
    service = ServiceProcess(
        tmp_path / "data", tmp_path / "serve.log", vault_addr=None, token=None,
        own_process_group=True,
    ).start()  # fmt: skip
    try:
        dim = 64
        _create(service, "c", dim)
        rows = identities(300, dim, np.random.default_rng(1)).astype(np.float32)
        with VaultClient(service.target, timeout=120) as client:
            assert client.enroll("c", [f"p{i}" for i in range(300)], rows, **PURPOSE) == 300
        assert service.process is not None
        left_behind = _descendants(service.process.pid)
        _encryption_workers(service)  # the pool exists
        statuses, channel = _watch(service.target)  # a client-side health checker
        assert statuses.get(timeout=10) == "SERVING"
        elapsed = _group_sigterm_twice(service)
        assert statuses.get(timeout=10) == "NOT_SERVING"  # told before the stream ended
        channel.close()
    finally:
        service.stop(timeout=5)
    print(f"group SIGTERM x2 -> exit 0 in {elapsed:.2f} s")
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in left_behind):
        assert time.monotonic() < deadline, [p for p in left_behind if _alive(p)]
        time.sleep(0.1)
    assert "shutting down" in service.log_path.read_text()


def test_a_killed_worker_fails_one_call_and_the_pool_heals(tmp_path: Path, openbao_dev) -> None:
    """SIGKILL a worker mid-enrol: that enrol is UNAVAILABLE and changed nothing, health
    streams NOT_SERVING then SERVING, new workers enrol and erase, SIGTERM still ends serve."""
    service = ServiceProcess(
        tmp_path / "data", tmp_path / "serve.log",
        vault_addr=openbao_dev.addr, token=openbao_dev.token,
    ).start()  # fmt: skip
    statuses, channel = _watch(service.target)
    try:
        assert statuses.get(timeout=10) == "SERVING"
        dim = 512
        _create(service, "big", dim)
        _create(service, "other", dim)
        count = 3 * 4096  # three full blocks: several seconds of encryption
        rows = identities(count, dim, np.random.default_rng(2)).astype(np.float32)
        ids = [f"s{i}" for i in range(count)]
        workers = _encryption_workers(service)
        outcome: list[BaseException | int] = []

        def enrol() -> None:
            try:
                with VaultClient(service.target, timeout=300) as client:
                    outcome.append(client.enroll("big", ids, rows, **PURPOSE))
            except BaseException as error:  # the outcome is asserted below
                outcome.append(error)

        mark = len(service.log_path.read_text(errors="replace"))
        caller = threading.Thread(target=enrol)
        caller.start()
        _wait_for_log(service.log_path, "encrypting block 1/", after=mark)
        victim = min(workers)
        _wait_until_busy(victim)  # killed while it encrypts, not between two calls
        os.kill(victim, signal.SIGKILL)
        caller.join(timeout=120)
        assert not caller.is_alive(), "the enrol hung after a worker died"
        assert len(outcome) == 1 and isinstance(outcome[0], ClientError), outcome
        assert outcome[0].code is grpc.StatusCode.UNAVAILABLE
        assert "worker" in outcome[0].details

        seen = [statuses.get(timeout=30)]
        while seen[-1] != "SERVING":
            seen.append(statuses.get(timeout=30))
        assert seen[0] == "NOT_SERVING", seen
        assert not (_encryption_workers(service) & workers)  # all replaced
        assert run_cli("health", "--target", service.target).returncode == 0

        with VaultClient(service.target, timeout=120) as client:
            # The failed call stored nothing: the same ids enrol again.
            assert client.enroll("big", ids[:50], rows[:50], **PURPOSE) == 50
            assert client.enroll("other", ["o1", "o2"], rows[:2], **PURPOSE) == 2
            assert client.delete("big", "s7").erased == 1
            assert client.verify("other", "o1", rows[0], purpose="access").match
    finally:
        channel.close()
        code = service.stop(timeout=EXIT_BOUND_SECONDS)
    assert code == 0, service.log_path.read_text()[-3000:]
