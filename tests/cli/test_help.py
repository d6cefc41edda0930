"""Every command and option of the real parser explains itself in plain text."""

from __future__ import annotations

import argparse

from tests.cli.argtree import options, walk
from vault.cli.main import build_parser

_FLAGS = (
    argparse._StoreTrueAction,
    argparse._StoreFalseAction,
    argparse._VersionAction,
    argparse._CountAction,
)
_MARKUP = ("``", ":class:", ":mod:", ":func:", ":meth:", ":data:")


def _help_of(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    return formatter._expand_help(action) if action.help else ""


def test_every_subcommand_has_a_description() -> None:
    """`biovault X --help` says what X does, for every command and subcommand."""
    missing = [" ".join(path) for path, sub in walk(build_parser()) if not sub.description]
    assert not missing


def test_every_option_with_a_default_names_it() -> None:
    """An option whose default is not None says what that default is (on/off flags aside)."""
    silent = []
    for path, sub in walk(build_parser()):
        for action in options(sub):
            if isinstance(action, _FLAGS) or action.default in (None, argparse.SUPPRESS):
                continue
            if "default" not in _help_of(sub, action).lower():
                silent.append(f"{' '.join(path)} {action.option_strings[0]}")
    assert not silent


def test_every_option_has_help() -> None:
    """No option is left without a help line."""
    bare = [
        f"{' '.join(path)} {action.option_strings[0]}"
        for path, sub in walk(build_parser())
        for action in options(sub)
        if not action.help
    ]
    assert not bare


def test_no_raw_markup_in_help() -> None:
    """Help and descriptions are plain text: no reST roles or double backquotes."""
    raw = []
    for path, sub in walk(build_parser()):
        texts = [sub.description or "", sub.format_help()]
        texts += [_help_of(sub, a) for a in sub._actions]
        raw += [" ".join(path) for text in texts if any(m in text for m in _MARKUP)]
    assert not raw


def test_token_file_help_does_not_say_the_environment_holds_a_file() -> None:
    """--vault-token-file takes a file; VAULT_TOKEN holds the token itself."""
    parser = build_parser()
    for path, sub in walk(parser):
        for action in options(sub):
            if "--vault-token-file" in action.option_strings:
                text = _help_of(sub, action)
                assert "(env VAULT_TOKEN)" not in text, path
                assert "VAULT_TOKEN" in text


def test_audit_public_key_and_checkpoint_take_json() -> None:
    """Like every other command that produces a result, they take --json."""
    parser = build_parser()
    for command in (["audit", "public-key"], ["audit", "checkpoint"]):
        args = parser.parse_args([*command, "--out", "f", "--json", "-"])
        assert args.json == "-"
