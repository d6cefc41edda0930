"""DeleteMany end to end: client -> real gRPC on loopback -> fake core -> back."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from tests.service.fakes import CREATED_AT, FakeVault, unit_rows
from vault.api.v1 import vault_pb2, vault_pb2_grpc
from vault.client import ClientError, VaultClient
from vault.errors import InvalidArgument
from vault.service.codec import MAX_DELETE_MANY_IDS
from vault.service.roles import RPC_ROLES
from vault.types import CollectionSpec, ProtectionMode

DIM = 8
V = "/biovault.v1.TemplateVault/"


@pytest.fixture
def gallery(client: VaultClient, rng: np.random.Generator) -> None:
    """Collection "c" with subjects s0..s9."""
    client.create_collection(CollectionSpec("c", ProtectionMode.CKKS, DIM, purposes=("p",)))
    assert client.enroll("c", [f"s{i}" for i in range(10)], unit_rows(rng, 10, DIM)) == 10


def _left(fake: FakeVault) -> list[str]:
    return list(fake._collections["c"].ids)


def test_delete_many_round_trip(client: VaultClient, fake: FakeVault, gallery: None) -> None:
    """One core call with the ids and purpose; one result per id, in request order."""
    results = client.delete_many("c", ["s4", "s0", "s9"], purpose="retention")
    assert [r.subject_id for r in results] == ["s4", "s0", "s9"]
    assert all(r.erased == 1 and r.erased_at == pytest.approx(CREATED_AT + 1) for r in results)
    assert fake.calls[-1] == ("delete_many", ("c", ("s4", "s0", "s9")))
    assert fake.contexts[-1].purpose == "retention"
    assert _left(fake) == ["s1", "s2", "s3", "s5", "s6", "s7", "s8"]


def test_an_unknown_id_erases_nothing(client: VaultClient, fake: FakeVault, gallery: None) -> None:
    """NOT_FOUND from the core: every listed subject stays."""
    with pytest.raises(ClientError) as caught:
        client.delete_many("c", ["s1", "nobody", "s2"])
    assert caught.value.code is grpc.StatusCode.NOT_FOUND
    assert len(_left(fake)) == 10


@pytest.mark.parametrize(
    ("ids", "needle"),
    [
        ([], "no subject"),
        (["s1", "", "s2"], "subject_ids[1] is empty"),
        (["s1", "s2", "s1"], "subject_ids[2] repeats"),
        ([f"x{i}" for i in range(MAX_DELETE_MANY_IDS + 1)], "at most 10000"),
    ],
)
def test_a_bad_list_is_refused_before_the_core(
    live, fake: FakeVault, gallery: None, ids: list[str], needle: str
) -> None:
    """Empty list, empty id, repeated id, too many ids: INVALID_ARGUMENT, core not called."""
    calls = len(fake.calls)
    with grpc.insecure_channel(live.target) as channel:
        stub = vault_pb2_grpc.TemplateVaultStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.DeleteMany(vault_pb2.DeleteManyRequest(collection="c", subject_ids=ids))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert needle in caught.value.details()
    assert len(fake.calls) == calls and len(_left(fake)) == 10


def test_the_client_chunks_long_lists(client: VaultClient, fake: FakeVault, gallery: None) -> None:
    """chunk=3 over 7 ids: three calls, results in order; each call is its own unit."""
    ids = [f"s{i}" for i in range(7)]
    results = client.delete_many("c", ids, chunk=3)
    assert [r.subject_id for r in results] == ids
    chunks = [args[1] for name, args in fake.calls if name == "delete_many"]
    assert chunks == [("s0", "s1", "s2"), ("s3", "s4", "s5"), ("s6",)]
    assert _left(fake) == ["s7", "s8", "s9"]


def test_across_chunks_a_later_failure_keeps_earlier_erasures(
    client: VaultClient, fake: FakeVault, gallery: None
) -> None:
    """As documented: the first chunk is gone, the failing chunk erased nobody."""
    with pytest.raises(ClientError) as caught:
        client.delete_many("c", ["s0", "s1", "s2", "nobody"], chunk=2)
    assert caught.value.code is grpc.StatusCode.NOT_FOUND
    assert _left(fake) == [f"s{i}" for i in range(2, 10)]


def test_a_repeat_across_chunks_is_refused_before_any_call(
    client: VaultClient, fake: FakeVault, gallery: None
) -> None:
    """Only an up-front check keeps the repeat from failing after the first chunk."""
    calls = len(fake.calls)
    with pytest.raises(InvalidArgument):
        client.delete_many("c", ["s0", "s1", "s0"], chunk=2)
    with pytest.raises(InvalidArgument):
        client.delete_many("c", ["s0"], chunk=MAX_DELETE_MANY_IDS + 1)
    assert len(fake.calls) == calls and len(_left(fake)) == 10


def test_delete_many_has_the_roles_of_delete() -> None:
    """Whoever may erase one subject may erase many, and nobody else."""
    assert RPC_ROLES[V + "DeleteMany"] == RPC_ROLES[V + "Delete"]
