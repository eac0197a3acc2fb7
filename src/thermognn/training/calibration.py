"""Calibration of an ensemble's predicted spread: coverage, one scale per label, a plot.

An ensemble predicts a mean μ and a spread σ (standard deviation over its members) per
structure. Read as a Gaussian, the interval μ ± zσ should hold the true value with
probability 2Φ(z) − 1: 68.3 % at 1σ, 95.4 % at 2σ. A deep ensemble's spread is usually
too small (over-confident); :func:`fit_scale` finds the one factor s per label that
makes the validation rows' standardised errors (y − μ)/σ have unit second moment
(the Gaussian maximum-likelihood scale), and the calibrated spread is sσ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

#: Expected coverage levels of the calibration curve.
LEVELS = tuple(np.round(np.linspace(0.05, 0.95, 19), 2))

#: Fewest rows a scale is fitted on (fewer: the raw spread is kept, scale 1).
MIN_ROWS = 5

#: A fitted scale within this relative distance of 1 calls the raw spread calibrated.
TOLERANCE = 0.15

#: Floor of a spread, relative to the largest one (members that agree exactly).
_FLOOR = 1e-9


def _z(level: float) -> float:
    """Half-width in σ of the central interval holding ``level`` of a Gaussian."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def coverage(error: np.ndarray, std: np.ndarray, width: float) -> float:
    """Fraction of ``|error| ≤ width · std`` (NaN without rows)."""
    error, std = np.abs(np.asarray(error, float)), np.asarray(std, float)
    return float(np.mean(error <= width * std)) if len(error) else math.nan


def coverage_curve(
    error: np.ndarray, std: np.ndarray, levels: Sequence[float] = LEVELS
) -> np.ndarray:
    """Observed coverage of the central Gaussian interval of each expected level."""
    return np.array([coverage(error, std, _z(p)) for p in levels])


def fit_scale(error: np.ndarray, std: np.ndarray) -> float:
    """Gaussian maximum-likelihood factor s of the spread: √mean((error/σ)²).

    Returns 1 for fewer than :data:`MIN_ROWS` rows. s > 1: the raw spread is too small
    (over-confident); s < 1: too large (under-confident).
    """
    error, std = np.asarray(error, float), np.asarray(std, float)
    if len(error) < MIN_ROWS:
        return 1.0
    floor = _FLOOR * max(float(std.max()), 1e-300)
    z = error / np.maximum(std, floor)
    return float(math.sqrt(np.mean(z**2)))


def verdict(scale: float) -> str:
    """``over-confident``, ``under-confident`` or ``calibrated`` from a fitted scale."""
    if scale > 1 + TOLERANCE:
        return "over-confident"
    if scale < 1 / (1 + TOLERANCE):
        return "under-confident"
    return "calibrated"


def calibrate(
    true: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    fit_rows: np.ndarray,
    report_rows: np.ndarray,
    labels: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """Fit one scale per label on ``fit_rows``; coverage on ``report_rows``.

    Parameters
    ----------
    true, mean, std
        ``[n, n_labels]`` arrays in the labels' units.
    fit_rows
        Positions the scale is fitted on (the validation rows).
    report_rows
        Positions the coverage is reported on (the test rows; the validation rows
        when there are none).
    labels
        Label names, in column order.

    Returns
    -------
    dict
        Per label: ``scale``, ``raw`` (the verdict on the raw spread), ``fit_rows``,
        ``report_rows``, and ``coverage_1sigma``/``coverage_2sigma`` of the raw and
        the calibrated spread (``raw_…`` and ``calibrated_…``), plus the curves
        (``levels``, ``raw_curve``, ``calibrated_curve``).
    """
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(labels):
        error = true[:, k] - mean[:, k]
        scale = fit_scale(error[fit_rows], std[fit_rows, k])
        e, s = error[report_rows], std[report_rows, k]
        out[name] = {
            "scale": scale,
            "raw": verdict(scale),
            "fit_rows": int(len(fit_rows)),
            "report_rows": int(len(report_rows)),
            "raw_coverage_1sigma": coverage(e, s, 1.0),
            "raw_coverage_2sigma": coverage(e, s, 2.0),
            "calibrated_coverage_1sigma": coverage(e, scale * s, 1.0),
            "calibrated_coverage_2sigma": coverage(e, scale * s, 2.0),
            "expected_1sigma": 2 * NormalDist().cdf(1) - 1,
            "expected_2sigma": 2 * NormalDist().cdf(2) - 1,
            "levels": list(LEVELS),
            "raw_curve": coverage_curve(e, s).tolist(),
            "calibrated_curve": coverage_curve(e, scale * s).tolist(),
        }
    return out


def describe(label: str, entry: Mapping[str, Any], where: str = "test") -> str:
    """One sentence on a label's spread: verdict, scale, 1σ/2σ coverage."""

    def pct(x: Any) -> str:
        return "–" if x is None or x != x else f"{100 * x:.0f} %"

    return (
        f"{label}: raw ensemble spread {entry['raw']} (scale {entry['scale']:.2f} fitted on "
        f"{entry['fit_rows']} validation rows); {where} errors within 1σ/2σ: raw "
        f"{pct(entry['raw_coverage_1sigma'])}/{pct(entry['raw_coverage_2sigma'])}, calibrated "
        f"{pct(entry['calibrated_coverage_1sigma'])}/{pct(entry['calibrated_coverage_2sigma'])} "
        f"(expected 68 %/95 %)"
    )


def plot_calibration(path: Path, calibration: Mapping[str, Mapping[str, Any]]) -> Path:
    """Expected against observed coverage per label, raw and calibrated (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(calibration), 1)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.6), squeeze=False)
    for ax, (label, entry) in zip(axes[0], calibration.items(), strict=False):
        levels = entry["levels"]
        ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="ideal")
        ax.plot(levels, entry["raw_curve"], "o-", ms=3, label="raw spread")
        ax.plot(
            levels,
            entry["calibrated_curve"],
            "s-",
            ms=3,
            label=f"calibrated (×{entry['scale']:.2f})",
        )
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel="expected coverage",
            ylabel="observed coverage",
            title=f"{label} ({entry['report_rows']} rows)",
        )
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
