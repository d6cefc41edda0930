"""The audit log's Ed25519 signing key, kept sealed through the key service.

The 32-byte seed is envelope-encrypted (AES-256-GCM under a fresh DEK that the
Vault Transit KEK wraps) and stored in the store's metadata next to the log's
origin, which the envelope's associated data binds it to. It is unwrapped into
memory only after the service has authenticated to Vault. KEK rotation finds
and rewraps it like every other envelope.
"""

from __future__ import annotations

import logging
import secrets

from vault.audit.note import NoteSigner
from vault.errors import IntegrityError
from vault.keys.base import KeyService
from vault.keys.catalog import AUDIT_ORIGIN_META, KeyCatalog, SecretKind
from vault.store.base import TemplateStore

__all__ = ["AUDIT_ORIGIN_META", "has_audit_signer", "load_or_create_audit_signer"]

log = logging.getLogger(__name__)


def has_audit_signer(store: TemplateStore) -> bool:
    """Whether the store holds an audit signing key (so its log has signed before)."""
    return KeyCatalog(store, None).record(SecretKind.AUDIT_SIGNING_KEY) is not None


def load_or_create_audit_signer(store: TemplateStore, keys: KeyService) -> tuple[NoteSigner, bool]:
    """Unwrap the stored audit signing key, or create, seal and store a new one.

    Returns:
        The signer (its name is the log's origin) and whether it existed before -
        a key that existed has signed checkpoints, so its log must exist too.

    Raises:
        ConfigurationError: The key service cannot unwrap the stored key (another
            Vault, a deleted KEK); nothing is replaced.
        IntegrityError: The stored key or origin is damaged.
        KeyServiceUnavailable: The key service cannot be reached.
    """
    catalog = KeyCatalog(store, keys)
    stored_origin = store.get_meta(AUDIT_ORIGIN_META)
    exists = catalog.record(SecretKind.AUDIT_SIGNING_KEY) is not None
    if exists:
        if stored_origin is None:
            raise IntegrityError("the audit signing key is stored without its log origin")
        origin = stored_origin.decode("utf-8", errors="strict")
    elif stored_origin is None:
        origin = f"biovault.local/audit/{secrets.token_hex(8)}"
        store.put_meta(AUDIT_ORIGIN_META, origin.encode())
    else:  # a crash between the two writes last time: nothing was signed yet
        origin = stored_origin.decode()
    made: list[NoteSigner] = []

    def make() -> bytes:
        log.info("creating the audit log signing key for %s", origin)
        made.append(NoteSigner.generate(origin))
        return made[0].unsafe_seed()

    seed, existed = catalog.load_or_create(SecretKind.AUDIT_SIGNING_KEY, make=make)
    if not existed:
        return made[0], False
    assert isinstance(seed, bytes)
    return NoteSigner.unsafe_from_seed(origin, seed), True
