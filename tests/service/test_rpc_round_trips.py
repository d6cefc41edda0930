"""Every RPC end to end: client -> real gRPC server on loopback -> fake core -> back."""

from __future__ import annotations

import numpy as np
import pytest

from tests.service.fakes import CREATED_AT, FakeVault, Served, unit_rows
from vault.client import ClientError, VaultClient
from vault.types import CollectionSpec, ProtectionMode

DIM = 16


@pytest.fixture
def gallery(client: VaultClient, rng: np.random.Generator) -> np.ndarray:
    """Collection "c" with subjects s0..s9 enrolled; returns their templates."""
    client.create_collection(
        CollectionSpec("c", ProtectionMode.CKKS, DIM, allow_identification=True, purposes=("p",))
    )
    rows = unit_rows(rng, 10, DIM)
    assert client.enroll("c", [f"s{i}" for i in range(10)], rows) == 10
    return rows


def test_create_and_get_collection(client: VaultClient, fake: FakeVault) -> None:
    """A created collection comes back with every field, from create and from get."""
    spec = CollectionSpec(
        "faces", ProtectionMode.HYBRID, 512, purposes=("border", "access"), match_threshold=0.5
    )
    created = client.create_collection(spec)
    fetched = client.get_collection("faces")
    assert created == fetched
    assert (fetched.name, fetched.mode, fetched.dim, fetched.purposes) == (
        "faces",
        ProtectionMode.HYBRID,
        512,
        ("border", "access"),
    )
    assert (fetched.allow_identification, fetched.match_threshold, fetched.size) == (
        False,
        0.5,
        0,
    )
    assert fetched.created_at == pytest.approx(CREATED_AT)
    assert fake.calls[0] == ("create_collection", (spec,))


def test_enroll_then_get_reports_the_size(client: VaultClient, gallery: np.ndarray) -> None:
    """The collection size counts the enrolled templates."""
    assert client.get_collection("c").size == len(gallery)


def test_verify_genuine_and_impostor(client: VaultClient, gallery: np.ndarray) -> None:
    """The enrolled template matches its subject and not another one; 1-D probes work."""
    genuine = client.verify("c", "s3", gallery[3], purpose="access")
    impostor = client.verify("c", "s4", gallery[3].reshape(1, -1))
    assert genuine.match and genuine.score == pytest.approx(1.0, abs=1e-5)
    assert not impostor.match


def test_identify_returns_one_best_first_list_per_probe(
    client: VaultClient, gallery: np.ndarray
) -> None:
    """Each probe row gets top_k candidates, best first, in probe order."""
    results = client.identify("c", gallery[[7, 2, 5]], top_k=3, purpose="search")
    assert [r[0].subject_id for r in results] == ["s7", "s2", "s5"]
    assert all(len(r) == 3 for r in results)
    for candidates in results:
        scores = [m.score for m in candidates]
        assert scores == sorted(scores, reverse=True)


def test_delete_returns_a_receipt_and_forgets_the_subject(
    client: VaultClient, gallery: np.ndarray
) -> None:
    """Deleting gives a receipt; a second delete of the same subject is NOT_FOUND."""
    receipt = client.delete("c", "s1")
    assert (receipt.subject_id, receipt.erased) == ("s1", 1)
    assert receipt.erased_at == pytest.approx(CREATED_AT + 1)
    assert client.get_collection("c").size == len(gallery) - 1
    with pytest.raises(ClientError) as caught:
        client.delete("c", "s1")
    assert caught.value.code.name == "NOT_FOUND"


def test_purpose_and_consent_reach_the_core(
    client: VaultClient, fake: FakeVault, rng: np.random.Generator
) -> None:
    """Purpose, consent reference and legal basis travel into the RequestContext."""
    client.create_collection(CollectionSpec("c", ProtectionMode.CKKS, DIM))
    client.enroll(
        "c",
        ["a"],
        unit_rows(rng, 1, DIM),
        purpose="enrolment",
        consent_ref="form-17",
        legal_basis="gdpr-art9-2a",
    )
    ctx = fake.contexts[-1]
    assert (ctx.purpose, ctx.consent_ref, ctx.legal_basis) == (
        "enrolment",
        "form-17",
        "gdpr-art9-2a",
    )
    assert ctx.extra["peer"].startswith(("ipv4:127.0.0.1", "ipv6:"))
    client.verify("c", "a", unit_rows(rng, 1, DIM)[0], purpose="door")
    assert fake.contexts[-1].purpose == "door"


def test_float64_templates_reach_the_core_as_float64(
    client: VaultClient, fake: FakeVault, rng: np.random.Generator
) -> None:
    """The dtype chosen by the client is what the core receives."""
    client.create_collection(CollectionSpec("c", ProtectionMode.CKKS, DIM))
    rows = unit_rows(rng, 3, DIM).astype(np.float64)
    client.enroll("c", ["a", "b", "c"], rows)
    _, (_, _, received) = fake.calls[-1]
    assert received.dtype == np.float64
    np.testing.assert_array_equal(received, rows)


def test_two_clients_share_one_server(live: Served, rng: np.random.Generator) -> None:
    """Separate channels see the same state."""
    with live.client() as first, live.client() as second:
        first.create_collection(CollectionSpec("shared", ProtectionMode.CANCELABLE, DIM))
        assert second.get_collection("shared").mode is ProtectionMode.CANCELABLE
