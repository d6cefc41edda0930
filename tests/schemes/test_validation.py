"""Template validation: every bad input gets a clear TemplateError before any crypto."""

import numpy as np
import pytest

from vault.errors import TemplateError
from vault.schemes.validation import validate_templates

GOOD = np.ones((2, 8), dtype=np.float32)


def _with(value, row=0, col=0):
    bad = GOOD.copy()
    bad[row, col] = value
    return bad


@pytest.mark.parametrize(
    ("templates", "message"),
    [
        ([[1.0] * 8], "numpy array"),
        (np.ones((2, 8), dtype=np.int32), "float32 or float64"),
        (np.ones((2, 8), dtype=np.float16), "float32 or float64"),
        (np.ones((2, 2, 8)), "shape"),
        (np.ones((0, 8)), "empty batch"),
        (np.ones((2, 7)), "dimension 8"),
        (_with(np.nan), "NaN or infinity"),
        (_with(np.inf, 1, 3), r"1 row\(s\) \(first: row 1\) contain NaN or infinity"),
        (np.zeros((1, 8)), "zero norm"),
        (np.vstack([GOOD, np.zeros((2, 8))]), r"2 row\(s\) \(first: row 2\) have zero norm"),
    ],
)
def test_bad_templates_are_rejected(templates, message):
    """Each malformed batch raises TemplateError naming the problem."""
    with pytest.raises(TemplateError, match=message):
        validate_templates(templates, 8)


def test_good_templates_are_normalised():
    """Valid rows come back as float64 unit vectors; a 1-D probe becomes one row."""
    out = validate_templates(GOOD * 3, 8)
    assert out.dtype == np.float64 and np.allclose(np.linalg.norm(out, axis=1), 1.0)
    assert validate_templates(np.ones(8, dtype=np.float64), 8).shape == (1, 8)


def test_error_message_never_contains_values():
    """Messages describe the problem without echoing template values."""
    with pytest.raises(TemplateError) as info:
        validate_templates(_with(np.nan) * 0.123456, 8)
    assert "0.123" not in str(info.value)


def test_rows_whose_norm_overflows_are_rejected():
    """A float64 row of all 1e300 is finite but its norm is not: refused, never
    normalised to a zero template."""
    huge = np.ones((3, 8))
    huge[1:] = 1e300
    with pytest.raises(TemplateError, match=r"2 row\(s\) \(first: row 1\) have a norm too large"):
        validate_templates(huge, 8)
