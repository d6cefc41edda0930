"""Scan files for template encodings at any byte offset.

A hit is 16 consecutive bytes that are two consecutive 8-byte words of some
template encoding (raw float32 rows, their float64 casts, float64 unit vectors).
Single 8-byte words are not enough: a float32 cast to float64 carries only ~35
bits, and millions of random ciphertext residues would match some by chance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

_MIX = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xC2B2AE3D27D4EB4F)
_TABLE_BITS = 27


class Fingerprints:
    """Adjacent word pairs of every plausible encoding of some templates."""

    def __init__(self, templates: np.ndarray) -> None:
        raw32 = np.ascontiguousarray(templates, dtype=np.float32)
        raw64 = raw32.astype(np.float64)
        unit64 = raw64 / np.linalg.norm(raw64, axis=1, keepdims=True)
        firsts, seconds = [], []
        for encoding in (raw32, raw64, unit64):
            words = np.ascontiguousarray(encoding).view(np.uint64)  # (rows, words per row)
            firsts.append(words[:, :-1].reshape(-1))
            seconds.append(words[:, 1:].reshape(-1))
        first, second = np.concatenate(firsts), np.concatenate(seconds)
        # Two independent 64-bit keys per pair: the first finds candidates, the
        # second confirms them (a false hit needs both to collide, ~2^-64).
        self.confirm = np.sort(_mix(second, first, _MIX2))
        self.keys = np.sort(_mix(first, second))
        # A 2^27-entry presence table filters almost every position with one lookup.
        self.table = np.zeros(1 << _TABLE_BITS, dtype=bool)
        self.table[self.keys >> np.uint64(64 - _TABLE_BITS)] = True


def _mix(first: np.ndarray, second: np.ndarray, factor: np.uint64 = _MIX) -> np.ndarray:
    with np.errstate(over="ignore"):
        return first ^ (second * factor)


def template_fingerprints(templates: np.ndarray) -> Fingerprints:
    """Fingerprints of the raw float32 rows, their float64 casts and unit vectors."""
    return Fingerprints(templates)


def hits_in_bytes(data: bytes, fingerprints: Fingerprints) -> int:
    """Number of byte offsets where 16 bytes equal two adjacent words of an encoding."""
    total = 0
    keys = fingerprints.keys
    for shift in range(8):
        usable = (len(data) - shift) // 8
        if usable < 2:
            continue
        words = np.frombuffer(data, dtype=np.uint64, count=usable, offset=shift)
        mixed = _mix(words[:-1], words[1:])
        maybe = np.nonzero(fingerprints.table[mixed >> np.uint64(64 - _TABLE_BITS)])[0]
        index = np.minimum(np.searchsorted(keys, mixed[maybe]), len(keys) - 1)
        found = maybe[keys[index] == mixed[maybe]]
        second = _mix(words[found + 1], words[found], _MIX2)
        where = np.minimum(
            np.searchsorted(fingerprints.confirm, second), len(fingerprints.confirm) - 1
        )
        total += int((fingerprints.confirm[where] == second).sum())
    return total


def scan_tree(paths: list[Path], fingerprints: Fingerprints) -> dict[str, int]:
    """Map each file with at least one hit to its hit count."""
    found: dict[str, int] = {}
    for root in paths:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            hits = hits_in_bytes(path.read_bytes(), fingerprints)
            if hits:
                found[str(path)] = hits
    return found
