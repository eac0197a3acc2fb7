"""Report sections that compare training sets: learning curves, one-material sets, MD.

Every sentence that states a result is generated from ``differences.csv``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from thermognn.experiments.stats import describe_difference
from thermognn.labels.base import LABEL_NAMES, LABEL_UNITS
from thermognn.report.figures import PRETTY
from thermognn.report.page import PAPER, Report, Section, csv_rows, fmt_pm

COMBINED = "combined"


def _differences(path: Path, labels: Any = None) -> list[dict[str, str]]:
    rows = csv_rows(path)
    return [d for d in rows if labels is None or d["label"] in labels]


def difference_sentence(d: dict[str, str]) -> Markup:
    """One generated HTML sentence for a paired difference row of ``differences.csv``."""
    return Markup(
        describe_difference(
            d,
            LABEL_UNITS.get(d["label"], ""),
            strong=("<b>", "</b>"),
            code=("<b>", "</b>"),
            escape=html.escape,
        )
    )


def section_curves(r: Report) -> None:
    s = r.section(
        "curves", "Which training set is better? Learning curves and cross-tests (cf. Fig. 4)"
    )
    diffs_path = r.need("curves/differences.csv", "paired differences")
    results_path = r.need("curves/results.csv", "experiment results")
    results: list[dict[str, str]] = []
    if results_path:
        results = [x for x in csv_rows(results_path) if x["status"] == "ok"]
        arms = list(dict.fromkeys(x["arm"] for x in results))
        s.p(
            f"Arms: {', '.join(arms)}. Every model is scored on every reserved test set; the "
            "test sets are reserved first and no arm trains on them."
        )
    if diffs_path:
        diffs = _differences(diffs_path)
        largest: dict[str, int] = {}
        for d in diffs:
            largest[d["label"]] = max(largest.get(d["label"], 0), int(d["size"]))
        main = [
            d
            for d in diffs
            if int(d["size"]) == largest[d["label"]] and COMBINED not in (d["arm_a"], d["arm_b"])
        ]
        s.h3("Paired differences at the largest size (generated from differences.csv)")
        s.items([difference_sentence(d) for d in main])
    f4 = PAPER["fig4"]
    for lab in LABEL_NAMES:
        fig = r.root / "curves" / f"learning_curves_{lab}.png"
        if fig.is_file():
            s.figure(
                fig,
                f"{PRETTY[lab]}: test MAE and R² against training-set size for each arm, "
                "scored on each reserved test set (mean over paired seeds, band: spread).",
                f"Fig. 4 (band gap, PBEsol, up to ~{f4['converged_size']:,} structures): both "
                f"schemes converge near {f4['converged_size']:,}; phonon-trained R² ≈ "
                f"{f4['phonon_own']['r2']}, MAE ≈ {f4['phonon_own']['mae']} eV on its own data, "
                f"random-trained R² ≈ {f4['random_own']['r2']}, MAE ≈ "
                f"{f4['random_own']['mae']} eV; on the complementary data the phonon model's "
                f"MAE is ≈ {f4['cross_test_mae_advantage']} eV lower.",
            )
    if results:
        _curve_table(s, results)


def _curve_table(s: Section, results: list[dict[str, str]]) -> None:
    out = []
    for lab in LABEL_NAMES:
        rows = [x for x in results if x["label"] == lab]
        if not rows:
            continue
        top = max(int(x["size"]) for x in rows)
        for arm in dict.fromkeys(x["arm"] for x in rows):
            for test in dict.fromkeys(x["test_set"] for x in rows):
                sel = [
                    x
                    for x in rows
                    if x["arm"] == arm and x["test_set"] == test and int(x["size"]) == top
                ]
                if sel:
                    mae = np.array([float(x["mae"]) for x in sel])
                    r2 = np.array([float(x["r2"]) for x in sel])
                    ddof = 1 if len(sel) > 1 else 0
                    out.append(
                        [lab, arm, test, top, len(sel)]
                        + [fmt_pm(mae.mean(), mae.std(ddof=ddof))]
                        + [fmt_pm(r2.mean(), r2.std(ddof=ddof))]
                    )
    s.table(
        ["label", "trained on", "tested on", "size", "seeds", "MAE", "R²"],
        out,
        caption="Every arm on every test set at the largest size (mean ± std over seeds)",
    )


def section_ag3sbr(r: Report) -> None:
    s = r.section("ag3sbr", "Ag3SBr alone: every sampling set, renormalised phonons included")
    diffs = r.root / "ag3sbr" / "differences.csv"
    state = r.root / "reproduce.json"
    skipped = json.loads(state.read_text()).get("ag3sbr_skipped") if state.is_file() else None
    if not diffs.is_file() and skipped:
        s.p(f"Not run in this preset: {skipped}.")
        return
    if not diffs.is_file():
        r.missing.append("Ag3SBr set comparison (ag3sbr/differences.csv)")
        return
    s.p(
        Markup(
            "One material on every side: each set reserves its own Ag3SBr test set, every arm "
            "trains on equally many of its own cells (the largest size every pool allows), "
            "every model is scored on every test set. <code>phonon-renormalised</code> uses "
            "force constants renormalised self-consistently at 300 K (the paper used MD with "
            "DynaPhoPy) instead of the harmonic ones with imaginary modes as |ω|."
        )
    )
    s.items([difference_sentence(d) for d in csv_rows(diffs)])
    results = r.root / "ag3sbr" / "results.csv"
    if results.is_file():
        _curve_table(s, [x for x in csv_rows(results) if x["status"] == "ok"])


def section_families(r: Report) -> None:
    from thermognn.paper.families import FAMILY_COLUMNS, family_rows

    s = r.section("families", "Model families on identical rows (beyond the paper)")
    path = r.root / "families.json"
    state = r.root / "reproduce.json"
    skipped = json.loads(state.read_text()).get("families_skipped") if state.is_file() else None
    if not path.is_file() and skipped:
        s.p(f"Not run in this preset: {skipped}.")
        return
    if not path.is_file():
        r.missing.append("model families (families.json)")
        return
    s.p(
        "The paper family at its best setting of the sweep (paper-5, hidden 64) and the "
        "moments family train on the same Ag3SBr phonon rows with the same recipe; seed k "
        "gives every family the same training, validation and test rows. Cost: seconds per "
        "epoch of training, and structures predicted per second on one core from positions "
        "(bonds included)."
    )
    s.table(FAMILY_COLUMNS, family_rows(json.loads(path.read_text())))
    s.items([difference_sentence(d) for d in csv_rows(r.root / "families" / "differences.csv")])


def section_compare(r: Report) -> None:
    s = r.section("compare", "MD vs phonon data, like for like (cf. paper SI Table 1)")
    md = r.need("compare/comparison.md", "MD comparison")
    if md:
        _markdown_tables(s, md.read_text())
    diffs = r.root / "compare" / "differences.csv"
    if diffs.is_file():
        s.items([difference_sentence(d) for d in csv_rows(diffs)])
    s.paper(
        "Paper: with ~1,000 configurations each, the phonon-trained model is slightly better "
        "than the AIMD-trained one (smaller MAE/RMSE, larger R²)."
    )


def _markdown_tables(s: Section, text: str) -> None:
    """The Markdown of ``comparison.md`` as paragraphs and tables of ``s``."""
    rows: list[list[str]] = []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
            continue
        if rows:
            s.table(rows[0], rows[1:])
            rows = []
        if line.strip():
            s.p(line.strip().lstrip("#").strip())
