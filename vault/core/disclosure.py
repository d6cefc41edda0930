"""What a collection lets leave the vault about scores: rounding, a top-k cap, decisions only.

Exact scores are an oracle: with enough queries an attacker can hill-climb a
synthetic probe towards an enrolled template (and then invert it into a face).
Each collection therefore has a disclosure policy (part of its
:class:`~vault.types.CollectionPolicy`, parsed once when the collection loads):

* ``score_decimals`` - scores leave rounded (default 2): steps smaller than
  10^-d are invisible, so a hill-climber's small perturbations mostly change
  nothing it can observe;
* ``max_top_k`` - at most this many candidates per probe (default 10); a larger
  ``top_k`` is capped, not refused;
* ``decision_only`` - Verify answers only match / no match and Identify only ids.

Decisions are taken on the exact scores inside the vault; only what leaves is
coarsened. Collections created before this existed get the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from vault.store.base import CollectionRecord
from vault.types import (
    DEFAULT_MAX_TOP_K,
    DEFAULT_SCORE_DECIMALS,
    CollectionPolicy,
    Match,
    VerifyResult,
)

__all__ = [
    "DEFAULT_MAX_TOP_K",
    "DEFAULT_SCORE_DECIMALS",
    "Disclosure",
    "config_with_disclosure",
    "disclosure_of",
]


@dataclass(frozen=True)
class Disclosure:
    """A collection's score disclosure policy."""

    score_decimals: int = DEFAULT_SCORE_DECIMALS
    max_top_k: int = DEFAULT_MAX_TOP_K
    decision_only: bool = False

    @classmethod
    def of(cls, policy: CollectionPolicy) -> Disclosure:
        """The disclosure part of a collection policy (no parsing)."""
        return cls(policy.score_decimals, policy.max_top_k, policy.decision_only)

    def verify(self, result: VerifyResult) -> VerifyResult:
        """The part of a 1:1 result that may leave."""
        if self.decision_only or result.score is None:
            return VerifyResult(match=result.match, score=None)
        return VerifyResult(match=result.match, score=round(result.score, self.score_decimals))

    def top_k(self, requested: int) -> int:
        """``requested`` capped at the policy's maximum."""
        return min(requested, self.max_top_k)

    def matches(self, rows: Sequence[Sequence[Match]]) -> list[list[Match]]:
        """Candidate lists as they may leave (order kept: it was set on exact scores)."""
        return [
            [
                Match(
                    m.subject_id,
                    None
                    if self.decision_only or m.score is None
                    else round(m.score, self.score_decimals),
                )
                for m in row[: self.max_top_k]
            ]
            for row in rows
        ]


def config_with_disclosure(
    config_json: str,
    *,
    score_decimals: int | None,
    max_top_k: int | None,
    decision_only: bool,
) -> str:
    """``config_json`` with the disclosure policy set (defaults where None).

    Raises:
        InvalidArgument: Decimals outside 0-6 or a cap below 1 or above 1000.
    """
    policy = replace(
        CollectionPolicy.from_json(config_json),
        score_decimals=DEFAULT_SCORE_DECIMALS if score_decimals is None else score_decimals,
        max_top_k=DEFAULT_MAX_TOP_K if max_top_k is None else max_top_k,
        decision_only=decision_only,
    )
    return policy.check().to_json(config_json)


def disclosure_of(record: CollectionRecord | str) -> Disclosure:
    """The disclosure policy of a stored collection (defaults if it predates policies).

    Parses the JSON: the core reads the policy it cached when the collection loaded.

    Raises:
        IntegrityError: The stored policy is malformed.
    """
    text = record.config_json if isinstance(record, CollectionRecord) else record
    return Disclosure.of(CollectionPolicy.from_json(text))
