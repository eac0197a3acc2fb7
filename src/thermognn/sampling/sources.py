"""Force constants and thermal amplitudes that phonon-based sampling schemes draw from.

A :class:`PhononSource` loads (or computes, on the spec's calculator) the force
constants of a material once, or those of both end members for the Ag3SBrI solid
solution, and caches the thermal amplitudes per reference and temperature, so several
sampling batches (temperatures of one curve) share them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms

from thermognn.errors import ThermognnError
from thermognn.sampling.displacements import virtual_crystal_amplitudes
from thermognn.structures import parse_material, resolve_material

if TYPE_CHECKING:
    from thermognn.sampling.sample import SamplingSpec


class PhononSource:
    """Thermal amplitudes (and normal modes) per reference, computed once per T."""

    def __init__(self, spec: SamplingSpec, progress: Callable[[str], None] | None) -> None:
        from thermognn.phonons import load_phonons, phonons_for_material

        self.spec = spec
        parsed = parse_material(spec.material)
        self.solid_solution = parsed is not None and parsed.name == "Ag3SBrI"
        self.members: dict[str, Any] = {}
        names = ["Ag3SBr", "Ag3SI"] if self.solid_solution else [spec.material]
        if spec.phonons and self.solid_solution:
            raise ThermognnError("phonons: solid solutions use the end members' force constants")
        for name in names:
            if spec.phonons:
                self.members[name] = load_phonons(spec.phonons)
                self.fc_source = f"file:{spec.phonons}"
                continue
            unit = resolve_material(name, (1, 1, 1))
            if progress:
                progress(f"phonons of {name} ({spec.calculator})")
            ph, folder = phonons_for_material(
                unit,
                spec.supercell,
                calculator=spec.calculator,
                cache_dir=Path(spec.cache_dir) / "phonons" if spec.cache_dir else None,
            )
            self.members[name] = ph
        if not spec.phonons:
            tag = "vca:" if self.solid_solution else ""
            self.fc_source = f"{tag}{spec.calculator}:harmonic"
        self._zeta: dict[tuple[int, float], np.ndarray] = {}
        self._modes: dict[int, Any] = {}

    def amplitudes(
        self, ref_id: int, ref: Atoms, temperature: float, x: float | None
    ) -> np.ndarray:
        from thermognn.phonons import thermal_amplitudes_for

        key = (ref_id, round(temperature, 6))
        if key not in self._zeta:
            z = {
                # name the imaginary modes once per material, not at every temperature
                name: thermal_amplitudes_for(
                    ph, ref, temperature, policy=self.spec.policy, warn=not self._zeta
                )
                for name, ph in self.members.items()
            }
            if self.solid_solution:
                zeta = virtual_crystal_amplitudes(
                    ref.get_chemical_symbols(),
                    z["Ag3SBr"],
                    z["Ag3SI"],
                    float(x if x is not None else 0.5),
                )
            else:
                zeta = next(iter(z.values()))
            self._zeta[key] = zeta
        return self._zeta[key]

    def normal_modes(self, ref_id: int, ref: Atoms):
        from thermognn.phonons import supercell_normal_modes

        if self.solid_solution:
            raise ThermognnError(
                "scheme normal-mode: solid solutions need force constants of the mixed cell; "
                "pass --phonons computed for it"
            )
        if ref_id not in self._modes:
            self._modes[ref_id] = supercell_normal_modes(next(iter(self.members.values())), ref)
        return self._modes[ref_id]


def phonon_source(spec: SamplingSpec) -> PhononSource:
    """Force constants and amplitude cache for ``spec`` (reusable across temperatures)."""
    spec.validate()
    return PhononSource(spec, None)
