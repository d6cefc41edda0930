"""What a collection lets leave the vault about scores: rounding, a top-k cap, decisions only.

Exact scores are an oracle: with enough queries an attacker can hill-climb a
synthetic probe towards an enrolled template (and then invert it into a face).
Each collection therefore stores a disclosure policy in its ``config_json``:

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

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from vault.errors import IntegrityError, InvalidArgument
from vault.store.base import CollectionRecord
from vault.types import Match, VerifyResult

__all__ = [
    "DEFAULT_MAX_TOP_K",
    "DEFAULT_SCORE_DECIMALS",
    "Disclosure",
    "config_with_disclosure",
    "disclosure_of",
]

DEFAULT_SCORE_DECIMALS: Final = 2
DEFAULT_MAX_TOP_K: Final = 10
_MAX_DECIMALS: Final = 6
_KEY: Final = "disclosure"


@dataclass(frozen=True)
class Disclosure:
    """A collection's score disclosure policy."""

    score_decimals: int = DEFAULT_SCORE_DECIMALS
    max_top_k: int = DEFAULT_MAX_TOP_K
    decision_only: bool = False

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
    policy = Disclosure(
        DEFAULT_SCORE_DECIMALS if score_decimals is None else score_decimals,
        DEFAULT_MAX_TOP_K if max_top_k is None else max_top_k,
        decision_only,
    )
    if not 0 <= policy.score_decimals <= _MAX_DECIMALS:
        raise InvalidArgument(f"score decimals must be between 0 and {_MAX_DECIMALS}")
    if not 1 <= policy.max_top_k <= 1000:
        raise InvalidArgument("max top-k must be between 1 and 1000")
    config = json.loads(config_json or "{}")
    config[_KEY] = {
        "score_decimals": policy.score_decimals,
        "max_top_k": policy.max_top_k,
        "decision_only": policy.decision_only,
    }
    return json.dumps(config, sort_keys=True)


def disclosure_of(record: CollectionRecord | str) -> Disclosure:
    """The disclosure policy of a collection (defaults if it predates policies).

    Raises:
        IntegrityError: The stored policy is malformed.
    """
    text = record.config_json if isinstance(record, CollectionRecord) else record
    try:
        stored = json.loads(text or "{}").get(_KEY)
    except (ValueError, AttributeError):
        raise IntegrityError("a collection's stored settings are not a JSON object") from None
    if stored is None:
        return Disclosure()
    try:
        decimals, cap, only = stored["score_decimals"], stored["max_top_k"], stored["decision_only"]
    except (KeyError, TypeError):
        raise IntegrityError("a collection's stored disclosure policy is invalid") from None
    if not (type(decimals) is int and type(cap) is int and type(only) is bool):
        raise IntegrityError("a collection's stored disclosure policy is invalid")
    return Disclosure(decimals, cap, only)
