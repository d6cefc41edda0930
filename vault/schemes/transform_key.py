"""Keyed transforms of the cancelable schemes, derived from a seed that Vault wraps.

A collection's transform key for key version ``v`` is derived, never stored::

    material = HKDF-SHA256(ikm=seed, salt="biovault/cancelable/v1",
                           info=purpose || 0x00 || collection || 0x00 || v)
    G        = Gaussian matrix from the SHAKE-256 stream of ``material`` (Box-Muller)
    M        = orthonormal rows of G (QR with the signs of R's diagonal fixed)

The seed (32 random bytes) lives only envelope-encrypted at rest (see
:mod:`vault.core.transform_seeds`; derivation per version: :mod:`vault.schemes.seeds`);
the derived matrix lives only inside an opaque :class:`KeyedMatrix` handle that
refuses pickling, copying and printing. The derivation uses nothing but hashlib
and IEEE arithmetic, so it does not change with the numpy version; QR can differ in
the last bits between BLAS builds, far below any score resolution.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import NoReturn

import numpy as np

from vault.errors import InvalidArgument

__all__ = ["SEED_BYTES", "KeyedMatrix", "derive_material"]

SEED_BYTES = 32
_SALT = b"biovault/cancelable/v1"
_CREATION_TOKEN = object()


def derive_material(seed: bytes, *, purpose: str, collection: str, version: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) of ``seed`` for one purpose, collection and key version."""
    if len(seed) != SEED_BYTES:
        raise InvalidArgument(f"a transform seed must be {SEED_BYTES} bytes")
    if version < 1:
        raise InvalidArgument("key versions start at 1")
    info = b"\x00".join((purpose.encode(), collection.encode(), str(version).encode()))
    prk = hmac.new(_SALT, seed, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def _gaussian(material: bytes, rows: int, cols: int) -> np.ndarray:
    """rows x cols standard normals from the SHAKE-256 stream of ``material``."""
    count = rows * cols
    pairs = (count + 1) // 2
    raw = np.frombuffer(hashlib.shake_256(material).digest(16 * pairs), dtype="<u8")
    # 53-bit uniforms in (0, 1]: never 0, so the logarithm is finite.
    uniform = ((raw >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53
    radius = np.sqrt(-2.0 * np.log(uniform[0::2]))
    angle = 2.0 * math.pi * uniform[1::2]
    normals = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])
    return normals[:count].reshape(rows, cols)


class KeyedMatrix:
    """Opaque handle on a keyed matrix with orthonormal rows (out_dim x dim).

    ``out_dim == dim`` is a keyed rotation of the template space (cancelable mode);
    ``out_dim < dim`` a keyed orthonormal projection (hybrid mode).
    """

    __slots__ = ("__matrix", "dim", "out_dim", "version")

    def __init__(self, token: object, matrix: np.ndarray, version: int) -> None:
        if token is not _CREATION_TOKEN:
            raise TypeError("KeyedMatrix handles are derived from a seed, not constructed")
        self.__matrix = matrix
        self.out_dim, self.dim = matrix.shape
        self.version = version

    @classmethod
    def unsafe_derive(
        cls,
        seed: bytes,
        *,
        purpose: str,
        collection: str,
        version: int,
        dim: int,
        out_dim: int,
    ) -> KeyedMatrix:
        """Derive the matrix of (purpose, collection, version) from a raw seed.

        Only key-management code that has just unwrapped the seed calls this.
        """
        if not 1 <= out_dim <= dim:
            raise InvalidArgument("a keyed rotation maps to at most the input dimension")
        material = derive_material(seed, purpose=purpose, collection=collection, version=version)
        q, r = np.linalg.qr(_gaussian(material, dim, out_dim))
        signs = np.sign(np.diag(r))
        signs[signs == 0] = 1.0
        matrix = np.ascontiguousarray((q * signs).T)
        matrix.setflags(write=False)
        return cls(_CREATION_TOKEN, matrix, version)

    def apply(self, rows: np.ndarray) -> np.ndarray:
        """Map (n, dim) rows to (n, out_dim); lengths are kept when out_dim == dim."""
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise InvalidArgument(f"expected rows of dimension {self.dim}")
        return rows @ self.__matrix.T

    def unsafe_matrix(self) -> np.ndarray:
        """The key itself, read-only - for the evaluation's white-box attacks only."""
        return self.__matrix

    def __repr__(self) -> str:
        return f"KeyedMatrix(version={self.version}, {self.out_dim}x{self.dim}, key=<hidden>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("KeyedMatrix handles cannot be pickled")

    def __copy__(self) -> NoReturn:
        raise TypeError("KeyedMatrix handles cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("KeyedMatrix handles cannot be copied")
