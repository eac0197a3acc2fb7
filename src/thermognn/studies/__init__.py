"""Studies (DESIGN.md §8): the hyperparameter sweep, learning curves, the MD comparison.

Public API:

* :func:`run_sweep` — the paper's grid (or a sub-grid) on one fixed split;
* :func:`run_search` — the same space searched with Optuna (TPE + pruning);
* :func:`run_learning_curves` — size × seeds × scheme with cross-tests (paper Fig. 4);
* :func:`run_md_comparison` — one model per scheme, scored on each other's data
  (paper SI Table 1);
* :func:`plot_violins`, :func:`plot_learning_curves` — the figures.

Every study trains its models as Dask tasks (:mod:`thermognn.experiments.tasks`), records
each result as it arrives, and resumes from its folder.
"""

from __future__ import annotations

from thermognn.experiments.tasks import ClusterSpec, TaskPool
from thermognn.studies.compare import ComparisonResult, run_md_comparison
from thermognn.studies.curves import CurveResult, curve_spec, run_learning_curves
from thermognn.studies.plots import plot_learning_curves, plot_violins
from thermognn.studies.search import run_search
from thermognn.studies.space import GRIDS, PAPER_GRID, SMALL_GRID, SearchSpace, TrialPoint
from thermognn.studies.sweep import run_sweep
from thermognn.studies.trials import SweepResult, best_hparams

__all__ = [
    "GRIDS",
    "PAPER_GRID",
    "SMALL_GRID",
    "ClusterSpec",
    "ComparisonResult",
    "CurveResult",
    "SearchSpace",
    "SweepResult",
    "TaskPool",
    "TrialPoint",
    "best_hparams",
    "curve_spec",
    "plot_learning_curves",
    "plot_violins",
    "run_learning_curves",
    "run_md_comparison",
    "run_search",
    "run_sweep",
]
