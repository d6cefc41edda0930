"""The Python SDK of the vault: typed clients for matching nodes, auditors and key officers.

Usage is in docs/sdk.md. A matching node uses :class:`VaultClient`::

    from vault.client import VaultClient

    with VaultClient("127.0.0.1:50051") as vc:           # TLS: ca_file=, cert_file=, key_file=
        v = vc.verify("faces", "alice", probe, purpose="access")

An auditor uses :class:`ComplianceClient`, a key officer :class:`KeyAdminClient`.
Every result is a frozen value (from :mod:`vault.types` or :mod:`vault.client.results`);
every failed call raises :class:`ClientError`. The package imports only the
generated :mod:`vault.api`, the value types, the error tree and pure transport
helpers, never the service or the core.

Modules:
    channel: TLS keywords, the channel factory, :class:`ClientError`.
    vault: :class:`VaultClient` (collections, enroll, verify, identify, delete, health).
    compliance: :class:`ComplianceClient` (audit log, export, retention, consent).
    keys: :class:`KeyAdminClient` (key status, KEK/DEK rotation, transform keys).
    cluster: :class:`ClusterClient` (where the gallery shards of a Ray-served vault run).
    results: the frozen replies of the administrative services.
    codec, enrollment: the client's half of the wire translation and stream chunking.
"""

from vault.client.channel import DEFAULT_TIMEOUT, ClientError, ClientTls
from vault.client.cluster import ClusterClient
from vault.client.compliance import ComplianceClient
from vault.client.keys import KeyAdminClient
from vault.client.results import (
    CollectionKeys,
    KeyStatus,
    RetentionErasures,
    RotationJournal,
    RotationSummary,
    SecretStatus,
    ShardStatus,
    TransformKeyRenewal,
    TransformKeyStatus,
)
from vault.client.vault import VaultClient
from vault.types import (
    CollectionInfo,
    CollectionPolicy,
    DeleteResult,
    ErasureReceipt,
    Match,
    ProtectionMode,
    VerifyResult,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ClientError",
    "ClientTls",
    "ClusterClient",
    "CollectionInfo",
    "CollectionKeys",
    "CollectionPolicy",
    "ComplianceClient",
    "DeleteResult",
    "ErasureReceipt",
    "KeyAdminClient",
    "KeyStatus",
    "Match",
    "ProtectionMode",
    "RetentionErasures",
    "RotationJournal",
    "RotationSummary",
    "SecretStatus",
    "ShardStatus",
    "TransformKeyRenewal",
    "TransformKeyStatus",
    "VaultClient",
    "VerifyResult",
]
