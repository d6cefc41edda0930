"""The encrypted gallery of one collection, held as raw residues for BLAS scoring.

A block is ``dim`` coordinate ciphertexts over N slots: coefficient t of
coordinate j's message is coordinate j of template t (coefficient packing, in
coefficient form). Only the c0 polynomials are multiplied by the probe: stored as
centred float64 in a (dim, N) column range, a probe's integer vector q~ scores
*every* block at once with one matrix product, column c of ``q~ @ G`` being
sum_j q~_j * c0_{j,c}. Products stay exact (see vault.he.params).

Decryption then needs each block's second part (vault.he.secret):

* **shared** blocks (what the engine writes) keep one polynomial a per block; the
  key set turns sum_j q_j s_j into a spectrum once per probe, and each block adds
  a * that - one FFT product per block and probe;
* **pair** blocks (read from the old format) keep c1 per coordinate, which adds a
  second, smaller product q~ @ C1 per such block.

Either way one decryption per block yields N scores, and stored templates are
never decrypted: only score ciphertexts sum_j q_j ct_j are.

Blocks live in fixed-size chunks of columns so the gallery can grow without
copying, and chunk allocation uses zero pages that cost no memory until written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vault.errors import InvalidArgument
from vault.he.keyset import CkksKeySet
from vault.he.modmath import center, uncenter
from vault.he.params import exact_l1_budget, probe_bits
from vault.he.stages import STAGES
from vault.he.topk import top_columns

__all__ = ["BlockResidues", "EncryptedGallery", "GalleryScores"]

_BLOCKS_PER_CHUNK = 4


@dataclass(frozen=True)
class GalleryScores:
    """Decrypted scores: ``scores[p, i]`` belongs to block ``block_nos[i // N]``, slot ``i % N``."""

    block_nos: tuple[int, ...]
    scores: np.ndarray  # (probes, len(block_nos) * N) float64


@dataclass(frozen=True)
class BlockResidues:
    """A block's ciphertext residues in coefficient form: c0 (dim, N) and either the
    shared a (N,) or the per-coordinate c1 (dim, N), all uint64 in [0, p)."""

    c0: np.ndarray
    a: np.ndarray | None = None
    c1: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.a is None) == (self.c1 is None):
            raise ValueError("a block holds either a shared a or per-coordinate c1")

    @property
    def shared(self) -> bool:
        return self.a is not None

    def add(self, other: BlockResidues, prime: int) -> BlockResidues:
        """Ciphertext addition (both blocks in the same form)."""
        if self.shared != other.shared:
            raise ValueError("cannot add blocks of different forms")
        p = np.uint64(prime)

        def plus(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
            return None if x is None or y is None else (x + y) % p

        c0 = (self.c0 + other.c0) % p
        return BlockResidues(c0, plus(self.a, other.a), plus(self.c1, other.c1))


class EncryptedGallery:
    """Raw-residue view of one collection's encrypted blocks."""

    holds_residues = True  # vault.he.engine.GalleryEngine: the residues live here

    def __init__(
        self, keyset: CkksKeySet, dim: int, *, blocks_per_chunk: int = _BLOCKS_PER_CHUNK
    ) -> None:
        self._keyset = keyset
        self._fft = keyset.fft()
        self._per_chunk = blocks_per_chunk
        self.dim = dim
        self.degree = keyset.params.poly_modulus_degree
        self.prime = keyset.prime
        self.probe_bits = probe_bits(keyset.params, keyset.prime, dim)
        self.score_scale = float(2 ** (keyset.params.scale_bits + self.probe_bits))
        self._chunks: list[np.ndarray] = []
        self._position: dict[int, int] = {}  # block_no -> global block position
        self._free: list[int] = []
        self._a: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # shared: (a, spectrum)
        self._c1: dict[int, np.ndarray] = {}  # pair: centred float64 (dim, N)
        # Live slots per block (engine interface): empty and erased slots are masked.
        self._live: dict[int, np.ndarray] = {}
        self._dead_cache: tuple[tuple[int, ...], np.ndarray] | None = None

    # --- layout ---------------------------------------------------------------
    @staticmethod
    def shared_block_bytes(dim: int, degree: int) -> int:
        """Memory one shared-form block takes here: float64 c0 columns, a, a's spectrum."""
        return dim * degree * 8 + degree * 8 + (degree // 2) * 16

    @property
    def block_nos(self) -> tuple[int, ...]:
        return tuple(sorted(self._position))

    def _columns(self, position: int) -> tuple[np.ndarray, slice]:
        chunk, offset = divmod(position, self._per_chunk)
        return self._chunks[chunk], slice(offset * self.degree, (offset + 1) * self.degree)

    def _allocate(self) -> int:
        if self._free:
            return self._free.pop()
        position = len(self._chunks) * self._per_chunk
        # np.zeros maps untouched pages lazily: unused block columns use no RAM.
        self._chunks.append(np.zeros((self.dim, self._per_chunk * self.degree)))
        self._free.extend(range(position + self._per_chunk - 1, position, -1))
        return position

    # --- mutation -------------------------------------------------------------
    def put(self, block_no: int, block: BlockResidues) -> None:
        """Insert or replace a block."""
        shape = (self.dim, self.degree)
        if block.c0.shape != shape or (block.c1 is not None and block.c1.shape != shape):
            raise ValueError("block residues have the wrong shape")
        if block.a is not None and block.a.shape != (self.degree,):
            raise ValueError("block residues have the wrong shape")
        if block_no not in self._position:
            self._position[block_no] = self._allocate()
        chunk, cols = self._columns(self._position[block_no])
        view = chunk[:, cols]
        # Centre straight into the chunk: no full-size float64 temporary.
        np.copyto(view, block.c0, casting="unsafe")
        np.subtract(view, float(self.prime), out=view, where=view > self.prime // 2)
        self._a.pop(block_no, None)
        self._c1.pop(block_no, None)
        if block.a is not None:
            spectrum = self._fft.forward(center(block.a, self.prime)[None, :])[0]
            self._a[block_no] = (block.a.copy(), spectrum)
        else:
            assert block.c1 is not None
            self._c1[block_no] = center(block.c1, self.prime)

    def put_slots(self, block_no: int, slots: list[int], c0_columns: np.ndarray) -> None:
        """Replace the c0 coefficients of ``slots`` (an erasure's padded columns,
        (dim, len(slots)) uint64) without rewriting the rest of the block."""
        chunk, cols = self._columns(self._position[block_no])
        chunk[:, [cols.start + s for s in slots]] = center(c0_columns, self.prime)

    def put_block(self, block_no: int, residues: np.ndarray) -> None:
        """Insert or replace a pair-form block given as (dim, 2, N) uint64 residues."""
        if residues.shape != (self.dim, 2, self.degree):
            raise ValueError("block residues have the wrong shape")
        self.put(block_no, BlockResidues(residues[:, 0], c1=residues[:, 1]))

    def drop_block(self, block_no: int) -> None:
        """Forget a block and zero its columns."""
        position = self._position.pop(block_no)
        chunk, cols = self._columns(position)
        chunk[:, cols] = 0.0
        self._free.append(position)
        self._a.pop(block_no, None)
        self._c1.pop(block_no, None)
        self._live.pop(block_no, None)
        self._dead_cache = None

    def block(self, block_no: int) -> BlockResidues:
        """Current residues of a block (copies)."""
        chunk, cols = self._columns(self._position[block_no])
        c0 = uncenter(chunk[:, cols], self.prime)
        if block_no in self._a:
            return BlockResidues(c0, a=self._a[block_no][0].copy())
        return BlockResidues(c0, c1=uncenter(self._c1[block_no], self.prime))

    # --- engine interface (vault.he.engine.GalleryEngine) ----------------------
    def set_live(self, block_no: int, live: Sequence[int]) -> None:
        """Which slots of a block hold enrolled templates (the others are masked)."""
        self._live[block_no] = np.asarray(sorted(live), dtype=np.intp)
        self._dead_cache = None

    def load(self, block_no: int, block: BlockResidues | None, live: Sequence[int]) -> None:
        """A stored block read at start-up, with its live slots."""
        if block is None:
            raise ValueError("an in-process gallery needs the block's residues")
        self.put(block_no, block)
        self.set_live(block_no, live)

    def put_live(self, block_no: int, block: BlockResidues, live: Sequence[int]) -> None:
        """Insert or replace a block and its live slots."""
        self.put(block_no, block)
        self.set_live(block_no, live)

    def erase(
        self, block_no: int, slots: Sequence[int], c0_columns: np.ndarray, live: Sequence[int]
    ) -> None:
        """Patch erased slots' c0 columns and record who is left."""
        self.put_slots(block_no, list(slots), c0_columns)
        self.set_live(block_no, live)

    @property
    def live_count(self) -> int:
        """Live slots over every block."""
        return sum(len(v) for v in self._live.values())

    def score_slot(self, probe: np.ndarray, block_no: int, slot: int) -> float:
        """Decrypted score of one unit probe against one slot."""
        return float(self.score_block(probe, block_no)[slot])

    def _dead_columns(self, block_nos: tuple[int, ...]) -> np.ndarray:
        if self._dead_cache is None or self._dead_cache[0] != block_nos:
            mask = np.ones(len(block_nos) * self.degree, dtype=bool)
            for index, block_no in enumerate(block_nos):
                live = self._live.get(block_no)
                if live is not None:
                    mask[index * self.degree + live] = False
            self._dead_cache = (block_nos, np.flatnonzero(mask))
        return self._dead_cache[1]

    def top_slots(self, probes: np.ndarray, k: int) -> list[list[tuple[int, int, float]]]:
        """The ``k`` best live slots per unit probe row, best first: (block, slot, score)."""
        result = self.score(probes)
        with STAGES.timing("top_k"):
            scores = result.scores  # this call's own array
            # Masked in place rather than live columns gathered: a gather copied
            # every score (32 x 1M: ~30 ms per probe).
            scores[:, self._dead_columns(result.block_nos)] = -np.inf
            k = min(k, self.live_count)
            rows: list[list[tuple[int, int, float]]] = []
            for row, columns in enumerate(top_columns(scores, k)):
                blocks, slots = np.divmod(columns, self.degree)
                rows.append(
                    [
                        (result.block_nos[b], int(s), float(scores[row, c]))
                        for b, s, c in zip(blocks, slots, columns, strict=True)
                    ]
                )
            return rows

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
        scores = np.empty((len(q), len(block_nos), self.degree))
        wanted = {self._position[b]: (i, b) for i, b in enumerate(block_nos)}
        secrets = self._probe_secrets(q)
        for chunk_index, chunk in enumerate(self._chunks):
            first = chunk_index * self._per_chunk
            used = [p for p in range(first, first + self._per_chunk) if p in wanted]
            if not used:
                continue
            # Multiply only the column span that holds live blocks of this chunk.
            low, high = (used[0] - first) * self.degree, (used[-1] - first + 1) * self.degree
            with STAGES.timing("product"):
                product = (q @ chunk[:, low:high]).reshape(len(q), -1, self.degree)
            offsets = [p - used[0] for p in used]
            self._decrypt_into(scores, q, secrets, product, offsets, [wanted[p] for p in used])
        return GalleryScores(block_nos, scores.reshape(len(q), -1))

    def score_block(self, probe: np.ndarray, block_no: int) -> np.ndarray:
        """Scores of one probe (dim,) against the N slots of one block."""
        q = self.integer_probes(probe[None, :])
        chunk, cols = self._columns(self._position[block_no])
        product = (q @ chunk[:, cols]).reshape(1, 1, self.degree)
        out = np.empty((1, 1, self.degree))
        self._decrypt_into(out, q, self._probe_secrets(q), product, [0], [(0, block_no)])
        return out[0, 0]

    def _probe_secrets(self, q: np.ndarray) -> np.ndarray | None:
        if not self._a:
            return None
        with STAGES.timing("decryption"):
            return self._keyset.probe_secrets(q, self.dim)

    def _decrypt_into(
        self,
        out: np.ndarray,
        q: np.ndarray,
        secrets: np.ndarray | None,
        product: np.ndarray,
        offsets: list[int],
        targets: list[tuple[int, int]],
    ) -> None:
        """Decrypt the score ciphertexts of ``product[:, offsets]`` into ``out[:, index]``."""
        shared = [(o, i, b) for o, (i, b) in zip(offsets, targets, strict=True) if b in self._a]
        if shared:
            assert secrets is not None
            spectra = np.stack([self._a[b][1] for _, _, b in shared])
            o_first, i_first = shared[0][0], shared[0][1]
            count = len(shared)
            if all(o == o_first + n and i == i_first + n for n, (o, i, _) in enumerate(shared)):
                # Consecutive blocks (the usual case): decrypt views in place, no copies.
                self._keyset.decrypt_shared_products(
                    product[:, o_first : o_first + count],
                    spectra,
                    secrets,
                    self.score_scale,
                    out[:, i_first : i_first + count],
                )
            else:
                out[:, [i for _, i, _ in shared]] = self._keyset.decrypt_shared_products(
                    product[:, [o for o, _, _ in shared]], spectra, secrets, self.score_scale
                )
        for o, (i, b) in zip(offsets, targets, strict=True):
            if b in self._c1:
                with STAGES.timing("product"):
                    c1 = q @ self._c1[b]
                out[:, i] = self._keyset.decrypt_pair_products(product[:, o], c1, self.score_scale)
