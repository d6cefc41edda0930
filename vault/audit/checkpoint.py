"""Checkpoints (c2sp.org/tlog-checkpoint): a log's tree size and root, signed.

The note text is exactly three lines - origin, decimal tree size, base64 root::

    biovault.local/audit/3f1c0a9e2b7d4c55
    1042
    8Zl3Jq...=

This log writes no extension lines and, being strict, accepts none.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from vault.audit.merkle import HASH_SIZE
from vault.audit.note import NoteError, NoteSigner, NoteVerifier

__all__ = ["Checkpoint", "open_checkpoint", "sign_checkpoint"]

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: which log, how many leaves, which root."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        """The checkpoint's note text."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse (strictly) a checkpoint note text.

        Raises:
            NoteError: Not exactly origin, size and a 32-byte base64 root.
        """
        lines = text.split("\n")
        if len(lines) != 4 or lines[3] != "":
            raise NoteError("a checkpoint has exactly three lines: origin, size, root")
        origin, size, root = lines[:3]
        if not origin:
            raise NoteError("checkpoint origin must be non-empty")
        if not _SIZE.fullmatch(size):
            raise NoteError("checkpoint size is not a canonical decimal number")
        try:
            raw = base64.b64decode(root, validate=True)
        except ValueError:
            raise NoteError("checkpoint root is not base64") from None
        if len(raw) != HASH_SIZE or base64.b64encode(raw).decode() != root:
            raise NoteError("checkpoint root is not a canonical base64 SHA-256 hash")
        return cls(origin, int(size), raw)


def sign_checkpoint(signer: NoteSigner, checkpoint: Checkpoint) -> str:
    """The checkpoint as a note signed by ``signer`` (whose name must be its origin)."""
    if signer.name != checkpoint.origin:
        raise ValueError("a log signs its checkpoints under its origin as key name")
    return signer.sign(checkpoint.text())


def open_checkpoint(verifier: NoteVerifier, note: bytes | str) -> Checkpoint:
    """Verify a signed checkpoint and parse it.

    Raises:
        NoteError: Bad signature, another log's key, or a malformed checkpoint.
    """
    checkpoint = Checkpoint.parse(verifier.open(note))
    if checkpoint.origin != verifier.name:
        raise NoteError(
            f"checkpoint origin {checkpoint.origin!r} is not the key's log {verifier.name!r}"
        )
    return checkpoint
