"""Fuzzing every RPC of every service of a real `biovault serve` (short run; see benchmarks)."""

from __future__ import annotations

import random

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_live import FORBIDDEN, call, fuzz, methods, seed_vault, store_digest
from tests.support.service import ServiceProcess

_METHODS = [(m, (cs, ss)) for m, _, _, cs, ss in methods()]


@pytest.fixture(scope="module")
def live(tmp_path_factory, openbao_dev):
    """A real service with a small collection; rate limit off so the fuzzer is not throttled."""
    root = tmp_path_factory.mktemp("fuzz")
    service = ServiceProcess(
        root / "data",
        root / "serve.log",
        vault_addr=openbao_dev.addr,
        token=openbao_dev.token,
        extra_args=("--rate-limit", "0", "--retention-interval", "0"),
    ).start()
    seed_vault(service.target)
    yield service
    assert service.stop() == 0
    assert " ERROR " not in service.log_path.read_text(errors="replace")


def test_mutated_requests_to_every_rpc(live) -> None:
    """Random, well-formed-random and damaged requests: no UNKNOWN/INTERNAL, store unchanged."""
    result = fuzz(
        live.target,
        live.data_dir / "vault.db",
        1500,
        seed=7,
        alive=lambda: live.process is not None and live.process.poll() is None,
    )
    assert result["violations"] == []
    assert result["methods"] == len(_METHODS) + 1  # every RPC and health were hit


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(index=st.integers(0, len(_METHODS) - 1), payload=st.binary(max_size=120))
def test_random_bytes_to_any_rpc(live, index: int, payload: bytes) -> None:
    """Arbitrary bytes as any RPC's request are refused cleanly and change no stored row."""
    method, streaming = _METHODS[index]
    db = live.data_dir / "vault.db"
    before = store_digest(db)
    with grpc.insecure_channel(live.target) as channel:
        code = call(channel, method, streaming, payload, random.Random(index))
    assert code not in FORBIDDEN
    if code is not grpc.StatusCode.OK:
        assert store_digest(db) == before
