"""The small self-describing header every stored blob starts with.

Layout (little-endian, 16 bytes)::

    magic  b"BVLT"   4 bytes
    format u8        header format version (1)
    scheme u8        SchemeId
    params u16       parameter-set id (see vault.he.params)
    key    u32       key version the payload was produced under
    kind   u8        what the payload is (BlobKind)
    pad    3 bytes   zero

Reading the header first lets rotation, migration and mismatch checks run without
guessing and without touching the protected payload.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from vault.errors import IntegrityError

__all__ = [
    "HEADER_SIZE",
    "KEY_VERSION_OFFSET",
    "BlobHeader",
    "BlobKind",
    "SchemeId",
    "split_blob",
]

_MAGIC = b"BVLT"
_FORMAT = 1
_STRUCT = struct.Struct("<4sBBHIB3x")
HEADER_SIZE = _STRUCT.size
#: Offset of the little-endian u32 key version, for readers that see only raw bytes.
KEY_VERSION_OFFSET = struct.calcsize("<4sBBH")


class SchemeId(enum.IntEnum):
    """Protection scheme of a blob's payload."""

    CKKS = 1
    CANCELABLE = 2
    HYBRID = 3
    KEYSET = 10


class BlobKind(enum.IntEnum):
    """What the payload of a blob holds."""

    CIPHERTEXT_BLOCK = 1
    PROTECTED_TEMPLATES = 2
    WRAPPED_SECRET = 3


@dataclass(frozen=True)
class BlobHeader:
    """Parsed header of a stored blob."""

    scheme: SchemeId
    params_id: int
    key_version: int
    kind: BlobKind

    def pack(self) -> bytes:
        return _STRUCT.pack(
            _MAGIC, _FORMAT, int(self.scheme), self.params_id, self.key_version, int(self.kind)
        )

    @classmethod
    def unpack(cls, blob: bytes | memoryview) -> BlobHeader:
        if len(blob) < HEADER_SIZE:
            raise IntegrityError("stored blob is shorter than its header")
        magic, fmt, scheme, params_id, key_version, kind = _STRUCT.unpack_from(blob)
        if magic != _MAGIC or fmt != _FORMAT:
            raise IntegrityError("stored blob has an unknown header")
        try:
            return cls(SchemeId(scheme), params_id, key_version, BlobKind(kind))
        except ValueError as e:
            raise IntegrityError("stored blob names an unknown scheme or kind") from e


def split_blob(blob: bytes | memoryview) -> tuple[BlobHeader, memoryview]:
    """Return the header and a view of the payload that follows it."""
    header = BlobHeader.unpack(blob)
    return header, memoryview(blob)[HEADER_SIZE:]
