"""The sections of the HTML report, one function each, in page order.

Every sentence that states a result is generated here from the run's tables
(``curves/results.csv``, ``curves/differences.csv``, ``models.json`` …), never written
by hand.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable

from thermognn.labels.base import LABEL_NAMES, LABEL_UNITS
from thermognn.report.comparisons import section_ag3sbr, section_compare, section_curves
from thermognn.report.page import PAPER, Report, csv_rows, img, table

COMBINED = "combined"


def section_data(r: Report) -> None:
    r.add("<h2>Data set</h2>")
    prov = r.need("dataset.json", "data set summary")
    if prov:
        info = json.loads(prov.read_text())
        rows = [
            [c["material"], c["scheme"], c["labeled"], c["failed"], c["pending"]]
            for c in info.get("counts", [])
        ]
        r.add(table(["material", "scheme", "labeled", "failed (SCF)", "pending"], rows))
        sets = info.get("sets", {})
        if sets:
            r.add(
                "<p>Labels per sampling set (mean ± std) and the share of near-metallic cells (gap &lt; 0.1 eV):</p>"
            )
            r.add(
                table(
                    [
                        "set",
                        "cells",
                        "E₀ (eV/atom)",
                        "E_g (eV)",
                        "VBM (eV)",
                        "σ_h (GPa)",
                        "gap < 0.1 eV",
                    ],
                    [
                        [name, int(s["n"])]
                        + [
                            f"{s.get(f'{k}_mean', float('nan')):.3f} ± {s.get(f'{k}_std', float('nan')):.3f}"
                            for k in LABEL_NAMES
                        ]
                        + [f"{100 * s['near_metallic_fraction']:.1f} %"]
                        for name, s in sets.items()
                    ],
                )
            )
        cal = info.get("calibration")
        if cal:
            r.add(
                f"<p><code>random-matched</code>: amplitudes a ~ U[{cal['best'][0]:.2f}, "
                f"{cal['best'][1]:.2f}] Å, chosen so its band gaps match the phonon set's (KS "
                f"distance {cal['ks']:.2f}). <code>random-paper</code>: the paper's own range, "
                "a ~ U[0.1, 0.8] Å (its eq. 2).</p>"
            )
    fig = r.need("figures/label_distributions.png", "label distributions figure")
    if fig:
        r.add(
            "<h3>Label distributions per set (cf. paper SI Fig. 10)</h3>"
            + img(fig, "distributions")
        )


def section_models(r: Report) -> None:
    r.add("<h2>Models of every set together (cf. paper Table 1 and Fig. 2)</h2>")
    path = r.need("models.json", "Table 1 summary")
    if not path:
        return
    models = json.loads(path.read_text())
    rows = []
    for lab, m in models.items():
        paper = PAPER["table1"][lab]["test"]
        rows.append(
            [
                lab,
                LABEL_UNITS[lab],
                m["size"],
                m["n_seeds"],
                m["n_test"],
                f"{m['mae']:.4g} ± {m['mae_std']:.2g}",
                paper[0],
                f"{m['r2']:.3f} ± {m['r2_std']:.2g}",
                paper[2],
                f"{m['train_r2']:.3f}",
            ]
        )
    r.add(
        "<p>Trained on the union of the sets' pools at the largest size, scored on the union of "
        "the reserved test sets; mean ± std over paired seeds, each label with its own sweep's "
        "best setting (or the band gap's).</p>"
    )
    r.add(
        table(
            ["label", "unit", "train size", "seeds", "test rows", "test MAE", "paper MAE"]
            + ["test R²", "paper R²", "train R²"],
            rows,
        )
    )
    sets = sorted({k for m in models.values() for k in m.get("by_test_set", {})})
    if sets:
        r.add("<p>The same models on each reserved test set (MAE / R², mean over seeds):</p>")
        r.add(
            table(
                ["label", *sets],
                [
                    [lab]
                    + [
                        f"{m['by_test_set'][s]['mae']:.4g} / {m['by_test_set'][s]['r2']:.3f}"
                        if s in m.get("by_test_set", {})
                        else "–"
                        for s in sets
                    ]
                    for lab, m in models.items()
                ],
            )
        )
    for lab in LABEL_NAMES:
        fig = r.need(f"figures/parity_{lab}.png", f"{lab} parity figure")
        if fig:
            r.add(f"<h3>{lab}</h3>" + img(fig, f"parity {lab}"))


def section_sweep(r: Report) -> None:
    r.add("<h2>Hyperparameter sweep (cf. paper SI Figs. 5–8)</h2>")
    folders = sorted(p for p in (r.root / "sweep").glob("*") if (p / "trials.csv").is_file())
    if not folders:
        r.need("sweep/band_gap/trials.csv", "sweep trials")
        return
    r.add(
        "<p>Every trial trains on the same rows drawn from the pools (never a reserved test row) "
        "and is ranked on the same validation rows.</p>"
    )
    for folder in folders:
        trials = [t for t in csv_rows(folder / "trials.csv") if t.get("status") == "ok"]
        trials.sort(key=lambda t: float(t.get("val_mae") or "inf"))
        keys = ["model", "lr", "hidden", "dropout", "epochs_run", "val_mae", "val_r2", "wall_time"]
        r.add(f"<h3>{folder.name}: {len(trials)} finished trials, best first</h3>")
        r.add(table(keys, [[t.get(k, "") for k in keys] for t in trials[:10]]))
        if (folder / "violins.png").is_file():
            r.add(img(folder / "violins.png", f"violins {folder.name}"))


def section_explain(r: Report) -> None:
    r.add("<h2>Which bonds matter (cf. paper Fig. 5)</h2>")
    pairs = r.need("explain/pairs.csv", "explanation table")
    if pairs:
        rows = csv_rows(pairs)
        threshold = PAPER["explain_threshold"]
        r.add(
            "<p>GNNExplainer on reserved test rows; parallel edges merged by their mean; per "
            "species pair the mean over models with its 95 % interval.</p>"
        )
        r.add(
            table(
                [
                    "model",
                    "bond type",
                    "models",
                    "bonds",
                    "mean importance",
                    f"fraction > {threshold}",
                ],
                [
                    [
                        x["model"],
                        x["pair"],
                        x.get("n_models", ""),
                        x["bonds"],
                        _interval(x, "mean"),
                        _interval(x, "fraction_above"),
                    ]
                    for x in rows
                ],
            )
        )
        r.add(
            "<p class=paper>Paper: the best band-gap model gives most bonds low importance "
            "(&lt; 0.4) and a few, mostly Ag–S, very high importance (&gt; 0.8); a poor model spreads "
            "moderate importance over all bonds and flags a single Ag–Ag edge.</p>"
        )
    fig = r.need("explain/importance_density.png", "importance densities")
    if fig:
        r.add(img(fig, "importance densities"))
    view = r.root / "explain" / "view_best.html"
    if view.exists():
        r.add(
            "<h3>Important bonds in 3D (interactive)</h3>"
            f'<iframe style="width:100%;height:560px;border:1px solid #ccc" srcdoc="'
            f'{html.escape(view.read_text())}"></iframe>'
        )


def _interval(row: dict[str, str], key: str) -> str:
    lo, hi = row.get(f"{key}_lo", ""), row.get(f"{key}_hi", "")
    if lo in ("", "nan") or hi in ("", "nan"):
        return row[key]
    return f"{row[key]} [{lo}, {hi}]"


def section_temperature(r: Report) -> None:
    r.add("<h2>Band gap versus temperature: harmonic, fixed-volume ⟨E_g⟩_T, checked</h2>")
    fig = r.need("temperature/curve.png", "E_g(T) figure")
    if fig:
        r.add(img(fig, "Eg(T)"))
    check = r.root / "temperature" / "direct_check.csv"
    if check.is_file():
        rows = csv_rows(check)
        r.add(
            "<p>The model curve (the seeds' models, Gaussian thermal displacements with ⟨u²⟩ = ζ²) "
            "against direct GFN1-xTB means of independently sampled and labeled ensembles:</p>"
        )
        r.add(table(list(rows[0]), [list(x.values()) for x in rows]) if rows else "")
        text = r.root / "temperature" / "direct_check.txt"
        if text.is_file():
            r.add(
                "<ul>"
                + "".join(
                    f"<li>{html.escape(t)}</li>" for t in text.read_text().splitlines() if t.strip()
                )
                + "</ul>"
            )
    table_path = r.need("temperature/curve.csv", "E_g(T) table")
    if table_path:
        rows = csv_rows(table_path)
        keys = [
            k
            for k in (
                "temperature_K",
                "label",
                "mean",
                "sem",
                "thermal_std",
                "model_std",
                "in_training_range",
            )
            if rows and k in rows[0]
        ]
        r.add(table(keys, [[x[k] for k in keys] for x in rows]))


SECTIONS: list[Callable[[Report], None]] = [
    section_data,
    section_models,
    section_sweep,
    section_curves,
    section_ag3sbr,
    section_compare,
    section_explain,
    section_temperature,
]
