"""BlobSealer: AEAD sealing of stored blobs bound to scope, blob id and header."""

from __future__ import annotations

import os
import pickle

import pytest

from vault.blob import HEADER_SIZE, BlobHeader, BlobKind, SchemeId
from vault.errors import IntegrityError, InvalidArgument
from vault.keys.datakey import DataKey
from vault.keys.dataring import DataKeyRing
from vault.keys.sealing import SEAL_OVERHEAD, BlobSealer

# Built once from the layout documented in vault/keys/sealing.py with AES-GCM directly:
# key = bytes(range(32)), nonce = bytes(range(100, 112)), scope "faces",
# blob id "ckks-block/3", header (CKKS, params 1, key version 7, ciphertext block).
KNOWN_BLOB = bytes.fromhex(
    "42564c540101010007000000010000006465666768696a6b6c6d6e6f2b72ae0e1c9b22fb46167f9abf"
    "16039937a775434f57f97abba6e0401aa24163f32833"
)


def _ring(scope: str = "faces", versions: tuple[int, ...] = (1,)) -> DataKeyRing:
    ring = DataKeyRing(scope)
    for version in versions:
        ring.add(version, DataKey._unsafe_from_material(os.urandom(32), f"t:v{version}"))
    return ring


def _seal(sealer: BlobSealer, payload: bytes = b"residues", blob_id: str = "ckks-block/0") -> bytes:
    return sealer.seal(
        payload, scheme=SchemeId.CKKS, params_id=1, kind=BlobKind.CIPHERTEXT_BLOCK, blob_id=blob_id
    )


def test_round_trip_keeps_a_clear_header_naming_the_dek_version() -> None:
    """A sealed blob opens to its payload; its clear header names scheme, params and DEK."""
    sealer = BlobSealer(_ring(versions=(1, 2)))
    blob = _seal(sealer, b"x" * 1000)
    assert len(blob) == HEADER_SIZE + 1000 + SEAL_OVERHEAD
    header = BlobHeader.unpack(blob)
    assert (header.scheme, header.params_id, header.key_version) == (SchemeId.CKKS, 1, 2)
    assert sealer.open(blob, blob_id="ckks-block/0") == (header, b"x" * 1000)
    assert b"x" * 16 not in blob


def test_known_answer_vector_opens() -> None:
    """A blob built independently from the documented layout opens (format is pinned)."""
    ring = DataKeyRing("faces")
    ring.add(7, DataKey._unsafe_from_material(bytes(range(32)), "kat"))
    header, payload = BlobSealer(ring).open(KNOWN_BLOB, blob_id="ckks-block/3")
    assert payload == b"ciphertext residues"
    assert header.key_version == 7


@pytest.mark.parametrize(
    ("scope", "blob_id"),
    [("faces", "ckks-block/1"), ("other", "ckks-block/0")],
    ids=["moved-to-another-block", "swapped-into-another-collection"],
)
def test_moved_or_swapped_blob_is_rejected(scope: str, blob_id: str) -> None:
    """The same bytes under another blob id or collection fail authentication."""
    ring = _ring()
    blob = _seal(BlobSealer(ring))
    elsewhere = DataKeyRing(scope)
    elsewhere.add(1, ring.get(1))  # even with the very same key
    with pytest.raises(IntegrityError, match="failed authentication"):
        BlobSealer(elsewhere).open(blob, blob_id=blob_id)


@pytest.mark.parametrize("offset", [5, 6, HEADER_SIZE - 4, HEADER_SIZE + 3, -1])
def test_any_flipped_byte_is_rejected(offset: int) -> None:
    """Altering the header (scheme, params, kind), nonce, body or tag is detected."""
    sealer = BlobSealer(_ring())
    blob = bytearray(_seal(sealer))
    blob[offset] ^= 0x01
    with pytest.raises(IntegrityError):
        sealer.open(bytes(blob), blob_id="ckks-block/0")


def test_wrong_key_and_unknown_version_are_rejected() -> None:
    """Another collection's key fails; a header naming an absent version says so."""
    blob = _seal(BlobSealer(_ring()))
    with pytest.raises(IntegrityError, match="failed authentication"):
        BlobSealer(_ring()).open(blob, blob_id="ckks-block/0")
    with pytest.raises(IntegrityError, match="version 1"):
        BlobSealer(_ring(versions=(2,))).open(blob, blob_id="ckks-block/0")


def test_bare_or_truncated_blob_is_rejected() -> None:
    """A header without room for nonce and tag is not a sealed blob."""
    sealer = BlobSealer(_ring())
    bare = BlobHeader(SchemeId.CKKS, 1, 1, BlobKind.CIPHERTEXT_BLOCK).pack() + b"\x00" * 8
    with pytest.raises(IntegrityError, match="not sealed"):
        sealer.open(bare, blob_id="ckks-block/0")
    with pytest.raises(IntegrityError):
        sealer.open(_seal(sealer)[:-1], blob_id="ckks-block/0")


def test_reseal_moves_to_the_current_version_and_keeps_the_payload() -> None:
    """Rotation reseals under the newest DEK; an already-current blob is left alone."""
    ring = _ring()
    sealer = BlobSealer(ring)
    old = _seal(sealer, b"payload")
    ring.add(2, DataKey._unsafe_from_material(os.urandom(32), "t:v2"))
    fresh = sealer.reseal(old, blob_id="ckks-block/0")
    assert fresh is not None and BlobHeader.unpack(fresh).key_version == 2
    assert sealer.open(fresh, blob_id="ckks-block/0")[1] == b"payload"
    assert sealer.reseal(fresh, blob_id="ckks-block/0") is None
    ring.discard(1)
    with pytest.raises(IntegrityError):
        sealer.open(old, blob_id="ckks-block/0")


def test_ring_rules() -> None:
    """Versions are positive and unique, the newest is current and cannot be discarded."""
    ring = _ring(versions=(1, 3))
    assert ring.current()[0] == 3 and ring.versions() == (1, 3)
    with pytest.raises(InvalidArgument):
        ring.add(3, DataKey._unsafe_from_material(os.urandom(32), "dup"))
    with pytest.raises(InvalidArgument):
        ring.add(0, DataKey._unsafe_from_material(os.urandom(32), "zero"))
    with pytest.raises(InvalidArgument):
        ring.discard(3)
    with pytest.raises(IntegrityError):
        DataKeyRing("empty").current()
    with pytest.raises(TypeError):
        pickle.dumps(ring)
    assert "material" not in repr(ring) and "faces" in repr(ring)
