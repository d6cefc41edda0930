"""Per-client token buckets for the score-bearing RPCs.

Scores are an oracle: an attacker who may ask many questions can hill-climb a
probe towards an enrolled template (see ``docs/security.md``). Each caller (its
certificate identity; on loopback plaintext, the single local admin) gets a
bucket of ``burst`` tokens refilled at ``rate`` per second. A token is one
*probe*: a Verify takes one, an Identify one per probe row (a 4,096-probe call
takes 4,096 - charging per call let one call search 4,096 probes for the price
of one). A call is admitted when the bucket holds its cost, or is full for a call
larger than the burst; it then takes its whole cost, so the bucket may go into
debt that the client works off at ``rate`` before its next call. A call that is
not admitted is answered RESOURCE_EXHAUSTED without reaching the core.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from vault.errors import ConfigurationError, ResourceExhausted

__all__ = ["DEFAULT_RATE_LIMIT", "RATE_LIMITED_RPCS", "RateLimit", "RateLimiter", "probe_cost"]

_IDENTIFY: Final = "/biovault.v1.TemplateVault/Identify"
#: Calls of these RPCs take tokens (see :func:`probe_cost`).
RATE_LIMITED_RPCS: Final = frozenset({"/biovault.v1.TemplateVault/Verify", _IDENTIFY})
_ITEM_BYTES: Final = {1: 4, 2: 8}  # DTYPE_FLOAT32, DTYPE_FLOAT64
_MAX_CLIENTS: Final = 10_000


@dataclass(frozen=True)
class RateLimit:
    """``rate`` calls per second on average, bursts of up to ``burst`` calls."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not self.rate > 0 or self.burst < 1:
            raise ConfigurationError("a rate limit needs rate > 0 and burst >= 1")


#: 100 probes per second per client with bursts of 1,000 (the defaults of
#: ``serve``): ample for a matching node; a hill-climber needs ~10^4-10^5 probes,
#: and the verify lockout and unmatched-probe budget (vault/core/verify_budget.py)
#: stop it long before the rate limit would.
DEFAULT_RATE_LIMIT: Final = RateLimit(rate=100.0, burst=1000)


class RateLimiter:
    """Token buckets keyed by client name; thread-safe.

    Args:
        limit: Rate and burst of every bucket.
        clock: Monotonic seconds (injectable for tests).
    """

    def __init__(self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, updated)

    def take(self, client: str, cost: int = 1) -> None:
        """Take ``cost`` tokens (probes) for ``client``.

        Raises:
            ResourceExhausted: If the bucket holds fewer than ``cost`` tokens (or,
                for a cost above the burst, is not full).
        """
        now = self._clock()
        burst = float(self._limit.burst)
        needed = min(float(max(cost, 1)), burst)
        with self._lock:
            tokens, updated = self._buckets.get(client, (burst, now))
            tokens = min(burst, tokens + (now - updated) * self._limit.rate)
            if tokens < needed:
                self._buckets[client] = (tokens, now)
                wait = (needed - tokens) / self._limit.rate
                raise ResourceExhausted(
                    f"rate limit of {self._limit.rate:g} scoring probes per second exceeded; "
                    f"this call needs {max(cost, 1)}; retry in {wait:.2f} s"
                )
            if len(self._buckets) >= _MAX_CLIENTS and client not in self._buckets:
                self._forget_full()
            self._buckets[client] = (tokens - max(cost, 1), now)

    def _forget_full(self) -> None:
        """Drop buckets that have refilled (they hold no state worth keeping)."""
        now = self._clock()
        full = [
            name
            for name, (tokens, updated) in self._buckets.items()
            if tokens + (now - updated) * self._limit.rate >= self._limit.burst
        ]
        for name in full:
            del self._buckets[name]


def probe_cost(method: str, request: Any) -> int:
    """Tokens a scoring call costs: its probe rows (Identify), else one.

    Read from the wire batch before the handler decodes it; a malformed batch
    costs one (the handler refuses it).
    """
    if method != _IDENTIFY or request is None or not request.HasField("probes"):
        return 1
    batch = request.probes
    row_bytes = batch.dim * _ITEM_BYTES.get(batch.dtype, 0)
    return max(1, len(batch.data) // row_bytes) if row_bytes else 1
