"""Figure of a harmonic ensemble-average curve ⟨P⟩_T, optionally with direct labeler means."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from thermognn.temperature.curve import TemperatureCurve
    from thermognn.temperature.direct import DirectMeans


def plot_curve(
    curve: TemperatureCurve,
    path: str | Path,
    *,
    direct: DirectMeans | None = None,
    k: float = 2.0,
) -> Path:
    """One panel per label: ⟨P⟩_T with its bands, the training range and direct means.

    Drawn: the model-averaged ⟨P⟩_T (line); a band of ± the model spread (several models)
    or ± ``k`` standard errors (one model, whose spread is unknown); dashed lines at ± the
    thermal spread of single configurations; grey shading outside the training
    temperatures; and, for ``direct``'s label, the labeler means with ± ``k`` SE bars.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(curve.labels)
    fig, axes = plt.subplots(1, n, figsize=(4.8 * n, 3.8), squeeze=False)
    t = curve.temperatures
    for j, (ax, lab) in enumerate(zip(axes[0], curve.labels, strict=True)):
        m = curve.mean[:, j]
        if curve.n_models > 1:
            band, what = curve.model_std[:, j], f"± model spread ({curve.n_models} models)"
        else:
            band, what = k * curve.sem[:, j], f"± {k:g} SE (one model: spread unknown)"
        ax.fill_between(t, m - band, m + band, alpha=0.3, color="C0", label=what)
        ax.plot(t, m, "o-", ms=3, color="C0", label=f"model ⟨{lab}⟩_T ({curve.scheme})")
        thermal = curve.thermal_std[:, j]
        ax.plot(t, m - thermal, "--", lw=0.8, color="C0", alpha=0.6)
        ax.plot(t, m + thermal, "--", lw=0.8, color="C0", alpha=0.6, label="± thermal spread")
        _shade_outside(ax, curve)
        if direct is not None and direct.label == lab:
            ax.errorbar(
                direct.temperatures,
                direct.mean,
                yerr=k * np.nan_to_num(direct.sem),
                fmt="s",
                ms=4,
                capsize=3,
                color="C3",
                label=f"direct {direct.labeler or 'labeler'} means ± {k:g} SE (n={_span(direct.n)})",
            )
        unit = curve.units.get(lab, "")
        ax.set_xlabel("temperature T (K)")
        ax.set_ylabel(f"⟨{lab}⟩_T ({unit})" if unit else f"⟨{lab}⟩_T")
        ax.set_title(f"{curve.material}: harmonic fixed-volume ⟨{lab}⟩_T", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _shade_outside(ax, curve: TemperatureCurve) -> None:
    """Grey spans over the temperatures outside the training range."""
    dom = curve.training_domain
    if dom is None:
        return
    lo = min(float(curve.temperatures.min()), dom.t_min)
    hi = max(float(curve.temperatures.max()), dom.t_max)
    label: str | None = f"outside training range ({dom.t_min:g}–{dom.t_max:g} K)"
    if lo < dom.t_min:
        ax.axvspan(lo, dom.t_min, color="0.5", alpha=0.15, lw=0, label=label)
        label = None
    if hi > dom.t_max:
        ax.axvspan(dom.t_max, hi, color="0.5", alpha=0.15, lw=0, label=label)


def _span(n: np.ndarray) -> str:
    lo, hi = int(n.min()), int(n.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"
