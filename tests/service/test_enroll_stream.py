"""Client-streamed enrollment: chunking, reassembly and all-or-nothing behaviour."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import numpy as np
import pytest

from tests.service.fakes import FakeVault, Served, served, unit_rows
from vault.api.v1 import vault_pb2, vault_pb2_grpc
from vault.client import ClientError, VaultClient
from vault.client import codec as client_codec
from vault.client.enrollment import default_chunk_rows, enrollment_chunks, rows_metadata
from vault.errors import InvalidArgument, ResourceExhausted
from vault.service.enrollment import collect_enrollment
from vault.types import CollectionSpec, ProtectionMode, RequestContext

DIM = 8


@pytest.fixture
def collection(client: VaultClient) -> str:
    """An empty collection "c" of dimension 8."""
    client.create_collection(CollectionSpec("c", ProtectionMode.CKKS, DIM))
    return "c"


def test_many_chunks_become_one_core_call(
    client: VaultClient, fake: FakeVault, collection: str, rng: np.random.Generator
) -> None:
    """A 10-chunk stream reaches the core as one enroll call with all rows in order."""
    rows = unit_rows(rng, 95, DIM)
    ids = [f"id-{i}" for i in range(95)]
    sent: list[int] = []
    assert client.enroll(collection, ids, rows, chunk_rows=10, on_progress=sent.append) == 95
    assert sent == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    enroll_calls = [args for name, args in fake.calls if name == "enroll"]
    assert len(enroll_calls) == 1
    _, received_ids, received_rows = enroll_calls[0]
    assert list(received_ids) == ids
    np.testing.assert_array_equal(received_rows, rows)


def test_a_batch_larger_than_the_message_limit_passes_in_chunks(
    fake: FakeVault, rng: np.random.Generator
) -> None:
    """1.5 MiB of templates enroll through a server whose message limit is 256 KiB."""
    with served(fake, max_message_bytes=256 * 1024) as small, small.client() as client:
        client.create_collection(CollectionSpec("big", ProtectionMode.CKKS, 512))
        rows = unit_rows(rng, 768, 512)  # 1.5 MiB of float32
        chunk_rows = default_chunk_rows(512, 4, longest_id=8, chunk_bytes=128 * 1024)
        ids = [f"s{i:07d}" for i in range(768)]
        assert client.enroll("big", ids, rows, chunk_rows=chunk_rows) == 768


def test_a_bad_chunk_rejects_the_whole_stream(
    client: VaultClient, fake: FakeVault, collection: str, rng: np.random.Generator
) -> None:
    """A non-finite row in the last chunk leaves the collection unchanged."""
    rows = unit_rows(rng, 30, DIM)
    rows[-1, 0] = np.nan
    with pytest.raises(ClientError) as caught:
        client.enroll(collection, [f"s{i}" for i in range(30)], rows, chunk_rows=7)
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert client.get_collection(collection).size == 0


def _raw_enroll(live: Served, chunks: list[vault_pb2.EnrollRequest]) -> grpc.StatusCode:
    with grpc.insecure_channel(live.target) as channel:
        stub = vault_pb2_grpc.TemplateVaultStub(channel)
        try:
            stub.Enroll(iter(chunks), timeout=10)
        except grpc.RpcError as error:
            return error.code()
    return grpc.StatusCode.OK


def _chunk(ids: list[str], rows: np.ndarray, **fields: str) -> vault_pb2.EnrollRequest:
    return vault_pb2.EnrollRequest(
        subject_ids=ids, templates=client_codec.encode_templates(rows), **fields
    )


@pytest.mark.parametrize(
    "case",
    [
        "empty stream",
        "no collection",
        "ids mismatch",
        "dim change",
        "dtype change",
        "consent change",
    ],
)
def test_inconsistent_streams_are_invalid_arguments(
    live: Served, collection: str, rng: np.random.Generator, case: str
) -> None:
    """Streams that are empty, unnamed, misaligned or change shape/consent are refused."""
    rows = unit_rows(rng, 2, DIM)
    first = _chunk(["a", "b"], rows, collection=collection, purpose="p")
    chunks = {
        "empty stream": [],
        "no collection": [_chunk(["a", "b"], rows)],
        "ids mismatch": [_chunk(["a"], rows, collection=collection)],
        "dim change": [first, _chunk(["c", "d"], unit_rows(rng, 2, DIM * 2))],
        "dtype change": [first, _chunk(["c", "d"], rows.astype(np.float64))],
        "consent change": [first, _chunk(["c", "d"], rows, purpose="other")],
    }[case]
    assert _raw_enroll(live, chunks) is grpc.StatusCode.INVALID_ARGUMENT
    assert live.api.get_collection(collection, RequestContext()).size == 0


def test_later_chunks_may_repeat_the_first_chunks_fields(
    live: Served, collection: str, rng: np.random.Generator
) -> None:
    """Repeating collection and consent fields unchanged on every chunk is accepted."""
    fields = {"collection": collection, "purpose": "p", "consent_ref": "r", "legal_basis": "b"}
    chunks = [_chunk([f"{k}a", f"{k}b"], unit_rows(rng, 2, DIM), **fields) for k in range(3)]
    assert _raw_enroll(live, chunks) is grpc.StatusCode.OK
    assert live.api.contexts[-1].consent_ref == "r"


def test_payload_over_the_enroll_cap_is_resource_exhausted(rng: np.random.Generator) -> None:
    """The servicer refuses a stream whose templates exceed its memory guard."""
    chunks = list(enrollment_chunks("c", ["a", "b", "c"], unit_rows(rng, 3, DIM), chunk_rows=1))
    with pytest.raises(ResourceExhausted):
        collect_enrollment(chunks, max_bytes=2 * DIM * 4)
    assert collect_enrollment(chunks, max_bytes=3 * DIM * 4).templates.shape == (3, DIM)


def test_client_rejects_misaligned_ids_before_calling(
    client: VaultClient, fake: FakeVault, collection: str, rng: np.random.Generator
) -> None:
    """Too few ids for the rows is a local InvalidArgument; nothing reaches the core."""
    calls = len(fake.calls)
    with pytest.raises(InvalidArgument, match="3 subject ids for 4"):
        client.enroll(collection, ["a", "b", "c"], unit_rows(rng, 4, DIM))
    assert len(fake.calls) == calls


def test_default_chunk_rows_stay_under_the_target_size() -> None:
    """Default chunks hold as many rows as fit the target, and never fewer than one."""
    rows = default_chunk_rows(512, 4, longest_id=36)
    assert rows * (512 * 4 + 36) <= 3 * 1024 * 1024 < (rows + 2) * (512 * 4 + 36 + 8)
    assert default_chunk_rows(10**7, 8, longest_id=10) == 1


def _first_chunk_then_wait(
    collection: str,
    subject: str,
    rng: np.random.Generator,
    sent: threading.Event,
    hold: threading.Event,
) -> Iterator[vault_pb2.EnrollRequest]:
    yield vault_pb2.EnrollRequest(
        collection=collection,
        subject_ids=[subject],
        templates=client_codec.encode_templates(unit_rows(rng, 1, DIM)),
    )
    sent.set()
    hold.wait(5)


def test_a_cancelled_stream_enrolls_none_of_its_rows(
    live: Served, fake: FakeVault, collection: str, rng: np.random.Generator
) -> None:
    """Streams cancelled after the first of two declared chunks: no row of any is enrolled."""
    with grpc.insecure_channel(live.target) as channel:
        stub = vault_pb2_grpc.TemplateVaultStub(channel)
        for attempt in range(40):  # without the declared count about a quarter got in
            sent, hold = threading.Event(), threading.Event()
            chunks = _first_chunk_then_wait(collection, f"cut-{attempt}", rng, sent, hold)
            call = stub.Enroll.future(chunks, timeout=10, metadata=rows_metadata(2))
            assert sent.wait(5)
            time.sleep(0.01)
            call.cancel()
            hold.set()
        time.sleep(0.5)  # let the last handlers finish
    assert [name for name, _ in fake.calls if name == "enroll"] == []


def test_the_client_declares_its_rows_and_a_short_stream_is_refused(
    live: Served, fake: FakeVault, collection: str, rng: np.random.Generator
) -> None:
    """VaultClient sends the row count; a stream that ends short of it changes nothing."""
    with live.client(timeout=10) as client:
        assert client.enroll(collection, ["a", "b", "c"], unit_rows(rng, 3, DIM), chunk_rows=1) == 3
    channel = grpc.insecure_channel(live.target)
    stub = vault_pb2_grpc.TemplateVaultStub(channel)
    short = vault_pb2.EnrollRequest(
        collection=collection,
        subject_ids=["d"],
        templates=client_codec.encode_templates(unit_rows(rng, 1, DIM)),
    )
    with pytest.raises(grpc.RpcError) as refused:
        stub.Enroll(iter([short]), timeout=10, metadata=rows_metadata(2))
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "ended with 1 of the 2 rows it declared" in refused.value.details()
    with pytest.raises(grpc.RpcError) as malformed:
        stub.Enroll(iter([short]), timeout=10, metadata=(("biovault-enroll-rows", "two"),))
    channel.close()
    assert malformed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len([1 for name, _ in fake.calls if name == "enroll"]) == 1


def test_streams_without_a_declared_count_are_served_as_before(rng: np.random.Generator) -> None:
    """Older clients send no header: the stream is enrolled as it arrives."""
    rows = unit_rows(rng, 2, DIM)
    chunks = list(enrollment_chunks("c", ["x", "y"], rows, chunk_rows=1))
    assert collect_enrollment(chunks).subject_ids == ("x", "y")
    assert collect_enrollment(chunks, expected_rows=2).subject_ids == ("x", "y")
    with pytest.raises(InvalidArgument, match="ended with 2 of the 3 rows"):
        collect_enrollment(chunks, expected_rows=3)
