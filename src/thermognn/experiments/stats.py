"""Paired differences between arms, with bootstrap confidence intervals.

For two arms A and B, one label, one training size and one test set, seed k gives a
model of each arm trained on the same subsample positions and scored on the same
reserved rows; d_k = MAE_A,k − MAE_B,k. The reported difference is the mean of d_k
over the seeds both arms finished, with a 95 % bootstrap interval of that mean
(resampling seeds). With a handful of seeds the plain percentile bootstrap is too
narrow, so the interval is the expanded percentile bootstrap (Hesterberg 2015): its
half-widths around the mean are widened by √(n/(n−1))·t₀.₉₇₅,ₙ₋₁/z₀.₉₇₅ (1.58× for five
seeds), which keeps roughly 95 % coverage at n = 5. A difference whose interval contains
0 is "no significant difference"; otherwise the arm with the lower error is better.
Fewer than three paired seeds give no verdict.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Columns of ``differences.csv``.
DIFFERENCE_COLUMNS = (
    "label",
    "metric",
    "size",
    "test_set",
    "arm_a",
    "arm_b",
    "n_seeds",
    "mean_a",
    "mean_b",
    "difference",
    "ci_low",
    "ci_high",
    "verdict",
)


#: Fewest paired seeds for a verdict.
MIN_SEEDS = 3


def bootstrap_ci(
    values: Sequence[float],
    *,
    level: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
    expand: bool = True,
) -> tuple[float, float]:
    """Bootstrap interval of the mean of ``values`` (NaN for < 2 values).

    ``expand`` widens the percentile interval's half-widths around the mean by
    √(n/(n−1))·t_(1−α/2, n−1)/z_(1−α/2), the small-sample correction of the expanded
    percentile bootstrap; ``expand=False`` gives the plain percentile interval.
    """
    from scipy import stats

    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))
    if not expand:
        return lo, hi
    factor = math.sqrt(n / (n - 1)) * stats.t.ppf(1 - alpha, n - 1) / stats.norm.ppf(1 - alpha)
    centre = float(x.mean())
    return centre - factor * (centre - lo), centre + factor * (hi - centre)


@dataclass(frozen=True)
class PairedDifference:
    """Arm A minus arm B for one label, metric, size and test set."""

    label: str
    metric: str
    size: int
    test_set: str
    arm_a: str
    arm_b: str
    n_seeds: int
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float

    @property
    def significant(self) -> bool:
        """Whether the interval excludes zero (with at least :data:`MIN_SEEDS` seeds)."""
        return (
            self.n_seeds >= MIN_SEEDS
            and math.isfinite(self.ci_low)
            and math.isfinite(self.ci_high)
            and (self.ci_low > 0 or self.ci_high < 0)
        )

    @property
    def verdict(self) -> str:
        """``A better``, ``B better`` (lower error), ``no significant difference`` or
        ``too few seeds``."""
        if self.n_seeds < MIN_SEEDS:
            return "too few seeds"
        if not self.significant:
            return "no significant difference"
        lower_is_better = self.metric != "r2"
        a_better = (self.difference < 0) == lower_is_better
        return f"{self.arm_a if a_better else self.arm_b} better"

    def as_row(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}

    def sentence(self, unit: str = "") -> str:
        """One sentence stating the result (generated, never hand-written)."""
        return describe_difference({k: str(v) for k, v in self.as_row().items()}, unit)


def describe_difference(
    d: Mapping[str, str],
    unit: str = "",
    *,
    strong: tuple[str, str] = ("**", "**"),
    code: tuple[str, str] = ("`", "`"),
    escape: Callable[[str], str] = str,
) -> str:
    """A ``differences.csv`` row as one sentence (Markdown by default; HTML by markup).

    Parameters
    ----------
    d
        The row (``label, size, test_set, arm_a, arm_b, n_seeds, difference, ci_low,
        ci_high, verdict``).
    unit
        Unit of the label.
    strong, code
        Markup around the verdict and the test-set name.
    escape
        Escapes names for the markup (e.g. :func:`html.escape`).
    """
    u = f" {unit}" if unit else ""
    diff, lo, hi = (float(d[k]) for k in ("difference", "ci_low", "ci_high"))
    a, b = escape(d["arm_a"]), escape(d["arm_b"])
    head = (
        f"{d['label']}, test set {code[0]}{escape(d['test_set'])}{code[1]}, {d['size']} "
        f"training structures: MAE({a}) − MAE({b}) = {diff:+.4f}{u} (95 % CI {lo:+.4f} to "
        f"{hi:+.4f}, {d['n_seeds']} paired seeds)"
    )
    verdict = d["verdict"]
    if not verdict.endswith(" better"):
        return f"{head}: {verdict}."
    return f"{head}: {strong[0]}{escape(verdict.removesuffix(' better'))} is better{strong[1]}."


def _value(row: Mapping[str, Any], metric: str) -> float:
    try:
        return float(row.get(metric, math.nan))
    except (TypeError, ValueError):
        return math.nan


def paired_differences(
    rows: Iterable[Mapping[str, Any]],
    *,
    metric: str = "mae",
    arms: Sequence[str] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    seed: int = 0,
) -> list[PairedDifference]:
    """Paired differences of ``metric`` between arms, per label, size and test set.

    Parameters
    ----------
    rows
        Results-table rows (``label, arm, size, seed, test_set, status, <metric>``).
    metric
        ``mae``, ``rmse`` or ``r2``.
    arms
        Arm order (A before B); default: order of first appearance.
    pairs
        The (A, B) pairs to compare; default every pair in ``arms`` order.
    seed
        Seed of the bootstrap.
    """
    table: dict[tuple[str, int, str], dict[str, dict[int, float]]] = {}
    seen: list[str] = []
    for row in rows:
        if row.get("status", "ok") != "ok":
            continue
        value = _value(row, metric)
        if not math.isfinite(value):
            continue
        arm = str(row["arm"])
        if arm not in seen:
            seen.append(arm)
        key = (str(row["label"]), int(row["size"]), str(row["test_set"]))
        table.setdefault(key, {}).setdefault(arm, {})[int(row["seed"])] = value
    order = list(arms) if arms is not None else seen
    wanted = list(pairs) if pairs is not None else list(itertools.combinations(order, 2))
    out = []
    for (label, size, test_set), by_arm in sorted(table.items()):
        for a, b in wanted:
            if a not in by_arm or b not in by_arm:
                continue
            common = sorted(set(by_arm[a]) & set(by_arm[b]))
            if not common:
                continue
            va = np.array([by_arm[a][k] for k in common])
            vb = np.array([by_arm[b][k] for k in common])
            lo, hi = bootstrap_ci(va - vb, seed=seed)
            out.append(
                PairedDifference(
                    label,
                    metric,
                    size,
                    test_set,
                    a,
                    b,
                    len(common),
                    float(va.mean()),
                    float(vb.mean()),
                    float((va - vb).mean()),
                    lo,
                    hi,
                )
            )
    return out
