"""Sampling schemes: random, phonon, phonon-gaussian, normal-mode, md, and plug-ins."""

from __future__ import annotations

from thermognn.sampling.displacements import (
    SCHEMES,
    DrawContext,
    Scheme,
    get_scheme,
    phonon_displacements,
    random_displacements,
    register_scheme,
    scheme_names,
)
from thermognn.sampling.sample import SamplingSpec, sample_configurations

__all__ = [
    "SCHEMES",
    "DrawContext",
    "SamplingSpec",
    "Scheme",
    "get_scheme",
    "phonon_displacements",
    "random_displacements",
    "register_scheme",
    "sample_configurations",
    "scheme_names",
]
