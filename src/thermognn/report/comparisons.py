"""Report sections that compare training sets: learning curves, one-material sets, MD.

Every sentence that states a result is generated from ``differences.csv``.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from thermognn.experiments.stats import describe_difference
from thermognn.labels.base import LABEL_NAMES, LABEL_UNITS
from thermognn.report.page import PAPER, Report, csv_rows, img, table

COMBINED = "combined"


def _differences(path: Any, labels: Any = None) -> list[dict[str, str]]:
    rows = csv_rows(path)
    return [d for d in rows if labels is None or d["label"] in labels]


def difference_sentence(d: dict[str, str]) -> str:
    """One generated HTML sentence for a paired difference row of ``differences.csv``."""
    return describe_difference(
        d,
        LABEL_UNITS.get(d["label"], ""),
        strong=("<b>", "</b>"),
        code=("<b>", "</b>"),
        escape=html.escape,
    )


def section_curves(r: Report) -> None:
    r.add(
        "<h2>Which training set is better? Learning curves and cross-tests (cf. paper Fig. 4)</h2>"
    )
    diffs_path = r.need("curves/differences.csv", "paired differences")
    results_path = r.need("curves/results.csv", "experiment results")
    if results_path:
        results = [x for x in csv_rows(results_path) if x["status"] == "ok"]
        arms = list(dict.fromkeys(x["arm"] for x in results))
        r.add(
            f"<p>Arms: {', '.join(arms)}. Every model is scored on every reserved test set; the "
            "test sets are reserved first and no arm trains on them.</p>"
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
        r.add(
            "<h3>Paired differences at the largest size (generated from differences.csv)</h3><ul>"
        )
        r.add("".join(f"<li>{difference_sentence(d)}</li>" for d in main) + "</ul>")
    for lab in LABEL_NAMES:
        fig = r.root / "curves" / f"learning_curves_{lab}.png"
        if fig.is_file():
            r.add(f"<h3>{lab}</h3>" + img(fig, f"learning curves {lab}"))
    if results_path:
        _curve_table(r, results)
    f4 = PAPER["fig4"]
    r.add(
        "<p class=paper>Paper (PBEsol, ~1,000 structures; its test sets were each arm's own): "
        f"phonon-trained R² ≈ {f4['phonon_own']['r2']}, MAE ≈ {f4['phonon_own']['mae']} eV on "
        f"its own data; random-trained R² ≈ {f4['random_own']['r2']}, MAE ≈ "
        f"{f4['random_own']['mae']} eV; on the complementary data the phonon model's MAE is ≈ "
        f"{f4['cross_test_mae_advantage']} eV lower.</p>"
    )


def _curve_table(r: Report, results: list[dict[str, str]]) -> None:
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
                    out.append(
                        [
                            lab,
                            arm,
                            test,
                            top,
                            len(sel),
                            f"{mae.mean():.4f} ± {mae.std(ddof=1) if len(sel) > 1 else 0:.4f}",
                            f"{r2.mean():.3f} ± {r2.std(ddof=1) if len(sel) > 1 else 0:.3f}",
                        ]
                    )
    r.add("<h3>Every arm on every test set at the largest size (mean ± std over seeds)</h3>")
    r.add(table(["label", "trained on", "tested on", "size", "seeds", "MAE", "R²"], out))


def section_ag3sbr(r: Report) -> None:
    r.add("<h2>Ag3SBr alone: every sampling set, renormalised phonons included</h2>")
    diffs = r.root / "ag3sbr" / "differences.csv"
    if not diffs.is_file():
        r.missing.append("Ag3SBr set comparison (ag3sbr/differences.csv)")
        return
    r.add(
        "<p>One material on every side: each set reserves its own Ag3SBr test set, every "
        "arm trains on equally many of its own cells (the largest size every pool allows), "
        "every model is scored on every test set. <code>phonon-renormalised</code> uses force "
        "constants renormalised self-consistently at 300 K (the paper used MD with DynaPhoPy) "
        "instead of the harmonic ones with imaginary modes as |ω|.</p>"
    )
    r.add("<ul>" + "".join(f"<li>{difference_sentence(d)}</li>" for d in csv_rows(diffs)) + "</ul>")
    results = r.root / "ag3sbr" / "results.csv"
    if results.is_file():
        _curve_table(r, [x for x in csv_rows(results) if x["status"] == "ok"])


def section_compare(r: Report) -> None:
    r.add("<h2>MD vs phonon data, like for like (cf. paper SI Table 1)</h2>")
    md = r.need("compare/comparison.md", "MD comparison")
    if md:
        r.add(_markdown_table(md.read_text()))
    diffs = r.root / "compare" / "differences.csv"
    if diffs.is_file():
        r.add(
            "<ul>"
            + "".join(f"<li>{difference_sentence(d)}</li>" for d in csv_rows(diffs))
            + "</ul>"
        )
    r.add(
        "<p class=paper>Paper: with ~1,000 configurations each, the phonon-trained model "
        "is slightly better than the AIMD-trained one (smaller MAE/RMSE, larger R²).</p>"
    )


def _markdown_table(text: str) -> str:
    """The Markdown of ``comparison.md`` as HTML paragraphs and tables."""
    parts, rows = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not set("".join(cells)) <= set("-: "):
                rows.append(cells)
            continue
        if rows:
            parts.append(table(rows[0], rows[1:]))
            rows = []
        if line.strip():
            parts.append(f"<p>{html.escape(line)}</p>")
    return "".join(parts)
