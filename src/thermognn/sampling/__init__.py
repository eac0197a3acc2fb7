"""Sampling schemes: random, phonon, phonon-gaussian, normal-mode and md."""

from __future__ import annotations

from thermognn.sampling.displacements import (
    SCHEMES,
    phonon_displacements,
    random_displacements,
)
from thermognn.sampling.sample import SamplingSpec, sample_configurations

__all__ = [
    "SCHEMES",
    "SamplingSpec",
    "phonon_displacements",
    "random_displacements",
    "sample_configurations",
]
