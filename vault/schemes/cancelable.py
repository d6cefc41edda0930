"""Cancelable protection of a collection: salted keyed rotations, matched by FFT.

Each template is stored as ``g Q_v x`` (see :mod:`vault.schemes.orbit`): Q_v is the
collection's keyed rotation for transform key version v, g a random signed-dihedral
element drawn at enrolment and forgotten. A block holds up to ``BLOCK_ROWS`` rows of
one key version; a new version starts a new block, so renewal never rewrites old
blocks. Old-version templates keep matching (probes are rotated with each live
version's key) until they are re-enrolled or revoked; a template never matches a
probe rotated under another version's key. With an embedding profile
(:mod:`vault.schemes.profile`) templates and probes are whitened before Q_v, so the
orbit members look alike to an attacker's population model and scores are
cosines of whitened templates.

Same planning discipline as :class:`vault.schemes.ckks.CkksCollection`: ``plan_*``
compute what to commit without changing memory; ``apply_*`` runs after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vault.blob import SchemeId
from vault.schemes.base import TransformKeys
from vault.schemes.cancelable_blocks import decode_rows, encode_rows
from vault.schemes.orbit import apply_group, max_correlation, random_salt, spectra
from vault.schemes.ranking import top_k_matches
from vault.store.base import BlockRecord, CollectionRecord, SubjectRecord
from vault.types import Match

if TYPE_CHECKING:
    from vault.keys.sealing import BlobSealer
    from vault.schemes.profile import EmbeddingProfile

__all__ = [
    "BLOCK_ROWS",
    "CancelableCollection",
    "RowsEnrollmentPlan",
    "RowsErasurePlan",
    "top_k_matches",
]

log = logging.getLogger(__name__)

#: Templates per stored block (2 MiB at d = 512): erasure rewrites one block.
BLOCK_ROWS = 1024


@dataclass
class _Block:
    version: int
    rows: np.ndarray  # (written, dim) float32 protected rows; erased rows are zero
    spectra: np.ndarray  # (written, dim//2 + 1) complex64
    subjects: list[str | None] = field(default_factory=list)

    @property
    def live(self) -> int:
        return sum(subject is not None for subject in self.subjects)


@dataclass(frozen=True)
class RowsEnrollmentPlan:
    """Blocks and subject rows to commit, and the blocks to show afterwards."""

    blocks: tuple[BlockRecord, ...]
    subjects: tuple[SubjectRecord, ...]
    states: dict[int, _Block]


@dataclass(frozen=True)
class RowsErasurePlan:
    """How to erase one subject: rewrite its block with a zero row, or drop it."""

    subject_id: str
    block_no: int
    slot: int
    replacement: BlockRecord | None
    state: _Block | None


class CancelableCollection:
    """In-memory protected rows plus slot map of one cancelable collection."""

    scheme = SchemeId.CANCELABLE

    def __init__(
        self,
        record: CollectionRecord,
        keys: TransformKeys,
        *,
        sealer: BlobSealer | None = None,
        profile: EmbeddingProfile | None = None,
    ) -> None:
        self.record = record
        self.transform_keys = keys
        self.profile = profile
        self._sealer = sealer
        self._blocks: dict[int, _Block] = {}
        # Live slots of each block, rebuilt only after a change (no per-query loops).
        self._live_cache: dict[int, tuple[np.ndarray, list[str]]] | None = None
        self._where: dict[str, tuple[int, int]] = {}

    # --- loading --------------------------------------------------------------
    def load(self, blocks: Iterable[BlockRecord], subjects: Sequence[SubjectRecord]) -> None:
        """Fill memory from stored blocks and subject rows."""
        self._live_cache = None
        for block in blocks:
            version, rows = decode_rows(
                block.blob,
                dim=self.record.dim,
                scheme=self.scheme,
                sealer=self._sealer,
                block_no=block.block_no,
            )
            self.transform_keys.matrix(version)  # fail at start-up, not at the first probe
            self._blocks[block.block_no] = _Block(version, rows, spectra(rows), [None] * len(rows))
        for subject in subjects:
            self._blocks[subject.block_no].subjects[subject.slot] = subject.subject_id
            self._where[subject.subject_id] = (subject.block_no, subject.slot)

    @property
    def size(self) -> int:
        return len(self._where)

    def location(self, subject_id: str) -> tuple[int, int] | None:
        return self._where.get(subject_id)

    def version_of(self, subject_id: str) -> int:
        """Transform key version a subject was enrolled under."""
        return self._blocks[self._where[subject_id][0]].version

    def counts_by_version(self) -> dict[int, int]:
        """Live templates per transform key version."""
        counts: dict[int, int] = {}
        for block in self._blocks.values():
            counts[block.version] = counts.get(block.version, 0) + block.live
        return {v: n for v, n in sorted(counts.items()) if n}

    def subjects_before(self, version: int) -> list[str]:
        """Subjects enrolled under a transform key version older than ``version``."""
        return sorted(s for s in self._where if self.version_of(s) < version)

    # --- enrolment ------------------------------------------------------------
    def _rotated(self, units: np.ndarray, version: int) -> np.ndarray:
        """Q_v applied to the (whitened, if the collection has a profile) unit rows."""
        whitened = units if self.profile is None else self.profile.apply(units)
        return self.transform_keys.matrix(version).apply(whitened)

    def protect(self, templates: np.ndarray, version: int) -> np.ndarray:
        """Unit templates -> stored rows under ``version`` (fresh random salt each)."""
        rotated = self._rotated(templates, version)
        return apply_group(rotated, *random_salt(len(rotated), rotated.shape[1]))

    def plan_enrollment(
        self, subject_ids: Sequence[str], templates: np.ndarray, *, enrolled_at: float
    ) -> RowsEnrollmentPlan:
        """Protect unit-norm templates (n, dim) and place them; nothing changes yet."""
        version = self.transform_keys.current_version()
        protected = self.protect(templates, version).astype(np.float32)
        blocks: list[BlockRecord] = []
        subjects: list[SubjectRecord] = []
        states: dict[int, _Block] = {}
        row = 0
        for block_no, first, count in self._allocate(len(subject_ids), version):
            old = self._blocks.get(block_no)
            rows = protected[row : row + count]
            if old is not None:
                rows = np.concatenate([old.rows, rows])
            names = (old.subjects if old else []) + list(subject_ids[row : row + count])
            states[block_no] = _Block(version, rows, spectra(rows), names)
            blocks.append(self._record(block_no, states[block_no]))
            subjects.extend(
                SubjectRecord(
                    self.record.name,
                    subject_ids[row + i],
                    block_no,
                    first + i,
                    version,
                    enrolled_at,
                )
                for i in range(count)
            )
            row += count
        return RowsEnrollmentPlan(tuple(blocks), tuple(subjects), states)

    def _allocate(self, count: int, version: int) -> list[tuple[int, int, int]]:
        runs: list[tuple[int, int, int]] = []
        last = max(self._blocks, default=-1)
        state = self._blocks.get(last)
        if state is not None and state.version == version and len(state.rows) < BLOCK_ROWS:
            take = min(count, BLOCK_ROWS - len(state.rows))
            runs.append((last, len(state.rows), take))
            count -= take
        next_no = last + 1
        while count > 0:
            take = min(count, BLOCK_ROWS)
            runs.append((next_no, 0, take))
            next_no, count = next_no + 1, count - take
        return runs

    def _record(self, block_no: int, state: _Block) -> BlockRecord:
        blob = encode_rows(
            state.rows,
            version=state.version,
            scheme=self.scheme,
            sealer=self._sealer,
            block_no=block_no,
        )
        return BlockRecord(self.record.name, block_no, blob, len(state.rows), state.live, 1)

    def apply_enrollment(self, plan: RowsEnrollmentPlan) -> None:
        """Make a committed enrolment visible to matching."""
        self._live_cache = None
        self._blocks.update(plan.states)
        for subject in plan.subjects:
            self._where[subject.subject_id] = (subject.block_no, subject.slot)

    # --- erasure --------------------------------------------------------------
    def plan_erasure(self, subject_id: str) -> RowsErasurePlan:
        """Zero the subject's row (the store overwrites the old bytes) or drop its block."""
        block_no, slot = self._where[subject_id]
        old = self._blocks[block_no]
        if old.live == 1:
            return RowsErasurePlan(subject_id, block_no, slot, None, None)
        rows = old.rows.copy()
        rows[slot] = 0.0
        names = list(old.subjects)
        names[slot] = None
        state = _Block(old.version, rows, spectra(rows), names)
        return RowsErasurePlan(subject_id, block_no, slot, self._record(block_no, state), state)

    def apply_erasure(self, plan: RowsErasurePlan) -> None:
        """Make a committed erasure visible to matching."""
        self._live_cache = None
        del self._where[plan.subject_id]
        if plan.state is None:
            del self._blocks[plan.block_no]
        else:
            self._blocks[plan.block_no] = plan.state

    # --- matching -------------------------------------------------------------
    def _probe_spectra(self, probes: np.ndarray, versions: Iterable[int]) -> dict[int, np.ndarray]:
        return {v: spectra(self._rotated(probes, v)) for v in set(versions)}

    def verify_score(self, subject_id: str, probe: np.ndarray) -> float:
        """Best-alignment score of one unit probe against one subject's stored row."""
        block_no, slot = self._where[subject_id]
        block = self._blocks[block_no]
        probe_spectra = self._probe_spectra(probe[None, :], [block.version])[block.version]
        return float(
            max_correlation(probe_spectra, block.spectra[slot : slot + 1], self.record.dim)[0, 0]
        )

    def _live_slots(self) -> dict[int, tuple[np.ndarray, list[str]]]:
        """Per block: live slot numbers and their subject ids."""
        if self._live_cache is None:
            self._live_cache = {}
            for block_no, block in self._blocks.items():
                slots = [i for i, subject in enumerate(block.subjects) if subject is not None]
                ids = [str(block.subjects[i]) for i in slots]
                self._live_cache[block_no] = (np.array(slots, dtype=np.intp), ids)
        return self._live_cache

    def unsafe_all_scores(self, probes: np.ndarray) -> tuple[list[str], np.ndarray]:
        """Every live subject's score for each unit probe row (evaluation only:
        :class:`vault.schemes.base.UnsafeScoring`)."""
        return self._all_scores(probes)

    def _all_scores(self, probes: np.ndarray) -> tuple[list[str], np.ndarray]:
        by_version = self._probe_spectra(probes, (b.version for b in self._blocks.values()))
        ids: list[str] = []
        columns = []
        for block_no in sorted(self._blocks):
            block = self._blocks[block_no]
            live, live_ids = self._live_slots()[block_no]
            if not live_ids:
                continue
            scores = max_correlation(
                by_version[block.version], block.spectra[live], self.record.dim
            )
            ids.extend(live_ids)
            columns.append(scores)
        if not columns:
            return [], np.empty((len(probes), 0))
        return ids, np.concatenate(columns, axis=1)

    def identify(self, probes: np.ndarray, top_k: int) -> list[list[Match]]:
        """Top-k live subjects for each unit probe row, best first."""
        ids, scores = self._all_scores(probes)
        return top_k_matches(ids, scores, top_k)
