"""Score disclosure: rounding, top-k cap, decision-only, and a hill-climber that gets nowhere."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.policy import with_policy
from tests.support.synthetic import identities
from vault.core.disclosure import Disclosure, config_with_disclosure, disclosure_of
from vault.core.verify_budget import DEFAULT_FAILED_VERIFY_LIMIT, FailedVerifyBudget
from vault.errors import IntegrityError, InvalidArgument, ResourceExhausted
from vault.types import CollectionSpec, Match, ProtectionMode, RequestContext, VerifyResult

DIM = 32
CTX = RequestContext(actor="tester", purpose="access", consent_ref="c", legal_basis="consent")


def test_policy_round_trips_through_the_stored_config() -> None:
    """What create stores is what verify and identify read back; old configs get defaults."""
    text = config_with_disclosure("{}", score_decimals=1, max_top_k=3, decision_only=True)
    assert disclosure_of(text) == Disclosure(1, 3, True)
    assert disclosure_of('{"retention_seconds": 5}') == Disclosure()


@pytest.mark.parametrize(("decimals", "cap"), [(-1, 5), (7, 5), (2, 0), (2, 1001)])
def test_out_of_range_policies_are_refused(decimals: int, cap: int) -> None:
    """Decimals 0-6 and caps 1-1000 only."""
    with pytest.raises(InvalidArgument):
        config_with_disclosure("{}", score_decimals=decimals, max_top_k=cap, decision_only=False)


def test_a_tampered_stored_policy_is_an_integrity_error() -> None:
    """A stored policy of the wrong shape is refused, not guessed at."""
    with pytest.raises(IntegrityError):
        disclosure_of('{"disclosure": {"score_decimals": "2"}}')


def test_scores_leave_rounded_capped_or_not_at_all() -> None:
    """Rounding and the cap apply to what leaves; decision-only withholds every score."""
    rows = [[Match(f"s{i}", 0.5 - i / 997) for i in range(20)]]
    shown = Disclosure().matches(rows)[0]
    assert len(shown) == 10 and shown[0] == Match("s0", 0.5)
    assert all(m.score == round(m.score, 2) for m in shown if m.score is not None)
    assert Disclosure(decision_only=True).matches(rows)[0][0] == Match("s0", None)
    assert Disclosure().verify(VerifyResult(True, 0.73456)) == VerifyResult(True, 0.73)
    assert Disclosure(decision_only=True).verify(VerifyResult(True, 0.7)).score is None


def _hill_climb(oracle, start: np.ndarray, queries: int, step: float, rng) -> np.ndarray:
    """The naive attack: perturb, keep the perturbation if the observed score went up."""
    best, best_score = start, oracle(start)
    for _ in range(queries):
        candidate = best + step * rng.standard_normal(best.shape) / np.sqrt(best.size)
        candidate /= np.linalg.norm(candidate)
        score = oracle(candidate)
        if score is not None and best_score is not None and score > best_score:
            best, best_score = candidate, score
    return best


@pytest.mark.parametrize("policy", [Disclosure(), Disclosure(decision_only=True)])
def test_a_naive_hill_climber_makes_no_progress_under_the_defaults(policy: Disclosure) -> None:
    """Exact scores let the climber gain, rounded (or withheld) scores do not."""
    dim, queries = 512, 3000
    rng = np.random.default_rng(11)
    target = identities(1, dim, rng)[0]
    start = identities(1, dim, rng)[0]

    def exact(x: np.ndarray) -> float:
        return float(x @ target)

    def disclosed(x: np.ndarray) -> float | None:
        return policy.verify(VerifyResult(False, float(x @ target))).score

    step = 0.05  # the step that works best for this climber on exact scores
    with_exact = _hill_climb(exact, start, queries, step, np.random.default_rng(1))
    with_policy = _hill_climb(disclosed, start, queries, step, np.random.default_rng(1))
    gain_exact = float(with_exact @ target - start @ target)
    gain_policy = float(with_policy @ target - start @ target)
    assert gain_exact > 0.15  # the attack works when scores are exact...
    assert gain_policy < 0.02  # ...and stalls within one rounding step under the defaults


def _spec(**kw) -> CollectionSpec:
    return CollectionSpec(
        name="faces",
        mode=ProtectionMode.CKKS,
        dim=DIM,
        allow_identification=True,
        purposes=("access",),
        **with_policy(**kw),
    )


def test_the_core_applies_the_collection_policy(make_core) -> None:
    """Verify and identify through the real core come out rounded and capped by default."""
    core = make_core()
    # Threshold -1: every candidate matches, so the cap (not the threshold) shows.
    info = core.create_collection(_spec(match_threshold=-1.0), CTX)
    assert (info.policy.score_decimals, info.policy.max_top_k, info.policy.decision_only) == (
        2,
        10,
        False,
    )
    rng = np.random.default_rng(3)
    templates = identities(30, DIM, rng).astype(np.float32)
    core.enroll("faces", [f"p{i}" for i in range(30)], templates, CTX)
    result = core.verify("faces", "p1", templates[1], CTX)
    assert result.match and result.score == round(result.score, 2)
    rows = core.identify("faces", templates[:2], 25, CTX)
    assert [len(r) for r in rows] == [10, 10]
    assert [r[0].subject_id for r in rows] == ["p0", "p1"]
    assert all(m.score == round(m.score, 2) for r in rows for m in r if m.score is not None)


def test_a_decision_only_collection_lets_no_score_out(make_core) -> None:
    """Decision-only: verify says match or not, identify names ids; no score either way."""
    core = make_core()
    core.create_collection(_spec(decision_only=True, match_threshold=-1.0), CTX)
    rng = np.random.default_rng(4)
    templates = identities(5, DIM, rng).astype(np.float32)
    core.enroll("faces", [f"p{i}" for i in range(5)], templates, CTX)
    assert core.verify("faces", "p2", templates[2], CTX) == VerifyResult(True, None)
    assert core.verify("faces", "nobody", templates[2], CTX) == VerifyResult(False, None)
    top = core.identify("faces", templates[3:4], 2, CTX)[0]
    assert top[0] == Match("p3", None) and len(top) == 2


def test_a_tuned_hill_climber_beats_rounding_but_not_the_lockout(make_core) -> None:
    """With a larger step, 2-decimal scores still climb; the failed-verify lockout stops it."""
    dim = 512
    rng = np.random.default_rng(100)
    target, start = identities(2, dim, rng)

    def rounded(x: np.ndarray) -> float | None:
        return Disclosure().verify(VerifyResult(False, float(x @ target))).score

    climbed = _hill_climb(rounded, start, 600, 0.3, np.random.default_rng(0))
    assert float(climbed @ target) >= 0.30  # reaches the match threshold without the lockout
    budget = FailedVerifyBudget(clock=lambda: 0.0)
    asked = 0
    with pytest.raises(ResourceExhausted):
        while True:
            budget.check("cert:CN=attacker", "faces", "alice")
            asked += 1
            budget.record("cert:CN=attacker", "faces", "alice", matched=False)
    assert asked == DEFAULT_FAILED_VERIFY_LIMIT < 600


def test_the_core_locks_out_repeated_failed_verifications(make_core) -> None:
    """Twenty failures of one subject by one caller lock it; others and matches are unaffected."""
    core = make_core()
    core.create_collection(_spec(), CTX)
    rng = np.random.default_rng(5)
    templates = identities(3, DIM, rng).astype(np.float32)
    core.enroll("faces", ["a", "b", "c"], templates, CTX)
    for _ in range(DEFAULT_FAILED_VERIFY_LIMIT):
        assert not core.verify("faces", "a", templates[1], CTX).match
        assert not core.verify("faces", "ghost", templates[1], CTX).match
    for subject in ("a", "ghost"):  # unknown ids lock exactly like enrolled ones
        with pytest.raises(ResourceExhausted):
            core.verify("faces", subject, templates[0], CTX)
    other = RequestContext(actor="someone-else", purpose="access")
    assert core.verify("faces", "a", templates[0], other).match
    assert core.verify("faces", "b", templates[1], CTX).match
