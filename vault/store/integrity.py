"""SQLite-level consistency of a store file, for ``biovault fsck``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["sqlite_problems"]


def sqlite_problems(path: Path) -> list[str]:
    """Run SQLite's own integrity and foreign-key checks on ``path``, read-only.

    Returns:
        One line per problem (empty when the file is sound).
    """
    if not path.is_file():
        return [f"{path.name}: missing"]
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as error:
        return [f"{path.name}: cannot be opened ({type(error).__name__})"]
    try:
        rows = [str(r[0]) for r in connection.execute("PRAGMA integrity_check")]
        problems = [f"{path.name}: {r}" for r in rows if r != "ok"]
        for table, rowid, parent, _ in connection.execute("PRAGMA foreign_key_check"):
            problems.append(f"{path.name}: {table} row {rowid} refers to a missing {parent} row")
        return problems
    except sqlite3.Error as error:
        return [f"{path.name}: {type(error).__name__} while checking"]
    finally:
        connection.close()
