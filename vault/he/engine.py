"""What a CKKS collection needs from the engine that holds and scores its blocks.

Two engines implement it: :class:`~vault.he.gallery.EncryptedGallery` (the
residues in this process) and the Ray scatter-gather engine of
:mod:`vault.cluster`, whose shards each hold a share of the blocks in their own
processes. The collection keeps the slot map (who is where); the engine keeps
the residues and which slots are live, and answers scores by (block, slot), so
subject ids never reach a shard. Which engine a vault uses is chosen once, where
the service is wired together (:data:`GalleryEngineFactory`).

Every mutation is reported *after* the store committed it: an engine that holds
no residues itself (the sharded one) may reload the block from the store instead
of using the residues it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from vault.he.gallery import BlockResidues, EncryptedGallery, GalleryScores
from vault.he.keyset import CkksKeySet

__all__ = ["GalleryEngine", "GalleryEngineFactory", "SlotScore", "local_engines"]

#: One candidate of a top-k: (block number, slot, decrypted score).
SlotScore = tuple[int, int, float]


class GalleryEngine(Protocol):
    """Holds a collection's encrypted blocks and scores probes against them."""

    #: False: the engine keeps no residues here (its shards load their own), so the
    #: collection need not decode stored blocks at start-up for it.
    holds_residues: bool

    def load(self, block_no: int, block: BlockResidues | None, live: Sequence[int]) -> None:
        """A stored block read at start-up (None when ``holds_residues`` is False)."""
        ...

    def put_live(self, block_no: int, block: BlockResidues, live: Sequence[int]) -> None:
        """A block written by a committed enrolment (inserted or replaced)."""
        ...

    def erase(
        self, block_no: int, slots: Sequence[int], c0_columns: np.ndarray, live: Sequence[int]
    ) -> None:
        """Slots padded by a committed erasure (their new c0 columns), and who is left."""
        ...

    def drop_block(self, block_no: int) -> None:
        """A block removed by a committed erasure of its last subject."""
        ...

    def block(self, block_no: int) -> BlockResidues:
        """The block's current residues (to plan an enrolment into it or an erasure)."""
        ...

    def score_slot(self, probe: np.ndarray, block_no: int, slot: int) -> float:
        """Decrypted score of one unit probe (dim,) against one slot."""
        ...

    def top_slots(self, probes: np.ndarray, k: int) -> list[list[SlotScore]]:
        """The ``k`` best live slots per unit probe row (P, dim), best first."""
        ...

    def score(self, probes: np.ndarray) -> GalleryScores:
        """Every slot's score (in-process evaluation only; a sharded engine refuses)."""
        ...


#: Makes the engine of one collection: (key set, collection name, scored dimension).
GalleryEngineFactory = Callable[[CkksKeySet, str, int], GalleryEngine]


def local_engines(keyset: CkksKeySet, collection: str, dim: int) -> GalleryEngine:
    """The default: every block's residues in this process."""
    return EncryptedGallery(keyset, dim)
