"""Stored form of a CKKS block: header + raw NTT residues, and slot bookkeeping."""

from __future__ import annotations

import numpy as np

from vault.blob import HEADER_SIZE, BlobHeader, BlobKind, SchemeId, split_blob
from vault.errors import IntegrityError

__all__ = ["decode_block", "encode_block"]


def encode_block(residues: np.ndarray, *, params_id: int, key_version: int) -> bytes:
    """(dim, 2, N) uint64 residues -> header-prefixed blob."""
    header = BlobHeader(SchemeId.CKKS, params_id, key_version, BlobKind.CIPHERTEXT_BLOCK)
    return header.pack() + np.ascontiguousarray(residues, dtype="<u8").tobytes()


def decode_block(
    blob: bytes, *, dim: int, degree: int, params_id: int, prime: int
) -> tuple[BlobHeader, np.ndarray]:
    """Check a stored block's header and shape; return (header, (dim, 2, N) residues)."""
    header, payload = split_blob(blob)
    if header.scheme != SchemeId.CKKS or header.kind != BlobKind.CIPHERTEXT_BLOCK:
        raise IntegrityError("stored block is not a CKKS ciphertext block")
    if header.params_id != params_id:
        raise IntegrityError(
            f"stored block uses parameter set {header.params_id}, collection uses {params_id}"
        )
    expected = dim * 2 * degree * 8
    if len(blob) - HEADER_SIZE != expected:
        raise IntegrityError("stored block has the wrong size")
    residues = np.frombuffer(payload, dtype="<u8").reshape(dim, 2, degree)
    if (residues >= np.uint64(prime)).any():
        raise IntegrityError("stored block holds residues outside the modulus")
    return header, residues.astype(np.uint64)
