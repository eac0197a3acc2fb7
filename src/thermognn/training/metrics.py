"""Regression metrics in physical units."""

from __future__ import annotations

import math

import numpy as np


def regression_metrics(true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R², squared Pearson r and maximum absolute error of one label.

    Parameters
    ----------
    true, predicted
        1-D arrays in the label's physical unit (eV/atom, eV, GPa).

    Returns
    -------
    dict
        ``mae``, ``rmse``, ``max_error`` (label unit), ``r2`` (coefficient of
        determination 1 − SS_res / SS_tot), ``pearson_r2`` (squared Pearson
        correlation, what the paper's Table 1 calls R²) and ``n``. NaN where undefined
        (no values; constant true values for the R²s).
    """
    true = np.asarray(true, dtype=np.float64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    n = len(true)
    if n == 0:
        nan = math.nan
        return {"mae": nan, "rmse": nan, "r2": nan, "pearson_r2": nan, "max_error": nan, "n": 0}
    error = predicted - true
    ss_tot = float(np.sum((true - true.mean()) ** 2))
    r2 = 1.0 - float(np.sum(error**2)) / ss_tot if ss_tot > 0 else math.nan
    if ss_tot > 0 and np.std(predicted) > 0:
        pearson = float(np.corrcoef(true, predicted)[0, 1]) ** 2
    else:
        pearson = math.nan
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "r2": r2,
        "pearson_r2": pearson,
        "max_error": float(np.max(np.abs(error))),
        "n": n,
    }
