"""Frozen value types shared by every layer (no behaviour, no secrets)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "CollectionInfo",
    "CollectionSpec",
    "DeleteResult",
    "ErasureReceipt",
    "IdentifyResult",
    "Match",
    "ProtectionMode",
    "RequestContext",
    "VerifyResult",
]


class ProtectionMode(enum.Enum):
    """How templates of a collection are protected at rest."""

    CKKS = "ckks"
    CANCELABLE = "cancelable"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class CollectionSpec:
    """What a caller asks for when creating a collection."""

    name: str
    mode: ProtectionMode
    dim: int
    allow_identification: bool = False
    purposes: tuple[str, ...] = ()
    match_threshold: float = 0.30
    # Seconds a template may be kept after enrolment; None = the vault's default.
    retention_seconds: float | None = None
    # Score disclosure (vault/core/disclosure.py); None = the vault's default.
    score_decimals: int | None = None
    max_top_k: int | None = None
    decision_only: bool = False
    # Keyed modes only: a serialised EmbeddingProfile to whiten with (b"": none).
    embedding_profile: bytes = b""


@dataclass(frozen=True)
class CollectionInfo:
    """A collection as the vault knows it."""

    name: str
    mode: ProtectionMode
    dim: int
    allow_identification: bool
    purposes: tuple[str, ...]
    match_threshold: float
    size: int
    created_at: float
    retention_seconds: float = 0.0
    score_decimals: int = 2
    max_top_k: int = 10
    decision_only: bool = False
    # SHA-256 of the embedding profile a cancelable collection whitens with ("": none).
    embedding_profile_sha256: str = ""


@dataclass(frozen=True)
class Match:
    """One candidate of a 1:N search (``score`` None: withheld by a decision-only policy)."""

    subject_id: str
    score: float | None


class IdentifyResult(list[list[Match]]):
    """One best-first candidate list per probe - a plain list, as identify always
    returned - that also says whether the requested top-k was capped."""

    def __init__(self, rows: Iterable[list[Match]] = (), *, top_k_capped: bool = False) -> None:
        super().__init__(rows)
        self.top_k_capped = top_k_capped


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a 1:1 comparison (``score`` None: withheld by a decision-only policy)."""

    match: bool
    score: float | None


@dataclass(frozen=True)
class ErasureReceipt:
    """Offline-verifiable proof that an erasure was logged.

    ``entry`` is the audit entry's canonical bytes (the Merkle leaf data),
    ``inclusion_proof`` its RFC 6962 audit path in the tree of ``leaf_index + 1``
    entries, and ``checkpoint`` that tree's signed checkpoint (a C2SP signed note).
    """

    entry: bytes
    leaf_index: int
    inclusion_proof: tuple[bytes, ...]
    checkpoint: str


@dataclass(frozen=True)
class DeleteResult:
    """Outcome of an erasure."""

    subject_id: str
    erased: int
    erased_at: float
    receipt: ErasureReceipt | None = None


@dataclass(frozen=True)
class RequestContext:
    """Who asks and why; travels from the transport into the core for auditing."""

    actor: str = "local"
    purpose: str = ""
    consent_ref: str = ""
    legal_basis: str = ""
    extra: dict[str, str] = field(default_factory=dict)
