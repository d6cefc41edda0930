"""Stored form of a CKKS block: header + packed residues, sealed at rest.

The payload has two versions, told apart by its own header (inside the AEAD, so
authenticated with it):

* **v1** (written before the packed format existed): exactly dim * 2 * N
  little-endian u64 residues of SEAL's NTT-form pair ciphertexts, no header.
  Still read; SEAL converts them to coefficient form once, on load.
* **v2**: ``b"CKB2" | form u8 | bits u8 | 0 u16 | dim u32 | degree u32`` then
  the residues bit-packed at 36 bits (vault.he.packing): c0 (dim x N) and then
  either the shared a (N, form 2) or c1 (dim x N, form 1), coefficient form.
  A shared block is (dim + 1) * N * 4.5 bytes: ~2.3 KB per template at d = 512
  against 8 KB for v1.

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

import struct
from dataclasses import dataclass

import numpy as np

from vault.blob import BlobHeader, BlobKind, SchemeId, split_blob
from vault.errors import IntegrityError
from vault.he.gallery import BlockResidues
from vault.he.packing import PACKED_BITS, pack36, packed_size, unpack36
from vault.keys.sealing import BlobSealer, block_blob_id

__all__ = [
    "StoredBlock",
    "block_blob_id",
    "block_is_shared",
    "decode_block",
    "encode_block",
    "encode_block_v1",
]

_V2 = struct.Struct("<4sBBHII")
_V2_MAGIC = b"CKB2"
_FORM_PAIR, _FORM_SHARED = 1, 2


@dataclass(frozen=True)
class StoredBlock:
    """A decoded block: its residues, and whether they are still in SEAL's NTT form
    (v1 blocks; the caller converts them with the key set)."""

    residues: BlockResidues
    ntt_form: bool
    version: int


def _v2_payload(block: BlockResidues) -> bytes:
    dim, degree = block.c0.shape
    form = _FORM_SHARED if block.shared else _FORM_PAIR
    second = block.a if block.a is not None else block.c1
    assert second is not None
    header = _V2.pack(_V2_MAGIC, form, PACKED_BITS, 0, dim, degree)
    return header + pack36(np.concatenate([block.c0.reshape(-1), second.reshape(-1)]))


def encode_block(
    block: BlockResidues,
    *,
    params_id: int,
    key_version: int,
    sealer: BlobSealer | None = None,
    block_no: int = -1,
) -> bytes:
    """A block's residues -> header-prefixed v2 blob, sealed when a sealer is given.

    Args:
        block: The block's ciphertext residues (coefficient form).
        params_id: CKKS parameter-set id.
        key_version: Key version for an unsealed block (a sealed one names its DEK).
        sealer: The collection's sealer, or None for a bare block.
        block_no: Position of the block (required with a sealer).
    """
    return _wrap(_v2_payload(block), params_id, key_version, sealer, block_no)


def encode_block_v1(
    residues: np.ndarray,
    *,
    params_id: int,
    key_version: int,
    sealer: BlobSealer | None = None,
    block_no: int = -1,
) -> bytes:
    """The old format: (dim, 2, N) NTT-form residues as raw u64 (for migration tests)."""
    raw = np.ascontiguousarray(residues, dtype="<u8").tobytes()
    return _wrap(raw, params_id, key_version, sealer, block_no)


def _wrap(
    raw: bytes, params_id: int, key_version: int, sealer: BlobSealer | None, block_no: int
) -> bytes:
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
) -> tuple[BlobHeader, StoredBlock]:
    """Check (and open) a stored block of either version; return (header, block).

    Raises:
        IntegrityError: Wrong scheme, kind, parameter set or size; residues outside
            the modulus; or, when sealed, a failed authentication (moved, swapped,
            tampered, unknown key version).
    """
    header, payload = _open_payload(blob, dim, degree, params_id, sealer, block_no)
    if len(payload) == dim * 2 * degree * 8:
        residues = np.frombuffer(payload, dtype="<u8").reshape(dim, 2, degree).astype(np.uint64)
        _check_range(residues, prime)
        return header, StoredBlock(BlockResidues(residues[:, 0], c1=residues[:, 1]), True, 1)
    return header, StoredBlock(_decode_v2(payload, dim, degree, prime), False, 2)


def block_is_shared(
    blob: bytes,
    *,
    dim: int,
    degree: int,
    params_id: int,
    sealer: BlobSealer | None = None,
    block_no: int = -1,
) -> bool:
    """Whether a stored block is in the shared form (it can take more templates),
    checked and opened like :func:`decode_block` but without unpacking its residues:
    what a front-end whose shards hold the residues needs at start-up.

    Raises:
        IntegrityError: As :func:`decode_block`, except the residue range check.
    """
    _, payload = _open_payload(blob, dim, degree, params_id, sealer, block_no)
    if len(payload) == dim * 2 * degree * 8:
        return False  # v1: pair form
    if len(payload) not in _v2_sizes(dim, degree):
        raise IntegrityError("stored block has the wrong size")
    magic, form, bits, _, stored_dim, stored_degree = _V2.unpack_from(payload)
    if magic != _V2_MAGIC or bits != PACKED_BITS or form not in (_FORM_PAIR, _FORM_SHARED):
        raise IntegrityError("stored block has an unknown format")
    if (stored_dim, stored_degree) != (dim, degree):
        raise IntegrityError("stored block has the wrong size")
    return bool(form == _FORM_SHARED)


def _open_payload(
    blob: bytes,
    dim: int,
    degree: int,
    params_id: int,
    sealer: BlobSealer | None,
    block_no: int,
) -> tuple[BlobHeader, bytes | memoryview]:
    """The header and the (opened) payload of a stored block, checked."""
    header, payload = split_blob(blob)
    if header.scheme != SchemeId.CKKS or header.kind != BlobKind.CIPHERTEXT_BLOCK:
        raise IntegrityError("stored block is not a CKKS ciphertext block")
    if header.params_id != params_id:
        raise IntegrityError(
            f"stored block uses parameter set {header.params_id}, collection uses {params_id}"
        )
    if sealer is None:
        return header, payload
    if block_no < 0:
        raise ValueError("a sealed block needs its block number")
    # Sealing adds a nonce and a tag, so a bare block is recognised by its size.
    if len(payload) in (dim * 2 * degree * 8, *_v2_sizes(dim, degree)):
        raise IntegrityError(
            f"stored block {block_no} of {sealer.ring.scope!r} is not sealed "
            "(written without envelope encryption)"
        )
    _, opened = sealer.open(blob, blob_id=block_blob_id(block_no))
    return header, memoryview(opened)


def _v2_sizes(dim: int, degree: int) -> tuple[int, int]:
    return (
        _V2.size + packed_size(2 * dim * degree),
        _V2.size + packed_size((dim + 1) * degree),
    )


def _check_range(residues: np.ndarray, prime: int) -> None:
    if (residues >= np.uint64(prime)).any():
        raise IntegrityError("stored block holds residues outside the modulus")


def _decode_v2(payload: bytes | memoryview, dim: int, degree: int, prime: int) -> BlockResidues:
    if len(payload) not in _v2_sizes(dim, degree):
        raise IntegrityError("stored block has the wrong size")
    magic, form, bits, _, stored_dim, stored_degree = _V2.unpack_from(payload)
    if magic != _V2_MAGIC or bits != PACKED_BITS or form not in (_FORM_PAIR, _FORM_SHARED):
        raise IntegrityError("stored block has an unknown format")
    if (stored_dim, stored_degree) != (dim, degree):
        raise IntegrityError("stored block has the wrong size")
    rows = dim + 1 if form == _FORM_SHARED else 2 * dim
    body = memoryview(payload)[_V2.size :]
    if len(body) != packed_size(rows * degree):
        raise IntegrityError("stored block has the wrong size")
    residues = unpack36(body, rows * degree).reshape(rows, degree)
    _check_range(residues, prime)
    if form == _FORM_SHARED:
        return BlockResidues(residues[:dim], a=residues[dim])
    return BlockResidues(residues[:dim], c1=residues[dim:])
