"""Template checks that run before any cryptography.

Messages describe shapes and counts only - never values - so that an error can be
logged or returned without leaking a template.
"""

from __future__ import annotations

import numpy as np

from vault.errors import TemplateError

__all__ = ["MIN_NORM", "validate_templates"]

MIN_NORM = 1e-6
_ACCEPTED = (np.dtype(np.float32), np.dtype(np.float64))


def validate_templates(templates: object, dim: int, *, what: str = "templates") -> np.ndarray:
    """Check a (n, dim) batch and return it as L2-normalised float64.

    Raises:
        TemplateError: wrong type, dtype, shape, an empty batch, a non-finite value,
            a norm that overflows float64, or a (near-)zero vector.
    """
    if not isinstance(templates, np.ndarray):
        raise TemplateError(f"{what} must be a numpy array")
    if templates.dtype not in _ACCEPTED:
        raise TemplateError(f"{what} must be float32 or float64, got {templates.dtype}")
    if templates.ndim == 1:
        templates = templates[None, :]
    if templates.ndim != 2:
        raise TemplateError(f"{what} must have shape (n, {dim}), got {templates.ndim} dimensions")
    if templates.shape[0] == 0:
        raise TemplateError(f"{what}: empty batch")
    if templates.shape[1] != dim:
        raise TemplateError(f"{what} must have dimension {dim}, got {templates.shape[1]}")
    values = templates.astype(np.float64)
    finite = np.isfinite(values).all(axis=1)
    if not finite.all():
        raise TemplateError(f"{what}: {_rows(~finite)} contain NaN or infinity")
    with np.errstate(over="ignore"):  # an overflow is what the next check refuses
        norms = np.linalg.norm(values, axis=1)
    # Finite values can still square to infinity (all 1e300): such a row would
    # normalise to zeros and be stored as a template that matches nothing.
    overflow = ~np.isfinite(norms)
    if overflow.any():
        raise TemplateError(f"{what}: {_rows(overflow)} have a norm too large to represent")
    if (norms < MIN_NORM).any():
        raise TemplateError(f"{what}: {_rows(norms < MIN_NORM)} have zero norm")
    return values / norms[:, None]


def _rows(bad: np.ndarray | np.bool_) -> str:
    """'3 row(s) (first: row 17)' - a count and a position, which say nothing of a face
    but let the caller find a failed detection in a large file or batch."""
    return f"{int(bad.sum())} row(s) (first: row {int(np.flatnonzero(bad)[0])})"
