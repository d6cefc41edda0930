"""Bit-packing of residues at rest: 36-bit values in 4.5 bytes instead of 8.

Two residues a, b < 2^36 become 9 little-endian bytes: the u64 ``a | b << 36``
(b's low 28 bits) followed by the byte ``b >> 28``. Pure reshaping and shifts, so
packing a block costs a few milliseconds and no Python loop.
"""

from __future__ import annotations

import numpy as np

from vault.errors import IntegrityError

__all__ = ["PACKED_BITS", "pack36", "packed_size", "unpack36"]

PACKED_BITS = 36
_MASK = np.uint64((1 << PACKED_BITS) - 1)


def packed_size(count: int) -> int:
    """Bytes holding ``count`` packed residues (an odd count is padded by one)."""
    return 9 * ((count + 1) // 2)


def pack36(residues: np.ndarray) -> bytes:
    """Pack any-shaped uint64 residues below 2^36 (flattened in C order)."""
    flat = np.ascontiguousarray(residues, dtype=np.uint64).reshape(-1)
    if flat.size % 2:
        flat = np.concatenate([flat, np.zeros(1, np.uint64)])
    if flat.size and int(flat.max()) >> PACKED_BITS:
        raise ValueError("residue does not fit in 36 bits")
    a, b = flat[0::2], flat[1::2]
    out = np.empty((a.size, 9), dtype=np.uint8)
    out[:, :8] = (a | (b << np.uint64(PACKED_BITS))).astype("<u8").view(np.uint8).reshape(-1, 8)
    out[:, 8] = (b >> np.uint64(64 - PACKED_BITS)).astype(np.uint8)
    return out.tobytes()


def unpack36(data: bytes | memoryview, count: int) -> np.ndarray:
    """Inverse of :func:`pack36`: ``count`` uint64 residues."""
    if len(data) != packed_size(count):
        raise IntegrityError("packed residues have the wrong length")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, 9)
    low = np.ascontiguousarray(rows[:, :8]).view("<u8").reshape(-1).astype(np.uint64)
    out = np.empty(2 * len(rows), dtype=np.uint64)
    out[0::2] = low & _MASK
    out[1::2] = (low >> np.uint64(PACKED_BITS)) | (
        rows[:, 8].astype(np.uint64) << np.uint64(64 - PACKED_BITS)
    )
    return out[:count]
