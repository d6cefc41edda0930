"""Property test: any sequence of enrollments, clashes and erasures keeps counts consistent."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.store.records import COLLECTION, collection_record
from vault.errors import AlreadyExists
from vault.store import BlockRecord, SqliteTemplateStore, SubjectRecord

_SLOTS_PER_BLOCK = 3
_ids = st.text(alphabet="abcdefgh", min_size=1, max_size=3)
_blobs = st.binary(min_size=1, max_size=48)


@dataclass
class _ModelBlock:
    blob: bytes
    next_slot: int = 0
    live: int = 0
    encryptions: int = 0
    members: set[str] = field(default_factory=set)


class StoreMachine(RuleBasedStateMachine):
    """Drives a real store and a dict model side by side, slot allocation as the core does it."""

    def __init__(self) -> None:
        super().__init__()
        self.scratch = Path(tempfile.mkdtemp(prefix="store-prop-"))
        self.store = SqliteTemplateStore(self.scratch / "store.db")
        self.subjects: dict[str, tuple[int, int]] = {}
        self.blocks: dict[int, _ModelBlock] = {}
        self.next_block_no = 0

    @initialize()
    def create_collection(self) -> None:
        self.store.create_collection(collection_record())

    def _record(self, block_no: int) -> BlockRecord:
        b = self.blocks[block_no]
        return BlockRecord(COLLECTION, block_no, b.blob, b.next_slot, b.live, b.encryptions)

    @rule(ids=st.lists(_ids, min_size=1, max_size=5, unique=True), blob=_blobs)
    def enroll(self, ids: list[str], blob: bytes) -> None:
        fresh = [i for i in ids if i not in self.subjects]
        touched: set[int] = set()
        placements: list[SubjectRecord] = []
        for subject_id in fresh:
            tail = max(self.blocks, default=None)
            if tail is None or self.blocks[tail].next_slot >= _SLOTS_PER_BLOCK:
                tail = self.next_block_no
                self.next_block_no += 1
                self.blocks[tail] = _ModelBlock(blob=b"")
            b = self.blocks[tail]
            placements.append(SubjectRecord(COLLECTION, subject_id, tail, b.next_slot, 1, 0.0))
            self.subjects[subject_id] = (tail, b.next_slot)
            b.members.add(subject_id)
            b.next_slot += 1
            b.live += 1
            b.encryptions += 1
            b.blob = blob + bytes([b.next_slot])
            touched.add(tail)
        self.store.commit_enrollment(
            COLLECTION, [self._record(n) for n in sorted(touched)], placements
        )

    @precondition(lambda self: bool(self.subjects))
    @rule(data=st.data(), extra=_ids, blob=_blobs)
    def enroll_clash(self, data: st.DataObject, extra: str, blob: bytes) -> None:
        taken = data.draw(st.sampled_from(sorted(self.subjects)))
        ids = [taken] if extra in self.subjects or extra == taken else [extra, taken]
        block_no = self.next_block_no + 100  # never written: the batch must not land
        records = [SubjectRecord(COLLECTION, i, block_no, n, 1, 0.0) for n, i in enumerate(ids)]
        try:
            self.store.commit_enrollment(
                COLLECTION, [BlockRecord(COLLECTION, block_no, blob, 2, 2, 2)], records
            )
        except AlreadyExists:
            return
        raise AssertionError("a clashing enrollment was accepted")

    @precondition(lambda self: bool(self.subjects))
    @rule(data=st.data(), blob=_blobs)
    def erase(self, data: st.DataObject, blob: bytes) -> None:
        subject_id = data.draw(st.sampled_from(sorted(self.subjects)))
        block_no, _ = self.subjects.pop(subject_id)
        b = self.blocks[block_no]
        b.members.discard(subject_id)
        b.live -= 1
        if b.live == 0 and b.next_slot >= _SLOTS_PER_BLOCK:
            del self.blocks[block_no]
            self.store.commit_erasure(COLLECTION, subject_id, replacement=None, drop_block=block_no)
        else:
            b.blob = blob
            self.store.commit_erasure(
                COLLECTION, subject_id, replacement=self._record(block_no), drop_block=None
            )

    @invariant()
    def counts_agree(self) -> None:
        assert self.store.count_subjects(COLLECTION) == len(self.subjects)
        assert self.store.count_blocks(COLLECTION) == len(self.blocks)
        stored = list(self.store.iter_blocks(COLLECTION))
        assert [s.block_no for s in stored] == sorted(self.blocks)
        assert sum(s.live for s in stored) == len(self.subjects)
        for s in stored:
            assert s == self._record(s.block_no)

    @invariant()
    def placements_agree(self) -> None:
        placed = {s.subject_id: (s.block_no, s.slot) for s in self.store.list_subjects(COLLECTION)}
        assert placed == self.subjects

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


StoreMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=15, deadline=None)
TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.__doc__ = "Random enroll/clash/erase sequences keep the store equal to its model."
