"""Direct ensemble means from labeled database rows, and the check of a model curve on them.

A *direct* ensemble mean is the average of the labeler's own values (e.g. GFN1-xTB band
gaps) over one sampling set's configurations at a temperature: the quantity ⟨P⟩_T that
:func:`~thermognn.temperature.curve.harmonic_ensemble_average` estimates through a model,
measured without the model. The two agree at T when their difference lies within
``k`` combined standard errors, sqrt(sem_model² + sem_direct²) (k = 2 by default).
"""

from __future__ import annotations

import csv
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.errors import ThermognnError

log = logging.getLogger(__name__)


@dataclass
class DirectMeans:
    """Labeler ensemble means of one label per temperature.

    Attributes
    ----------
    label, unit
        Label name and unit.
    temperatures
        K, ascending, shape (n_T,).
    mean, sem
        Mean of the labeled rows at each T and its standard error (sample std with
        ddof 1 over sqrt(n); NaN for a single row).
    n
        Labeled rows at each T.
    material, query
        The selection the rows came from.
    scheme, supercell, labeler
        What the rows record (``""`` when mixed or absent).
    """

    label: str
    unit: str
    temperatures: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    n: np.ndarray
    material: str = ""
    query: str | None = None
    scheme: str = ""
    supercell: str = ""
    labeler: str = ""


def direct_ensemble_means(
    db: Any,
    material: str,
    label: str,
    query: str | None = "scheme=phonon-gaussian",
) -> DirectMeans:
    """Group the labeled rows of one sampling set by temperature: mean, SE and n per T.

    Parameters
    ----------
    db
        Study database (path, URL or :class:`~thermognn.database.StudyDatabase`); it is
        only read (never created or written).
    material
        Rows' ``material`` key (``Ag3SBr``, …).
    label
        Label key to average (``band_gap``, ``energy_per_atom``, …).
    query
        Further ASE selection naming the sampling set (default: the ``phonon-gaussian``
        scheme). Rows must also be labeled and carry a temperature.

    Raises
    ------
    ThermognnError
        No matching labeled row, or rows of several supercell sizes (their labels are
        not comparable: narrow the query).
    """
    from thermognn.database import StudyDatabase
    from thermognn.labels.base import LABEL_UNITS

    if not isinstance(db, StudyDatabase):
        db = StudyDatabase(db, create=False)
    selection = ",".join(s for s in (query, f"material={material}", "labeled=1") if s)
    groups: dict[float, list[float]] = defaultdict(list)
    seen: dict[str, set[str]] = {"scheme": set(), "supercell": set(), "labeler": set()}
    for row in db.select(selection, include_data=False):
        kv = row.key_value_pairs
        if kv.get("temperature") is None or kv.get(label) is None:
            continue
        groups[round(float(kv["temperature"]), 6)].append(float(kv[label]))
        for key, kept in seen.items():
            kept.add(str(kv.get(key, "")))
    if not groups:
        raise ThermognnError(
            f"{db.url}: no labeled rows with {label} and a temperature ({selection})"
        )
    if len(seen["supercell"]) > 1:
        raise ThermognnError(
            f"{db.url}: rows of {selection} span supercells {sorted(seen['supercell'])}; "
            "labels compare only within one size — narrow the query"
        )
    temps = np.array(sorted(groups))
    samples = [np.asarray(groups[t]) for t in temps]
    n = np.array([v.size for v in samples])
    sem = np.array([v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else np.nan for v in samples])

    def one(key: str) -> str:
        return next(iter(seen[key])) if len(seen[key]) == 1 else ""

    return DirectMeans(
        label=label,
        unit=LABEL_UNITS.get(label, ""),
        temperatures=temps,
        mean=np.array([v.mean() for v in samples]),
        sem=sem,
        n=n,
        material=material,
        query=query,
        scheme=one("scheme"),
        supercell=one("supercell"),
        labeler=one("labeler"),
    )


@dataclass
class DirectComparison:
    """Model curve versus direct means at each temperature both have.

    Attributes
    ----------
    rows
        One dict per temperature: ``temperature_K, model_mean, model_sem, direct_mean,
        direct_sem, n_direct, difference, combined_se, z, within, in_training_range``.
    k
        Agreement threshold in combined standard errors.
    label, unit
        The compared label.
    skipped
        Direct temperatures (K) missing from the curve.
    """

    rows: list[dict[str, Any]]
    k: float
    label: str
    unit: str
    skipped: list[float] = field(default_factory=list)

    @property
    def all_within(self) -> bool:
        return all(r["within"] for r in self.rows)

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(self.rows[0]) if self.rows else ["none"])
            writer.writeheader()
            for r in self.rows:
                writer.writerow(
                    {k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()}
                )
        return path

    def lines(self) -> list[str]:
        """Human-readable summary, one line per temperature."""
        out = []
        for r in self.rows:
            verdict = "within" if r["within"] else "OUTSIDE"
            out.append(
                f"{r['temperature_K']:g} K: model {r['model_mean']:.4f} ± {r['model_sem']:.4f}, "
                f"direct {r['direct_mean']:.4f} ± {r['direct_sem']:.4f} (n={r['n_direct']}) "
                f"{self.unit}; Δ = {r['difference']:+.4f} = {r['z']:+.2f} SE → {verdict} "
                f"{self.k:g} SE"
            )
        return out


def compare_with_direct(curve: Any, direct: DirectMeans, *, k: float = 2.0) -> DirectComparison:
    """At each direct temperature on the curve: is |Δ| ≤ k·sqrt(sem_model² + sem_direct²)?

    Parameters
    ----------
    curve
        A :class:`~thermognn.temperature.curve.TemperatureCurve` predicting
        ``direct.label``.
    direct
        From :func:`direct_ensemble_means`.
    k
        Threshold in combined standard errors (2 ≈ a 95 % two-sided test).

    Raises
    ------
    ThermognnError
        The curve does not predict the label, or its supercell differs from the rows'.
    """
    if direct.label not in curve.labels:
        raise ThermognnError(f"curve predicts {curve.labels}, not the direct label {direct.label}")
    cell = "x".join(str(int(c)) for c in curve.settings.get("supercell", []))
    if cell and direct.supercell and cell != direct.supercell:
        raise ThermognnError(
            f"curve supercell {cell} differs from the direct rows' {direct.supercell}"
        )
    if direct.scheme and curve.settings.get("scheme") not in (None, direct.scheme):
        log.warning(
            "curve scheme %s differs from the direct rows' %s: different ensembles",
            curve.settings.get("scheme"),
            direct.scheme,
        )
    j = curve.labels.index(direct.label)
    flags = curve.in_training_range
    rows, skipped = [], []
    for t, dm, ds, n in zip(direct.temperatures, direct.mean, direct.sem, direct.n, strict=True):
        hit = np.flatnonzero(np.isclose(curve.temperatures, t, rtol=0.0, atol=1e-6))
        if hit.size == 0:
            skipped.append(float(t))
            continue
        i = int(hit[0])
        mm, ms = float(curve.mean[i, j]), float(curve.sem[i, j])
        se = float(np.hypot(ms, ds))
        diff = mm - float(dm)
        rows.append(
            {
                "temperature_K": float(t),
                "model_mean": mm,
                "model_sem": ms,
                "direct_mean": float(dm),
                "direct_sem": float(ds),
                "n_direct": int(n),
                "difference": diff,
                "combined_se": se,
                "z": diff / se if se > 0 else float("inf") * np.sign(diff),
                "within": bool(abs(diff) <= k * se),
                "in_training_range": None if flags is None else bool(flags[i]),
            }
        )
    if skipped:
        log.warning("direct temperatures %s K are not on the curve: not compared", skipped)
    return DirectComparison(rows, k, direct.label, direct.unit, skipped)
