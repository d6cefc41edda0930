"""AEAD sealing of stored blobs under a scope's data keys (envelope encryption at rest).

A sealed blob keeps the 16-byte clear header of :mod:`vault.blob` in front, so
rotation and mismatch checks can read scheme, parameter set, kind and key version
without a key; the header's key version is the DEK version that sealed it::

    header   16 bytes   BlobHeader (key = DEK version)
    nonce    12 bytes
    body     AES-256-GCM ciphertext of the payload
    tag      16 bytes

The associated data binds the blob to where it belongs::

    "biovault/sealed-blob/v1" 0x00 | header (16) | u16 len | scope | u16 len | blob id

so a blob moved to another scope (collection) or blob id (block number), or whose
header was edited (scheme, parameter set, kind, key version), fails authentication
with :class:`~vault.errors.IntegrityError`. The DEKs themselves live wrapped by the
Transit KEK elsewhere; this module never sees a KEK.
"""

from __future__ import annotations

import struct

from vault.blob import HEADER_SIZE, BlobHeader, BlobKind, SchemeId, split_blob
from vault.errors import IntegrityError, InvalidArgument
from vault.keys.dataring import DataKeyRing

__all__ = ["SEAL_OVERHEAD", "BlobSealer", "block_blob_id"]


def block_blob_id(block_no: int) -> str:
    """The blob id a stored block is sealed under (bound into its associated data)."""
    return f"ckks-block/{block_no}"


_LABEL = b"biovault/sealed-blob/v1\x00"
_LEN = struct.Struct(">H")
#: Bytes a sealed blob has beyond header + payload: AES-GCM nonce and tag.
SEAL_OVERHEAD = 12 + 16


def _field(value: str, what: str) -> bytes:
    raw = value.encode("utf-8")
    if not raw or len(raw) > 0xFFFF:
        raise InvalidArgument(f"a sealed blob's {what} must be 1-65535 bytes")
    return _LEN.pack(len(raw)) + raw


class BlobSealer:
    """Seals and opens the blobs of one scope with its :class:`DataKeyRing`.

    Args:
        ring: The scope's data keys; its scope name is bound into every blob.
    """

    __slots__ = ("_ring", "_scope_field")

    def __init__(self, ring: DataKeyRing) -> None:
        self._ring = ring
        self._scope_field = _field(ring.scope, "scope")

    @property
    def ring(self) -> DataKeyRing:
        """The data keys this sealer uses."""
        return self._ring

    @property
    def current_version(self) -> int:
        """DEK version new blobs are sealed under."""
        return self._ring.current_version

    def _aad(self, header: bytes, blob_id: str) -> bytes:
        return b"".join((_LABEL, header, self._scope_field, _field(blob_id, "id")))

    def seal(
        self,
        payload: bytes | memoryview,
        *,
        scheme: SchemeId,
        params_id: int,
        kind: BlobKind,
        blob_id: str,
    ) -> bytes:
        """Encrypt ``payload`` under the current DEK; returns header || nonce || body || tag."""
        version, key = self._ring.current()
        header = BlobHeader(scheme, params_id, version, kind).pack()
        return key.encrypt(bytes(payload), self._aad(header, blob_id), prefix=header)

    def open(self, blob: bytes | memoryview, *, blob_id: str) -> tuple[BlobHeader, bytes]:
        """Authenticate and decrypt a sealed blob stored under ``blob_id``.

        Returns:
            The clear header and the payload.

        Raises:
            IntegrityError: Malformed, sealed for another scope or blob id, header
                altered, tampered, or sealed under a DEK version not held.
        """
        header, body = split_blob(blob)
        if len(body) < SEAL_OVERHEAD:
            raise IntegrityError(f"stored blob {blob_id} of {self._ring.scope!r} is not sealed")
        key = self._ring.get(header.key_version)
        aad = self._aad(bytes(memoryview(blob)[:HEADER_SIZE]), blob_id)
        try:
            return header, key.decrypt(body, aad)
        except IntegrityError:
            raise IntegrityError(
                f"stored blob {blob_id} of {self._ring.scope!r} failed authentication "
                "(moved, swapped, tampered, or sealed under another key)"
            ) from None

    def reseal(self, blob: bytes | memoryview, *, blob_id: str) -> bytes | None:
        """Re-encrypt a blob under the current DEK, or None if it already uses it.

        Only the AEAD layer changes: the payload (e.g. CKKS ciphertexts) is carried
        over byte for byte and is never interpreted.

        Raises:
            IntegrityError: As for :meth:`open`.
        """
        header, payload = self.open(blob, blob_id=blob_id)
        if header.key_version == self._ring.current_version:
            return None
        return self.seal(
            payload,
            scheme=header.scheme,
            params_id=header.params_id,
            kind=header.kind,
            blob_id=blob_id,
        )

    def __repr__(self) -> str:
        return f"BlobSealer(scope={self._ring.scope!r}, version={self.current_version})"
