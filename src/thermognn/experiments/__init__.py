"""The experiment engine: every study is labels × test sets × arms × sizes × seeds.

Public API:

* :func:`run_experiment` — run an :class:`~thermognn.settings.ExperimentSpec` on Dask,
  resumably, into a folder with ``results.csv``, ``test_sets.json`` and
  ``differences.csv``;
* :func:`make_plan` / :class:`ExperimentPlan` — reserved test sets, pools, paired
  subsamples (MD by trajectory blocks);
* :func:`paired_differences` — arm-versus-arm differences with 95 % bootstrap
  intervals.
"""

from __future__ import annotations

from thermognn.experiments.plan import ExperimentPlan, RowRecord, make_plan, read_rows
from thermognn.experiments.runner import (
    RESULT_COLUMNS,
    ExperimentResult,
    ExperimentView,
    load_plan,
    run_experiment,
)
from thermognn.experiments.stats import PairedDifference, bootstrap_ci, paired_differences

__all__ = [
    "RESULT_COLUMNS",
    "ExperimentPlan",
    "ExperimentResult",
    "ExperimentView",
    "PairedDifference",
    "RowRecord",
    "bootstrap_ci",
    "load_plan",
    "make_plan",
    "paired_differences",
    "read_rows",
    "run_experiment",
]
