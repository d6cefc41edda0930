"""CKKS protection of a collection: coefficient-packed encrypted blocks.

A collection's templates fill blocks of N slots. Enrolling encrypts the new
templates' coordinates as fresh ciphertexts (the shared form of vault.he.secret)
and adds them, residue by residue, to the block's existing ciphertexts (CKKS
addition). Erasing a template adds a uniformly random pad, modulo the prime, to
that template's coefficient of c0 in every ciphertext of its block (ciphertexts
are in coefficient form, so coefficient t of c0 shifts message coefficient t and
nothing else): the coefficient becomes a one-time-padded value that no key can
recover, while the other N-1 templates are untouched. Blocks in the old pair form
(read from v1 storage) take no new templates; they are erased the same way. Slots are never
reused; a block whose last template is erased is dropped outright.

Every method here is pure planning or in-memory work; the core commits plans to the
store and only then applies them, so a failed commit changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vault.he.engine import GalleryEngineFactory, local_engines
from vault.he.gallery import BlockResidues
from vault.he.keyset import CkksKeySet
from vault.he.ring import sample_uniform_mod
from vault.keys.sealing import BlobSealer
from vault.schemes.ckks_blocks import block_is_shared, decode_block, encode_block
from vault.store.base import BlockRecord, CollectionRecord, SubjectRecord
from vault.types import Match

__all__ = ["BlockErasure", "BlockState", "CkksCollection", "EnrollmentPlan", "ErasurePlan"]

log = logging.getLogger(__name__)


@dataclass
class BlockState:
    """Bookkeeping of one block (mirrors BlockRecord without the blob)."""

    next_slot: int
    live: int
    encryptions: int
    subjects: list[str | None]
    shared: bool = True  # False: an old pair-form block, closed to new templates


@dataclass(frozen=True)
class EnrollmentPlan:
    """Blocks and subject rows to commit, plus what to apply in memory afterwards."""

    blocks: tuple[BlockRecord, ...]
    subjects: tuple[SubjectRecord, ...]
    residues: dict[int, BlockResidues]


@dataclass(frozen=True)
class ErasurePlan:
    """How to erase one subject: overwrite its block, or drop it."""

    subject_id: str
    block_no: int
    slot: int
    replacement: BlockRecord | None
    residues: BlockResidues | None


@dataclass(frozen=True)
class BlockErasure:
    """How to erase several subjects of one block at once: one rewrite, or a drop."""

    block_no: int
    subject_ids: tuple[str, ...]
    slots: tuple[int, ...]
    replacement: BlockRecord | None
    residues: BlockResidues | None


@dataclass(frozen=True)
class _LiveColumns:
    """Score columns of a set of blocks: the subject of each ("" if none), the live
    columns and the dead ones (empty or erased slots)."""

    block_nos: tuple[int, ...]
    owners: list[str]
    live: np.ndarray
    dead: np.ndarray


class CkksCollection:
    """In-memory encrypted gallery plus slot map of one CKKS collection."""

    def __init__(
        self,
        keyset: CkksKeySet,
        record: CollectionRecord,
        *,
        sealer: BlobSealer | None = None,
        engines: GalleryEngineFactory | None = None,
    ) -> None:
        self.record = record
        self._keyset = keyset
        # Seals blocks at rest under the collection's data key (None: bare blocks).
        self._sealer = sealer
        self._params = keyset.params
        # In this process by default; a scatter-gather engine (vault.cluster) when wired so.
        self.gallery = (engines or local_engines)(keyset, record.name, record.dim)
        self._blocks: dict[int, BlockState] = {}
        self._live_cache: _LiveColumns | None = None
        self._where: dict[str, tuple[int, int]] = {}

    # --- loading --------------------------------------------------------------
    def load(self, blocks: Iterable[BlockRecord], subjects: Sequence[SubjectRecord]) -> None:
        """Fill memory from stored blocks and subject rows."""
        self._live_cache = None
        degree = self._params.poly_modulus_degree
        live: dict[int, list[int]] = {}
        for subject in subjects:
            live.setdefault(subject.block_no, []).append(subject.slot)
        for block in blocks:
            if self.gallery.holds_residues:
                residues = self._decode(block)
                shared = residues.shared
            else:
                # The shards decode their own blocks: check and open, never unpack, here.
                residues, shared = None, self._is_shared(block)
            self.gallery.load(block.block_no, residues, live.get(block.block_no, []))
            self._blocks[block.block_no] = BlockState(
                block.next_slot,
                block.live,
                block.encryptions,
                [None] * degree,
                shared=shared,
            )
        for subject in subjects:
            self._blocks[subject.block_no].subjects[subject.slot] = subject.subject_id
            self._where[subject.subject_id] = (subject.block_no, subject.slot)

    def _decode(self, block: BlockRecord) -> BlockResidues:
        _, stored = decode_block(
            block.blob,
            dim=self.record.dim,
            degree=self._params.poly_modulus_degree,
            params_id=self._params.params_id,
            prime=self._keyset.prime,
            sealer=self._sealer,
            block_no=block.block_no,
        )
        residues = stored.residues
        if stored.ntt_form:
            # A v1 block as SEAL wrote it: SEAL's inverse NTT, once, per ciphertext.
            assert residues.c1 is not None
            pairs = self._keyset.ntt_to_coefficients(np.stack([residues.c0, residues.c1], 1))
            residues = BlockResidues(pairs[:, 0], c1=pairs[:, 1])
        return residues

    def _is_shared(self, block: BlockRecord) -> bool:
        return block_is_shared(
            block.blob,
            dim=self.record.dim,
            degree=self._params.poly_modulus_degree,
            params_id=self._params.params_id,
            sealer=self._sealer,
            block_no=block.block_no,
        )

    def follow_blocks(
        self, changed: dict[int, BlockRecord | None], subjects: Sequence[SubjectRecord]
    ) -> list[str]:
        """Bring some blocks to their stored state (another front-end changed them):
        ``changed`` maps each block to its stored row (None: dropped), ``subjects`` are
        the live subjects of those blocks. Returns the subject ids added.

        The caller holds the collection's state lock; an engine that holds residues
        gets the stored ones, the shards are told to reload.
        """
        self._live_cache = None
        degree = self._params.poly_modulus_degree
        had = {n for n in changed if n in self._blocks}
        for block_no in changed:
            state = self._blocks.pop(block_no, None)
            for held in state.subjects if state is not None else ():
                if held is not None and self._where.get(held, (-1,))[0] == block_no:
                    del self._where[held]
        live: dict[int, list[int]] = {}
        for subject in subjects:
            live.setdefault(subject.block_no, []).append(subject.slot)
        for block_no, block in changed.items():
            if block is None:
                if block_no in had:
                    self.gallery.drop_block(block_no)
                continue
            if self.gallery.holds_residues:
                residues = self._decode(block)
                shared = residues.shared
                self.gallery.put_live(block_no, residues, live.get(block_no, []))
            else:
                shared = self._is_shared(block)
                follow = self.gallery.follow_store  # type: ignore[attr-defined]
                follow(block_no, live.get(block_no, []))
            self._blocks[block_no] = BlockState(
                block.next_slot, block.live, block.encryptions, [None] * degree, shared=shared
            )
        for subject in subjects:
            self._blocks[subject.block_no].subjects[subject.slot] = subject.subject_id
            self._where[subject.subject_id] = (subject.block_no, subject.slot)
        return [s.subject_id for s in subjects]

    @property
    def size(self) -> int:
        return len(self._where)

    def location(self, subject_id: str) -> tuple[int, int] | None:
        return self._where.get(subject_id)

    # --- enrolment ------------------------------------------------------------
    def plan_enrollment(
        self, subject_ids: Sequence[str], templates: np.ndarray, *, enrolled_at: float
    ) -> EnrollmentPlan:
        """Place and encrypt unit-norm templates (n, dim); nothing changes yet."""
        placements = self._allocate(len(subject_ids))
        degree = self._params.poly_modulus_degree
        scale = float(2**self._params.scale_bits)
        blocks, subjects, residues = [], [], {}
        row = 0
        for index, (block_no, first_slot, count) in enumerate(placements, start=1):
            log.info("encrypting block %d/%d (%d templates)", index, len(placements), count)
            values = np.zeros((self.record.dim, degree))
            values[:, first_slot : first_slot + count] = templates[row : row + count].T
            c0, a = self._keyset.encrypt_block(values, scale)
            fresh = BlockResidues(c0, a=a)
            state = self._blocks.get(block_no)
            if state is not None:
                fresh = self.gallery.block(block_no).add(fresh, self._keyset.prime)
            residues[block_no] = fresh
            blocks.append(
                BlockRecord(
                    collection=self.record.name,
                    block_no=block_no,
                    blob=encode_block(
                        fresh,
                        params_id=self._params.params_id,
                        key_version=self.record.key_version,
                        sealer=self._sealer,
                        block_no=block_no,
                    ),
                    next_slot=first_slot + count,
                    live=(state.live if state else 0) + count,
                    encryptions=(state.encryptions if state else 0) + 1,
                )
            )
            for offset in range(count):
                subjects.append(
                    SubjectRecord(
                        self.record.name,
                        subject_ids[row + offset],
                        block_no,
                        first_slot + offset,
                        self.record.key_version,
                        enrolled_at,
                    )
                )
            row += count
        return EnrollmentPlan(tuple(blocks), tuple(subjects), residues)

    def _allocate(self, count: int) -> list[tuple[int, int, int]]:
        """Split ``count`` new templates into (block_no, first_slot, count) runs."""
        degree = self._params.poly_modulus_degree
        runs: list[tuple[int, int, int]] = []
        last = max(self._blocks, default=-1)
        state = self._blocks.get(last)
        # Only the newest block takes more templates, and only while its noise budget lasts.
        if (
            state
            and state.shared
            and state.next_slot < degree
            and state.encryptions < self._params.max_block_encryptions
        ):
            take = min(count, degree - state.next_slot)
            runs.append((last, state.next_slot, take))
            count -= take
        next_no = last + 1
        while count > 0:
            take = min(count, degree)
            runs.append((next_no, 0, take))
            next_no += 1
            count -= take
        return runs

    def apply_enrollment(self, plan: EnrollmentPlan) -> None:
        """Make a committed enrolment visible to scoring."""
        self._live_cache = None
        degree = self._params.poly_modulus_degree
        for block in plan.blocks:
            state = self._blocks.setdefault(block.block_no, BlockState(0, 0, 0, [None] * degree))
            state.next_slot, state.live, state.encryptions = (
                block.next_slot,
                block.live,
                block.encryptions,
            )
        for subject in plan.subjects:
            self._blocks[subject.block_no].subjects[subject.slot] = subject.subject_id
            self._where[subject.subject_id] = (subject.block_no, subject.slot)
        for block in plan.blocks:
            self.gallery.put_live(
                block.block_no, plan.residues[block.block_no], self._live_slots(block.block_no)
            )

    def _live_slots(self, block_no: int) -> list[int]:
        return [s for s, subject in enumerate(self._blocks[block_no].subjects) if subject]

    # --- erasure --------------------------------------------------------------
    def plan_erasure(self, subject_id: str) -> ErasurePlan:
        """Pad the subject's coefficient with fresh randomness (or drop its block)."""
        [bulk] = self.plan_bulk_erasure([subject_id])
        return ErasurePlan(
            subject_id, bulk.block_no, bulk.slots[0], bulk.replacement, bulk.residues
        )

    def plan_bulk_erasure(self, subject_ids: Sequence[str]) -> list[BlockErasure]:
        """One plan per block touched: pad every listed subject's coefficient in one
        rewrite of the block, or drop the block when no other subject stays in it."""
        by_block: dict[int, list[str]] = {}
        for subject_id in subject_ids:
            by_block.setdefault(self._where[subject_id][0], []).append(subject_id)
        return [self._plan_block_erasure(b, ids) for b, ids in sorted(by_block.items())]

    def _plan_block_erasure(self, block_no: int, subject_ids: list[str]) -> BlockErasure:
        state = self._blocks[block_no]
        slots = tuple(self._where[s][1] for s in subject_ids)
        if state.live == len(set(slots)):
            return BlockErasure(block_no, tuple(subject_ids), slots, None, None)
        prime = self._keyset.prime
        # Exactly uniform pads (rejection sampling from the kernel CSPRNG).
        pads = sample_uniform_mod(prime, self.record.dim * len(slots))
        current = self.gallery.block(block_no)
        c0 = current.c0
        columns = list(slots)
        c0[:, columns] = (c0[:, columns] + pads.reshape(self.record.dim, -1)) % np.uint64(prime)
        residues = BlockResidues(c0, a=current.a, c1=current.c1)
        replacement = BlockRecord(
            self.record.name,
            block_no,
            encode_block(
                residues,
                params_id=self._params.params_id,
                key_version=self.record.key_version,
                sealer=self._sealer,
                block_no=block_no,
            ),
            state.next_slot,
            state.live - len(slots),
            state.encryptions,
        )
        return BlockErasure(block_no, tuple(subject_ids), slots, replacement, residues)

    def apply_bulk_erasure(self, plan: BlockErasure) -> None:
        """Make a committed bulk erasure of one block visible to scoring."""
        self._live_cache = None
        state = self._blocks[plan.block_no]
        for subject_id, slot in zip(plan.subject_ids, plan.slots, strict=True):
            state.subjects[slot] = None
            del self._where[subject_id]
        state.live -= len(plan.slots)
        if plan.residues is None:
            self.gallery.drop_block(plan.block_no)
            del self._blocks[plan.block_no]
        else:
            # Only the padded c0 columns changed: patch them, not the whole block.
            slots = list(plan.slots)
            self.gallery.erase(
                plan.block_no, slots, plan.residues.c0[:, slots], self._live_slots(plan.block_no)
            )

    def apply_erasure(self, plan: ErasurePlan) -> None:
        """Make a committed erasure visible to scoring."""
        self._live_cache = None
        state = self._blocks[plan.block_no]
        state.subjects[plan.slot] = None
        state.live -= 1
        del self._where[plan.subject_id]
        if plan.residues is None:
            self.gallery.drop_block(plan.block_no)
            del self._blocks[plan.block_no]
        else:
            self.gallery.erase(
                plan.block_no,
                [plan.slot],
                plan.residues.c0[:, [plan.slot]],
                self._live_slots(plan.block_no),
            )

    # --- matching -------------------------------------------------------------
    def verify_score(self, subject_id: str, probe: np.ndarray) -> float:
        """Encrypted-domain score of one unit probe against one subject."""
        block_no, slot = self._where[subject_id]
        return self.gallery.score_slot(probe, block_no, slot)

    def _live_columns(self, block_nos: tuple[int, ...]) -> _LiveColumns:
        """Which score columns of ``block_nos`` are live subjects, and whose.

        Rebuilt only after an enrolment or erasure, so that identification does
        no per-template Python work.
        """
        if self._live_cache is None or self._live_cache.block_nos != block_nos:
            degree = self._params.poly_modulus_degree
            owners: list[str] = [""] * (len(block_nos) * degree)
            columns: list[int] = []
            for index, block_no in enumerate(block_nos):
                for slot, subject in enumerate(self._blocks[block_no].subjects):
                    if subject is not None:
                        owners[index * degree + slot] = subject
                        columns.append(index * degree + slot)
            live = np.array(columns, dtype=np.intp)
            dead = np.setdiff1d(np.arange(len(owners), dtype=np.intp), live, assume_unique=True)
            self._live_cache = _LiveColumns(block_nos, owners, live, dead)
        return self._live_cache

    def unsafe_all_scores(self, probes: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Every live subject's decrypted score for each probe (evaluation only:
        :class:`vault.schemes.base.UnsafeScoring`)."""
        result = self.gallery.score(probes)
        live = self._live_columns(result.block_nos)
        return [live.owners[c] for c in live.live], result.scores[:, live.live]

    def identify(self, probes: np.ndarray, top_k: int) -> list[list[Match]]:
        """Top-k live subjects for each unit probe row, best first."""
        rows = self.gallery.top_slots(probes, min(top_k, self.size))
        answers: list[list[Match]] = []
        for row in rows:
            matches = []
            for block_no, slot, score in row:
                state = self._blocks.get(block_no)
                subject = state.subjects[slot] if state is not None else None
                # A slot this process does not know (another front-end's enrolment
                # it has not loaded yet) cannot be named, so it is not reported.
                if subject is not None:
                    matches.append(Match(subject, score))
            answers.append(matches)
        return answers
