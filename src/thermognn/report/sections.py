"""The sections of the HTML report, one function each, in page order.

Every sentence that states a result is generated here from the run's tables
(``curves/results.csv``, ``curves/differences.csv``, ``models.json`` …), never written
by hand. Each function fills a :class:`~thermognn.report.page.Section` with blocks;
every figure carries a caption saying what it shows and what the paper's counterpart
showed.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from markupsafe import Markup

from thermognn.labels.base import LABEL_NAMES, LABEL_UNITS
from thermognn.report.comparisons import (
    section_ag3sbr,
    section_compare,
    section_curves,
    section_families,
)
from thermognn.report.figures import PRETTY
from thermognn.report.page import PAPER, Report, Section, csv_rows, fmt, fmt_pm

COMBINED = "combined"


def section_data(r: Report) -> None:
    s = r.section("data", "Data set")
    prov = r.need("dataset.json", "data set summary")
    if prov:
        info = json.loads(prov.read_text())
        rows = [
            [c["material"], c["scheme"], c["labeled"], c["failed"], c["pending"]]
            for c in info.get("counts", [])
        ]
        s.table(["material", "scheme", "labeled", "failed (SCF)", "pending"], rows)
        sets = info.get("sets", {})
        if sets:
            nan = float("nan")
            s.table(
                ["set", "cells", "E₀ (eV/atom)", "E_g (eV)", "VBM (eV)", "σ_h (GPa)"]
                + ["gap < 0.1 eV"],
                [
                    [name, int(v["n"])]
                    + [fmt_pm(v.get(f"{k}_mean", nan), v.get(f"{k}_std", nan)) for k in LABEL_NAMES]
                    + [f"{100 * v['near_metallic_fraction']:.1f} %"]
                    for name, v in sets.items()
                ],
                caption="Labels per sampling set (mean ± std) and the share of near-metallic "
                "cells (gap < 0.1 eV)",
            )
        cal = info.get("calibration")
        if cal:
            s.p(
                Markup(
                    "<code>random-matched</code>: amplitudes a ~ U[{:.2f}, {:.2f}] Å, chosen so "
                    "its band gaps match the phonon set's (KS distance {:.2f}). "
                    "<code>random-paper</code>: the paper's own range, a ~ U[0.1, 0.8] Å (its "
                    "eq. 2)."
                ).format(cal["best"][0], cal["best"][1], cal["ks"])
            )
    fig = r.need("figures/label_distributions.png", "label distributions figure")
    if fig:
        s.figure(
            fig,
            "Normalised histograms of the four labels (E₀, E_g, VBM, σ_h), one line per "
            "sampling set, reference cells left out.",
            "SI Fig. 10 shows the same four DFT distributions for the phonon (green), random "
            "(violet) and combined (blue) sets: energies and stresses differ strongly between "
            "the sets (random cells reach high, unphysical energies), band gaps nearly coincide.",
        )


def section_models(r: Report) -> None:
    s = r.section("models", "Models of every set together (cf. paper Table 1 and Fig. 2)")
    path = r.need("models.json", "Table 1 summary")
    if path:
        models = json.loads(path.read_text())
        rows = []
        for lab, m in models.items():
            paper = PAPER["table1"][lab]["test"]
            rows.append(
                [lab, LABEL_UNITS[lab], m["size"], m["n_seeds"], m["n_test"]]
                + [fmt_pm(m["mae"], m["mae_std"]), paper[0]]
                + [fmt_pm(m["r2"], m["r2_std"]), paper[2], fmt(float(m["train_r2"]), 3)]
            )
        s.p(
            "Trained on the union of the sets' pools at the largest size, scored on the union "
            "of the reserved test sets; mean ± std over paired seeds, each label with its own "
            "sweep's best setting (or the band gap's)."
        )
        s.table(
            ["label", "unit", "train size", "seeds", "test rows", "test MAE", "paper MAE"]
            + ["test R²", "paper R²", "train R²"],
            rows,
        )
        sets = sorted({k for m in models.values() for k in m.get("by_test_set", {})})
        if sets:
            s.table(
                ["label", *sets],
                [
                    [lab]
                    + [
                        f"{fmt(m['by_test_set'][t]['mae'])} / {fmt(m['by_test_set'][t]['r2'], 3)}"
                        if t in m.get("by_test_set", {})
                        else "–"
                        for t in sets
                    ]
                    for lab, m in models.items()
                ],
                caption="The same models on each reserved test set (MAE / R², mean over seeds)",
            )
    _model_spread(r, s)
    for lab in LABEL_NAMES:
        fig = r.need(f"figures/parity_{lab}.png", f"{lab} parity figure")
        if fig:
            mae, _, r2 = PAPER["table1"][lab]["test"]
            s.figure(
                fig,
                f"{PRETTY[lab]} ({LABEL_UNITS[lab]}): GNN prediction against the xTB label on "
                "the training, validation and test rows (colour: point density), and the "
                "normalised error histogram of each split.",
                f"Fig. 2 shows the same panels against PBEsol DFT for the best model: points "
                f"close to the diagonal, errors centred on zero; test MAE {mae} "
                f"{LABEL_UNITS[lab]}, R² {r2} (Table 1).",
            )


def _model_spread(r: Report, s: Section) -> None:
    """The seeds' models as an ensemble: spread, 1σ/2σ coverage, calibration plot."""
    path = r.need("spread.json", "model spread")
    if not path:
        return
    spread = json.loads(path.read_text())
    if not spread:  # fewer than two seeds or ten test rows: nothing to calibrate
        return

    def pct(x: float) -> str:
        return f"{100 * x:.0f} %"

    s.h3("Model spread (the seeds' models as one ensemble)")
    s.p(
        "Each test structure is predicted by every seed's model; the ensemble mean μ and "
        "spread σ (standard deviation over the models) are scored on the test rows with odd "
        "row id, after one scale per label was fitted on those with even row id (expected: "
        "68 % of errors within 1σ, 95 % within 2σ)."
    )
    s.table(
        ["label", "models", "ensemble MAE", "mean σ", "raw 1σ / 2σ", "scale", "calibrated 1σ / 2σ"],
        [
            [
                lab,
                e["members"],
                fmt(e["ensemble_mae"]),
                fmt(e["mean_std"]),
                f"{pct(e['raw_coverage_1sigma'])} / {pct(e['raw_coverage_2sigma'])}",
                f"×{e['scale']:.2f} ({e['raw']})",
                f"{pct(e['calibrated_coverage_1sigma'])} / {pct(e['calibrated_coverage_2sigma'])}",
            ]
            for lab, e in spread.items()
        ],
    )
    for rel, caption in (
        (
            "figures/calibration.png",
            "Observed against expected coverage of μ ± zσ, raw and "
            "with the fitted scale, per label (odd-id test rows).",
        ),
        (
            "figures/spread_band_gap.png",
            "Band gap: ensemble mean ± σ against the xTB label, "
            "and each test structure's |error| against its σ.",
        ),
    ):
        fig = r.need(rel, rel)
        if fig:
            s.figure(fig, caption, "The paper trains one model per setting and gives no spread.")


def section_sweep(r: Report) -> None:
    s = r.section("sweep", "Hyperparameter sweep (cf. paper SI Figs. 5–8)")
    folders = sorted(p for p in (r.root / "sweep").glob("*") if (p / "trials.csv").is_file())
    if not folders:
        r.need("sweep/band_gap/trials.csv", "sweep trials")
        return
    s.p(
        "Every trial trains on the same rows drawn from the pools (never a reserved test row) "
        "and is ranked on the same validation rows."
    )
    keys = ["model", "lr", "hidden", "dropout", "epochs_run", "val_mae", "val_r2", "wall_time"]
    for folder in folders:
        trials = [t for t in csv_rows(folder / "trials.csv") if t.get("status") == "ok"]
        trials.sort(key=lambda t: float(t.get("val_mae") or "inf"))
        s.table(
            keys,
            [[t.get(k, "") for k in keys] for t in trials[:10]],
            caption=f"{folder.name}: {len(trials)} finished trials, best first (up to 10)",
        )
        if (folder / "violins.png").is_file():
            s.figure(
                folder / "violins.png",
                f"{folder.name}: validation metrics of every finished trial, grouped by "
                "architecture, learning rate, hidden channels and dropout (one violin per "
                "value).",
                "SI Figs. 5–8 show R², MAE and MSE violins over the 480-model grid (six "
                "architectures × five learning rates × four widths × four dropouts) for each "
                "of the four properties.",
            )


def section_explain(r: Report) -> None:
    s = r.section("explain", "Which bonds matter (cf. paper Fig. 5)")
    pairs = r.need("explain/pairs.csv", "explanation table")
    threshold = PAPER["explain_threshold"]
    if pairs:
        rows = csv_rows(pairs)
        s.p(
            "GNNExplainer on reserved test rows; parallel edges merged by their mean; per "
            "species pair the mean over models with its 95 % interval."
        )
        header = ["model", "bond type", "models", "bonds", "mean importance"]
        s.table(
            [*header, f"fraction > {threshold}"],
            [
                [x["model"], x["pair"], x.get("n_models", ""), x["bonds"]]
                + [_interval(x, "mean"), _interval(x, "fraction_above")]
                for x in rows
            ],
        )
    fig = r.need("explain/importance_density.png", "importance densities")
    if fig:
        s.figure(
            fig,
            "Edge-importance densities of the best and a poor band-gap model: all bonds, and "
            "each species pair.",
            "Fig. 5e,f: the best model gives most bonds low importance (< 0.4) and a few, "
            "mostly Ag–S, very high importance (> 0.8); a poor model spreads moderate "
            "importance (< 0.6) over all bonds and flags a single Ag–Ag edge above "
            f"{threshold}.",
        )
    view = r.root / "explain" / "view_best.html"
    if view.exists():
        s.iframe("Important bonds in 3D (interactive)", view.read_text())


def _interval(row: dict[str, str], key: str) -> str:
    lo, hi = row.get(f"{key}_lo", ""), row.get(f"{key}_hi", "")
    if lo in ("", "nan") or hi in ("", "nan"):
        return fmt(row[key], 3)
    return f"{fmt(row[key], 3)} [{fmt(lo, 3)}, {fmt(hi, 3)}]"


def section_temperature(r: Report) -> None:
    s = r.section(
        "temperature", "Band gap versus temperature: harmonic, fixed-volume ⟨E_g⟩_T, checked"
    )
    fig = r.need("temperature/curve.png", "E_g(T) figure")
    if fig:
        s.figure(
            fig,
            "⟨E_g⟩_T predicted by the seeds' models on cells with Gaussian thermal "
            "displacements (⟨u²⟩ = ζ², harmonic, fixed volume), with the spread over "
            "configurations and models; direct xTB means where they were computed.",
            "the paper draws no E_g(T) curve; its Fig. 5i sketches the band-gap reduction that "
            "atomic displacements cause through Ag–S bonding.",
        )
    check = r.root / "temperature" / "direct_check.csv"
    if check.is_file():
        rows = csv_rows(check)
        if rows:
            s.table(
                list(rows[0]),
                [list(x.values()) for x in rows],
                caption="The model curve against direct GFN1-xTB means of independently "
                "sampled and labeled ensembles",
            )
        text = r.root / "temperature" / "direct_check.txt"
        if text.is_file():
            s.items([t for t in text.read_text().splitlines() if t.strip()])
    table_path = r.need("temperature/curve.csv", "E_g(T) table")
    if table_path:
        rows = csv_rows(table_path)
        wanted = ("temperature_K", "label", "mean", "sem", "thermal_std", "model_std")
        keys = [k for k in (*wanted, "in_training_range") if rows and k in rows[0]]
        units = ", ".join(sorted({f"{x['label']} in {x.get('unit', '')}" for x in rows}))
        s.table(keys, [[x[k] for k in keys] for x in rows], caption=f"The curve ({units})")


SECTIONS: list[Callable[[Report], None]] = [
    section_data,
    section_models,
    section_sweep,
    section_curves,
    section_ag3sbr,
    section_families,
    section_compare,
    section_explain,
    section_temperature,
]
