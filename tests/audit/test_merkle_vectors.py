"""Known answers for RFC 6962 hashing, roots and proofs (transparency-dev vectors).

Sources and licences: tests/audit/vectors/SOURCES.md.
"""

import base64
import json
from pathlib import Path

import pytest

from vault.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from vault.audit.tree import MerkleTree

VECTORS = Path(__file__).parent / "vectors"
TREE = json.loads((VECTORS / "rfc6962_tree.json").read_text())
LEAVES = [bytes.fromhex(x) for x in TREE["leaf_inputs"]]
ROOTS = [bytes.fromhex(x) for x in TREE["root_hashes_by_size"]]
INCLUSION_PROBES = json.loads((VECTORS / "transparency_dev_inclusion_probes.json").read_text())
CONSISTENCY_PROBES = json.loads((VECTORS / "transparency_dev_consistency_probes.json").read_text())


def _b64(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


def _tree(n: int) -> MerkleTree:
    tree = MerkleTree()
    for data in LEAVES[:n]:
        tree.append(leaf_hash(data))
    return tree


def test_hasher_known_answers():
    """Empty root, empty leaf, a leaf and a node hash match the reference."""
    answers = TREE["hasher"]
    assert EMPTY_ROOT.hex() == answers["empty_root"]
    assert leaf_hash(b"").hex() == answers["empty_leaf"]
    assert leaf_hash(b"L123456").hex() == answers["leaf_L123456"]
    assert node_hash(b"N123", b"N456").hex() == answers["node_N123_N456"]


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_roots_of_every_size(size):
    """The recursive MTH, the compact range and the stored tree agree with the vectors."""
    hashes = [leaf_hash(x) for x in LEAVES[:size]]
    compact = CompactRange()
    for h in hashes:
        compact.append(h)
    assert root_of(hashes) == ROOTS[size]
    assert compact.root() == ROOTS[size]
    assert _tree(size).root() == ROOTS[size]
    assert _tree(8).root(size) == ROOTS[size]  # past sizes of a bigger tree


def test_every_stored_node_hash():
    """The tree keeps exactly the complete-subtree hashes the vectors list, level by level."""
    tree = _tree(8)
    for level, expected in enumerate(TREE["node_hashes"]):
        width = 1 << level
        got = [tree._range_hash(i * width, (i + 1) * width).hex() for i in range(len(expected))]
        assert got == expected


@pytest.mark.parametrize("vector", TREE["inclusion_proofs"], ids=str)
def test_inclusion_proofs_match(vector):
    """Generated audit paths equal the published ones, and verify."""
    index, size = vector["leaf_index"], vector["tree_size"]
    proof = _tree(8).inclusion_proof(index, size)
    assert [h.hex() for h in proof] == vector["proof"]
    assert verify_inclusion(
        leaf=leaf_hash(LEAVES[index]), index=index, size=size, proof=proof, root=ROOTS[size]
    )


@pytest.mark.parametrize("vector", TREE["consistency_proofs"], ids=str)
def test_consistency_proofs_match(vector):
    """Generated consistency proofs equal the published ones, and verify."""
    old, new = vector["size1"], vector["size2"]
    proof = _tree(8).consistency_proof(old, new)
    assert [h.hex() for h in proof] == vector["proof"]
    assert verify_consistency(
        old_size=old, new_size=new, proof=proof, old_root=ROOTS[old], new_root=ROOTS[new]
    )


@pytest.mark.parametrize("probe", INCLUSION_PROBES["probes"], ids=lambda p: p["source"])
def test_inclusion_probes(probe):
    """Every published inclusion probe (happy paths and mutations) gets the expected verdict."""
    verdict = verify_inclusion(
        leaf=_b64(probe["leafHash"]),
        index=probe["leafIdx"],
        size=probe["treeSize"],
        proof=[_b64(h) for h in probe["proof"] or []],
        root=_b64(probe["root"]),
    )
    assert verdict is not probe["wantErr"]


@pytest.mark.parametrize("probe", CONSISTENCY_PROBES["probes"], ids=lambda p: p["source"])
def test_consistency_probes(probe):
    """Every published consistency probe gets the expected verdict."""
    verdict = verify_consistency(
        old_size=probe["size1"],
        new_size=probe["size2"],
        proof=[_b64(h) for h in probe["proof"] or []],
        old_root=_b64(probe["root1"]),
        new_root=_b64(probe["root2"]),
    )
    assert verdict is not probe["wantErr"]
