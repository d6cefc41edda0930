"""Draw ms per probe against gallery size (log-log) from a bench result."""

from __future__ import annotations

from pathlib import Path

from vault.errors import ConfigurationError

__all__ = ["plot_curve"]

_SERIES = (
    ("plaintext_ms_per_probe", "plaintext numpy float32 (one probe)", "o-"),
    ("he_ms_per_probe", "biovault encrypted (one probe)", "s-"),
    ("he_batched_ms_per_probe", "biovault encrypted (batched, per probe)", "s--"),
    ("column_tenseal_ms_per_probe", "TenSEAL column packing (measured 1 block, scaled)", "^-"),
    ("naive_tenseal_ms_per_probe", "TenSEAL one vector per template (sample, scaled)", "v-"),
)


def plot_curve(result: dict, path: Path) -> None:
    """Write the scaling plot of ``result["curve"]`` to ``path`` (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ConfigurationError("--plot needs matplotlib: pip install 'biovault[bench]'") from e
    curve = result["curve"]
    sizes = [point["gallery"] for point in curve]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for key, label, style in _SERIES:
        axes.plot(sizes, [point[key] for point in curve], style, label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("gallery size (templates)")
    axes.set_ylabel("ms per probe")
    axes.set_title(f"1:N identification, d = {result['dim']}, this machine")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
