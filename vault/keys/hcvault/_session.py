"""An authenticated hvac client that logs in, renews, retries and translates errors.

Every Vault call of :class:`~vault.keys.hcvault.client.HcVaultKeyService` goes
through :meth:`HcvaultSession.call`, which

* logs in on first use, and again when the token was refused and the login
  strategy can produce a new one (AppRole);
* retries idempotent calls on transient failures with exponential backoff;
* turns every failure into the vault's error tree, with credentials redacted.

:meth:`HcvaultSession.maintain` renews the token at half its TTL (or logs in anew
when it cannot be renewed any more); a daemon thread started by
:meth:`start_renewal` calls it, so request threads never wait on renewals.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import hvac

from vault import deadline
from vault.errors import ConfigurationError, DeadlineExceeded, KeyServiceError
from vault.keys.hcvault._errors import translated_errors
from vault.keys.hcvault._retry import RetryPolicy, StatusAdapter, is_auth_failure, is_transient
from vault.keys.hcvault.login import LoginStrategy, TokenLease

__all__ = ["HcvaultSession"]

log = logging.getLogger("vault.keys.hcvault")

_T = TypeVar("_T")
# A lease renewed to less than this share of its original TTL has hit its max TTL.
_RENEWAL_SHORTFALL = 0.5
_IDLE_CHECK_SECONDS = 30.0
_FAILED_RENEWAL_RETRY_SECONDS = 2.0


class HcvaultSession:
    """One hvac client, its login strategy and its token's lease.

    Args:
        addr: Checked base address of the server.
        login: How to obtain a token.
        ca_file: CA bundle for TLS verification (system store when None).
        timeout: Seconds per HTTP request.
        retry: Retry policy for idempotent calls.
    """

    def __init__(
        self,
        addr: str,
        login: LoginStrategy,
        *,
        ca_file: str | None,
        timeout: float,
        retry: RetryPolicy,
    ) -> None:
        self.addr = addr
        self.login_strategy = login
        self._retry = retry
        self._lock = threading.RLock()
        self._lease: TokenLease | None = None
        self._tried_login = False
        self._original_ttl: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # An explicit empty token stops hvac from reading VAULT_TOKEN or ~/.vault-token:
        # credentials come only from the login strategy.
        self._client = hvac.Client(
            url=addr, token="", verify=ca_file or True, timeout=timeout, adapter=StatusAdapter
        )

    # --- calls ------------------------------------------------------------------
    def _secrets(self) -> tuple[str, ...]:
        return (*self.login_strategy.secrets(), str(self._client.token or ""))

    def _log_in(self) -> None:
        self._tried_login = True
        self._lease = self.login_strategy.login(self._client)
        if self._lease.ttl:
            self._original_ttl = self._lease.ttl
        log.info("logged in to the key service (%s)", self.login_strategy.method)

    def _token_dead(self) -> bool:
        lease = self._lease
        if lease is None:
            return True
        expires = lease.expires_at
        return expires is not None and time.monotonic() >= expires

    def call(
        self,
        action: str,
        fn: Callable[[Any], _T],
        *,
        idempotent: bool = True,
        decrypting: bool = False,
        fresh_login: bool = False,
    ) -> _T:
        """Run ``fn(client)`` with a live token; retry and translate failures.

        Args:
            action: What is attempted, phrased to follow "could not".
            fn: The hvac calls; raises hvac/requests exceptions.
            idempotent: Whether a retry after an unknown outcome is harmless.
            decrypting: The call submits stored ciphertext (see translated_errors).
            fresh_login: Log in first even if the current token still works.

        Raises:
            KeyServiceUnavailable: Unreachable, sealed, 5xx, or timed out.
            WrappedKeyRejected: Transit refused a submitted ciphertext.
            KeyServiceError: Any other refusal.
            ConfigurationError: Local credentials cannot be read.
        """
        attempt, logged_in_again = 0, False
        with self._lock:
            while True:
                logging_in = False
                deadline.check(f"the key service was asked to {action}")
                try:
                    if (
                        fresh_login
                        or self._lease is None
                        or (self._token_dead() and self.login_strategy.can_login_again)
                    ):
                        logging_in = True
                        self._log_in()
                        logging_in, fresh_login = False, False
                    return fn(self._client)
                except ConfigurationError:
                    raise
                except Exception as error:
                    if deadline.expired():  # our shortened timeout, not a slow server
                        raise DeadlineExceeded(
                            f"the caller's deadline passed while trying to {action}"
                        ) from error
                    if (
                        not logging_in
                        and is_auth_failure(error)
                        and self.login_strategy.can_login_again
                        and not logged_in_again
                    ):
                        # The token may have expired or been revoked: one fresh login.
                        logged_in_again = True
                        self._lease = None
                        continue
                    if idempotent and attempt < self._retry.retries and is_transient(error):
                        time.sleep(self._retry.delay(attempt))
                        attempt += 1
                        continue
                    what = "log in to the key service" if logging_in else action
                    with translated_errors(what, self.addr, self._secrets(), decrypting=decrypting):
                        raise

    # --- token lifetime -----------------------------------------------------------
    @property
    def token_usable(self) -> bool:
        """False once the token has expired (or was refused) and no new login succeeded."""
        with self._lock:
            if self._lease is None:
                return not self._tried_login
            return not self._token_dead()

    def lease(self) -> TokenLease | None:
        """The current token's lease (None before the first login)."""
        with self._lock:
            return self._lease

    def maintain(self) -> float:
        """Renew or replace the token if due; return seconds until the next check.

        Never raises: failures are logged and retried after a short pause.
        """
        try:
            with self._lock:
                return self._maintain_locked()
        except Exception as error:
            log.warning("key service token maintenance failed: %s", _one_line(error))
            return _FAILED_RENEWAL_RETRY_SECONDS

    def _maintain_locked(self) -> float:
        lease = self._lease
        if lease is None:
            if not self._tried_login:
                return _IDLE_CHECK_SECONDS  # not logged in yet; the first call will
            # A login failed (e.g. during an outage): keep trying from here, so the
            # service recovers without waiting for a request.
            self.call("log in to the key service", lambda client: None, fresh_login=True)
            lease = self._lease
            if lease is None:
                return _FAILED_RENEWAL_RETRY_SECONDS
        if lease.ttl is None:
            self._lease = self._looked_up(lease)
            lease = self._lease
        renew_at = lease.renew_at
        if renew_at is None:
            return _IDLE_CHECK_SECONDS  # the token never expires
        now = time.monotonic()
        if now < renew_at:
            return max(0.05, min(renew_at - now, _IDLE_CHECK_SECONDS))
        if lease.renewable:
            renewed = self._renewed(lease)
            if renewed is not None:
                self._lease = renewed
                full = self._original_ttl or lease.ttl or 0
                if renewed.ttl is not None and renewed.ttl >= _RENEWAL_SHORTFALL * full:
                    return max(0.05, (renewed.ttl or 0) / 2)
        if self.login_strategy.can_login_again:
            # Not renewable (any more): a new login replaces the token before it dies.
            self.call("log in to the key service", lambda client: None, fresh_login=True)
            ttl = self._lease.ttl if self._lease is not None else None
            return max(0.05, ttl / 2) if ttl else _IDLE_CHECK_SECONDS
        if self._token_dead():
            log.error("the key service token expired and cannot be renewed or replaced")
            return _IDLE_CHECK_SECONDS
        return _FAILED_RENEWAL_RETRY_SECONDS

    def _looked_up(self, lease: TokenLease) -> TokenLease:
        started = time.monotonic()
        try:
            data = self.call("look up its token", lambda c: c.auth.token.lookup_self())["data"]
        except KeyServiceError as error:
            # A token without lookup-self permission: nothing to plan, treat as static.
            log.info("cannot look up the key service token (%s); not renewing it", error)
            return TokenLease(ttl=0, renewable=False, obtained_at=lease.obtained_at)
        ttl = float(data.get("ttl") or 0)
        if ttl:
            self._original_ttl = float(data.get("creation_ttl") or ttl)
        return TokenLease(ttl=ttl, renewable=bool(data.get("renewable")), obtained_at=started)

    def _renewed(self, lease: TokenLease) -> TokenLease | None:
        started = time.monotonic()
        increment = int(self._original_ttl or lease.ttl or 0) or None
        try:
            response = self.call(
                "renew its token", lambda c: c.auth.token.renew_self(increment=increment)
            )
        except KeyServiceError as error:
            log.warning("key service token renewal failed: %s", _one_line(error))
            return None
        auth = response["auth"]
        log.info("renewed the key service token")
        return TokenLease(
            ttl=float(auth.get("lease_duration") or 0),
            renewable=bool(auth.get("renewable")),
            obtained_at=started,
        )

    def start_renewal(self) -> None:
        """Start the daemon thread that keeps the token alive (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._renewal_loop, name="biovault-vault-token", daemon=True
        )
        self._thread.start()

    def _renewal_loop(self) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            delay = self.maintain()

    def close(self) -> None:
        """Stop the renewal thread and close pooled connections."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        with self._lock:
            self._client.adapter.close()


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
