"""Report figures: label distributions (SI Fig. 10), parity plots and error histograms (Fig. 2)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from thermognn.labels.base import LABEL_NAMES, LABEL_UNITS
from thermognn.plotting import pyplot, save_figure

PRETTY = {
    "energy_per_atom": "E₀",
    "band_gap": "E_g",
    "vbm": "VBM",
    "hydrostatic_stress": "σ_h",
}
SCHEME_COLOURS = {
    "phonon": "#2a9d5c",
    "random": "#7b4fb0",
    "random-matched": "#7b4fb0",
    "random-paper": "#c0392b",
    "combined": "#3a6fc4",
    "md": "#d9822b",
}
#: Band gap (eV) below which a cell counts as near-metallic.
NEAR_METAL_GAP = 0.1


def set_values(db_path: str | Path) -> dict[str, dict[str, list[float]]]:
    """Label values per sampling set (``sample_set``, else the scheme), references left out."""
    from thermognn.database import StudyDatabase

    db = StudyDatabase(db_path, create=False)
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in db.select(labeled=True):
        if row.scheme == "reference":
            continue
        name = str(row.get("sample_set", row.scheme))
        for lab in LABEL_NAMES:
            if lab in row.key_value_pairs:
                values[name][lab].append(row[lab])
    return values


def set_summary(values: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    """Per set: count, mean ± std of each label, and the near-metallic fraction."""
    out: dict[str, dict[str, float]] = {}
    for name, by_label in sorted(values.items()):
        gaps = np.asarray(by_label.get("band_gap", []), dtype=float)
        entry: dict[str, float] = {"n": float(len(gaps))}
        for lab, v in by_label.items():
            entry[f"{lab}_mean"] = float(np.mean(v))
            entry[f"{lab}_std"] = float(np.std(v))
        entry["near_metallic_fraction"] = (
            float(np.mean(gaps < NEAR_METAL_GAP)) if len(gaps) else 0.0
        )
        out[name] = entry
    return out


def label_distributions(db_path: str | Path, path: str | Path) -> Path:
    """Histograms of the four labels per sampling set, side by side (paper SI Fig. 10)."""
    plt = pyplot()
    values = set_values(db_path)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for ax, lab in zip(axes, LABEL_NAMES):
        allv = np.concatenate(
            [np.asarray(v[lab]) for v in values.values() if v[lab]] or [np.zeros(1)]
        )
        bins = np.linspace(np.percentile(allv, 0.5), np.percentile(allv, 99.5), 50)
        for k, (name, by_label) in enumerate(sorted(values.items())):
            v = by_label.get(lab, [])
            if v:
                ax.hist(
                    v,
                    bins=bins,
                    density=True,
                    histtype="step",
                    lw=1.5,
                    color=SCHEME_COLOURS.get(name, f"C{k}"),
                    label=f"{name} ({len(v)})",
                )
        ax.set_xlabel(f"{PRETTY[lab]} ({LABEL_UNITS[lab]})")
        ax.set_ylabel("density")
    axes[0].legend(fontsize=8)
    return save_figure(fig, path, dpi=120)


def read_predictions(run_dir: str | Path) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``predictions.csv`` of a run → {label: {split: (true, predicted)}}."""
    out: dict[str, dict[str, list[list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: [[], []])
    )
    with (Path(run_dir) / "predictions.csv").open() as fh:
        for r in csv.DictReader(fh):
            t, p = out[r["label"]][r["split"]]
            t.append(float(r["true"]))
            p.append(float(r["predicted"]))
    return {
        lab: {s: (np.asarray(v[0]), np.asarray(v[1])) for s, v in d.items()}
        for lab, d in out.items()
    }


def _density_colours(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import gaussian_kde

    if len(x) < 5 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.ones_like(x)
    xy = np.vstack([x, y])
    try:
        return gaussian_kde(xy)(xy)
    except np.linalg.LinAlgError:
        return np.ones_like(x)


def parity_figure(
    run_dir: str | Path, label: str, path: str | Path, reference: str = "xTB"
) -> Path:
    """Train/val/test parity plots coloured by point density, and the error histograms."""
    plt = pyplot()
    data = read_predictions(run_dir)[label]
    splits = [s for s in ("train", "val", "test") if s in data]
    fig, axes = plt.subplots(1, len(splits) + 1, figsize=(4.0 * (len(splits) + 1), 3.7))
    unit = LABEL_UNITS.get(label, "")
    lo = min(min(t.min(), p.min()) for t, p in data.values())
    hi = max(max(t.max(), p.max()) for t, p in data.values())
    for ax, split in zip(axes, splits):
        t, p = data[split]
        c = _density_colours(t, p)
        order = np.argsort(c)
        ax.scatter(t[order], p[order], c=c[order], s=6, cmap="viridis")
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        mae = np.mean(np.abs(p - t))
        ax.set_title(f"{split}: MAE {mae:.3g} {unit}")
        ax.set_xlabel(f"{reference} {PRETTY.get(label, label)} ({unit})")
        ax.set_ylabel(f"GNN {PRETTY.get(label, label)} ({unit})")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    ax = axes[-1]
    for split in splits:
        t, p = data[split]
        ax.hist(p - t, bins=40, density=True, histtype="step", lw=1.5, label=split)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel(f"error ({unit})")
    ax.set_ylabel("normalised density")
    ax.legend(fontsize=8)
    return save_figure(fig, path, dpi=120)
