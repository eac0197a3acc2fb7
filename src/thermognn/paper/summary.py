"""``summary.md``: the run's results as Markdown, every sentence generated from its tables.

The README's results section is a copy of this file from a named run (``make demo``),
so no result is ever written by hand.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from thermognn.experiments.stats import describe_difference
from thermognn.labels.base import LABEL_NAMES, LABEL_UNITS
from thermognn.training.calibration import describe

COMBINED = "combined"


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def difference_text(d: dict[str, str]) -> str:
    """A paired difference as one Markdown sentence."""
    return describe_difference(d, LABEL_UNITS.get(d["label"], ""))


def _markdown_table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table as lines."""
    return [
        "| " + " | ".join(head) + " |",
        "|---" * len(head) + "|",
        *["| " + " | ".join(row) + " |" for row in rows],
    ]


def _table_one(root: Path) -> list[str]:
    path = root / "models.json"
    if not path.is_file():
        return []
    models = json.loads(path.read_text())
    out = [
        "| label | train size | test rows | test MAE | test R² | train R² | seeds |",
        "|---|---|---|---|---|---|---|",
    ]
    for lab in LABEL_NAMES:
        if lab in models:
            m = models[lab]
            out.append(
                f"| {lab} ({LABEL_UNITS[lab]}) | {m['size']} | {m['n_test']} | "
                f"{m['mae']:.4f} ± {m['mae_std']:.4f} | {m['r2']:.3f} ± {m['r2_std']:.3f} | "
                f"{m['train_r2']:.3f} | {m['n_seeds']} |"
            )
    sets = sorted({k for m in models.values() for k in m.get("by_test_set", {})})
    if sets:
        out += ["", "The same models on each reserved test set (mean over seeds, MAE / R²):", ""]
        out += ["| label | " + " | ".join(sets) + " |", "|---" * (len(sets) + 1) + "|"]
        for lab in LABEL_NAMES:
            by = models.get(lab, {}).get("by_test_set", {})
            if by:
                cells = [
                    f"{by[s]['mae']:.4g} / {by[s]['r2']:.3f}" if s in by else "–" for s in sets
                ]
                out.append(f"| {lab} | " + " | ".join(cells) + " |")
    return out


def _largest_differences(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    largest: dict[str, int] = {}
    for d in rows:
        largest[d["label"]] = max(largest.get(d["label"], 0), int(d["size"]))
    return [
        d
        for d in rows
        if int(d["size"]) == largest[d["label"]] and COMBINED not in (d["arm_a"], d["arm_b"])
    ]


def write_summary(root: str | Path) -> Path:
    """Write ``root/summary.md`` from the run's tables; returns its path."""
    root = Path(root)
    lines = ["## Results of this run (generated from its tables)", ""]
    state = root / "reproduce.json"
    if state.is_file():
        info = json.loads(state.read_text())
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in info.get("stage_seconds", {}).items())
        lines += [
            f"Preset `{info['preset']['name']}`, sets {', '.join(info.get('sets', []))}; "
            f"wall time {info.get('wall_seconds', 0) / 60:.1f} min ({stages}).",
            "",
        ]
        best = info.get("sweep_best", {})
        if best:
            chosen = "; ".join(
                f"{lab}: {b['model']}, lr {b['lr']:g}, hidden {b['hparams'].get('hidden')}"
                for lab, b in best.items()
            )
            lines += [f"Sweep (pool rows only), best setting per label: {chosen}.", ""]
    table = _table_one(root)
    if table:
        lines += [
            "Every set together (the `combined` arm) at the largest size, on the union of the "
            "reserved test sets (cf. paper Table 1):",
            "",
            *table,
            "",
        ]
    spread = root / "spread.json"
    if spread.is_file() and (entries := json.loads(spread.read_text())):
        lines += [
            "The seeds' combined-arm models as one ensemble (scale fitted on the even-id test "
            "rows, coverage on the odd-id ones):",
            "",
        ]
        lines += [
            f"- {describe(lab, e, 'odd-id test').replace('validation rows', 'even-id test rows')}"
            for lab, e in entries.items()
        ] + [""]
    diffs = _largest_differences(_rows(root / "curves" / "differences.csv"))
    if diffs:
        lines += ["Which training set is better, at the largest size (paired seeds):", ""]
        lines += [f"- {difference_text(d)}" for d in diffs] + [""]
    same = _largest_differences(_rows(root / "ag3sbr" / "differences.csv"))
    if same:
        lines += [
            "Ag3SBr only, every sampling set incl. the renormalised phonons (paired seeds):",
            "",
        ]
        lines += [f"- {difference_text(d)}" for d in same] + [""]
    families = root / "families.json"
    if families.is_file():
        from thermognn.paper.families import FAMILY_COLUMNS, family_rows

        lines += ["Model families on identical Ag3SBr phonon rows (mean ± sd over seeds):", ""]
        lines += _markdown_table(FAMILY_COLUMNS, family_rows(json.loads(families.read_text())))
        lines += [""] + [
            f"- {difference_text(d)}" for d in _rows(root / "families" / "differences.csv")
        ]
        lines += [""]
    md = _rows(root / "compare" / "differences.csv")
    if md:
        lines += ["MD vs phonon, like for like (cf. paper SI Table 1):", ""]
        lines += [f"- {difference_text(d)}" for d in md] + [""]
    check = root / "temperature" / "direct_check.txt"
    if check.is_file():
        lines += ["E_g(T) against direct GFN1-xTB ensemble means:", ""]
        lines += [f"- {t}" for t in check.read_text().splitlines() if t.strip()] + [""]
    pairs = [p for p in _rows(root / "explain" / "pairs.csv") if p["model"] == "best"]
    if pairs:
        top = max(pairs, key=lambda p: float(p["mean"]))
        lines += [
            f"GNNExplainer (best setting, {top.get('n_models', '?')} models, test rows): the "
            f"most important bond type is {top['pair']} (mean importance {top['mean']}, 95 % "
            f"interval [{top.get('mean_lo', '')}, {top.get('mean_hi', '')}]); fraction above "
            f"0.86: {top['fraction_above']}.",
            "",
        ]
    path = root / "summary.md"
    path.write_text("\n".join(lines))
    return path
