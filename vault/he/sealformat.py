"""Read and write Microsoft SEAL's serialised Ciphertext format.

SEAL (4.x) writes an object as a 16-byte ``SEALHeader`` followed by its members,
optionally compressed (the header's ``compr_mode``: 0 none, 1 zlib, 2 zstd)::

    SEALHeader   magic u16 = 0xA15E | header_size u8 = 16 | version major u8 |
                 version minor u8 | compr_mode u8 | reserved u16 | size u64
    members      parms_id 4*u64 | is_ntt_form u8 | size u64 | poly_modulus_degree u64 |
                 coeff_modulus_size u64 | scale f64 | correction_factor u64 |
                 DynArray<u64> (its own uncompressed SEALHeader, then count u64,
                 then count * u64 residues in [0, q_i))

We parse what SEAL writes (its ciphertexts, to read blocks stored in SEAL's NTT
form and to convert between forms) and write uncompressed ciphertexts for SEAL to
load back (its own decryption, kept for interoperability checks and for reading
the secret polynomial once; see vault.he.keyset).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np
import zstandard

from vault.errors import IntegrityError

__all__ = ["CiphertextLayout", "parse_ciphertext", "parse_plaintext", "write_ciphertext"]

_HEADER = struct.Struct("<HBBBBHQ")
_MEMBERS = struct.Struct("<4QBQQQdQ")
_PLAIN_MEMBERS = struct.Struct("<4QQd")
_MAGIC = 0xA15E
_COMPR_NONE, _COMPR_ZLIB, _COMPR_ZSTD = 0, 1, 2
_MAX_PAYLOAD = 1 << 31


@dataclass(frozen=True)
class CiphertextLayout:
    """Everything about a ciphertext except its residues."""

    parms_id: tuple[int, int, int, int]
    is_ntt_form: bool
    size: int
    poly_modulus_degree: int
    coeff_modulus_size: int
    version: tuple[int, int]

    @property
    def residue_count(self) -> int:
        return self.size * self.poly_modulus_degree * self.coeff_modulus_size


def _read_header(buf: bytes | memoryview, offset: int = 0) -> tuple[int, int, int, int]:
    if len(buf) - offset < _HEADER.size:
        raise IntegrityError("SEAL object is truncated")
    magic, hsize, major, minor, compr, _res, total = _HEADER.unpack_from(buf, offset)
    if magic != _MAGIC or hsize != _HEADER.size:
        raise IntegrityError("not a SEAL object")
    return major, minor, compr, total


def _members(data: bytes) -> tuple[tuple[int, int], bytes]:
    major, minor, compr, total = _read_header(data)
    if total != len(data):
        raise IntegrityError("SEAL object size does not match its header")
    body = memoryview(data)[_HEADER.size :]
    if compr == _COMPR_ZSTD:
        members = zstandard.ZstdDecompressor().decompress(body, max_output_size=_MAX_PAYLOAD)
    elif compr == _COMPR_ZLIB:
        members = zlib.decompress(body)
    elif compr == _COMPR_NONE:
        members = bytes(body)
    else:
        raise IntegrityError("unknown SEAL compression mode")
    return (major, minor), members


def _dyn_array(members: bytes, offset: int, expected: int) -> np.ndarray:
    _read_header(members, offset)
    offset += _HEADER.size
    if len(members) < offset + 8:
        raise IntegrityError("SEAL object is truncated")
    (count,) = struct.unpack_from("<Q", members, offset)
    offset += 8
    if count != expected or len(members) - offset != 8 * count:
        raise IntegrityError("SEAL object data has the wrong length")
    return np.frombuffer(members, dtype="<u8", count=count, offset=offset)


def parse_plaintext(data: bytes) -> tuple[float, np.ndarray]:
    """Parse a SEAL-serialised plaintext: returns its scale and its uint64 data."""
    _, members = _members(data)
    if len(members) < _PLAIN_MEMBERS.size:
        raise IntegrityError("SEAL plaintext is truncated")
    *_parms, coeff_count, scale = _PLAIN_MEMBERS.unpack_from(members)
    return scale, _dyn_array(members, _PLAIN_MEMBERS.size, coeff_count)


def parse_ciphertext(data: bytes) -> tuple[CiphertextLayout, float, np.ndarray]:
    """Parse a SEAL-serialised ciphertext.

    Returns:
        The layout, the scale, and the residues as a uint64 array of shape
        (size, coeff_modulus_size, poly_modulus_degree).
    """
    (major, minor), members = _members(data)
    if len(members) < _MEMBERS.size + _HEADER.size + 8:
        raise IntegrityError("SEAL ciphertext is truncated")
    p0, p1, p2, p3, ntt, size, degree, nmod, scale, _corr = _MEMBERS.unpack_from(members)
    layout = CiphertextLayout((p0, p1, p2, p3), bool(ntt), size, degree, nmod, (major, minor))
    residues = _dyn_array(members, _MEMBERS.size, layout.residue_count)
    return layout, scale, residues.reshape(size, nmod, degree)


def write_ciphertext(layout: CiphertextLayout, scale: float, residues: np.ndarray) -> bytes:
    """Serialise residues (size, coeff_modulus_size, degree) as an uncompressed SEAL ciphertext."""
    flat = np.ascontiguousarray(residues, dtype="<u8").reshape(-1)
    if flat.size != layout.residue_count:
        raise ValueError("residue array does not match the ciphertext layout")
    major, minor = layout.version
    array_bytes = 8 + 8 * flat.size
    inner_header = _HEADER.pack(
        _MAGIC, _HEADER.size, major, minor, _COMPR_NONE, 0, _HEADER.size + array_bytes
    )
    members = _MEMBERS.pack(
        *layout.parms_id,
        int(layout.is_ntt_form),
        layout.size,
        layout.poly_modulus_degree,
        layout.coeff_modulus_size,
        scale,
        1,
    )
    total = _HEADER.size + len(members) + len(inner_header) + array_bytes
    outer_header = _HEADER.pack(_MAGIC, _HEADER.size, major, minor, _COMPR_NONE, 0, total)
    return b"".join(
        (outer_header, members, inner_header, struct.pack("<Q", flat.size), flat.tobytes())
    )
