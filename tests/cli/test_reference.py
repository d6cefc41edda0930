"""docs/reference.md documents every command and every flag of the real parser."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.argtree import options, walk
from vault.cli.main import build_parser

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"
_SHARED = {
    "client-flags": "### Client flags",
    "key-service-flags": "### Key service flags",
    "store-flags": "### Store flags",
}


def _sections(text: str) -> dict[str, str]:
    """Text under each `### ...` heading, up to the next `##`/`###` heading."""
    parts = re.split(r"^(#{2,3} .*)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _leaves() -> list[tuple[tuple[str, ...], object]]:
    return [(path, sub) for path, sub in walk(build_parser()) if path and sub._subparsers is None]


def test_every_command_has_a_section() -> None:
    """Each runnable command has its own `### biovault ...` section; groups are named too."""
    text = REFERENCE.read_text(encoding="utf-8")
    sections = _sections(text)
    missing = [p for p, _ in _leaves() if f"### `biovault {' '.join(p)}`" not in sections]
    assert not missing
    for path, _ in walk(build_parser()):
        assert f"biovault {' '.join(path)}".strip() in text, path


def test_every_flag_is_documented_in_its_command_section() -> None:
    """Each option string appears in its command's section, or in a shared flag table
    the section links to."""
    sections = _sections(REFERENCE.read_text(encoding="utf-8"))
    shared = {anchor: sections[heading] for anchor, heading in _SHARED.items()}
    undocumented = []
    for path, sub in _leaves():
        section = sections[f"### `biovault {' '.join(path)}`"]
        for action in options(sub):  # type: ignore[arg-type]
            for flag in action.option_strings:
                if re.search(rf"`{re.escape(flag)}[ `]", section):
                    continue
                linked = [a for a in shared if f"(#{a})" in section]
                if any(re.search(rf"`{re.escape(flag)}[ `]", shared[a]) for a in linked):
                    continue
                undocumented.append(f"{' '.join(path)} {flag}")
    assert not undocumented


def test_readme_links_the_reference_and_no_missing_contract_file() -> None:
    """The README points at docs/reference.md, not at a file outside the repository."""
    readme = (REFERENCE.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "docs/reference.md" in readme
    assert "../shared" not in readme
