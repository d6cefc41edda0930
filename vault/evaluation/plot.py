"""DET curves (FNMR against FMR on normal-deviate axes, ISO/IEC 19795-1) with matplotlib."""

from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np

from vault.evaluation.metrics import Comparisons

__all__ = ["plot_det"]

_TICKS = (1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5)


def _probit(rates: np.ndarray) -> np.ndarray:
    # Rates of 0 are drawn on the axis floor (no errors observed at that threshold).
    clipped = np.clip(rates, _TICKS[0], 1 - 1e-6)
    inverse = NormalDist().inv_cdf
    return np.array([inverse(float(r)) for r in clipped])


def plot_det(curves: dict[str, Comparisons], title: str, path: Path) -> None:
    """Draw one DET curve per (label -> sorted score sets) and save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 6))
    for label, comparisons in curves.items():
        far, frr = comparisons.det_curve()
        keep = (far <= _TICKS[-1]) | (frr <= _TICKS[-1])
        axes.plot(_probit(far[keep]), _probit(frr[keep]), label=label)
    ticks = _probit(np.array(_TICKS))
    labels = [f"{t:g}" for t in _TICKS]
    axes.set_xticks(ticks, labels)
    axes.set_yticks(ticks, labels)
    axes.set_xlim(ticks[0], ticks[-1])
    axes.set_ylim(ticks[0], ticks[-1])
    axes.set_xlabel("false match rate (FMR)")
    axes.set_ylabel("false non-match rate (FNMR)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
