"""Per-client token buckets for the score-bearing RPCs.

Scores are an oracle: an attacker who may ask many questions can hill-climb a
probe towards an enrolled template (see ``docs/security.md``). Each caller (its
certificate identity; on loopback plaintext, the single local admin) gets a
bucket of ``burst`` tokens refilled at ``rate`` per second; a Verify or Identify
call takes one token, and a call that finds the bucket empty is answered
RESOURCE_EXHAUSTED without reaching the core.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from vault.errors import ConfigurationError, ResourceExhausted

__all__ = ["DEFAULT_RATE_LIMIT", "RATE_LIMITED_RPCS", "RateLimit", "RateLimiter"]

#: Calls of these RPCs take a token.
RATE_LIMITED_RPCS: Final = frozenset(
    {"/biovault.v1.TemplateVault/Verify", "/biovault.v1.TemplateVault/Identify"}
)
_MAX_CLIENTS: Final = 10_000


@dataclass(frozen=True)
class RateLimit:
    """``rate`` calls per second on average, bursts of up to ``burst`` calls."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not self.rate > 0 or self.burst < 1:
            raise ConfigurationError("a rate limit needs rate > 0 and burst >= 1")


#: 20 scoring calls per second per client with bursts of 100: ample for a
#: matching node, and a hill-climber needs ~10^4-10^5 calls (hours, not seconds).
DEFAULT_RATE_LIMIT: Final = RateLimit(rate=20.0, burst=100)


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

    def take(self, client: str) -> None:
        """Take one token for ``client``.

        Raises:
            ResourceExhausted: If the client's bucket is empty.
        """
        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.get(client, (float(self._limit.burst), now))
            tokens = min(float(self._limit.burst), tokens + (now - updated) * self._limit.rate)
            if tokens < 1.0:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / self._limit.rate
                raise ResourceExhausted(
                    f"rate limit of {self._limit.rate:g} scoring calls per second exceeded; "
                    f"retry in {wait:.2f} s"
                )
            if len(self._buckets) >= _MAX_CLIENTS and client not in self._buckets:
                self._forget_full()
            self._buckets[client] = (tokens - 1.0, now)

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
