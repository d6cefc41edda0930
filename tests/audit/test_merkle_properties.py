"""Property tests: proofs of the stored tree verify for many sizes; tampered ones never do."""

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from vault.audit.merkle import (
    CompactRange,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from vault.audit.tree import MerkleTree

MAX_SIZE = 600


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(hashlib.sha256(i.to_bytes(4, "big")).digest()) for i in range(n)]


_ALL = _leaves(MAX_SIZE)
_TREE = MerkleTree()
for _h in _ALL:
    _TREE.append(_h)


@st.composite
def size_and_index(draw):
    size = draw(st.integers(1, MAX_SIZE))
    return size, draw(st.integers(0, size - 1))


@st.composite
def two_sizes(draw):
    new = draw(st.integers(1, MAX_SIZE))
    return draw(st.integers(1, new)), new


def _flip(proof: list[bytes], which: int, bit: int) -> list[bytes]:
    changed = bytearray(proof[which])
    changed[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:which], bytes(changed), *proof[which + 1 :]]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 300))
def test_roots_agree_with_the_definition(size):
    """Stored tree, compact range and the recursive definition give the same root."""
    compact = CompactRange()
    for h in _ALL[:size]:
        compact.append(h)
    assert _TREE.root(size) == compact.root() == root_of(_ALL[:size])


@settings(max_examples=400, deadline=None)
@given(size_and_index(), st.data())
def test_inclusion_proofs_verify_and_resist_tampering(case, data):
    """Every audit path verifies; a flipped bit, a dropped hash, another leaf or index
    does not. (The path alone does not bind the size: the signed checkpoint states it.)"""
    size, index = case
    root = _TREE.root(size)
    proof = _TREE.inclusion_proof(index, size)
    assert len(proof) <= (size - 1).bit_length()
    assert verify_inclusion(leaf=_ALL[index], index=index, size=size, proof=proof, root=root)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        assert not verify_inclusion(
            leaf=_ALL[index], index=index, size=size, proof=_flip(proof, which, bit), root=root
        )
        assert not verify_inclusion(
            leaf=_ALL[index], index=index, size=size, proof=proof[:-1], root=root
        )
    other = data.draw(st.integers(0, size - 1))
    if other != index:
        assert not verify_inclusion(
            leaf=_ALL[other], index=index, size=size, proof=proof, root=root
        )
        assert not verify_inclusion(
            leaf=_ALL[index], index=other, size=size, proof=proof, root=root
        )


@settings(max_examples=400, deadline=None)
@given(two_sizes(), st.data())
def test_consistency_proofs_verify_and_resist_tampering(sizes, data):
    """Every consistency proof verifies; flipped bits, other roots or sizes do not."""
    old, new = sizes
    old_root, new_root = _TREE.root(old), _TREE.root(new)
    proof = _TREE.consistency_proof(old, new)
    assert verify_consistency(
        old_size=old, new_size=new, proof=proof, old_root=old_root, new_root=new_root
    )
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        assert not verify_consistency(
            old_size=old,
            new_size=new,
            proof=_flip(proof, which, bit),
            old_root=old_root,
            new_root=new_root,
        )
    if old < new:
        forged = leaf_hash(b"forged")
        assert not verify_consistency(
            old_size=old, new_size=new, proof=proof, old_root=forged, new_root=new_root
        )
        assert not verify_consistency(
            old_size=old, new_size=new, proof=proof, old_root=old_root, new_root=forged
        )
        assert not verify_consistency(
            old_size=new, new_size=old, proof=proof, old_root=new_root, new_root=old_root
        )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=70))
def test_appending_keeps_every_past_root(payloads):
    """After each append, the roots of all earlier sizes are unchanged and consistent."""
    tree, roots = MerkleTree(), []
    for data in payloads:
        tree.append(leaf_hash(data))
        roots.append(tree.root())
    for size, root in enumerate(roots, start=1):
        assert tree.root(size) == root
        assert verify_consistency(
            old_size=size,
            new_size=tree.size,
            proof=tree.consistency_proof(size, tree.size),
            old_root=root,
            new_root=tree.root(),
        )
