"""An append-only RFC 6962 Merkle tree that answers proofs for any past size.

Every complete (perfect, aligned) subtree hash is kept, level by level, in one
contiguous ``bytearray`` per level - about 64 bytes per leaf in all. A subtree hash
of any range is then O(log n) node hashes, and so is every inclusion or
consistency proof, for the current tree or any earlier size of it.
"""

from __future__ import annotations

from vault.audit.merkle import EMPTY_ROOT, HASH_SIZE, node_hash, split_point

__all__ = ["MerkleTree"]


class MerkleTree:
    """Leaf hashes in, roots and proofs out. Not thread-safe: the log locks it."""

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        # _levels[h] holds the hashes of the complete subtrees of 2**h leaves.
        self._levels: list[bytearray] = [bytearray()]

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0]) // HASH_SIZE

    def append(self, leaf: bytes) -> int:
        """Add a leaf hash; returns its index."""
        if len(leaf) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        index = self.size
        self._levels[0] += leaf
        level, position = 0, index
        while position & 1:  # this node completed a pair: its parent is now complete
            left = self._hash_at(level, position - 1)
            right = self._hash_at(level, position)
            level += 1
            if level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[level] += node_hash(left, right)
            position >>= 1
        return index

    def leaf(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        self._check_range(index, index + 1)
        return self._hash_at(0, index)

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (all of them by default)."""
        size = self.size if size is None else size
        self._check_range(0, size)
        return EMPTY_ROOT if size == 0 else self._range_hash(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 6962 audit path of leaf ``index`` in the tree of the first ``size``."""
        self._check_range(0, size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        proof: list[bytes] = []
        start, end, m = 0, size, index
        while end - start > 1:
            k = split_point(end - start)
            if m < k:
                proof.append(self._range_hash(start + k, end))
                end = start + k
            else:
                proof.append(self._range_hash(start, start + k))
                start, m = start + k, m - k
        proof.reverse()  # the path is listed from the leaf upwards
        return proof

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 6962 consistency proof from the first ``old_size`` leaves to the
        first ``new_size`` (empty when the sizes are equal or ``old_size`` is 0)."""
        self._check_range(0, new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError(f"cannot prove {old_size} leaves consistent with {new_size}")
        if old_size in (0, new_size):
            return []
        proof: list[bytes] = []
        start, end, m, complete = 0, new_size, old_size, True
        while True:
            n = end - start
            if m == n:
                if not complete:
                    proof.append(self._range_hash(start, end))
                break
            k = split_point(n)
            if m <= k:
                proof.append(self._range_hash(start + k, end))
                end = start + k
            else:
                proof.append(self._range_hash(start, start + k))
                start, m, complete = start + k, m - k, False
        proof.reverse()
        return proof

    # --- internals ------------------------------------------------------------
    def _check_range(self, start: int, end: int) -> None:
        if not 0 <= start <= end <= self.size:
            raise ValueError(f"range [{start}, {end}) is outside a tree of {self.size} leaves")

    def _hash_at(self, level: int, position: int) -> bytes:
        offset = position * HASH_SIZE
        return bytes(self._levels[level][offset : offset + HASH_SIZE])

    def _range_hash(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end); ``end - start`` >= 1."""
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:  # a complete, aligned subtree: stored
            return self._hash_at(n.bit_length() - 1, start // n)
        k = split_point(n)
        return node_hash(self._range_hash(start, start + k), self._range_hash(start + k, end))
