"""Cancelable and hybrid collections through the core, with seeds wrapped by real OpenBao."""

import dataclasses
import os

import numpy as np
import pytest

from tests.core.conftest import MemoryAuditSink
from tests.support.synthetic import anisotropic_people, identities, samples
from vault.core.transform_seeds import CatalogSeedSource
from vault.core.vault import VaultCore
from vault.errors import FailedPrecondition, InvalidArgument
from vault.keys.datakey import DataKey
from vault.schemes.profile import EmbeddingProfile
from vault.store.sqlite import SqliteTemplateStore
from vault.types import CollectionPolicy, CollectionSpec, ProtectionMode, RequestContext

DIM = 256
CTX = RequestContext(actor="test", purpose="access", consent_ref="C-1", legal_basis="consent")


@pytest.fixture
def open_core(tmp_path, keyset, key_service):
    """Build a core over one SQLite file whose transform seeds Vault wraps."""
    audit = MemoryAuditSink()
    pseudonyms = DataKey._unsafe_from_material(os.urandom(32), "test")
    stores = []

    def make(*, seeds: bool = True) -> VaultCore:
        store = SqliteTemplateStore(tmp_path / "vault.db")
        stores.append(store)
        return VaultCore(
            store=store,
            keyset=keyset,
            audit=audit,
            pseudonym_key=pseudonyms,
            transform_seeds=CatalogSeedSource(store, key_service) if seeds else None,
        )

    make.audit = audit  # type: ignore[attr-defined]
    make.stores = stores  # type: ignore[attr-defined]
    yield make
    for store in stores:
        store.close()


def _spec(name: str, mode: str) -> CollectionSpec:
    # 6 decimals: these tests compare scores to 1e-3 (the default leaves 2 decimals).
    return CollectionSpec(
        name,
        ProtectionMode(mode),
        DIM,
        allow_identification=True,
        purposes=("access",),
        policy=CollectionPolicy(score_decimals=6),
    )


@pytest.mark.parametrize("mode", ["cancelable", "hybrid"])
def test_round_trip_survives_restart(open_core, mode: str) -> None:
    """Enrol, verify, identify, restart (seeds unwrapped again), same answers."""
    rng = np.random.default_rng(0)
    centres = identities(12, DIM, rng)
    gallery, probes = samples(centres, rng), samples(centres, rng)
    core = open_core()
    core.create_collection(_spec("c", mode), CTX)
    ids = [f"p{i}" for i in range(12)]
    core.enroll("c", ids, gallery.astype(np.float32), CTX)
    first = core.verify("c", "p3", probes[3], CTX)
    assert first.match
    assert not core.verify("c", "p4", probes[3], CTX).match
    open_core.stores[0].close()
    again = open_core()
    assert again.verify("c", "p3", probes[3], CTX).score == pytest.approx(first.score, abs=2e-3)
    top = again.identify("c", probes, 1, CTX)
    assert [m[0].subject_id for m in top] == ids


def test_seeds_are_stored_only_wrapped(open_core) -> None:
    """The stored seed is a blob header plus an envelope: no 32-byte raw seed."""
    core = open_core()
    core.create_collection(_spec("c", "cancelable"), CTX)
    row = open_core.stores[0].get_secret("transform-seed", "c", 1)
    assert row is not None
    stored = row.value
    assert b"BVEN" in stored[:24] and len(stored) > 100


def test_rotation_and_revocation_are_audited(open_core) -> None:
    """Rotate: new enrolments use v2, old ones keep matching; --revoke-old erases
    every older-version template, one audit event each."""
    rng = np.random.default_rng(1)
    centres = identities(6, DIM, rng)
    gallery, probes = samples(centres, rng), samples(centres, rng)
    core = open_core()
    core.create_collection(_spec("c", "cancelable"), CTX)
    core.enroll("c", ["a", "b", "c"], gallery[:3], CTX)
    rotated = core.renew_transform_key("c", CTX)
    assert rotated.key_version == 2 and rotated.revoked == 0
    core.enroll("c", ["d", "e", "f"], gallery[3:], CTX)
    assert core.transform_key_status("c") == {1: 3, 2: 3}
    assert core.verify("c", "a", probes[0], CTX).match
    assert core.verify("c", "d", probes[3], CTX).match
    revoked = core.renew_transform_key("c", CTX, revoke_old=True)
    assert (revoked.key_version, revoked.revoked) == (3, 6)
    actions = [e.action for e in open_core.audit.events]
    assert actions.count("keys.revoke") == 6
    assert actions.count("keys.rotate.cancelable") == 2
    assert core.get_collection("c", CTX).size == 0


def test_ckks_collections_have_no_transform_key(open_core) -> None:
    """Rotating a ckks collection's transform key is refused."""
    core = open_core()
    core.create_collection(_spec("plain", "ckks"), CTX)
    with pytest.raises(FailedPrecondition):
        core.renew_transform_key("plain", CTX)


def test_keyed_modes_need_a_seed_source(open_core) -> None:
    """Without the key service's seeds the keyed modes are refused, and odd sizes too."""
    core = open_core(seeds=False)
    with pytest.raises(FailedPrecondition):
        core.create_collection(_spec("c", "hybrid"), CTX)
    core = open_core()
    with pytest.raises(InvalidArgument):
        core.create_collection(
            CollectionSpec("tiny", ProtectionMode.CANCELABLE, 4, purposes=("access",)), CTX
        )


def _profile_bytes() -> tuple[bytes, np.ndarray, np.ndarray]:
    """A profile fitted on one anisotropic population, and other people to enrol."""
    rows, _ = anisotropic_people(300, 2, DIM, np.random.default_rng(4))
    people, _ = anisotropic_people(5, 2, DIM, np.random.default_rng(5))
    return EmbeddingProfile.fit(rows).to_bytes(), people[0::2], people[1::2]


@pytest.mark.parametrize("mode", ["cancelable", "hybrid"])
def test_a_keyed_collection_whitens_with_its_stored_profile(open_core, mode: str) -> None:
    """The profile is stored with the collection, named by digest in the answer and the
    audit entry, applied to templates and probes, and still there after a restart."""
    profile, gallery, probes = _profile_bytes()
    digest = EmbeddingProfile.from_bytes(profile).digest()
    core = open_core()
    spec = dataclasses.replace(_spec("c", mode), embedding_profile=profile)
    assert core.create_collection(spec, CTX).embedding_profile_sha256 == digest
    assert open_core.audit.events[-1].details["embedding_profile_sha256"] == digest
    core.enroll("c", [f"p{i}" for i in range(5)], gallery, CTX)
    first = core.verify("c", "p2", probes[2], CTX)
    whitened = EmbeddingProfile.from_bytes(profile).apply(np.stack([gallery[2], probes[2]]))
    if mode == "cancelable":  # the genuine alignment's score is the whitened cosine
        assert first.score == pytest.approx(float(whitened[0] @ whitened[1]), abs=1e-4)
    assert first.match
    open_core.stores[0].close()
    again = open_core()
    assert again.get_collection("c", CTX).embedding_profile_sha256 == digest
    assert again.verify("c", "p2", probes[2], CTX).score == pytest.approx(first.score, abs=2e-3)


@pytest.mark.parametrize(
    ("mode", "profile", "reason"),
    [("ckks", None, "cancelable and hybrid collections only"), ("hybrid", b"junk", "unreadable")],
)
def test_a_profile_that_cannot_be_used_is_refused_and_nothing_is_stored(
    open_core, mode: str, profile: bytes | None, reason: str
) -> None:
    core = open_core()
    data = profile if profile is not None else _profile_bytes()[0]
    spec = dataclasses.replace(_spec("c", mode), embedding_profile=data)
    with pytest.raises(InvalidArgument, match=reason):
        core.create_collection(spec, CTX)
    store = open_core.stores[0]
    assert store.list_collections() == []
    assert store.list_meta_keys("profile/") == [] and store.list_secrets("transform-seed") == []
