"""Which collection class protects a collection, and what each mode needs at creation.

``ckks``: the encrypted gallery. ``cancelable``: salted keyed rotations
(vault.schemes.cancelable). ``hybrid``: keyed projection to d/2, then the encrypted
gallery (vault.schemes.hybrid). The two keyed modes need a transform seed source:
the served vault wraps seeds through Vault; in-process tools may pass an ephemeral one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from vault.errors import FailedPrecondition, IntegrityError, InvalidArgument
from vault.he.keyset import CkksKeySet
from vault.he.params import probe_bits
from vault.keys.datakeys import CollectionDataKeys, key_data
from vault.schemes.base import KeyedCollection, ProtectedCollection
from vault.schemes.cancelable import CancelableCollection
from vault.schemes.ckks import CkksCollection
from vault.schemes.hybrid import HybridCollection, hybrid_dim
from vault.schemes.profile import EmbeddingProfile
from vault.schemes.seeds import CollectionTransformKeys, SeedSource
from vault.store.base import CollectionRecord, TemplateStore
from vault.types import CollectionInfo, CollectionPolicy, CollectionSpec, ProtectionMode

if TYPE_CHECKING:
    from vault.he.engine import GalleryEngineFactory
    from vault.keys.sealing import BlobSealer

__all__ = [
    "MAX_KEYED_DIM",
    "MIN_KEYED_DIM",
    "PROFILE_META_PREFIX",
    "check_mode",
    "collection_info",
    "discard_uncreated",
    "load_profile",
    "open_collection",
    "prepare_transform_keys",
    "profile_meta_key",
    "spec_profile",
    "transform_keys",
]

#: The keyed modes hold a dim x dim matrix per key version (32 MiB at 2048).
MAX_KEYED_DIM = 2048
#: Below this the salt group is small and its impostor maximum large (FAR).
MIN_KEYED_DIM = 64
log = logging.getLogger(__name__)
_PURPOSE = {ProtectionMode.CANCELABLE: "orbit-rotation", ProtectionMode.HYBRID: "hybrid-projection"}
#: Metadata key prefix of a cancelable collection's embedding profile (public, in clear).
PROFILE_META_PREFIX = "profile/"


def profile_meta_key(collection: str) -> str:
    return f"{PROFILE_META_PREFIX}{collection}"


def spec_profile(spec: CollectionSpec) -> EmbeddingProfile | None:
    """The parsed embedding profile a create request carries (None if none).

    Raises:
        InvalidArgument: A profile for a mode that does not whiten, or a bad one.
    """
    if not spec.embedding_profile:
        if spec.mode is ProtectionMode.CANCELABLE:
            log.warning(
                "cancelable collection %s has no embedding profile: a key holder with "
                "face data could pick its templates out of their orbits "
                "(docs/protection.md)",
                spec.name,
            )
        return None
    if spec.mode is ProtectionMode.CKKS:
        raise InvalidArgument(
            "an embedding profile applies to cancelable and hybrid collections only"
        )
    return EmbeddingProfile.from_bytes(spec.embedding_profile, dim=spec.dim)


def discard_uncreated(
    store: TemplateStore,
    name: str,
    data_keys: CollectionDataKeys | None,
    seeds: SeedSource | None,
) -> None:
    """Undo what a refused create stored, so no orphan wrapped key or profile stays."""
    try:
        if store.get_collection(name) is not None:
            return  # created after all (or by someone else): its keys are in use
        if data_keys is not None:
            data_keys.discard(name)
        if seeds is not None:
            seeds.discard(name)
        key_data(store).delete_meta(profile_meta_key(name))
    except Exception:  # the original error matters more; a retry reuses leftovers
        log.exception("could not remove the keys of refused collection %s", name)


def load_profile(store: TemplateStore, record: CollectionRecord) -> EmbeddingProfile | None:
    """The stored profile of a collection (None if it has none).

    Raises:
        IntegrityError: The stored profile no longer parses.
    """
    stored = store.get_meta(profile_meta_key(record.name))
    if stored is None:
        return None
    try:
        return EmbeddingProfile.from_bytes(stored, dim=record.dim)
    except InvalidArgument as error:
        raise IntegrityError(f"collection '{record.name}': stored {error}") from None


def check_mode(spec: CollectionSpec, keyset: CkksKeySet, seeds: SeedSource | None) -> None:
    """Refuse a mode/dimension the vault cannot serve (before anything is stored)."""
    if spec.mode is ProtectionMode.CKKS:
        probe_bits(keyset.params, keyset.prime, spec.dim)
        return
    if seeds is None:
        raise FailedPrecondition(
            f"protection mode '{spec.mode.value}' needs transform seeds from the key service"
        )
    if not MIN_KEYED_DIM <= spec.dim <= MAX_KEYED_DIM:
        raise InvalidArgument(
            f"mode '{spec.mode.value}' needs a dimension between {MIN_KEYED_DIM} and "
            f"{MAX_KEYED_DIM}"
        )
    if spec.mode is ProtectionMode.HYBRID:
        probe_bits(keyset.params, keyset.prime, hybrid_dim(spec.dim))


def transform_keys(record: CollectionRecord, seeds: SeedSource) -> CollectionTransformKeys:
    """The transform keys of a cancelable or hybrid collection."""
    mode = ProtectionMode(record.mode)
    out_dim = hybrid_dim(record.dim) if mode is ProtectionMode.HYBRID else record.dim
    return CollectionTransformKeys(
        seeds, record.name, purpose=_PURPOSE[mode], dim=record.dim, out_dim=out_dim
    )


def prepare_transform_keys(record: CollectionRecord, seeds: SeedSource | None) -> None:
    """Create key version 1 of a new keyed collection (no-op for ckks)."""
    if ProtectionMode(record.mode) is not ProtectionMode.CKKS and seeds is not None:
        transform_keys(record, seeds).ensure_first()


def collection_info(
    collection: ProtectedCollection[Any, Any], policy: CollectionPolicy
) -> CollectionInfo:
    """What callers see of a loaded collection."""
    r = collection.record
    profile = collection.profile if isinstance(collection, KeyedCollection) else None
    return CollectionInfo(
        name=r.name,
        mode=ProtectionMode(r.mode),
        dim=r.dim,
        allow_identification=r.allow_identification,
        purposes=r.purposes,
        match_threshold=r.match_threshold,
        size=collection.size,
        created_at=r.created_at,
        policy=policy,
        embedding_profile_sha256=profile.digest() if profile is not None else "",
    )


def open_collection(
    record: CollectionRecord,
    *,
    keyset: CkksKeySet,
    seeds: SeedSource | None,
    sealer: BlobSealer | None = None,
    profile: EmbeddingProfile | None = None,
    engines: GalleryEngineFactory | None = None,
) -> ProtectedCollection[Any, Any]:
    """An empty in-memory collection of the record's mode (the caller loads it);
    ``engines`` makes the encrypted engine of ckks and hybrid ones (None: in process)."""
    mode = ProtectionMode(record.mode)
    if mode is ProtectionMode.CKKS:
        extra: dict[str, Any] = {} if sealer is None else {"sealer": sealer}
        return CkksCollection(keyset, record, engines=engines, **extra)
    if seeds is None:
        raise FailedPrecondition(
            f"collection '{record.name}' ({mode.value}) needs transform seeds from the key service"
        )
    keys = transform_keys(record, seeds)
    if mode is ProtectionMode.CANCELABLE:
        return CancelableCollection(record, keys, sealer=sealer, profile=profile)
    return HybridCollection(
        keyset, record, keys, sealer=sealer, profile=profile, engines=engines
    )
