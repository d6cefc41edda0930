"""What a gallery shard reads, opened by the shard itself: store, key service, key set.

This is the shard's start-up wiring, so it lives beside the service's
(:mod:`vault.service.bootstrap`): the one room where concrete stores and the
hcvault client meet. vault.cluster only calls ``spec.open()`` on what it is given.

A shard (vault.cluster) runs in a Ray worker process, possibly on another node.
It is handed a :class:`ShardSourceSpec` - where the store is, where the key
service is and which *file* holds the credentials to log in - and opens
everything itself: keys never travel through Ray, and nothing in the spec is a
secret (it is safe for Ray to keep it with the actor's creation task, which it
re-runs on every restart).

The shard only reads: the store is opened read-only and no key is ever created
here (a missing key set or data key is an error: the front-end creates them).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vault.errors import ConfigurationError, IntegrityError
from vault.he.gallery import BlockResidues
from vault.he.keyset import CkksKeySet
from vault.he.params import CkksParams, get_params
from vault.keys.catalog import KeyCatalog, SecretKind
from vault.keys.datakey import DataKey
from vault.keys.dataring import DataKeyRing
from vault.keys.hcvault import RetryPolicy
from vault.keys.hcvault.client import HcVaultKeyService
from vault.keys.hcvault.login import AppRoleLogin, LoginStrategy, TokenLogin
from vault.keys.sealing import BlobSealer
from vault.schemes.ckks_blocks import decode_block
from vault.schemes.hybrid import hybrid_dim
from vault.store.base import CollectionRecord, TemplateStore
from vault.store.factory import StoreLocation, open_store
from vault.types import ProtectionMode

__all__ = ["KeyServiceSpec", "ShardSource", "ShardSourceSpec", "cluster_namespace"]

log = logging.getLogger(__name__)


def cluster_namespace(store: StoreLocation) -> str:
    """The Ray namespace of a store's shards: every front-end of one store shares
    them, two vaults on one Ray cluster never do."""
    where = store.url if store.url else f"sqlite://{store.sqlite_path}"
    return "biovault-" + hashlib.sha256(where.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class KeyServiceSpec:
    """How to reach and log in to the key service - file paths, never secrets.

    Exactly one credential: ``token_file`` (a file holding a token, re-read at
    each start), AppRole (``role_id`` + ``secret_id_file``), or
    ``dev_init_file`` (the embedded development OpenBao's init file, whose root
    token it reads; development only, on the front-end's machine).
    """

    addr: str
    token_file: str | None = None
    role_id: str | None = None
    secret_id_file: str | None = None
    approle_mount: str = "approle"
    dev_init_file: str | None = None
    ca_file: str | None = None
    transit_mount: str = "transit"
    kek_name: str = "biovault-kek"
    timeout: float = 10.0

    def login(self) -> LoginStrategy:
        """The login strategy the credential file names (read now, on the shard's node).

        Raises:
            ConfigurationError: No credential, or its file cannot be read.
        """
        if self.role_id and self.secret_id_file:
            return AppRoleLogin(
                self.role_id, secret_id_file=Path(self.secret_id_file), mount=self.approle_mount
            )
        if self.token_file:
            token = _read_text(Path(self.token_file))
            return TokenLogin(token)
        if self.dev_init_file:
            from vault.keys.hcvault._devstate import InitSecrets

            return TokenLogin(InitSecrets.load(Path(self.dev_init_file)).root_token)
        raise ConfigurationError(
            "shards need a key service credential file: --vault-token-file or AppRole "
            "(--vault-role-id with --vault-secret-id-file); a token given only in the "
            "environment is not passed to shards"
        )

    def open(self) -> HcVaultKeyService:
        """A logged-in key service client."""
        return HcVaultKeyService(
            addr=self.addr,
            login=self.login(),
            transit_mount=self.transit_mount,
            kek_name=self.kek_name,
            ca_file=self.ca_file,
            timeout=self.timeout,
            retry=RetryPolicy(retries=2),
        )


def _read_text(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigurationError(f"cannot read {path}: {e.strerror}") from e
    if not value:
        raise ConfigurationError(f"{path} is empty; expected a key service token")
    return value


@dataclass(frozen=True)
class ShardSourceSpec:
    """Everything a shard needs to open its source; picklable and secret-free.

    ``store`` names the store (SQLite under a data directory, or a PostgreSQL URL
    without a password) and, for PostgreSQL, the *file* holding the role's
    password, read on the shard's node like the key service credential.
    """

    store: StoreLocation
    key_service: KeyServiceSpec
    params_id: int

    def open(self) -> ShardSource:
        """Open the store read-only, log in, unwrap the key set.

        Raises:
            ConfigurationError: No key set stored yet, or a credential is unusable.
            KeyServiceUnavailable: The key service cannot be reached.
        """
        # Read-only, and never the writer lock: the front-ends write, shards follow.
        store = open_store(self.store, read_only=True)
        try:
            keys = self.key_service.open()
            source = ShardSource(store, keys, get_params(self.params_id))
            # A shard lives long: renew its token, log in again (AppRole) when it ends.
            keys.start_token_renewal()
            return source
        except BaseException:
            store.close()
            raise


class ShardSource:
    """A shard's read-only view of the store, with the keys to open its blocks."""

    def __init__(self, store: TemplateStore, keys: HcVaultKeyService, params: CkksParams) -> None:
        self._store = store
        self._keys = keys
        self._catalog = KeyCatalog(store, keys)
        record = self._catalog.record(SecretKind.CKKS_KEYSET, slot=params.params_id)
        if record is None:
            raise ConfigurationError("the store holds no CKKS key set yet (start a front-end)")
        serialized = self._catalog.open(record)
        assert isinstance(serialized, bytes)
        self.keyset = CkksKeySet.unsafe_from_serialized(params, serialized)
        self._sealers: dict[str, BlobSealer] = {}

    def collections(self) -> dict[str, int]:
        """Encrypted collections (ckks, hybrid) and the dimension their engine scores."""
        scored: dict[str, int] = {}
        for record in self._store.list_collections():
            dim = _scored_dim(record)
            if dim is not None:
                scored[record.name] = dim
        return scored

    def live_slots(self, collection: str) -> dict[int, list[int]]:
        """Live slots per block of a collection."""
        live: dict[int, list[int]] = {}
        for subject in self._store.list_subjects(collection):
            live.setdefault(subject.block_no, []).append(subject.slot)
        return live

    def blocks(
        self, collection: str, dim: int, owned: Callable[[int], bool]
    ) -> Iterator[tuple[int, BlockResidues]]:
        """The owned blocks of a collection, opened and decoded, one at a time."""
        for record in self._store.iter_blocks(collection):
            if owned(record.block_no):
                yield record.block_no, self._decode(collection, dim, record.block_no, record.blob)

    def block(self, collection: str, dim: int, block_no: int) -> BlockResidues | None:
        """One block as stored now (None: dropped)."""
        record = self._store.get_block(collection, block_no)
        if record is None:
            return None
        return self._decode(collection, dim, block_no, record.blob)

    def _decode(self, collection: str, dim: int, block_no: int, blob: bytes) -> BlockResidues:
        try:
            return self._decode_with(self._sealer(collection), dim, block_no, blob)
        except IntegrityError:
            # Maybe sealed under a data key version added since (DEK rotation): reload once.
            self._sealers.pop(collection, None)
            return self._decode_with(self._sealer(collection), dim, block_no, blob)

    def _decode_with(
        self, sealer: BlobSealer, dim: int, block_no: int, blob: bytes
    ) -> BlockResidues:
        params = self.keyset.params
        _, stored = decode_block(
            blob,
            dim=dim,
            degree=params.poly_modulus_degree,
            params_id=params.params_id,
            prime=self.keyset.prime,
            sealer=sealer,
            block_no=block_no,
        )
        residues = stored.residues
        if stored.ntt_form:  # a v1 block as SEAL wrote it
            assert residues.c1 is not None
            pairs = self.keyset.ntt_to_coefficients(np.stack([residues.c0, residues.c1], 1))
            residues = BlockResidues(pairs[:, 0], c1=pairs[:, 1])
        return residues

    def _sealer(self, collection: str) -> BlobSealer:
        sealer = self._sealers.get(collection)
        if sealer is None:
            # Never created here: only the front-end makes data keys.
            ring = DataKeyRing(collection)
            for record in self._catalog.records(SecretKind.DATA_KEY, collection):
                key = self._catalog.open(record)
                assert isinstance(key, DataKey)
                ring.add(record.slot, key)
            sealer = self._sealers[collection] = BlobSealer(ring)
        return sealer

    def close(self) -> None:
        """Close the key service client and the store."""
        try:
            self._keys.close()
        finally:
            self._store.close()


def _scored_dim(record: CollectionRecord) -> int | None:
    mode = ProtectionMode(record.mode)
    if mode is ProtectionMode.CKKS:
        return record.dim
    if mode is ProtectionMode.HYBRID:
        return hybrid_dim(record.dim)
    return None
