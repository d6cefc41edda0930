"""Stored form of a CKKS block: header + raw NTT residues, sealed at rest.

With a :class:`~vault.keys.sealing.BlobSealer` (every vault started by
``biovault serve``) a block is ``header || AES-GCM(residues)`` under the
collection's data key; the associated data binds collection, block number,
scheme, parameter set and key version, so a block copied to another position or
collection is rejected. The header stays in clear and first. The AEAD layer
wraps the CKKS ciphertexts byte for byte: sealing, opening and resealing never
decrypt a template.

Without a sealer (in-process tools and tests that hold no Vault) the payload is
the bare residues, as before envelope encryption existed; a sealed block is
never accepted there, nor a bare one where a sealer is given.
"""

from __future__ import annotations

import numpy as np

from vault.blob import BlobHeader, BlobKind, SchemeId, split_blob
from vault.errors import IntegrityError
from vault.keys.sealing import BlobSealer, block_blob_id

__all__ = ["block_blob_id", "decode_block", "encode_block"]


def encode_block(
    residues: np.ndarray,
    *,
    params_id: int,
    key_version: int,
    sealer: BlobSealer | None = None,
    block_no: int = -1,
) -> bytes:
    """(dim, 2, N) uint64 residues -> header-prefixed blob, sealed when a sealer is given.

    Args:
        residues: The block's ciphertext residues.
        params_id: CKKS parameter-set id.
        key_version: Key version for an unsealed block (a sealed one names its DEK).
        sealer: The collection's sealer, or None for a bare block.
        block_no: Position of the block (required with a sealer).
    """
    raw = np.ascontiguousarray(residues, dtype="<u8").tobytes()
    if sealer is None:
        header = BlobHeader(SchemeId.CKKS, params_id, key_version, BlobKind.CIPHERTEXT_BLOCK)
        return header.pack() + raw
    if block_no < 0:
        raise ValueError("a sealed block needs its block number")
    return sealer.seal(
        raw,
        scheme=SchemeId.CKKS,
        params_id=params_id,
        kind=BlobKind.CIPHERTEXT_BLOCK,
        blob_id=block_blob_id(block_no),
    )


def decode_block(
    blob: bytes,
    *,
    dim: int,
    degree: int,
    params_id: int,
    prime: int,
    sealer: BlobSealer | None = None,
    block_no: int = -1,
) -> tuple[BlobHeader, np.ndarray]:
    """Check (and open) a stored block; return (header, (dim, 2, N) residues).

    Raises:
        IntegrityError: Wrong scheme, kind, parameter set or size; residues outside
            the modulus; or, when sealed, a failed authentication (moved, swapped,
            tampered, unknown key version).
    """
    header, payload = split_blob(blob)
    if header.scheme != SchemeId.CKKS or header.kind != BlobKind.CIPHERTEXT_BLOCK:
        raise IntegrityError("stored block is not a CKKS ciphertext block")
    if header.params_id != params_id:
        raise IntegrityError(
            f"stored block uses parameter set {header.params_id}, collection uses {params_id}"
        )
    expected = dim * 2 * degree * 8
    if sealer is not None:
        if block_no < 0:
            raise ValueError("a sealed block needs its block number")
        if len(payload) == expected:
            raise IntegrityError(
                f"stored block {block_no} of {sealer.ring.scope!r} is not sealed "
                "(written without envelope encryption)"
            )
        _, opened = sealer.open(blob, blob_id=block_blob_id(block_no))
        payload = memoryview(opened)
    if len(payload) != expected:
        raise IntegrityError("stored block has the wrong size")
    residues = np.frombuffer(payload, dtype="<u8").reshape(dim, 2, degree)
    if (residues >= np.uint64(prime)).any():
        raise IntegrityError("stored block holds residues outside the modulus")
    return header, residues.astype(np.uint64)
