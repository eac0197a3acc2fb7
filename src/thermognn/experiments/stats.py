"""Paired differences between arms, with bootstrap confidence intervals.

For two arms A and B, one label, one training size and one test set, seed k gives a
model of each arm trained on the same subsample positions and scored on the same
reserved rows; d_k = MAE_A,k − MAE_B,k. The reported difference is the mean of d_k
over the seeds both arms finished, with a 95 % percentile-bootstrap interval of that
mean (resampling seeds). A difference whose interval contains 0 is "no significant
difference"; otherwise the arm with the lower error is better.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
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


def bootstrap_ci(
    values: Sequence[float], *, level: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values`` (NaN for < 2 values)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_resamples, len(x)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


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
        """Whether the interval excludes zero."""
        return (
            math.isfinite(self.ci_low)
            and math.isfinite(self.ci_high)
            and (self.ci_low > 0 or self.ci_high < 0)
        )

    @property
    def verdict(self) -> str:
        """``A better``, ``B better`` (lower error) or ``no significant difference``."""
        if not self.significant:
            return "no significant difference"
        lower_is_better = self.metric != "r2"
        a_better = (self.difference < 0) == lower_is_better
        return f"{self.arm_a if a_better else self.arm_b} better"

    def as_row(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}

    def sentence(self, unit: str = "") -> str:
        """One sentence stating the result (generated, never hand-written)."""
        u = f" {unit}" if unit else ""
        what = f"{self.label} {self.metric.upper()} on test set '{self.test_set}' at {self.size} training structures"
        interval = f"{self.difference:+.4g}{u} (95 % CI {self.ci_low:+.4g} to {self.ci_high:+.4g}, {self.n_seeds} paired seeds)"
        if not self.significant:
            return f"{what}: no significant difference between {self.arm_a} and {self.arm_b}, {self.arm_a} − {self.arm_b} = {interval}."
        winner = self.verdict.removesuffix(" better")
        return f"{what}: {winner} is better; {self.arm_a} − {self.arm_b} = {interval}."


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
