"""Harmonic phonons: force constants (phonopy), thermal amplitudes (paper eq. 3), normal modes."""

from __future__ import annotations

from thermognn.phonons.amplitudes import (
    IMAGINARY_POLICIES,
    ModePolicy,
    mode_amplitude_weights,
    thermal_amplitudes,
    thermal_amplitudes_for,
)
from thermognn.phonons.forceconstants import (
    compute_phonons,
    load_phonons,
    phonons_for_material,
)
from thermognn.phonons.normalmodes import NormalModes, supercell_normal_modes

__all__ = [
    "IMAGINARY_POLICIES",
    "ModePolicy",
    "NormalModes",
    "compute_phonons",
    "load_phonons",
    "mode_amplitude_weights",
    "phonons_for_material",
    "supercell_normal_modes",
    "thermal_amplitudes",
    "thermal_amplitudes_for",
]
