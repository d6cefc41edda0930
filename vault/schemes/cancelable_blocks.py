"""Stored form of a cancelable block: header + (transform version, rows), sealed at rest.

Payload::

    magic    b"BVCT"   4 bytes
    format   u8 (1)    1 byte, then 3 zero bytes
    version  u32       transform key version every row of the block was made under
    dim      u32
    rows     u32       slots written so far (erased slots hold zeros)
    values   float32   rows x dim, little-endian

With a sealer the payload is AES-GCM-encrypted under the collection's data key and
bound to its block number, exactly like a CKKS block (same blob id), so DEK
rotation re-seals cancelable blocks without knowing what they hold. The protected
rows are keyed rotations of templates with a random salt; without the collection's
transform key they are random-looking unit vectors, and with it they are still
only known up to the salt (see vault.schemes.orbit).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import numpy as np

from vault.blob import BlobHeader, BlobKind, SchemeId, split_blob
from vault.errors import IntegrityError
from vault.schemes.ckks_blocks import block_blob_id

if TYPE_CHECKING:
    from vault.keys.sealing import BlobSealer

__all__ = ["TRANSFORM_PARAMS_ID", "decode_rows", "encode_rows", "rows_blob_id"]

#: Parameter-set id of the orbit transform (signed dihedral salt, float32 rows).
TRANSFORM_PARAMS_ID = 1
_MAGIC = b"BVCT"
_INNER = struct.Struct("<4sB3xIII")


def rows_blob_id(block_no: int) -> str:
    """Blob id bound into a sealed block's associated data: the same as a CKKS
    block's, so DEK rotation re-seals every block of a collection alike."""
    return block_blob_id(block_no)


def encode_rows(
    rows: np.ndarray,
    *,
    version: int,
    scheme: SchemeId = SchemeId.CANCELABLE,
    sealer: BlobSealer | None = None,
    block_no: int,
) -> bytes:
    """(n, dim) protected rows of one transform version -> header-prefixed blob."""
    count, dim = rows.shape
    payload = (
        _INNER.pack(_MAGIC, 1, version, dim, count)
        + np.ascontiguousarray(rows, dtype="<f4").tobytes()
    )
    if sealer is None:
        header = BlobHeader(scheme, TRANSFORM_PARAMS_ID, version, BlobKind.PROTECTED_TEMPLATES)
        return header.pack() + payload
    return sealer.seal(
        payload,
        scheme=scheme,
        params_id=TRANSFORM_PARAMS_ID,
        kind=BlobKind.PROTECTED_TEMPLATES,
        blob_id=rows_blob_id(block_no),
    )


def decode_rows(
    blob: bytes,
    *,
    dim: int,
    scheme: SchemeId = SchemeId.CANCELABLE,
    sealer: BlobSealer | None = None,
    block_no: int,
) -> tuple[int, np.ndarray]:
    """Check (and open) a stored block; return (transform version, (n, dim) float32 rows).

    Raises:
        IntegrityError: Wrong scheme, kind, parameter set, dimension or size, or a
            sealed block that fails authentication.
    """
    header, payload = split_blob(blob)
    if header.scheme != scheme or header.kind != BlobKind.PROTECTED_TEMPLATES:
        raise IntegrityError("stored block is not a cancelable template block")
    if header.params_id != TRANSFORM_PARAMS_ID:
        raise IntegrityError(f"stored block uses unknown transform parameters {header.params_id}")
    data: bytes | memoryview = payload
    if sealer is not None:
        if len(payload) >= _INNER.size and bytes(payload[:4]) == _MAGIC:
            raise IntegrityError(f"stored block {block_no} is not sealed")
        _, data = sealer.open(blob, blob_id=rows_blob_id(block_no))
    if len(data) < _INNER.size:
        raise IntegrityError("stored block is truncated")
    magic, fmt, version, stored_dim, count = _INNER.unpack_from(data)
    if magic != _MAGIC or fmt != 1 or version < 1:
        raise IntegrityError("stored block has an unknown payload format")
    if stored_dim != dim or len(data) != _INNER.size + 4 * count * dim:
        raise IntegrityError("stored block has the wrong size")
    rows = np.frombuffer(data, dtype="<f4", offset=_INNER.size).reshape(count, dim)
    if not np.isfinite(rows).all():
        raise IntegrityError("stored block holds non-finite values")
    return version, rows.astype(np.float32)
