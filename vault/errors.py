"""The one error tree of the vault.

Every layer raises a subclass of :class:`VaultError`; third-party exceptions are
wrapped where they enter (``raise KeyServiceUnavailable(...) from e``). The service
layer maps each class to exactly one gRPC status code, so a new failure mode only
needs a new subclass here. Messages must never contain template values, scores,
or key material.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "ConfigurationError",
    "DeadlineExceeded",
    "EncryptionUnavailable",
    "FailedPrecondition",
    "IntegrityError",
    "InvalidArgument",
    "KeyServiceError",
    "KeyServiceUnavailable",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "ShardUnavailable",
    "StorageError",
    "StorageUnavailable",
    "TemplateError",
    "Unauthenticated",
    "VaultError",
    "WrappedKeyRejected",
]


class VaultError(Exception):
    """Base class of every error the vault raises on purpose."""


class InvalidArgument(VaultError):
    """The caller sent something malformed; nothing was changed."""


class TemplateError(InvalidArgument):
    """A template or probe failed validation (shape, dtype, finiteness, norm)."""


class NotFound(VaultError):
    """A named collection or subject does not exist."""


class AlreadyExists(VaultError):
    """A collection or subject id is already taken."""


class FailedPrecondition(VaultError):
    """The request is well-formed but not allowed in the current state or policy."""


class PermissionDenied(VaultError):
    """The authenticated caller lacks the role for this call."""


class Unauthenticated(VaultError):
    """The caller presented no usable identity."""


class ResourceExhausted(VaultError):
    """A quota or rate limit was hit."""


class DeadlineExceeded(VaultError):
    """The caller's deadline passed before the work could finish; nothing was changed."""


class KeyServiceError(VaultError):
    """The key service (HashiCorp Vault / OpenBao) refused or failed an operation."""


class KeyServiceUnavailable(KeyServiceError):
    """The key service cannot be reached, is sealed, or is still starting."""


class WrappedKeyRejected(KeyServiceError):
    """The key service refused a wrapped key as malformed, tampered or not its own.

    Kept apart from other refusals (such as permission denied) so that envelope code
    can report stored data that fails authentication as an :class:`IntegrityError`.
    """


class EncryptionUnavailable(VaultError):
    """The encryption worker pool lost a worker (or is being rebuilt); retry shortly."""


class ShardUnavailable(VaultError):
    """A gallery shard (vault.cluster) is restarting or unreachable, so an answer
    would miss its templates; nothing was changed, retry shortly."""


class IntegrityError(VaultError):
    """Stored data failed an integrity check (bad header, wrong key, tampering)."""


class StorageError(VaultError):
    """The template store could not complete an operation."""


class StorageUnavailable(StorageError):
    """The store's database cannot be reached right now (e.g. PostgreSQL restarting);
    the next call reconnects. Maps to UNAVAILABLE like every StorageError."""


class ConfigurationError(VaultError):
    """The service was started with settings that cannot work."""
