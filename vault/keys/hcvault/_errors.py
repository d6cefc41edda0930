"""Translation of hvac/requests failures into the vault's error tree.

This is the one place where third-party exceptions from the Vault client enter the
vault. Messages name the operation and Vault's own short reason, and pass through a
redactor so that a token can never leak into a log line or an RPC status.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import hvac.exceptions
import requests

from vault.errors import KeyServiceError, KeyServiceUnavailable, WrappedKeyRejected

__all__ = ["redact", "translated_errors"]

_MAX_REASON_CHARS = 200
_DOWN_HINT = " - the key service is down, sealed or unreachable; retry once it is back"

# Status codes that mean "try again later" rather than "you asked for something wrong":
# 429 is a standby node or rate limit, 5xx covers sealed (503), uninitialised (501)
# and internal failures.
_RETRYABLE = (
    hvac.exceptions.RateLimitExceeded,
    hvac.exceptions.InternalServerError,
    hvac.exceptions.VaultNotInitialized,
    hvac.exceptions.BadGateway,
    hvac.exceptions.VaultDown,
)

# Transit's wording for a ciphertext it will not decrypt; a missing KEK is also a 400
# but is a configuration problem, not bad stored data.
_REJECTED_CIPHERTEXT_MARKERS = (
    "invalid ciphertext",
    "message authentication failed",
    "ciphertext version",
    "version is too new",
    "could not decode",
    "invalid version",
    "disallowed by policy",  # wrapped under a KEK version below min_decryption_version
)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret with a placeholder."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def _hcvault_reason(error: hvac.exceptions.VaultError) -> str:
    # str(error) appends the method and URL; the bare reason reads better and the
    # address is already in our own message.
    reason = ", ".join(error.errors) if error.errors else (error.args[0] if error.args else "")
    reason = " ".join(str(reason or "").split())
    return reason[:_MAX_REASON_CHARS] or "no reason given"


@contextmanager
def translated_errors(
    action: str, addr: str, secrets: Iterable[str], *, decrypting: bool = False
) -> Iterator[None]:
    """Run a block of hvac calls, re-raising failures as vault errors.

    Args:
        action: What was attempted, phrased to follow "could not", e.g. "unwrap a data key".
        addr: The key service address, for the operator.
        secrets: Strings (tokens) that must never appear in a message.
        decrypting: True when the block submits a stored ciphertext, so that Transit's
            refusal of that ciphertext becomes :class:`WrappedKeyRejected`.

    Raises:
        KeyServiceUnavailable: Unreachable, timed out, sealed, standby or 5xx.
        WrappedKeyRejected: Transit refused the submitted ciphertext.
        KeyServiceError: Any other refusal (permission denied, bad request, ...).
    """
    secrets = tuple(secrets)
    prefix = f"key service at {addr} could not {action}"
    try:
        yield
    except requests.exceptions.SSLError as e:
        # A TLS failure will not heal by retrying: it is a trust/configuration problem.
        raise KeyServiceError(f"{prefix}: TLS verification failed (check the CA file)") from e
    except requests.exceptions.Timeout as e:
        raise KeyServiceUnavailable(f"{prefix}: request timed out{_DOWN_HINT}") from e
    except requests.exceptions.ConnectionError as e:
        raise KeyServiceUnavailable(f"{prefix}: connection failed{_DOWN_HINT}") from e
    except requests.exceptions.RequestException as e:
        raise KeyServiceUnavailable(f"{prefix}: {type(e).__name__}") from e
    except _RETRYABLE as e:
        reason = redact(_hcvault_reason(e), secrets)
        raise KeyServiceUnavailable(f"{prefix}: unavailable ({reason}){_DOWN_HINT}") from e
    except hvac.exceptions.Forbidden as e:
        raise KeyServiceError(f"{prefix}: permission denied (check the token or policy)") from e
    except hvac.exceptions.Unauthorized as e:
        raise KeyServiceError(f"{prefix}: not authenticated") from e
    except hvac.exceptions.InvalidRequest as e:
        reason = redact(_hcvault_reason(e), secrets)
        if decrypting and any(m in reason.lower() for m in _REJECTED_CIPHERTEXT_MARKERS):
            raise WrappedKeyRejected(f"{prefix}: wrapped key rejected ({reason})") from e
        raise KeyServiceError(f"{prefix}: request refused ({reason})") from e
    except hvac.exceptions.VaultError as e:
        reason = redact(_hcvault_reason(e), secrets)
        raise KeyServiceError(f"{prefix}: {type(e).__name__} ({reason})") from e
    except (KeyError, TypeError, ValueError):
        # A response without the fields we need: a proxy, a wrong address or an
        # incompatible server. The exception text could echo response data, so drop it.
        raise KeyServiceError(f"{prefix}: unexpected response from the server") from None
