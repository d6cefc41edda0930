"""Property tests: random fields and bytes sent through a real server never produce
UNKNOWN or INTERNAL - only the codes of deliberate refusals (or success)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.service.fakes import FakeVault, Served, served
from vault.api.v1 import vault_pb2, vault_pb2_grpc
from vault.client import codec as client_codec
from vault.types import CollectionSpec, ProtectionMode, RequestContext

DIM = 4
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
Stub = tuple[Served, Any]
Batch = vault_pb2.TemplateBatch
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    """One server for the whole module, with a collection "c" holding subject "a"."""
    api = FakeVault()
    ctx = RequestContext()
    api.create_collection(
        CollectionSpec("c", ProtectionMode.CKKS, DIM, allow_identification=True), ctx
    )
    api.enroll("c", ["a"], np.ones((1, DIM), np.float32), ctx)
    with (
        served(api, max_message_bytes=64 * 1024) as live,
        grpc.insecure_channel(live.target) as channel,
    ):
        yield live, vault_pb2_grpc.TemplateVaultStub(channel)


def _code(call: Any, request: object) -> grpc.StatusCode:
    try:
        call(request, timeout=10)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


names = st.sampled_from(["c", "", "missing", "a", "\u00e9\u00e8", "x" * 300])
batches = st.builds(
    vault_pb2.TemplateBatch,
    dim=st.one_of(st.integers(0, 8), st.integers(0, 2**32 - 1)),
    dtype=st.integers(0, 2**31 - 1),
    data=st.one_of(
        st.binary(max_size=96),
        st.lists(st.floats(width=32), min_size=DIM, max_size=3 * DIM).map(
            lambda v: np.asarray(v, "<f4").tobytes()
        ),
    ),
)


@FUZZ
@given(collection=names, subject=names, probe=st.one_of(st.none(), batches), purpose=names)
def test_random_verify_requests(
    stub: Stub, collection: str, subject: str, probe: Batch | None, purpose: str
) -> None:
    """Verify with random names and batches gets only deliberate status codes."""
    request = vault_pb2.VerifyRequest(
        collection=collection, subject_id=subject, probe=probe, purpose=purpose
    )
    assert _code(stub[1].Verify, request) in ALLOWED


@FUZZ
@given(collection=names, probes=st.one_of(st.none(), batches), top_k=st.integers(0, 2**32 - 1))
def test_random_identify_requests(
    stub: Stub, collection: str, probes: Batch | None, top_k: int
) -> None:
    """Identify with random batches and top_k gets only deliberate status codes."""
    request = vault_pb2.IdentifyRequest(collection=collection, probes=probes, top_k=top_k)
    assert _code(stub[1].Identify, request) in ALLOWED


@FUZZ
@given(
    name=names,
    mode=st.integers(0, 2**31 - 1),
    dim=st.integers(0, 2**32 - 1),
    purposes=st.lists(names, max_size=3),
    threshold=st.one_of(st.none(), st.floats()),
)
def test_random_create_requests(
    stub: Stub, name: str, mode: int, dim: int, purposes: list[str], threshold: float | None
) -> None:
    """CreateCollection with random fields (NaN thresholds, huge dims) is refused cleanly."""
    request = vault_pb2.CreateCollectionRequest(
        name=name,
        mode=mode,  # type: ignore[arg-type]  # unknown enum numbers on purpose
        dim=dim,
        purposes=purposes,
    )
    if threshold is not None:
        request.match_threshold = threshold
    assert _code(stub[1].CreateCollection, request) in ALLOWED


@FUZZ
@given(
    chunks=st.lists(
        st.builds(
            vault_pb2.EnrollRequest,
            collection=names,
            purpose=names,
            subject_ids=st.lists(names, max_size=3),
            templates=st.one_of(st.none(), batches),
        ),
        max_size=3,
    )
)
def test_random_enroll_streams(stub: Stub, chunks: list[vault_pb2.EnrollRequest]) -> None:
    """Enroll streams of random chunks get only deliberate status codes."""
    assert _code(stub[1].Enroll, iter(chunks)) in ALLOWED


@FUZZ
@given(
    method=st.sampled_from(["CreateCollection", "GetCollection", "Verify", "Identify", "Delete"]),
    payload=st.binary(max_size=128),
)
def test_random_bytes_on_the_wire(stub: Stub, method: str, payload: bytes) -> None:
    """Arbitrary bytes as a request body never yield UNKNOWN or INTERNAL."""
    live, _ = stub
    with grpc.insecure_channel(live.target) as channel:
        call = channel.unary_unary(f"/biovault.v1.TemplateVault/{method}")
        assert _code(call, payload) in ALLOWED


def test_valid_requests_still_succeed_after_fuzzing(stub: Stub) -> None:
    """The shared server keeps answering valid requests correctly."""
    probe = client_codec.encode_templates(np.ones((1, DIM), np.float32))
    reply = stub[1].Verify(vault_pb2.VerifyRequest(collection="c", subject_id="a", probe=probe))
    assert reply.match
