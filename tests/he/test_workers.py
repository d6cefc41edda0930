"""The encryption worker pool survives dead workers, a dead host and stray SIGTERMs."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vault.errors import EncryptionUnavailable, VaultError
from vault.he.keyset import CkksKeySet
from vault.he.workers import HeWorkers, PoolState

SCALE = 2.0**20


@pytest.fixture
def pool(keyset: CkksKeySet) -> Iterator[tuple[CkksKeySet, HeWorkers, list[PoolState]]]:
    """A private key set with two workers, and the states its pool went through."""
    clone = CkksKeySet.unsafe_from_serialized(keyset.params, keyset.unsafe_serialize())
    clone.start_workers(2)
    workers = clone.workers
    assert workers is not None
    states: list[PoolState] = []
    workers.watch(lambda: states.append(workers.state))
    yield clone, workers, states
    clone.stop_workers()


def _rows(keyset: CkksKeySet, count: int) -> np.ndarray:
    return np.random.default_rng(count).uniform(-1, 1, (count, keyset.params.poly_modulus_degree))


def _decrypts(keyset: CkksKeySet, values: np.ndarray, residues: np.ndarray) -> bool:
    return bool(
        np.abs(keyset.decrypt_coefficients_here(residues[:4], SCALE) - values[:4]).max() < 1e-4
    )


def _eventually(condition, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _kill_once_busy(pid: int) -> None:
    """SIGKILL ``pid`` once it has used 5 CPU ticks more: in the middle of its job."""

    def ticks() -> int:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    start = ticks()
    while ticks() - start < 5:
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_worker_killed_mid_call_fails_that_call_and_the_pool_heals(pool) -> None:  # type: ignore[no-untyped-def]
    """The call in flight raises EncryptionUnavailable; DEGRADED, then READY with new workers."""
    keyset, workers, states = pool
    values = _rows(keyset, 800)
    old = set(workers.worker_pids)
    victim = min(old)
    threading.Thread(target=_kill_once_busy, args=(victim,), daemon=True).start()
    with pytest.raises(EncryptionUnavailable, match="worker"):
        keyset.encrypt_coefficients(values, SCALE)
    assert _eventually(lambda: workers.state is PoolState.READY and len(states) >= 2)
    assert states[:2] == [PoolState.DEGRADED, PoolState.READY]
    assert not (set(workers.worker_pids) & old)
    assert _decrypts(keyset, values, keyset.encrypt_coefficients(values[:40], SCALE))


def test_a_worker_killed_while_idle_is_replaced_before_the_next_call(pool) -> None:  # type: ignore[no-untyped-def]
    """No call is running: the host notices, replaces the pool, and the next call works."""
    keyset, workers, states = pool
    old = set(workers.worker_pids)
    os.kill(min(old), signal.SIGKILL)
    assert _eventually(lambda: bool(states) and workers.state is PoolState.READY)
    assert not (set(workers.worker_pids) & old)
    values = _rows(keyset, 40)
    assert _decrypts(keyset, values, keyset.encrypt_coefficients(values, SCALE))


def test_a_lost_host_falls_back_to_in_process_encryption(pool) -> None:  # type: ignore[no-untyped-def]
    """Killing the host makes the pool LOST (not ready); encryption still works, here."""
    keyset, workers, _ = pool
    host = workers.host_pid
    assert host is not None
    os.kill(host, signal.SIGKILL)
    assert _eventually(lambda: workers.state is PoolState.LOST)
    assert not keyset.workers_ready()
    assert _eventually(lambda: workers.host_pid is None)  # reaped: no zombie
    values = _rows(keyset, 40)
    assert _decrypts(keyset, values, keyset.encrypt_coefficients(values, SCALE))


def test_close_ends_host_and_workers_even_after_stray_sigterms(pool) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM to every pool process (a cgroup kill) does not wedge close()."""
    keyset, workers, _ = pool
    host = workers.host_pid
    assert host is not None
    everyone = [host, *workers.worker_pids]
    for pid in everyone:
        os.kill(pid, signal.SIGTERM)
    time.sleep(0.3)
    for pid in everyone:
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
    started = time.monotonic()
    keyset.stop_workers()
    assert time.monotonic() - started < 30  # a correctness bound: it returns
    assert _eventually(lambda: not any(_alive(pid) for pid in everyone), timeout=10)


def test_a_fault_inside_a_worker_is_not_reported_as_an_outage(pool) -> None:  # type: ignore[no-untyped-def]
    """An exception in the encryption is a plain VaultError; the pool stays READY."""
    keyset, workers, states = pool
    wrong = np.zeros((40, keyset.params.poly_modulus_degree + 1))
    with pytest.raises(VaultError) as caught:
        keyset.encrypt_coefficients(wrong, SCALE)
    assert not isinstance(caught.value, EncryptionUnavailable)
    assert workers.state is PoolState.READY and not states
    values = _rows(keyset, 40)
    assert _decrypts(keyset, values, keyset.encrypt_coefficients(values, SCALE))


def test_a_shared_form_block_split_over_the_workers_scores_like_plaintext(pool) -> None:  # type: ignore[no-untyped-def]
    """encrypt_block on the pool (one ``a`` drawn by the caller, coordinates split over
    the workers) gives a block that scores within 1e-3 of plaintext under that ``a``."""
    from tests.support.synthetic import identities, samples
    from vault.he.gallery import BlockResidues, EncryptedGallery

    keyset, workers, _ = pool
    dim, n = 64, keyset.params.poly_modulus_degree
    rng = np.random.default_rng(11)
    templates = identities(200, dim, rng)
    values = np.zeros((dim, n))
    values[:, :200] = templates.T
    busy_before = [_cpu_ticks(pid) for pid in workers.worker_pids]
    c0, a = keyset.encrypt_block(values, SCALE)
    assert c0.shape == (dim, n) and a.shape == (n,)
    assert all(_cpu_ticks(p) > t for p, t in zip(workers.worker_pids, busy_before, strict=True))
    gallery = EncryptedGallery(keyset, dim)
    gallery.put(0, BlockResidues(c0, a=a))
    probes = samples(templates[:6], rng)
    scores = gallery.score(probes).scores.reshape(len(probes), n)[:, :200]
    assert np.abs(scores - probes @ templates.T).max() < 1e-3


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
