"""Frozen value types shared by every layer (no behaviour, no secrets)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "CollectionInfo",
    "CollectionSpec",
    "DeleteResult",
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


@dataclass(frozen=True)
class Match:
    """One candidate of a 1:N search."""

    subject_id: str
    score: float


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a 1:1 comparison."""

    match: bool
    score: float


@dataclass(frozen=True)
class DeleteResult:
    """Outcome of an erasure."""

    subject_id: str
    erased: int
    erased_at: float


@dataclass(frozen=True)
class RequestContext:
    """Who asks and why; travels from the transport into the core for auditing."""

    actor: str = "local"
    purpose: str = ""
    consent_ref: str = ""
    legal_basis: str = ""
    extra: dict[str, str] = field(default_factory=dict)
