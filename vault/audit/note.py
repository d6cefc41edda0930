"""Signed notes (c2sp.org/signed-note) with Ed25519 keys, via PyNaCl.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> <base64(4-byte key id || signature)>``. The key id is
``SHA-256(name || 0x0A || 0x01 || public key)[:4]``. A verifier key is written
``<name>+<key id hex>+<base64(0x01 || public key)>``, as Go's ``sumdb/note`` does.

Parsing is strict on purpose: base64 must be canonical and the note must be
exactly what this module would write, so that no bit of a signed note can change
without the verification failing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import dataclass
from typing import Final, NoReturn

import nacl.exceptions
import nacl.signing

from vault.errors import IntegrityError, InvalidArgument

__all__ = ["NoteError", "NoteSigner", "NoteVerifier", "key_id"]

_ED25519: Final = 0x01
_DASH: Final = "\u2014 "
_NAME = re.compile(r"[^\s+]+")
_KEY_ID = re.compile(r"[0-9a-f]{8}")
_MAX_NOTE_BYTES: Final = 1 << 20
_CREATION_TOKEN = object()


class NoteError(IntegrityError):
    """A signed note is malformed, or not signed by the expected key."""


def key_id(name: str, public_key: bytes) -> int:
    """The signed-note key id of an Ed25519 key (first 4 bytes of a SHA-256)."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([_ED25519]) + public_key).digest()
    return int(struct.unpack(">I", digest[:4])[0])


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgument("a note key name must be non-empty, without spaces or '+'")
    return name


def _strict_b64decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not base64") from None
    if base64.b64encode(raw).decode() != text:  # unused bits or padding variants
        raise NoteError(f"{what} is not canonical base64")
    return raw


class NoteSigner:
    """An Ed25519 signing key with its note name; the key bytes stay inside.

    Made only by :meth:`generate` or :meth:`unsafe_from_seed`; cannot be pickled,
    copied or printed with its key.
    """

    __slots__ = ("__signing_key", "key_id", "name", "public_key")

    def __init__(self, _token: object, name: str, seed: bytes) -> None:
        if _token is not _CREATION_TOKEN:
            raise TypeError("NoteSigner is made by generate() or unsafe_from_seed()")
        if len(seed) != 32:
            raise InvalidArgument("an Ed25519 seed is 32 bytes")
        self.name = _check_name(name)
        self.__signing_key = nacl.signing.SigningKey(seed)
        self.public_key = bytes(self.__signing_key.verify_key)
        self.key_id = key_id(name, self.public_key)

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        """A fresh random key."""
        return cls(_CREATION_TOKEN, name, bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def unsafe_from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        """Build a signer from a raw 32-byte seed (only for unwrapping a stored key)."""
        return cls(_CREATION_TOKEN, name, seed)

    def unsafe_seed(self) -> bytes:
        """The raw seed - only for sealing it under a Vault-wrapped key."""
        return bytes(self.__signing_key)

    @property
    def verifier_key(self) -> str:
        """The public verifier key string an auditor configures."""
        return format_verifier_key(self.name, self.public_key)

    def sign(self, text: str) -> str:
        """Return ``text`` as a note signed by this key.

        Raises:
            InvalidArgument: The text is empty, lacks its final newline, or holds
                control characters other than newlines.
        """
        _check_text(text, InvalidArgument)
        signature = self.__signing_key.sign(text.encode()).signature
        blob = struct.pack(">I", self.key_id) + signature
        return f"{text}\n{_DASH}{self.name} {base64.b64encode(blob).decode()}\n"

    def __repr__(self) -> str:
        return f"NoteSigner(name={self.name!r}, key_id={self.key_id:08x}, key=<hidden>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("NoteSigner handles cannot be pickled")

    def __copy__(self) -> NoReturn:
        raise TypeError("NoteSigner handles cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("NoteSigner handles cannot be copied")


def format_verifier_key(name: str, public_key: bytes) -> str:
    """``<name>+<key id hex>+<base64(0x01 || public key)>``."""
    encoded = base64.b64encode(bytes([_ED25519]) + public_key).decode()
    return f"{_check_name(name)}+{key_id(name, public_key):08x}+{encoded}"


@dataclass(frozen=True)
class _Signature:
    name: str
    key_id: int
    signature: bytes


def _check_text(text: str, error: type[Exception]) -> None:
    if not text or not text.endswith("\n"):
        raise error("note text must be non-empty and end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise error("note text must not hold control characters")


class NoteVerifier:
    """Checks notes against one Ed25519 verifier key.

    Args:
        verifier_key: ``<name>+<key id hex>+<base64(0x01 || public key)>``.

    Raises:
        NoteError: The key string is malformed or its id does not match its key.
    """

    def __init__(self, verifier_key: str) -> None:
        parts = verifier_key.strip().split("+", 2) if isinstance(verifier_key, str) else []
        if len(parts) != 3 or not _NAME.fullmatch(parts[0]) or not _KEY_ID.fullmatch(parts[1]):
            raise NoteError("not a verifier key (expected <name>+<8 hex digits>+<base64 key>)")
        name, id_hex, encoded = parts
        raw = _strict_b64decode(encoded, "the verifier key")
        if len(raw) != 33 or raw[0] != _ED25519:
            raise NoteError("the verifier key is not an Ed25519 key")
        if key_id(name, raw[1:]) != int(id_hex, 16):
            raise NoteError("the verifier key's id does not match its name and key")
        self.name = name
        self.key_id = int(id_hex, 16)
        self.public_key = raw[1:]
        self._key = nacl.signing.VerifyKey(self.public_key)

    @property
    def verifier_key(self) -> str:
        """The key in its string form."""
        return format_verifier_key(self.name, self.public_key)

    def open(self, note: bytes | str, *, only_this_key: bool = True) -> str:
        """Verify a signed note and return its text.

        Args:
            note: The whole note (text, blank line, signature lines).
            only_this_key: Refuse any signature line that is not by this key
                (strict: nothing in the note may go unchecked). With False, lines
                of unknown keys are ignored, as the signed-note spec requires of
                general clients; this key must still have signed.

        Raises:
            NoteError: Malformed, unsigned by this key, or a signature fails.
        """
        raw = note.encode() if isinstance(note, str) else bytes(note)
        if len(raw) > _MAX_NOTE_BYTES:
            raise NoteError("note is too large")
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("note is not UTF-8") from None
        text, signatures = _split(decoded)
        mine = [s for s in signatures if (s.name, s.key_id) == (self.name, self.key_id)]
        if only_this_key and len(mine) != len(signatures):
            raise NoteError(f"note carries a signature by a key other than {self.name}")
        if not mine:
            raise NoteError(f"note is not signed by {self.name}")
        for signature in mine:
            if len(signature.signature) != 64:
                raise NoteError(f"invalid signature by {self.name}")
            try:
                self._key.verify(text.encode(), signature.signature)
            except nacl.exceptions.BadSignatureError:
                raise NoteError(f"invalid signature by {self.name}") from None
        return text


def _split(note: str) -> tuple[str, list[_Signature]]:
    """Text and signature lines of a note (the text ends at the last blank line)."""
    _check_text(note, NoteError)
    cut = note.rfind("\n\n")
    if cut < 0:
        raise NoteError("note has no blank line before its signatures")
    text, lines = note[: cut + 1], note[cut + 2 :].split("\n")
    if lines[-1] != "" or len(lines) < 2:
        raise NoteError("note has no signature lines")
    signatures = []
    for line in lines[:-1]:
        if not line.startswith(_DASH):
            raise NoteError("malformed signature line")
        name, _, encoded = line[len(_DASH) :].partition(" ")
        if not _NAME.fullmatch(name) or not encoded:
            raise NoteError("malformed signature line")
        blob = _strict_b64decode(encoded, "a signature")
        if len(blob) < 5:
            raise NoteError("signature is too short")
        signatures.append(_Signature(name, int(struct.unpack(">I", blob[:4])[0]), blob[4:]))
    return text, signatures
