"""Offline verification of an audit bundle (see :mod:`vault.audit.bundle`).

Needs only the bundle and the log's public key. It checks, in order: the file
set; the manifest's signature; then for every entry i - its canonical form and
sequence number, non-decreasing time, the signature of the checkpoint of size
i + 1, that the root recomputed from entries 0..i equals that checkpoint's root,
and the inclusion and consistency proofs; then the manifest's file hashes; and
finally what the auditor kept from before (a checkpoint, a receipt or a whole
earlier bundle), which exposes truncation, rollback and re-signed rewrites.
The first failure ends the check and names the entry it concerns.
"""

from __future__ import annotations

import binascii
import hashlib
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

from vault.audit.bundle import (
    BUNDLE_FILES,
    CHECKPOINT,
    CHECKPOINTS,
    CONTENT_FILES,
    ENTRIES,
    MANIFEST,
    PROOFS,
    Manifest,
    parse_checkpoint_line,
    parse_proof_line,
    read_lines,
)
from vault.audit.checkpoint import Checkpoint, open_checkpoint
from vault.audit.entry import EntryError, LogEntry, decode_entry, format_time
from vault.audit.merkle import (
    CompactRange,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from vault.audit.note import NoteError, NoteVerifier
from vault.audit.receipt import ReceiptError, load_receipt, verify_receipt
from vault.errors import IntegrityError
from vault.types import ErasureReceipt

__all__ = ["BundleInvalid", "VerifiedBundle", "verify_bundle"]


class BundleInvalid(IntegrityError):
    """The bundle fails verification; ``entry`` is the first bad entry, if one is."""

    def __init__(self, message: str, *, entry: int | None = None) -> None:
        super().__init__(message)
        self.entry = entry


@dataclass(frozen=True)
class VerifiedBundle:
    """What a bundle proves once verified."""

    origin: str
    size: int
    root: bytes
    checkpoint: str
    entries: tuple[LogEntry, ...]
    previous: Checkpoint | None = None


@dataclass(frozen=True)
class _Previous:
    checkpoint: Checkpoint
    entries_path: Path | None = None
    receipt: ErasureReceipt | None = None


def _fail(message: str, entry: int | None = None) -> BundleInvalid:
    return BundleInvalid(message, entry=entry)


def _check_files(directory: Path) -> None:
    if not directory.is_dir():
        raise _fail(f"{directory} is not a bundle directory")
    present = {p.name for p in directory.iterdir()}
    extra = sorted(present - set(BUNDLE_FILES))
    if extra:
        raise _fail(f"unexpected file {extra[0]!r} in the bundle (not covered by the manifest)")
    missing = [name for name in BUNDLE_FILES if name not in present]
    if missing:
        raise _fail(f"the bundle has no {missing[0]} file")


def _read_manifest(directory: Path, verifier: NoteVerifier) -> Manifest:
    try:
        manifest = Manifest.parse(verifier.open((directory / MANIFEST).read_bytes()))
    except NoteError as e:
        raise _fail(f"MANIFEST does not verify: {e}") from e
    if manifest.origin != verifier.name:
        raise _fail(f"MANIFEST is for log {manifest.origin!r}, not {verifier.name!r}")
    if manifest.size < 1:
        raise _fail("MANIFEST states an empty log")
    return manifest


def _describe(i: int, entry: LogEntry | None) -> str:
    if entry is None:
        return f"entry {i}"
    return f"entry {i} ({entry.action} at {format_time(entry.time_us)})"


def _load_previous(path: Path, verifier: NoteVerifier) -> _Previous:
    if path.is_dir():
        earlier = verify_bundle(path, verifier.verifier_key)
        return _Previous(Checkpoint(earlier.origin, earlier.size, earlier.root), path / ENTRIES)
    text = path.read_text(encoding="utf-8")
    try:
        if text.lstrip().startswith("{"):
            receipt = load_receipt(text)
            _, checkpoint = verify_receipt(receipt, verifier)
            return _Previous(checkpoint, receipt=receipt)
        return _Previous(open_checkpoint(verifier, text))
    except (NoteError, ReceiptError) as e:
        raise _fail(f"the previous checkpoint {path} does not verify: {e}") from e


def verify_bundle(
    directory: Path, verifier_key: str, *, previous: Path | None = None
) -> VerifiedBundle:
    """Verify a bundle; return what it proves.

    Args:
        directory: The bundle.
        verifier_key: The log's public key (``audit public-key``), obtained
            independently of the bundle.
        previous: What the auditor kept from before: a signed checkpoint file, an
            erasure receipt (JSON) or an earlier bundle directory. The bundle must
            extend it exactly.

    Raises:
        BundleInvalid: The first problem found, naming its entry when there is one.
    """
    directory = Path(directory)
    try:
        verifier = NoteVerifier(verifier_key)
    except NoteError as e:
        raise _fail(f"the public key is not usable: {e}") from e
    prior = _load_previous(Path(previous), verifier) if previous is not None else None
    _check_files(directory)
    manifest = _read_manifest(directory, verifier)
    entries, root, last_note = _verify_entries(directory, verifier, manifest.size, prior)
    if (directory / CHECKPOINT).read_bytes() != last_note.encode():
        raise _fail(f"the {CHECKPOINT} file is not the checkpoint of the last entry")
    for name in CONTENT_FILES:
        digest = hashlib.sha256((directory / name).read_bytes()).hexdigest()
        if digest != manifest.sha256[name]:
            raise _fail(f"{name} does not match the SHA-256 the signed MANIFEST states")
    if prior is not None and prior.checkpoint.size > manifest.size:
        raise _fail(
            f"the bundle ends after entry {manifest.size - 1}, but the previous checkpoint "
            f"covers {prior.checkpoint.size} entries: entries {manifest.size} to "
            f"{prior.checkpoint.size - 1} are missing (truncated or rolled back)",
            entry=manifest.size,
        )
    return VerifiedBundle(
        origin=manifest.origin,
        size=manifest.size,
        root=root,
        checkpoint=last_note,
        entries=tuple(entries),
        previous=None if prior is None else prior.checkpoint,
    )


def _verify_entries(
    directory: Path, verifier: NoteVerifier, size: int, prior: _Previous | None
) -> tuple[list[LogEntry], bytes, str]:
    entries: list[LogEntry] = []
    compact = CompactRange()
    root, last_note, last_time = b"", "", -1
    with (
        (directory / ENTRIES).open("rb") as entry_file,
        (directory / CHECKPOINTS).open("rb") as checkpoint_file,
        (directory / PROOFS).open("rb") as proof_file,
        prior.entries_path.open("rb") if prior and prior.entries_path else io.BytesIO() as old,
    ):
        rows = itertools.zip_longest(
            read_lines(entry_file), read_lines(checkpoint_file), read_lines(proof_file)
        )
        old_lines = read_lines(old)
        for i, (data, cp_line, proof_text) in enumerate(rows):
            if i >= size:
                raise _fail(f"entry {i} lies beyond the tree size {size} the MANIFEST signs", i)
            if data is None or cp_line is None or proof_text is None:
                raise _fail(f"entry {i} is missing or cut short (bundle truncated)", i)
            entry = _entry(data, i)
            what = _describe(i, entry)
            if entry.time_us < last_time:
                raise _fail(f"{what}: time goes backwards (entries reordered)", i)
            checkpoint = _signed_checkpoint(cp_line, verifier, i, what)
            compact.append(leaf_hash(data))
            recomputed = compact.root()
            try:
                inclusion, consistency = parse_proof_line(proof_text, i)
            except (ValueError, binascii.Error) as e:
                raise _fail(f"{what}: its line in {PROOFS} is malformed ({e})", i) from None
            if recomputed != checkpoint.root:
                extends = i == 0 or verify_consistency(
                    old_size=i,
                    new_size=i + 1,
                    proof=consistency,
                    old_root=root,
                    new_root=checkpoint.root,
                )
                if extends:
                    raise _fail(
                        f"{what} has been altered: it is not the entry the checkpoint "
                        f"signed for tree size {i + 1} commits to",
                        i,
                    )
                raise _fail(
                    f"{what}: the signed checkpoint of size {i + 1} does not extend the "
                    "entries before it (a checkpoint of another history: forked, "
                    "replayed or re-signed)",
                    i,
                )
            if not verify_inclusion(
                leaf=leaf_hash(data), index=i, size=i + 1, proof=inclusion, root=checkpoint.root
            ):
                raise _fail(f"{what}: its inclusion proof in {PROOFS} is wrong", i)
            if i and not verify_consistency(
                old_size=i,
                new_size=i + 1,
                proof=consistency,
                old_root=root,
                new_root=checkpoint.root,
            ):
                raise _fail(f"{what}: its consistency proof in {PROOFS} is wrong", i)
            if i == 0 and consistency:
                raise _fail(f"{what}: the first entry cannot have a consistency proof", i)
            _check_against_previous(prior, i, data, checkpoint, next(old_lines, None), what)
            entries.append(entry)
            root, last_note, last_time = (
                checkpoint.root,
                parse_checkpoint_line(cp_line),
                entry.time_us,
            )
    if len(entries) < size:
        raise _fail(f"entry {len(entries)} is missing (bundle truncated)", len(entries))
    return entries, root, last_note


def _entry(data: bytes, i: int) -> LogEntry:
    try:
        entry = decode_entry(data)
    except EntryError as e:
        raise _fail(f"entry {i} is malformed: {e}", i) from None
    if entry.seq != i:
        raise _fail(
            f"entry {i} carries sequence number {entry.seq} (entries reordered, dropped "
            "or replayed)",
            i,
        )
    return entry


def _signed_checkpoint(line: bytes, verifier: NoteVerifier, i: int, what: str) -> Checkpoint:
    try:
        checkpoint = open_checkpoint(verifier, parse_checkpoint_line(line))
    except (ValueError, NoteError) as e:
        raise _fail(f"{what}: its checkpoint does not verify: {e}", i) from None
    if checkpoint.size != i + 1:
        raise _fail(
            f"{what}: its checkpoint states tree size {checkpoint.size}, "
            f"not {i + 1} (checkpoints reordered or replayed)",
            i,
        )
    return checkpoint


def _check_against_previous(
    prior: _Previous | None,
    i: int,
    data: bytes,
    checkpoint: Checkpoint,
    old_data: bytes | None,
    what: str,
) -> None:
    if prior is None:
        return
    if prior.entries_path is not None and i < prior.checkpoint.size and old_data != data:
        raise _fail(
            f"{what} differs from entry {i} of the previous bundle (history "
            "rewritten and re-signed)",
            i,
        )
    if prior.receipt is not None and i == prior.receipt.leaf_index and data != prior.receipt.entry:
        raise _fail(
            f"{what} is not the erasure entry the receipt holds (history rewritten and re-signed)",
            i,
        )
    if checkpoint.size == prior.checkpoint.size and checkpoint.root != prior.checkpoint.root:
        raise _fail(
            f"the bundle's first {checkpoint.size} entries are not those of the previous "
            f"checkpoint: an entry up to {i} was changed, removed or reordered and the log "
            "re-signed",
            i,
        )
