"""Harmonic, fixed-volume thermal ensemble averages ⟨P⟩_T of a model's predictions.

:func:`harmonic_ensemble_average` (alias :func:`property_vs_temperature`) samples the
reference crystal at each T and averages the models' predictions; the training domain
flags extrapolation; :func:`direct_ensemble_means` and :func:`compare_with_direct` check
the curve against the labeler's own ensemble means.
"""

from __future__ import annotations

from thermognn.temperature.curve import (
    QUANTITY,
    TemperatureCurve,
    harmonic_ensemble_average,
    property_vs_temperature,
)
from thermognn.temperature.direct import (
    DirectComparison,
    DirectMeans,
    compare_with_direct,
    direct_ensemble_means,
)
from thermognn.temperature.domain import TrainingDomain, run_training_domain
from thermognn.temperature.plot import plot_curve

__all__ = [
    "QUANTITY",
    "DirectComparison",
    "DirectMeans",
    "TemperatureCurve",
    "TrainingDomain",
    "compare_with_direct",
    "direct_ensemble_means",
    "harmonic_ensemble_average",
    "plot_curve",
    "property_vs_temperature",
    "run_training_domain",
]
