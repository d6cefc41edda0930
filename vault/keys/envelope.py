"""Envelope encryption of secret blobs under a KEK held by a :class:`KeyService`.

Every sealed blob gets its own fresh data key (DEK). The DEK encrypts the payload
locally with AES-256-GCM; the key service wraps the DEK with a KEK that never leaves
it. The blob is self-describing, so the wrapped DEK can be read and replaced (KEK
rotation) without touching the payload::

    magic        b"BVEN"                      4 bytes
    format       u8 (1)                       1 byte
    wrapped_len  u16 big-endian               2 bytes
    wrapped      ASCII wrapped DEK            wrapped_len bytes, e.g. "vault:v3:..."
    payload      nonce || ciphertext || tag   DataKey.encrypt output

The payload's associated data is ``magic || format || caller's associated data``:
the caller's context (e.g. collection and purpose) and the format are authenticated.
The wrapped DEK is deliberately *not* in the AAD, so rewrapping it keeps the payload
valid; substituting another wrapped DEK yields another key and fails authentication.

This module talks only to the :class:`~vault.keys.base.KeyService` interface.
"""

from __future__ import annotations

import struct

from vault.errors import IntegrityError, InvalidArgument, WrappedKeyRejected
from vault.keys.base import KeyService

__all__ = [
    "ENVELOPE_FORMAT",
    "ENVELOPE_MAGIC",
    "open_sealed",
    "replace_wrapped_key",
    "rewrap_sealed",
    "seal_with_new_key",
    "wrapped_key_of",
]

ENVELOPE_MAGIC = b"BVEN"
ENVELOPE_FORMAT = 1
_PREFIX = struct.Struct(">4sBH")
_MAX_WRAPPED_LEN = 0xFFFF
_MIN_PAYLOAD_LEN = 12 + 16  # AES-GCM nonce + tag: even an empty secret has these
_FIXED_HEADER = ENVELOPE_MAGIC + bytes([ENVELOPE_FORMAT])

Buffer = bytes | bytearray | memoryview


def _as_bytes(value: Buffer, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidArgument(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _checked_wrapped(wrapped: str) -> bytes:
    if not isinstance(wrapped, str) or not wrapped:
        raise InvalidArgument("a wrapped data key must be a non-empty string")
    if not (wrapped.isascii() and wrapped.isprintable()) or any(c.isspace() for c in wrapped):
        raise InvalidArgument("a wrapped data key must be printable ASCII without spaces")
    raw = wrapped.encode("ascii")
    if len(raw) > _MAX_WRAPPED_LEN:
        raise InvalidArgument("a wrapped data key is longer than an envelope can hold")
    return raw


def _header(wrapped: str) -> bytes:
    raw = _checked_wrapped(wrapped)
    return _PREFIX.pack(ENVELOPE_MAGIC, ENVELOPE_FORMAT, len(raw)) + raw


def _aad(associated_data: bytes) -> bytes:
    # The fixed header has constant length, so this concatenation is unambiguous.
    return _FIXED_HEADER + associated_data


def _split(sealed: Buffer) -> tuple[str, bytes]:
    data = _as_bytes(sealed, "a sealed blob")
    if len(data) < _PREFIX.size:
        raise IntegrityError("sealed blob is truncated (no envelope header)")
    magic, fmt, wrapped_len = _PREFIX.unpack_from(data)
    if magic != ENVELOPE_MAGIC:
        raise IntegrityError("sealed blob is not an envelope (bad magic)")
    if fmt != ENVELOPE_FORMAT:
        raise IntegrityError(f"sealed blob has unsupported envelope format {fmt}")
    end = _PREFIX.size + wrapped_len
    if wrapped_len == 0 or len(data) - end < _MIN_PAYLOAD_LEN:
        raise IntegrityError("sealed blob has an out-of-range wrapped key length")
    try:
        wrapped = data[_PREFIX.size : end].decode("ascii")
        _checked_wrapped(wrapped)
    except (UnicodeDecodeError, InvalidArgument):
        raise IntegrityError("sealed blob's wrapped key is malformed") from None
    return wrapped, data[end:]


def seal_with_new_key(keys: KeyService, plaintext: Buffer, associated_data: Buffer) -> bytes:
    """Encrypt ``plaintext`` under a fresh DEK wrapped by the key service's KEK.

    Args:
        keys: The key service holding the KEK.
        plaintext: The secret to protect (e.g. a serialised CKKS secret key).
        associated_data: Context that must match exactly when opening (not secret,
            not stored in the blob), e.g. ``b"ckks-secret-key/collection=faces"``.

    Returns:
        The self-describing sealed blob.

    Raises:
        InvalidArgument: Arguments are not bytes.
        KeyServiceError: The key service refused to create a data key.
        KeyServiceUnavailable: The key service cannot be reached.
    """
    body = _as_bytes(plaintext, "plaintext")
    aad = _aad(_as_bytes(associated_data, "associated data"))
    fresh = keys.generate_data_key()
    return _header(fresh.wrapped) + fresh.key.encrypt(body, aad)


def open_sealed(keys: KeyService, sealed: Buffer, associated_data: Buffer) -> bytes:
    """Decrypt a blob made by :func:`seal_with_new_key`.

    Raises:
        IntegrityError: Malformed, tampered, wrong associated data, or a wrapped key
            the key service rejects (another KEK, or altered).
        KeyServiceError: The key service refused for another reason (e.g. policy).
        KeyServiceUnavailable: The key service cannot be reached.
    """
    aad = _aad(_as_bytes(associated_data, "associated data"))
    wrapped, payload = _split(sealed)
    try:
        key = keys.unwrap_data_key(wrapped)
    except WrappedKeyRejected as e:
        raise IntegrityError(
            "sealed blob's data key was rejected by the key service (altered, or wrapped "
            "by a different or retired KEK)"
        ) from e
    return key.decrypt(payload, aad)


def wrapped_key_of(sealed: Buffer) -> str:
    """The wrapped DEK stored in a sealed blob (safe to log; no key service needed).

    Raises:
        IntegrityError: The blob is malformed.
    """
    return _split(sealed)[0]


def replace_wrapped_key(sealed: Buffer, new_wrapped: str) -> bytes:
    """Return ``sealed`` with its wrapped DEK swapped for ``new_wrapped``.

    ``new_wrapped`` must wrap the *same* DEK (as a KEK rewrap produces); anything else
    makes the blob fail authentication when opened. The payload is untouched.

    Raises:
        IntegrityError: ``sealed`` is malformed.
        InvalidArgument: ``new_wrapped`` cannot be stored in an envelope.
    """
    _, payload = _split(sealed)
    return _header(new_wrapped) + payload


def rewrap_sealed(keys: KeyService, sealed: Buffer) -> bytes:
    """Rewrap a blob's DEK under the latest KEK version without decrypting the payload.

    Raises:
        IntegrityError: Malformed blob or a wrapped key the key service rejects.
        KeyServiceError: The key service cannot rewrap.
        KeyServiceUnavailable: The key service cannot be reached.
    """
    wrapped = wrapped_key_of(sealed)
    try:
        new_wrapped = keys.rewrap_data_key(wrapped)
    except WrappedKeyRejected as e:
        raise IntegrityError("sealed blob's data key was rejected by the key service") from e
    return replace_wrapped_key(sealed, new_wrapped)
