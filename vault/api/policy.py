"""Between :class:`~vault.types.CollectionPolicy` and its protobuf message.

Hand-written (not generated): the server's and the SDK's codecs share this one copy.
Knobs are matched by field name, so a new knob needs no edit here. The flat
fields that carried the first knobs before the nested message existed are still
written and read, so older clients and servers keep working.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from google.protobuf.message import Message

from vault.api.v1 import vault_pb2
from vault.types import CollectionPolicy

__all__ = ["LEGACY_POLICY_FIELDS", "decode_policy", "encode_policy", "legacy_policy_fields"]

#: Knobs that ``Collection`` and ``CreateCollectionRequest`` also carry as flat
#: fields (9-12 and 7-10). Frozen: new knobs live only in the nested message.
LEGACY_POLICY_FIELDS: Final = ("retention_seconds", "score_decimals", "max_top_k", "decision_only")


def encode_policy(policy: CollectionPolicy) -> vault_pb2.CollectionPolicy:
    """Every knob of ``policy``, set explicitly."""
    return vault_pb2.CollectionPolicy(**dataclasses.asdict(policy))


def legacy_policy_fields(policy: CollectionPolicy) -> dict[str, Any]:
    """The flat fields for older peers, as message constructor keywords."""
    return {name: getattr(policy, name) for name in LEGACY_POLICY_FIELDS}


def decode_policy(message: Message) -> CollectionPolicy:
    """The policy of a ``Collection`` or ``CreateCollectionRequest``: its nested
    ``policy`` if set, else its flat fields (an older peer); unset knobs keep the
    defaults. Not range-checked here: the core checks what it is asked to store."""
    if message.HasField("policy"):
        nested = message.policy  # type: ignore[attr-defined]
        names = [f.name for f in dataclasses.fields(CollectionPolicy)]
        return CollectionPolicy.of(**{n: getattr(nested, n) for n in names if nested.HasField(n)})
    return CollectionPolicy.of(
        **{n: getattr(message, n) for n in LEGACY_POLICY_FIELDS if _present(message, n)}
    )


def _present(message: Message, name: str) -> bool:
    """Whether a flat field was sent (fields without presence always count)."""
    try:
        return message.HasField(name)
    except ValueError:  # a plain proto3 scalar: no presence to ask about
        return True
