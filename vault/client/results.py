"""Frozen values the SDK returns to key officers and auditors.

Matching nodes get the shared value types of :mod:`vault.types` (``VerifyResult``,
``Match``, ``DeleteResult``, ``CollectionInfo``); these are the replies of the
administrative services. Counts keyed by a version are ``{version: count}`` with
int keys; times are seconds since the Unix epoch. Nothing here holds key material.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "CollectionKeys",
    "KeyStatus",
    "RetentionErasures",
    "RotationJournal",
    "RotationSummary",
    "SecretStatus",
    "ShardStatus",
    "TransformKeyRenewal",
    "TransformKeyStatus",
]


@dataclass(frozen=True)
class CollectionKeys:
    """The data keys of one collection and how many blocks each seals."""

    name: str
    dek_version: int
    dek_versions: tuple[int, ...]
    blocks: int
    blocks_by_dek_version: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RotationJournal:
    """The journal of the last rotation of one kind (``state`` "done" once finished)."""

    kind: str
    state: str
    from_version: int
    to_version: int
    started_at: float
    finished_at: float
    trim_at: float | None
    trimmed: bool

    @property
    def pending(self) -> bool:
        """True while an interrupted rotation waits to be finished."""
        return self.state != "done"


@dataclass(frozen=True)
class SecretStatus:
    """One wrapped secret the vault holds (kind, owning collection or "vault", versions)."""

    kind: str
    owner: str
    version: int
    kek_version: int


@dataclass(frozen=True)
class KeyStatus:
    """Which key versions protect what (``biovault keys status``)."""

    kek_name: str
    kek_version: int
    min_decryption_version: int
    min_available_version: int
    blobs_by_kek_version: Mapping[int, int]
    wrapped_keys_by_kek_version: Mapping[int, int]
    collections: tuple[CollectionKeys, ...]
    # By kind ("kek", "dek"): the last rotation of that kind.
    rotations: Mapping[str, RotationJournal]
    # Kind of the rotation running now (None: none).
    running: str | None
    auth_method: str
    # Every wrapped secret: CKKS key sets, data keys, transform seeds, audit keys.
    secrets: tuple[SecretStatus, ...] = ()


@dataclass(frozen=True)
class RotationSummary:
    """How a KEK or DEK rotation ended; ``remaining_old`` > 0 means it did not finish.

    ``trim_at`` is KEK only; ``resealed``, ``collections`` (new data key version per
    collection) and ``keyset_resealed`` are DEK only.
    """

    kind: str
    key_version: int
    rewrapped: int
    remaining_old: int
    from_version: int
    resumed: bool
    noop: bool
    started_at: float
    finished_at: float
    trim_at: float | None = None
    resealed: int = 0
    collections: Mapping[str, int] = field(default_factory=dict)
    keyset_resealed: bool = False


@dataclass(frozen=True)
class TransformKeyRenewal:
    """A keyed collection's new transform key version (``keys rotate cancelable``)."""

    collection: str
    key_version: int
    revoked: int
    templates_by_key_version: Mapping[int, int]


@dataclass(frozen=True)
class TransformKeyStatus:
    """Live templates per transform key version of one keyed collection."""

    collection: str
    templates_by_key_version: Mapping[int, int]


@dataclass(frozen=True)
class RetentionErasures:
    """What one retention run erased in one collection (``cutoff``: enrolled before)."""

    collection: str
    retention_seconds: float
    cutoff: float
    erased: tuple[str, ...]


@dataclass(frozen=True)
class ShardStatus:
    """One gallery shard of a vault served over a Ray cluster (``cluster status``)."""

    shard: int
    node: str
    pid: int
    templates: int
    state: str  # ALIVE | RESTARTING | DEAD
    restarts: int = 0
    rss_bytes: int = 0
    load_seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        """The contract's JSON form (plus restarts, rss_bytes, load_seconds)."""
        return {
            "shard": self.shard,
            "node": self.node,
            "pid": self.pid,
            "templates": self.templates,
            "state": self.state,
            "restarts": self.restarts,
            "rss_bytes": self.rss_bytes,
            "load_seconds": self.load_seconds,
        }
