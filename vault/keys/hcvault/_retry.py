"""When to try a Vault call again, and how long to wait first.

A call is retried only if it is idempotent (Transit ``rotate`` never is: a retry
after a lost answer would add a second key version) and its failure is
transient: HTTP 5xx except 501, 412 (a performance standby that has not caught
up yet), 429, or a refused/reset connection. A timeout is not retried - the
server is slow, and waiting again would only multiply the caller's delay. A TLS
failure is never transient. Backoff is exponential with jitter.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import hvac.adapters
import hvac.exceptions
import requests

from vault import deadline

__all__ = ["RetryPolicy", "StatusAdapter", "is_auth_failure", "is_transient"]

_TRANSIENT_STATUS = frozenset({412, 429, 500, 502, 503, 504})


class StatusAdapter(hvac.adapters.JSONAdapter):  # type: ignore[misc]  # untyped base
    """hvac's JSON adapter, but every raised error remembers its HTTP status, and no
    request outlives the gRPC caller's deadline.

    hvac maps 412 and 504 to the generic ``UnexpectedError`` without the code;
    keeping the status lets :func:`is_transient` decide on the number.
    """

    def __init__(self, *args: Any, timeout: float = 30.0, **kwargs: Any) -> None:
        super().__init__(*args, timeout=timeout, **kwargs)
        self._default_timeout = timeout

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", deadline.timeout_within(self._default_timeout))
        return super().request(method, url, *args, **kwargs)

    def _raise_for_error(self, method: str, url: str, response: Any) -> None:
        try:
            super()._raise_for_error(method, url, response)
        except hvac.exceptions.VaultError as error:
            error.status_code = response.status_code
            raise


def _status(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def is_transient(error: BaseException) -> bool:
    """True if the same request may well succeed a moment later."""
    if isinstance(error, requests.exceptions.SSLError | requests.exceptions.Timeout):
        return False
    if isinstance(error, requests.exceptions.ConnectionError):
        return True
    status = _status(error)
    if status is not None:
        return status in _TRANSIENT_STATUS
    return isinstance(
        error,
        hvac.exceptions.InternalServerError
        | hvac.exceptions.BadGateway
        | hvac.exceptions.VaultDown
        | hvac.exceptions.RateLimitExceeded,
    )


def is_auth_failure(error: BaseException) -> bool:
    """True if the token was refused (expired, revoked): logging in again may help."""
    return isinstance(error, hvac.exceptions.Forbidden | hvac.exceptions.Unauthorized)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure.

    Args:
        retries: Extra attempts after the first (0 disables retrying).
        base_delay: Delay before the first retry, in seconds.
        max_delay: Upper bound of one delay.
    """

    retries: int = 3
    base_delay: float = 0.2
    max_delay: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based), with jitter."""
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return ceiling * random.uniform(0.5, 1.0)
