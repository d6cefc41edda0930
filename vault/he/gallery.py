"""The encrypted gallery of one collection, held as raw residues for BLAS scoring.

A block is ``dim`` ciphertexts (one per template coordinate), each two polynomials
of N residues modulo the data prime p; coefficient t of ciphertext j encrypts
coordinate j of the template in slot t. Stored as centred float64 in a
(dim, 2N) column range, a probe's integer vector q~ scores *every* block at once
with one matrix product: column c of ``q~ @ G`` is sum_j q~_j * c_{j,c}, i.e. the
residues of the ciphertext sum_j q~_j * ct_j, whose coefficient t decrypts to
<q, x_t> * Delta * 2^s. Products stay exact (see vault.he.params), so the result is
reduced mod p and handed to SEAL for decryption - one decryption per block yields
N scores. Stored templates are never decrypted.

Blocks live in fixed-size chunks of columns so the gallery can grow without
copying, and chunk allocation uses zero pages that cost no memory until written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vault.errors import InvalidArgument
from vault.he.keyset import CkksKeySet
from vault.he.modmath import center, reduce_exact
from vault.he.params import exact_l1_budget, probe_bits
from vault.he.stages import STAGES

__all__ = ["EncryptedGallery", "GalleryScores"]

_BLOCKS_PER_CHUNK = 4


@dataclass(frozen=True)
class GalleryScores:
    """Decrypted scores: ``scores[p, i]`` belongs to block ``block_nos[i // N]``, slot ``i % N``."""

    block_nos: tuple[int, ...]
    scores: np.ndarray  # (probes, len(block_nos) * N) float64


class EncryptedGallery:
    """Raw-residue view of one collection's encrypted blocks."""

    def __init__(
        self, keyset: CkksKeySet, dim: int, *, blocks_per_chunk: int = _BLOCKS_PER_CHUNK
    ) -> None:
        self._keyset = keyset
        self._per_chunk = blocks_per_chunk
        self.dim = dim
        self.degree = keyset.params.poly_modulus_degree
        self.prime = keyset.prime
        self.probe_bits = probe_bits(keyset.params, keyset.prime, dim)
        self.score_scale = float(2 ** (keyset.params.scale_bits + self.probe_bits))
        self._chunks: list[np.ndarray] = []
        self._position: dict[int, int] = {}  # block_no -> global block position
        self._free: list[int] = []

    # --- layout ---------------------------------------------------------------
    @property
    def block_nos(self) -> tuple[int, ...]:
        return tuple(sorted(self._position))

    def _columns(self, position: int) -> tuple[np.ndarray, slice]:
        chunk, offset = divmod(position, self._per_chunk)
        width = 2 * self.degree
        return self._chunks[chunk], slice(offset * width, (offset + 1) * width)

    def _allocate(self) -> int:
        if self._free:
            return self._free.pop()
        position = len(self._chunks) * self._per_chunk
        # np.zeros maps untouched pages lazily: unused block columns use no RAM.
        self._chunks.append(np.zeros((self.dim, self._per_chunk * 2 * self.degree)))
        self._free.extend(range(position + self._per_chunk - 1, position, -1))
        return position

    # --- mutation -------------------------------------------------------------
    def put_block(self, block_no: int, residues: np.ndarray) -> None:
        """Insert or replace a block given as (dim, 2, N) uint64 residues."""
        if residues.shape != (self.dim, 2, self.degree):
            raise ValueError("block residues have the wrong shape")
        if block_no not in self._position:
            self._position[block_no] = self._allocate()
        chunk, cols = self._columns(self._position[block_no])
        chunk[:, cols] = center(residues.reshape(self.dim, 2 * self.degree), self.prime)

    def drop_block(self, block_no: int) -> None:
        """Forget a block and zero its columns."""
        position = self._position.pop(block_no)
        chunk, cols = self._columns(position)
        chunk[:, cols] = 0.0
        self._free.append(position)

    def block_residues(self, block_no: int) -> np.ndarray:
        """Current (dim, 2, N) uint64 residues of a block."""
        chunk, cols = self._columns(self._position[block_no])
        values = chunk[:, cols].copy()
        values[values < 0] += self.prime
        return values.astype(np.uint64).reshape(self.dim, 2, self.degree)

    # --- scoring --------------------------------------------------------------
    def integer_probes(self, probes: np.ndarray) -> np.ndarray:
        """Quantise unit-norm probes (P, dim) to the exact integer vectors q~."""
        scaled = np.rint(probes * float(2**self.probe_bits))
        if np.any(np.abs(scaled).sum(axis=1) > exact_l1_budget(self.prime)):
            raise InvalidArgument("probe must be L2-normalised before scoring")
        return scaled

    def score(self, probes: np.ndarray) -> GalleryScores:
        """Scores of every probe row against every slot of every block."""
        block_nos = self.block_nos
        if not block_nos:
            return GalleryScores((), np.empty((len(probes), 0)))
        q = self.integer_probes(probes)
        width = 2 * self.degree
        residues = np.empty((len(q), len(block_nos), 2, self.degree), dtype=np.uint64)
        wanted = {self._position[b]: i for i, b in enumerate(block_nos)}
        for chunk_index, chunk in enumerate(self._chunks):
            first = chunk_index * self._per_chunk
            used = [p for p in range(first, first + self._per_chunk) if p in wanted]
            if not used:
                continue
            # Multiply only the column span that holds live blocks of this chunk.
            low, high = (used[0] - first) * width, (used[-1] - first + 1) * width
            with STAGES.timing("product"):
                raw = q @ chunk[:, low:high]
            with STAGES.timing("reduction"):
                product = reduce_exact(raw, self.prime)
            del raw
            for position in used:
                offset = (position - first) * width - low
                residues[:, wanted[position]] = product[:, offset : offset + width].reshape(
                    len(q), 2, self.degree
                )
        return GalleryScores(block_nos, self._decrypt(residues))

    def score_block(self, probe: np.ndarray, block_no: int) -> np.ndarray:
        """Scores of one probe (dim,) against the N slots of one block."""
        q = self.integer_probes(probe[None, :])
        chunk, cols = self._columns(self._position[block_no])
        product = reduce_exact(q @ chunk[:, cols], self.prime)
        return self._decrypt(product.reshape(1, 1, 2, self.degree))[0]

    def _decrypt(self, residues: np.ndarray) -> np.ndarray:
        probes, blocks = residues.shape[:2]
        flat = residues.reshape(probes * blocks, 2, self.degree)
        scores = self._keyset.decrypt_coefficients(flat, self.score_scale)
        return scores.reshape(probes, blocks * self.degree)
