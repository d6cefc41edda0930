"""Identify's threshold, the unmatched-probe budget, decoys and probe-priced rate
limits, in the core and its parts (issue 13, items 4 and 5)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.synthetic import identities, unit_rows
from vault.core.matching import DecoyPool, above_threshold
from vault.core.verify_budget import UnmatchedProbeBudget
from vault.errors import ResourceExhausted
from vault.service.ratelimit import RateLimit, RateLimiter
from vault.types import CollectionSpec, Match, ProtectionMode, RequestContext

DIM = 64
CTX = RequestContext(actor="node", purpose="access", consent_ref="c", legal_basis="consent")


def test_above_threshold_keeps_only_candidates_that_reach_it() -> None:
    """Exact scores below the threshold (and withheld ones) are dropped, order kept."""
    rows = [[Match("a", 0.9), Match("b", 0.3), Match("c", 0.29)], [Match("d", 0.1)]]
    assert above_threshold(rows, 0.3) == [[Match("a", 0.9), Match("b", 0.3)], []]


def test_the_unmatched_probe_budget_counts_probes_in_a_window() -> None:
    """60 + 40 unmatched probes fill a 100-probe window; one more is refused until it ends."""
    now = [0.0]
    budget = UnmatchedProbeBudget(limit=100, window=60.0, clock=lambda: now[0])
    budget.check("x", "faces", 60)
    budget.record("x", "faces", 60)
    budget.check("x", "faces", 40)
    budget.record("x", "faces", 40)
    with pytest.raises(ResourceExhausted, match="unmatched identification probes"):
        budget.check("x", "faces", 1)
    budget.check("y", "faces", 100)  # per caller
    budget.check("x", "other", 100)  # per collection
    now[0] = 60.0
    budget.check("x", "faces", 100)


def test_a_call_costs_its_probes_in_tokens() -> None:
    """Burst 100: a 60-probe call, then a 60-probe call is refused, a 40-probe call is not;
    a call above the burst is admitted only with a full bucket and leaves it in debt."""
    now = [0.0]
    limiter = RateLimiter(RateLimit(rate=10.0, burst=100), clock=lambda: now[0])
    limiter.take("x", 60)
    with pytest.raises(ResourceExhausted, match="this call needs 60"):
        limiter.take("x", 60)
    limiter.take("x", 40)
    now[0] = 10.0  # refilled to 100
    limiter.take("x", 400)  # admitted full, 300 in debt
    now[0] = 40.0  # 30 s x 10/s pays the debt back to 0
    with pytest.raises(ResourceExhausted):
        limiter.take("x", 1)
    now[0] = 40.2
    limiter.take("x", 1)


def test_the_decoy_pool_drops_ids_no_longer_enrolled() -> None:
    """A drawn id that is gone is removed and another is drawn; none left gives None."""
    pool = DecoyPool()
    pool.add(["a", "b", "c"])
    enrolled = {"b"}
    assert pool.draw(0, enrolled.__contains__) == "b"
    assert pool.draw(7, enrolled.__contains__) == "b"
    assert pool.draw(1, set().__contains__) is None


def test_identify_refuses_a_caller_over_its_unmatched_budget(make_core, audit) -> None:
    """Through the core: random probes spend the budget; the next call is refused and
    audited; genuine probes are not charged."""
    core = make_core()
    core._identify_budget = UnmatchedProbeBudget(limit=50)
    core.create_collection(
        CollectionSpec("faces", ProtectionMode.CKKS, DIM, True, ("access",)), CTX
    )
    rng = np.random.default_rng(9)
    gallery = identities(20, DIM, rng).astype(np.float32)
    core.enroll("faces", [f"s{i}" for i in range(20)], gallery, CTX)
    assert len(core.identify("faces", gallery, 3, CTX)) == 20  # all match: nothing charged
    random = unit_rows(rng.standard_normal((30, DIM))).astype(np.float32)
    unmatched = sum(not row for row in core.identify("faces", random, 3, CTX))
    assert unmatched >= 25  # d = 64: a few random probes pass 0.30 by chance
    with pytest.raises(ResourceExhausted):
        core.identify("faces", random, 3, CTX)
    last = audit.events[-1]
    assert (last.action, last.outcome, last.details["probes"]) == (
        "identify",
        "ResourceExhausted",
        30,
    )
