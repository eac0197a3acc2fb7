"""One self-contained HTML page with every figure and table of a run folder.

Renders whatever exists in the folder and lists what is missing. Our numbers stand
beside the paper's where it publishes one; our labels come from GFN1-xTB, the paper's
from PBEsol DFT, so agreement in kind (who wins, by how much) is what to compare, not
the digits.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from thermognn._version import __version__
from thermognn.labels.base import LABEL_NAMES, LABEL_UNITS

#: Published numbers (Benítez et al. 2026): Table 1 and the Fig. 4 headlines.
PAPER: dict[str, Any] = {
    "table1": {
        "energy_per_atom": {
            "train": (0.024, 0.036, 0.89),
            "val": (0.028, 0.044, 0.79),
            "test": (0.022, 0.032, 0.85),
        },
        "band_gap": {
            "train": (0.034, 0.043, 0.81),
            "val": (0.035, 0.045, 0.79),
            "test": (0.035, 0.044, 0.79),
        },
        "vbm": {
            "train": (0.026, 0.035, 0.99),
            "val": (0.028, 0.037, 0.98),
            "test": (0.024, 0.033, 0.99),
        },
        "hydrostatic_stress": {
            "train": (0.65, 1.01, 0.84),
            "val": (0.65, 0.99, 0.84),
            "test": (0.60, 0.88, 0.82),
        },
    },
    "fig4": {
        "phonon_own": {"r2": 0.85, "mae": 0.030},
        "random_own": {"r2": 0.72, "mae": 0.036},
        "cross_test_mae_advantage": 0.010,
        "combined_test_mae": {"phonon": "< 0.040", "random": "> 0.045"},
        "converged_size": 1000,
    },
    "explain_threshold": 0.86,
    "dataset": {"per_scheme": 2250, "reserved_test": 250, "md_configs": "~1000"},
}

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}img{max-width:100%}
.note{background:#fff8e0;border-left:4px solid #e0b000;padding:.5em 1em}
.missing{color:#a00}.paper{color:#666}
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


class _Report:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.parts: list[str] = []
        self.missing: list[str] = []

    def need(self, rel: str, what: str) -> Path | None:
        p = self.root / rel
        if p.exists():
            return p
        self.missing.append(f"{what} ({rel})")
        return None

    def add(self, text: str) -> None:
        self.parts.append(text)


def _section_data(r: _Report) -> None:
    r.add("<h2>Data set</h2>")
    prov = r.need("dataset.json", "data set summary")
    if prov:
        info = json.loads(prov.read_text())
        rows = [
            [c["material"], c["scheme"], c["labeled"], c["failed"], c["pending"]]
            for c in info.get("counts", [])
        ]
        r.add(_table(["material", "scheme", "labeled", "failed (SCF)", "pending"], rows))
        cal = info.get("calibration")
        if cal:
            r.add(
                f"<p>Random amplitudes a ~ U[{cal['best'][0]:.2f}, {cal['best'][1]:.2f}] Å were "
                f"chosen so the random set's band gaps match the phonon set's (KS distance "
                f"{cal['ks']:.2f}; phonon gaps {cal['target_mean']:.3f} ± {cal['target_std']:.3f} eV). "
                f"The paper matched its gap distributions the same way (its SI Fig. 10).</p>"
            )
    fig = r.need("figures/label_distributions.png", "label distributions figure")
    if fig:
        r.add("<h3>Label distributions (cf. paper SI Fig. 10)</h3>" + _img(fig, "distributions"))


def _section_models(r: _Report) -> None:
    r.add("<h2>Best models per label (cf. paper Table 1 and Fig. 2)</h2>")
    rows = []
    for lab in LABEL_NAMES:
        m = r.need(f"models/{lab}/metrics.json", f"{lab} model metrics")
        if not m:
            continue
        metrics = json.loads(m.read_text())
        metrics = metrics.get("metrics", metrics)[lab]
        for split in ("train", "val", "test"):
            ours = metrics.get(split, {})
            paper = PAPER["table1"][lab][split]
            rows.append(
                [
                    lab,
                    split,
                    ours.get("mae", float("nan")),
                    paper[0],
                    ours.get("rmse", float("nan")),
                    paper[1],
                    ours.get("r2", float("nan")),
                    paper[2],
                ]
            )
    if rows:
        r.add(
            _table(
                ["label", "split", "MAE", "paper MAE", "RMSE", "paper RMSE", "R²", "paper R²"], rows
            )
        )
        r.add(
            "<p class=paper>Units: "
            + ", ".join(f"{k} {v}" for k, v in LABEL_UNITS.items())
            + ". Paper: PBEsol DFT labels; ours: GFN1-xTB labels of the same kind of cells.</p>"
        )
    for lab in LABEL_NAMES:
        fig = r.need(f"figures/parity_{lab}.png", f"{lab} parity figure")
        if fig:
            r.add(f"<h3>{lab}</h3>" + _img(fig, f"parity {lab}"))


def _section_sweep(r: _Report) -> None:
    r.add("<h2>Hyperparameter sweep (cf. paper SI Figs. 5–8)</h2>")
    trials = r.need("sweep/trials.csv", "sweep trials")
    if trials:
        rows = [t for t in _csv_rows(trials) if t.get("status", "ok") in ("ok", "complete", "")]
        rows.sort(key=lambda t: float(t.get("val_mae") or "inf"))
        keys = [
            k
            for k in (
                "model",
                "lr",
                "hidden",
                "dropout",
                "epochs_run",
                "val_mae",
                "val_r2",
                "test_mae",
                "wall_time",
            )
            if rows and k in rows[0]
        ]
        r.add(f"<p>{len(rows)} finished trials; the ten best by validation MAE:</p>")
        r.add(_table(keys, [[t[k] for k in keys] for t in rows[:10]]))
    fig = r.need("sweep/violins.png", "sweep violin plots")
    if fig:
        r.add(_img(fig, "violins"))


def _section_curves(r: _Report) -> None:
    r.add("<h2>Phonon vs random: learning curves and cross-tests (cf. paper Fig. 4)</h2>")
    fig = r.need("curves/learning_curves.png", "learning curves figure")
    if fig:
        r.add(_img(fig, "learning curves"))
    table = r.need("curves/curves.csv", "learning-curve table")
    if not table:
        return
    rows = [x for x in _csv_rows(table) if x.get("status", "ok") == "ok"]
    if not rows:
        return
    import numpy as np

    out = []
    for scheme in sorted({x["train_scheme"] for x in rows}):
        top = max(int(x["size"]) for x in rows if x["train_scheme"] == scheme)
        for test in sorted({x["test_set"] for x in rows}):
            sel = [
                x
                for x in rows
                if x["train_scheme"] == scheme and x["test_set"] == test and int(x["size"]) == top
            ]
            if sel:
                mae = np.array([float(x["mae"]) for x in sel])
                r2 = np.array([float(x["r2"]) for x in sel])
                out.append(
                    [
                        scheme,
                        test,
                        top,
                        len(sel),
                        f"{mae.mean():.4f} ± {mae.std():.4f}",
                        f"{r2.mean():.3f} ± {r2.std():.3f}",
                    ]
                )
    r.add("<p>Each training scheme at its largest training size, mean ± std over seeds:</p>")
    r.add(_table(["trained on", "tested on", "size", "seeds", "MAE (eV)", "R²"], out))
    f4 = PAPER["fig4"]
    r.add(
        "<p class=paper>Paper (PBEsol, ~1,000 structures): phonon-trained R² ≈ "
        f"{f4['phonon_own']['r2']}, MAE ≈ {f4['phonon_own']['mae']} eV on its own data; "
        f"random-trained R² ≈ {f4['random_own']['r2']}, MAE ≈ {f4['random_own']['mae']} eV; "
        f"on the complementary data the phonon model's MAE is ≈ {f4['cross_test_mae_advantage']} "
        f"eV lower; on the combined test set MAE {html.escape(f4['combined_test_mae']['phonon'])} "
        f"(phonon) vs {html.escape(f4['combined_test_mae']['random'])} eV (random).</p>"
    )


def _section_compare(r: _Report) -> None:
    r.add("<h2>MD vs phonon data (cf. paper SI Table 1)</h2>")
    table = r.need("compare/comparison.csv", "MD comparison")
    if table:
        rows = _csv_rows(table)
        keys = list(rows[0]) if rows else []
        r.add(_table(keys, [[x[k] for k in keys] for x in rows]))
        r.add(
            "<p class=paper>Paper: with ~1,000 configurations each, the phonon-trained model "
            "is slightly better than the AIMD-trained one (smaller MAE/RMSE, larger R²).</p>"
        )


def _section_explain(r: _Report) -> None:
    r.add("<h2>Which bonds matter (cf. paper Fig. 5)</h2>")
    pairs = r.need("explain/pairs.csv", "explanation table")
    if pairs:
        rows = _csv_rows(pairs)
        r.add(
            _table(
                [
                    "model",
                    "bond type",
                    "bonds",
                    "mean importance",
                    f"fraction > {PAPER['explain_threshold']}",
                ],
                [[x["model"], x["pair"], x["bonds"], x["mean"], x["fraction_above"]] for x in rows],
            )
        )
        r.add(
            "<p class=paper>Paper: the best band-gap model gives most bonds low importance "
            "(&lt; 0.4) and a few, mostly Ag–S, very high importance (&gt; 0.8); a poor model spreads "
            "moderate importance over all bonds and flags a single Ag–Ag edge.</p>"
        )
    fig = r.need("explain/importance_density.png", "importance densities")
    if fig:
        r.add(_img(fig, "importance densities"))
    view = r.root / "explain" / "view_best.html"
    if view.exists():
        r.add(
            "<h3>Important bonds in 3D (interactive)</h3>"
            f'<iframe style="width:100%;height:560px;border:1px solid #ccc" srcdoc="'
            f'{html.escape(view.read_text())}"></iframe>'
        )


def _section_temperature(r: _Report) -> None:
    r.add("<h2>Band gap versus temperature</h2>")
    fig = r.need("temperature/curve.png", "E_g(T) figure")
    if fig:
        r.add(_img(fig, "Eg(T)"))
    table = r.need("temperature/curve.csv", "E_g(T) table")
    if table:
        rows = _csv_rows(table)
        keys = ["temperature_K", "label", "mean", "config_std", "model_std"]
        r.add(_table(keys, [[x[k] for k in keys] for x in rows]))


SECTIONS: list[Callable[[_Report], None]] = [
    _section_data,
    _section_models,
    _section_sweep,
    _section_curves,
    _section_compare,
    _section_explain,
    _section_temperature,
]


def write_report(run_dir: str | Path, out: str | Path | None = None) -> tuple[Path, list[str]]:
    """Render ``run_dir`` into ``report.html``; returns (path, missing pieces)."""
    root = Path(run_dir)
    if not root.is_dir():
        from thermognn.errors import ThermognnError

        raise ThermognnError(f"{root}: no such run folder")
    r = _Report(root)
    meta = root / "reproduce.json"
    intro = (
        "<h1>thermognn report</h1><p class=note><b>Labels come from GFN1-xTB</b> (tblite, "
        "Γ-point, 40-atom cells, halogen-bond term removed), <b>not from PBEsol DFT</b> as in "
        "Benítez et al. (2026). Numbers beside ours are the paper's, for orientation.</p>"
    )
    r.add(intro)
    if meta.exists():
        info = json.loads(meta.read_text())
        r.add(
            _table(
                ["setting", "value"],
                [[k, json.dumps(v) if isinstance(v, (dict, list)) else v] for k, v in info.items()],
            )
        )
    for section in SECTIONS:
        section(r)
    if r.missing:
        r.add(
            "<h2>Missing pieces</h2><ul>"
            + "".join(f"<li class=missing>{html.escape(m)}</li>" for m in r.missing)
            + "</ul>"
        )
    r.add(f"<p class=paper>thermognn {__version__}</p>")
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>thermognn report</title>"
        f"<style>{_CSS}</style></head><body>{''.join(r.parts)}</body></html>"
    )
    path = Path(out) if out else root / "report.html"
    path.write_text(page)
    return path, r.missing
