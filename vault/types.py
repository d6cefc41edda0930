"""Frozen value types shared by every layer (no secrets; behaviour only to check
and (de)serialise themselves)."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from vault.errors import IntegrityError, InvalidArgument

__all__ = [
    "DEFAULT_MAX_TOP_K",
    "DEFAULT_RETENTION_SECONDS",
    "DEFAULT_SCORE_DECIMALS",
    "MAX_RETENTION_SECONDS",
    "CollectionInfo",
    "CollectionPolicy",
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


# BIPA 740 ILCS 14/15(a): destruction at the latest three years after the last interaction.
DEFAULT_RETENTION_SECONDS: Final = 3 * 365 * 86_400.0
MAX_RETENTION_SECONDS: Final = 100 * 365 * 86_400.0
DEFAULT_SCORE_DECIMALS: Final = 2
DEFAULT_MAX_TOP_K: Final = 10
_MAX_DECIMALS: Final = 6
_MAX_TOP_K_CAP: Final = 1000
# Where a knob lives in a collection's stored JSON, when not at the top level: the
# layout collections were stored in before this type existed (vault/core/disclosure.py).
_JSON_GROUPS: Final = {
    "score_decimals": "disclosure",
    "max_top_k": "disclosure",
    "decision_only": "disclosure",
}


@dataclass(frozen=True)
class CollectionPolicy:
    """What a collection allows: how long templates stay and what leaves about scores.

    Parsed once when a collection is created or loaded, then read from memory. A new
    knob is a field here (its default, and its bounds in :meth:`check`), a
    ``biovault collection create`` flag whose ``dest`` is the field's name, and a
    field of the same name in ``CollectionPolicy`` of ``protos/vault/api/v1/vault.proto``;
    the JSON at rest, the wire codecs and the CLI's JSON follow from the field list.

    * ``retention_seconds`` - a template may be kept this long after enrolment, then
      it is erased (BIPA; GDPR Art. 5(1)(e)); at most 100 years.
    * ``score_decimals`` - scores leave rounded to this many decimals (0-6): exact
      scores are a hill-climbing oracle.
    * ``max_top_k`` - at most this many candidates per probe (1-1000); a larger
      ``top_k`` is capped, not refused.
    * ``decision_only`` - Verify answers only match / no match, Identify only ids.
    """

    retention_seconds: float = DEFAULT_RETENTION_SECONDS
    score_decimals: int = DEFAULT_SCORE_DECIMALS
    max_top_k: int = DEFAULT_MAX_TOP_K
    decision_only: bool = False

    @classmethod
    def of(cls, **options: Any) -> CollectionPolicy:
        """A policy from optional knobs: None (or absent) keeps the default.

        Raises:
            InvalidArgument: An option that is not a knob of the policy.
        """
        unknown = set(options) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise InvalidArgument(f"unknown collection policy option(s): {sorted(unknown)}")
        return cls(**{k: v for k, v in options.items() if v is not None})

    def check(self) -> CollectionPolicy:
        """This policy, if every knob is in range.

        Raises:
            InvalidArgument: Retention not in (0 s, 100 years], decimals outside 0-6,
                or a top-k cap below 1 or above 1000.
        """
        retention = self.retention_seconds
        if isinstance(retention, bool) or not (
            isinstance(retention, int | float) and math.isfinite(retention)
        ):
            raise InvalidArgument("retention must be a finite number of seconds")
        if not 0 < retention <= MAX_RETENTION_SECONDS:
            raise InvalidArgument("retention must be more than 0 s and at most 100 years")
        if not 0 <= self.score_decimals <= _MAX_DECIMALS:
            raise InvalidArgument(f"score decimals must be between 0 and {_MAX_DECIMALS}")
        if not 1 <= self.max_top_k <= _MAX_TOP_K_CAP:
            raise InvalidArgument(f"max top-k must be between 1 and {_MAX_TOP_K_CAP}")
        return self

    def to_json(self, base: str = "{}") -> str:
        """The stored JSON form, merged into ``base`` (whose other keys are kept)."""
        config = json.loads(base or "{}")
        for name, value in dataclasses.asdict(self).items():
            group = _JSON_GROUPS.get(name)
            (config.setdefault(group, {}) if group else config)[name] = value
        return json.dumps(config, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CollectionPolicy:
        """Parse the stored JSON form; absent knobs (older collections) get defaults,
        unknown keys are ignored.

        Raises:
            IntegrityError: Not a JSON object, or a knob of the wrong type or range.
        """
        try:
            config = json.loads(text or "{}")
        except ValueError:
            config = None
        if not isinstance(config, dict):
            raise IntegrityError("a collection's stored settings are not a JSON object")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            group = _JSON_GROUPS.get(f.name)
            holder = config.get(group, {}) if group else config
            if not isinstance(holder, Mapping):
                raise IntegrityError(f"a collection's stored {group} policy is invalid")
            if f.name in holder:
                values[f.name] = _stored_knob(f.name, holder[f.name], f.default)
        try:
            return cls(**values).check()
        except InvalidArgument as error:
            raise IntegrityError(f"a collection's stored policy is invalid: {error}") from None


def _stored_knob(name: str, value: object, default: object) -> object:
    """``value`` if it has the type of the knob's ``default`` (an int may stand for
    a float); bools are never numbers here."""
    if type(default) is float and type(value) in (int, float):
        return float(value)  # type: ignore[arg-type]
    if type(value) is type(default):
        return value
    raise IntegrityError(f"a collection's stored {name} is invalid")


@dataclass(frozen=True)
class CollectionSpec:
    """What a caller asks for when creating a collection."""

    name: str
    mode: ProtectionMode
    dim: int
    allow_identification: bool = False
    purposes: tuple[str, ...] = ()
    match_threshold: float = 0.30
    # Retention and score disclosure; the default policy is the vault's default.
    policy: CollectionPolicy = CollectionPolicy()
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
    policy: CollectionPolicy = CollectionPolicy()
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
