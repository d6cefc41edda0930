"""The audit bundle: a self-contained export an auditor verifies offline.

A bundle of a log of n entries is a directory of exactly these files::

    entries.jsonl      line i: entry i's canonical bytes (the Merkle leaf data)
    checkpoints.jsonl  line i: JSON string of the signed checkpoint of size i + 1,
                       signed when entry i was appended
    proofs.jsonl       line i: {"consistency": [...], "inclusion": [...], "seq": i}
                       - entry i's RFC 6962 inclusion proof in the tree of size
                       i + 1 and the consistency proof from size i to i + 1
                       (base64 hashes)
    checkpoint         the signed checkpoint of size n (keep it for next time:
                       ``audit verify --previous-checkpoint``)
    MANIFEST           a note signed by the log key: format, origin, n and the
                       SHA-256 of each file above

Every byte is covered: entries by the signed roots, checkpoints by their own
signatures, proofs by the roots they must reproduce, every file by the manifest's
hash, and the manifest by its signature. Any other file in the directory fails
verification.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Final, Protocol

from vault.audit.note import NoteError

__all__ = [
    "BUNDLE_FILES",
    "BUNDLE_FORMAT",
    "CHECKPOINT",
    "CHECKPOINTS",
    "CONTENT_FILES",
    "ENTRIES",
    "MANIFEST",
    "PROOFS",
    "BundleSource",
    "Manifest",
    "export_bundle",
    "parse_checkpoint_line",
    "parse_proof_line",
    "proof_line",
    "read_lines",
]

BUNDLE_FORMAT: Final = "biovault audit bundle v1"
ENTRIES: Final = "entries.jsonl"
CHECKPOINTS: Final = "checkpoints.jsonl"
PROOFS: Final = "proofs.jsonl"
CHECKPOINT: Final = "checkpoint"
MANIFEST: Final = "MANIFEST"
CONTENT_FILES: Final = (CHECKPOINT, CHECKPOINTS, ENTRIES, PROOFS)
BUNDLE_FILES: Final = (*CONTENT_FILES, MANIFEST)
_CHUNK: Final = 1 << 20
_HASH_LINE = re.compile(r"^([0-9a-f]{64}) (\S+)$")


class BundleSource(Protocol):
    """What exporting needs from a log (``MerkleAuditLog`` provides it)."""

    @property
    def origin(self) -> str: ...

    @property
    def size(self) -> int: ...

    def iter_rows(self, start: int, end: int) -> Iterator[tuple[int, bytes, str]]: ...

    def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...

    def sign_note(self, text: str) -> str: ...


@dataclass(frozen=True)
class Manifest:
    """What the signed manifest states."""

    origin: str
    size: int
    sha256: dict[str, str]

    def text(self) -> str:
        """The manifest's note text."""
        lines = [BUNDLE_FORMAT, self.origin, str(self.size)]
        lines += [f"{self.sha256[name]} {name}" for name in CONTENT_FILES]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Manifest:
        """Parse a manifest text strictly.

        Raises:
            NoteError: Anything but the exact layout :meth:`text` writes.
        """
        lines = text.split("\n")
        if len(lines) != 4 + len(CONTENT_FILES) or lines[0] != BUNDLE_FORMAT or lines[-1]:
            raise NoteError(f"MANIFEST is not a '{BUNDLE_FORMAT}' manifest")
        origin, size = lines[1], lines[2]
        if not re.fullmatch(r"0|[1-9][0-9]{0,18}", size):
            raise NoteError("MANIFEST tree size is not a canonical number")
        hashes: dict[str, str] = {}
        for line, name in zip(lines[3:-1], CONTENT_FILES, strict=True):
            match = _HASH_LINE.match(line)
            if match is None or match.group(2) != name:
                raise NoteError(f"MANIFEST does not list {name} where expected")
            hashes[name] = match.group(1)
        manifest = cls(origin, int(size), hashes)
        if manifest.text() != text:
            raise NoteError("MANIFEST is not in canonical form")
        return manifest


def proof_line(seq: int, inclusion: list[bytes], consistency: list[bytes]) -> bytes:
    """Line ``seq`` of proofs.jsonl (with its newline)."""
    record = {
        "consistency": [base64.b64encode(h).decode() for h in consistency],
        "inclusion": [base64.b64encode(h).decode() for h in inclusion],
        "seq": seq,
    }
    return (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()


class _FileOut:
    """Buffers one bundle file, hashing what it hands out."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.hash = hashlib.sha256()
        self.buffer = bytearray()

    def add(self, data: bytes) -> Iterator[tuple[str, bytes]]:
        self.buffer += data
        if len(self.buffer) >= _CHUNK:
            yield from self.flush()

    def flush(self) -> Iterator[tuple[str, bytes]]:
        if self.buffer:
            chunk = bytes(self.buffer)
            self.hash.update(chunk)
            self.buffer.clear()
            yield self.name, chunk


def export_bundle(log: BundleSource, size: int | None = None) -> Iterator[tuple[str, bytes]]:
    """Stream a bundle of the first ``size`` entries (all by default) as
    (file name, chunk) pairs; chunks of one file arrive in order, files may
    interleave, and the signed MANIFEST comes last.

    Raises:
        ValueError: The log is empty or ``size`` is out of range.
    """
    size = log.size if size is None else size
    if not 1 <= size <= log.size:
        raise ValueError(f"cannot export {size} entries of a log of {log.size}")
    outs = {name: _FileOut(name) for name in CONTENT_FILES}
    last_note = ""
    for seq, entry, note in log.iter_rows(0, size):
        yield from outs[ENTRIES].add(entry + b"\n")
        yield from outs[CHECKPOINTS].add((json.dumps(note) + "\n").encode())
        inclusion = log.inclusion_proof(seq, seq + 1)
        consistency = log.consistency_proof(seq, seq + 1)
        yield from outs[PROOFS].add(proof_line(seq, inclusion, consistency))
        last_note = note
    yield from outs[CHECKPOINT].add(last_note.encode())
    for out in outs.values():
        yield from out.flush()
    manifest = Manifest(log.origin, size, {n: o.hash.hexdigest() for n, o in outs.items()})
    yield MANIFEST, log.sign_note(manifest.text()).encode()


def read_lines(handle: IO[bytes]) -> Iterator[bytes | None]:
    """Lines without their newline; a last line cut short comes as None, then stops."""
    for line in handle:
        if not line.endswith(b"\n"):
            yield None  # a last line cut short
            return
        yield line[:-1]


def _hashes(raw: list[object]) -> list[bytes]:
    if not isinstance(raw, list) or not all(isinstance(h, str) for h in raw):
        raise ValueError("not a list of base64 hashes")
    out = []
    for text in raw:
        value = base64.b64decode(text, validate=True)  # type: ignore[arg-type]
        if base64.b64encode(value).decode() != text:
            raise ValueError("non-canonical base64")
        out.append(value)
    return out


def parse_proof_line(line: bytes, seq: int) -> tuple[list[bytes], list[bytes]]:
    """(inclusion, consistency) hashes of proofs.jsonl line ``seq``.

    Raises:
        ValueError: Malformed, another seq, non-canonical JSON or base64.
    """
    record = json.loads(line)
    if not isinstance(record, dict) or set(record) != {"consistency", "inclusion", "seq"}:
        raise ValueError("wrong fields")
    if record["seq"] != seq or type(record["seq"]) is not int:
        raise ValueError(f"states seq {record['seq']!r}")
    inclusion, consistency = _hashes(record["inclusion"]), _hashes(record["consistency"])
    canonical = {
        "consistency": record["consistency"],
        "inclusion": record["inclusion"],
        "seq": seq,
    }
    if json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode() != line:
        raise ValueError("not canonical")
    return inclusion, consistency


def parse_checkpoint_line(line: bytes) -> str:
    """The signed note held by a checkpoints.jsonl line (canonical JSON string).

    Raises:
        ValueError: Not a canonical JSON string.
    """
    note = json.loads(line)
    if not isinstance(note, str) or json.dumps(note).encode() != line:
        raise ValueError("not a canonical JSON string")
    return note
