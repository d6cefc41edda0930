"""``biovault delete --ids FILE [--receipts DIR]``: erase many subjects, one receipt each.

The ids file is read and checked (readable UTF-8, no empty line, no repeated id)
and the receipts directory made writable before anything is erased. The subjects
then go to the service's DeleteMany call in chunks of up to 10,000 ids; inside the
vault each chunk is erased all-or-nothing, grouped by block (one rewrite and one
transaction per block, ``VaultCore.delete_many``, the path retention sweeps
use), and an id that is not enrolled erases nobody of its chunk. Each chunk's
receipts are written to ``DIR/<url-quoted id>.json`` as soon as it returns, so an
interruption between chunks leaves a receipt for every subject already erased.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from urllib.parse import quote

from vault.cli.common import CommandError, connect, read_id_lines, write_json
from vault.cli.compliance import deletion_json, write_receipt
from vault.client import ClientError
from vault.client.vault import DELETE_MANY_CHUNK

__all__ = ["delete_from_file", "read_subject_ids"]


def read_subject_ids(path: str) -> list[str]:
    """Ids one per line (trailing blank lines ignored); refuses empty lines and repeats."""
    ids = read_id_lines(path)
    if not ids:
        raise CommandError(f"{path} lists no subject ids")
    seen: set[str] = set()
    for number, subject_id in enumerate(ids, start=1):
        if subject_id in seen:
            raise CommandError(f"{path} line {number} repeats the id {subject_id!r}")
        seen.add(subject_id)
    return ids


def _receipts_dir(path: str) -> Path:
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot create {path}: {error.strerror or error}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CommandError(f"cannot write receipts into {path}")
    return directory


def delete_from_file(args: argparse.Namespace) -> int:
    ids = read_subject_ids(args.ids)
    directory = _receipts_dir(args.receipts) if args.receipts else None
    results = []
    with connect(args) as client:
        for start in range(0, len(ids), DELETE_MANY_CHUNK):
            chunk = ids[start : start + DELETE_MANY_CHUNK]
            try:
                erased = client.delete_many(args.collection, chunk, purpose=args.purpose)
            except ClientError as error:
                raise CommandError(_refusal(error, start, len(ids), directory)) from None
            if directory is not None:
                for result in erased:
                    name = f"{quote(result.subject_id, safe='')}.json"
                    write_receipt(str(directory / name), result)
            results.extend(erased)
    if args.json:
        write_json(
            args.json,
            {
                "erased": sum(r.erased for r in results),
                "results": [deletion_json(r) for r in results],
            },
        )
    if args.json != "-":
        print(f"erased {len(results)} subject(s) from {args.collection}")
    return 0


def _refusal(error: ClientError, start: int, total: int, receipts: Path | None) -> str:
    """One line: why the service refused, and what is erased nonetheless (a refused
    chunk erases nobody; the chunks before it are gone)."""
    if start == 0:
        return f"{error}; nothing was erased"
    written = f", their receipts are in {receipts}" if receipts is not None else ""
    return f"{error}; the first {start} of {total} listed subjects were erased{written}"
