"""The key catalog: every KEK-wrapped secret of a data directory, by kind.

One record per secret - kind, owner (a collection name or ``"vault"``), slot,
version, blob header and payload (an envelope, or a bare Transit-wrapped data
key) - found through a declared layout per kind, never by sniffing bytes. KEK
rotation, DEK rotation, key status and fsck all iterate :meth:`KeyCatalog.records`,
so a secret added through this module cannot be missed by any of them.

Every stored value is ``BlobHeader + payload``. Data directories written before
the catalog held three kinds without the header (collection data keys, the
pseudonym key, the audit signing key); they are still read, and
:meth:`KeyCatalog.migrate` adds the header (compare-and-swap) once the service
has shown it can open them. Records live in the store's own ``secrets`` table,
one row per secret keyed by (kind, owner, slot), with compare-and-swap
(:meth:`~vault.store.base.TemplateStore.replace_secret`); stores of schema 1 kept
them under metadata prefixes and move them on first start (vault/store/_legacy_secrets.py).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from vault.blob import HEADER_SIZE, BlobHeader, BlobKind, SchemeId
from vault.errors import (
    ConfigurationError,
    IntegrityError,
    KeyServiceError,
    KeyServiceUnavailable,
)
from vault.keys.base import KeyService
from vault.keys.datakey import DataKey
from vault.keys.envelope import open_sealed, replace_wrapped_key, seal_with_new_key, wrapped_key_of
from vault.store.base import SecretRow, TemplateStore
from vault.store.keydata import KeyDataStore

__all__ = [
    "AUDIT_ORIGIN_META",
    "VAULT_OWNER",
    "KeyCatalog",
    "SecretKind",
    "SecretRecord",
    "key_data",
]

log = logging.getLogger(__name__)

VAULT_OWNER = "vault"
#: The audit log's origin, bound into its signing key's associated data.
AUDIT_ORIGIN_META = "audit.log.origin"
_MAX_BARE_WRAPPED = 4096


class SecretKind(enum.Enum):
    """What a wrapped secret is; the value is its name in ``keys status``."""

    CKKS_KEYSET = "ckks-keyset"
    DATA_KEY = "data-key"
    TRANSFORM_SEED = "transform-seed"
    AUDIT_SIGNING_KEY = "audit-signing-key"
    PSEUDONYM_KEY = "pseudonym-key"


@dataclass(frozen=True)
class _Layout:
    per_owner: bool  # owned by a collection, one per slot (else the vault's)
    sealed: bool  # payload is an envelope (else a bare Transit-wrapped data key)
    scheme: SchemeId
    headerless_before: bool  # written without the blob header before the catalog


_LAYOUTS = {
    SecretKind.CKKS_KEYSET: _Layout(False, True, SchemeId.KEYSET, False),
    SecretKind.DATA_KEY: _Layout(True, False, SchemeId.KEYSET, True),
    SecretKind.TRANSFORM_SEED: _Layout(True, True, SchemeId.CANCELABLE, False),
    SecretKind.AUDIT_SIGNING_KEY: _Layout(False, True, SchemeId.KEYSET, True),
    SecretKind.PSEUDONYM_KEY: _Layout(False, False, SchemeId.KEYSET, True),
}


def key_data(store: TemplateStore) -> KeyDataStore:
    """The store's compare-and-swap interface.

    Raises:
        ConfigurationError: The store does not support key rotation.
    """
    if not isinstance(store, KeyDataStore):
        raise ConfigurationError(f"{type(store).__name__} does not support key rotation")
    return store


@dataclass(frozen=True)
class SecretRecord:
    """One stored wrapped secret (safe to log: nothing in it opens without the KEK).

    ``slot`` tells secrets of one kind and owner apart (the DEK or seed version,
    the key set's parameter set); ``version`` is the header's key version.
    """

    kind: SecretKind
    owner: str
    slot: int
    header: BlobHeader
    value: bytes
    wrapped: str  # the KEK-wrapped data key inside the payload
    legacy: bool  # stored without the blob header (before the catalog)

    @property
    def version(self) -> int:
        return self.header.key_version

    @property
    def sealed(self) -> bool:
        """An envelope (resealable under a fresh DEK), not a bare wrapped data key."""
        return _LAYOUTS[self.kind].sealed

    @property
    def payload(self) -> bytes:
        return self.value if self.legacy else self.value[HEADER_SIZE:]


def _refuse(what: str, error: Exception) -> ConfigurationError:
    return ConfigurationError(
        f"the key service cannot unwrap {what}: {error}. "
        "Is the service pointed at the Vault that created it? Nothing was changed."
    )


def _describe(kind: SecretKind, owner: str, slot: int) -> str:
    if kind is SecretKind.DATA_KEY:
        return f"data key version {slot} of collection '{owner}'"
    if kind is SecretKind.TRANSFORM_SEED:
        return f"transform seed of '{owner}' (version {slot})"
    return {
        SecretKind.CKKS_KEYSET: "CKKS key set",
        SecretKind.AUDIT_SIGNING_KEY: "audit signing key",
        SecretKind.PSEUDONYM_KEY: "pseudonymisation key",
    }[kind]


class KeyCatalog:
    """Reads, creates, rewraps and lists the wrapped secrets of one store."""

    def __init__(self, store: TemplateStore, keys: KeyService | None) -> None:
        self._store = store
        self._keys = keys  # None: records can be listed and parsed, not opened

    def _service(self) -> KeyService:
        if self._keys is None:
            raise ConfigurationError("opening a wrapped secret needs the key service")
        return self._keys

    def _aad(self, kind: SecretKind, owner: str, slot: int) -> bytes:
        """The associated data a sealed secret's envelope is bound to."""
        if kind is SecretKind.CKKS_KEYSET:
            return f"biovault/ckks-keyset/v1/params-{slot}".encode()
        if kind is SecretKind.TRANSFORM_SEED:
            return f"biovault/transform-seed/v1/{owner}/{slot}".encode()
        if kind is SecretKind.AUDIT_SIGNING_KEY:
            origin = self._store.get_meta(AUDIT_ORIGIN_META)
            if origin is None:
                raise IntegrityError("the audit signing key is stored without its log origin")
            return b"biovault/audit-signing-key/v1\x00" + origin
        return b""

    # --- reading ---------------------------------------------------------------

    def record(
        self, kind: SecretKind, owner: str = VAULT_OWNER, slot: int = 0
    ) -> SecretRecord | None:
        """The stored record, or None.

        Raises:
            IntegrityError: The stored value is damaged or has the wrong header.
        """
        row = self._store.get_secret(kind.value, owner, slot)
        return None if row is None else self._parse(kind, owner, slot, row.value)

    def _parse(self, kind: SecretKind, owner: str, slot: int, value: bytes) -> SecretRecord:
        layout = _LAYOUTS[kind]
        try:
            header = BlobHeader.unpack(value)
            legacy = False
        except IntegrityError:
            if not layout.headerless_before:
                raise
            header = BlobHeader(layout.scheme, 0, max(slot, 1), BlobKind.WRAPPED_SECRET)
            legacy = True
        if header.kind != BlobKind.WRAPPED_SECRET or header.scheme != layout.scheme:
            raise IntegrityError(f"stored {_describe(kind, owner, slot)} has an unexpected header")
        payload = value if legacy else value[HEADER_SIZE:]
        if layout.sealed:
            wrapped = wrapped_key_of(payload)
        else:
            if not payload.startswith(b"vault:v") or len(payload) > _MAX_BARE_WRAPPED:
                raise IntegrityError(f"stored {_describe(kind, owner, slot)} is not a wrapped key")
            wrapped = payload.decode("ascii", errors="strict")
        return SecretRecord(kind, owner, slot, header, value, wrapped, legacy)

    def records(
        self, kind: SecretKind | None = None, owner: str | None = None
    ) -> list[SecretRecord]:
        """Every stored secret (of ``kind``/``owner`` if given), damaged ones skipped."""
        return [r for r in self._iter(kind, owner) if isinstance(r, SecretRecord)]

    def damaged(self) -> list[tuple[str, str]]:
        """``(owner, why)`` of every stored value in a secret's place that does not parse."""
        return [r for r in self._iter(None, None) if isinstance(r, tuple)]

    def _iter(
        self, kind: SecretKind | None, owner: str | None
    ) -> Iterator[SecretRecord | tuple[str, str]]:
        for each in SecretKind if kind is None else (kind,):
            for row in self._store.list_secrets(each.value, owner):
                where = f"{row.kind} of {row.owner!r} (slot {row.slot})"
                try:
                    yield self._parse(each, row.owner, row.slot, row.value)
                except (IntegrityError, UnicodeDecodeError) as error:
                    yield row.owner, f"{where}: {error}"
        if kind is None:
            known = {each.value for each in SecretKind}
            for row in self._store.list_secrets(None, owner):
                if row.kind not in known:
                    yield row.owner, f"{row.kind} of {row.owner!r}: unknown kind of secret"

    def kek_version(self, record: SecretRecord) -> int:
        """The KEK version that wraps ``record``'s data key."""
        return self._service().wrapped_key_version(record.wrapped)

    # --- the one load-or-create path --------------------------------------------

    def load_or_create(
        self,
        kind: SecretKind,
        owner: str = VAULT_OWNER,
        slot: int = 0,
        *,
        make: Callable[[], bytes] | None = None,
        create: bool = True,
    ) -> tuple[bytes | DataKey, bool]:
        """Open the stored secret, or create, wrap and store a new one.

        Sealed kinds return the (unsafe) plaintext bytes, which ``make`` produces
        for a new secret; wrapped kinds return the :class:`DataKey`.

        Returns:
            The secret and whether it existed before.

        Raises:
            ConfigurationError: The key service cannot unwrap the stored secret
                (another Vault, a deleted KEK); nothing is replaced.
            IntegrityError: The stored value is damaged, or it is missing and
                ``create`` is False.
            KeyServiceUnavailable: The key service cannot be reached.
        """
        layout = _LAYOUTS[kind]
        stored = self.record(kind, owner, slot)
        if stored is not None:
            return self.open(stored), True
        if not create:
            raise IntegrityError(f"the {_describe(kind, owner, slot)} is not stored")
        version = slot if layout.per_owner else 1
        header = BlobHeader(layout.scheme, slot if kind is SecretKind.CKKS_KEYSET else 0,
                            max(version, 1), BlobKind.WRAPPED_SECRET)  # fmt: skip
        secret: bytes | DataKey
        if layout.sealed:
            if make is None:
                raise IntegrityError(f"no way to make a new {_describe(kind, owner, slot)}")
            secret = make()
            payload = seal_with_new_key(self._service(), secret, self._aad(kind, owner, slot))
        else:
            fresh = self._service().generate_data_key()
            secret, payload = fresh.key, fresh.wrapped.encode("ascii")
        self._store.put_secret(
            SecretRow(kind.value, owner, slot, header.key_version, header.pack() + payload)
        )
        log.info("created the %s", _describe(kind, owner, slot))
        return secret, False

    def open(self, record: SecretRecord) -> bytes | DataKey:
        """Unwrap one record (see :meth:`load_or_create` for errors)."""
        keys = self._service()
        try:
            if _LAYOUTS[record.kind].sealed:
                aad = self._aad(record.kind, record.owner, record.slot)
                return open_sealed(keys, record.payload, aad)
            return keys.unwrap_data_key(record.wrapped)
        except KeyServiceUnavailable:
            raise
        except (KeyServiceError, IntegrityError) as error:
            what = _describe(record.kind, record.owner, record.slot)
            if record.kind is SecretKind.TRANSFORM_SEED:
                what = "the " + what
            elif record.kind is not SecretKind.DATA_KEY:
                what = "this data directory's " + what
            raise _refuse(what, error) from error

    # --- changing records ------------------------------------------------------

    def replace(self, record: SecretRecord, header: BlobHeader, payload: bytes) -> bool:
        """Store a new header and payload for ``record`` if it is unchanged (CAS)."""
        row = SecretRow(
            record.kind.value, record.owner, record.slot, header.key_version,
            header.pack() + payload,
        )  # fmt: skip
        return self._store.replace_secret(row, record.value)

    def rewrap(self, record: SecretRecord, new_wrapped: str) -> bool:
        """The same secret with its data key rewrapped by a newer KEK version (CAS)."""
        if _LAYOUTS[record.kind].sealed:
            payload = replace_wrapped_key(record.payload, new_wrapped)
        else:
            payload = new_wrapped.encode("ascii")
        return self.replace(record, record.header, payload)

    def reseal(self, record: SecretRecord) -> bool:
        """Seal a sealed secret again under a fresh DEK (CAS).

        The key set's header version counts its reseals; a transform seed's names
        the seed version and the audit key's stays 1, so those are kept.

        Raises:
            IntegrityError: The stored secret does not open.
            KeyServiceError: The key service refused (KeyServiceUnavailable if unreachable).
        """
        keys = self._service()
        aad = self._aad(record.kind, record.owner, record.slot)
        plaintext = open_sealed(keys, record.payload, aad)
        resealed = seal_with_new_key(keys, plaintext, aad)
        del plaintext
        old = record.header
        counted = old.key_version + (record.kind is SecretKind.CKKS_KEYSET)
        header = BlobHeader(old.scheme, old.params_id, counted, old.kind)
        return self.replace(record, header, resealed)

    def delete(self, kind: SecretKind, owner: str, slot: int) -> None:
        """Remove one stored secret (no error if absent)."""
        self._store.delete_secret(kind.value, owner, slot)

    def migrate(self) -> int:
        """Give every secret stored without the blob header its header (CAS).

        Returns:
            How many records were converted.
        """
        converted = 0
        for record in self.records():
            if record.legacy and self.replace(record, record.header, record.payload):
                converted += 1
        if converted:
            log.info("key catalog: added the blob header to %d stored secret(s)", converted)
        return converted
