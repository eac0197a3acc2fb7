"""Displacement fields of the sampling schemes (DESIGN.md §3), all zero-mean, all seeded.

=================  ==========================================================
``random``         u = ε·a, ε ~ U[-1, 1] per atom and direction (paper eq. 2)
``phonon``         u = ε·ζ_{jα}(T), ε ~ U[-1, 1] (paper eq. 3)
``phonon-gaussian`` u = ε·ζ_{jα}(T), ε ~ N(0, 1), so ⟨u²⟩ = ζ² exactly
``normal-mode``    correlated Gaussian sampling of the supercell normal modes
``md``             snapshots of a Langevin run at T
=================  ==========================================================

Every scheme is an entry of a registry: :func:`register_scheme` adds one from any
module (or an installed plug-in package, see :mod:`thermognn.plugins`), and
:func:`get_scheme` / :func:`scheme_names` are what the sampler and the CLI read. A
scheme draws one displacement field per configuration::

    @register_scheme("shake", temperature=False)
    def shake(rng, ctx):
        return rng.normal(0.0, 0.05, (ctx.n_atoms, 3))          # Å

A scheme returns the field (n_atoms × 3, Å) or ``(field, record)``, where ``record``
holds extra key-value pairs for the row (e.g. the drawn ``amplitude``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from thermognn.plugins import Registry

#: The built-in schemes (every registered one: :func:`scheme_names`).
SCHEMES = ("random", "phonon", "phonon-gaussian", "normal-mode", "md")

#: ``draw(rng, ctx)`` → displacements (n_atoms × 3, Å) or (displacements, record).
DrawFunction = Callable[[np.random.Generator, "DrawContext"], Any]


@dataclass(frozen=True)
class DrawContext:
    """What a scheme may use to draw one configuration.

    Attributes
    ----------
    spec
        The batch's :class:`~thermognn.sampling.SamplingSpec` (``amplitude``,
        ``scheme_options``, …).
    ref_id
        Row id of the reference supercell.
    reference
        The undisplaced reference supercell.
    br_fraction
        Br fraction of a solid-solution reference, else ``None``.
    temperature
        Temperature of the configuration (K); ``None`` for temperature-free schemes.
    source
        Force constants and amplitudes (schemes registered with ``phonons=True``).
    """

    spec: Any
    ref_id: int
    reference: Atoms
    br_fraction: float | None
    temperature: float | None
    source: Any = None

    @property
    def n_atoms(self) -> int:
        return len(self.reference)

    def amplitudes(self) -> np.ndarray:
        """Thermal amplitudes ζ_{jα}(T) of the reference (n_atoms × 3, Å)."""
        return self.source.amplitudes(
            self.ref_id, self.reference, self.temperature, self.br_fraction
        )

    def normal_modes(self) -> Any:
        """Normal modes of the reference supercell (:func:`supercell_normal_modes`)."""
        return self.source.normal_modes(self.ref_id, self.reference)


@dataclass(frozen=True)
class Scheme:
    """A registered sampling scheme.

    Attributes
    ----------
    name
        Registry name (the ``scheme`` key of its rows).
    draw
        ``draw(rng, ctx)`` of one configuration; ``None`` for trajectory schemes.
    phonons
        Needs force constants (``ctx.amplitudes()``, ``ctx.normal_modes()``); its rows
        record ``fc_source`` and the imaginary-mode policy.
    temperature
        Draws at a temperature (``--temperature``); else rows have none.
    trajectory
        Whole-batch sampler ``(db, spec, refs, todo, batch, progress=…) → row ids``
        for schemes whose configurations depend on each other (``md``).
    description
        One line for listings.
    """

    name: str
    draw: DrawFunction | None
    phonons: bool = False
    temperature: bool = True
    trajectory: Callable[..., list[int]] | None = None
    description: str = ""


SCHEME_REGISTRY: Registry[Scheme] = Registry(
    "sampling scheme", builtins=("thermognn.sampling.displacements",)
)


def register_scheme(
    name: str,
    *,
    phonons: bool = False,
    temperature: bool = True,
    trajectory: bool = False,
    description: str = "",
) -> Callable[[Callable], Callable]:
    """Decorator: register a sampling scheme under ``name``.

    Parameters
    ----------
    name
        Scheme name, as given to ``--scheme`` and stored per row.
    phonons
        The scheme reads force constants (``ctx.amplitudes()``/``ctx.normal_modes()``).
    temperature
        The scheme draws at a temperature.
    trajectory
        The decorated function samples a whole batch (see :attr:`Scheme.trajectory`)
        instead of drawing one configuration.
    description
        One line for listings (default: the first docstring line).
    """

    def wrap(fn: Callable) -> Scheme:
        doc = description or (fn.__doc__ or "").strip().split("\n")[0]
        if trajectory:
            return Scheme(name, None, phonons, temperature, fn, doc)
        return Scheme(name, fn, phonons, temperature, None, doc)

    return SCHEME_REGISTRY.decorator(name, wrap)


def get_scheme(name: str) -> Scheme:
    """The scheme called ``name``; a :class:`ThermognnError` listing the known ones."""
    return SCHEME_REGISTRY.get(name)


def scheme_names() -> list[str]:
    """Names of every registered scheme (built-ins first, then plug-ins)."""
    return SCHEME_REGISTRY.names()


def random_displacements(rng: np.random.Generator, n_atoms: int, amplitude: float) -> np.ndarray:
    """u = ε·a with ε ~ U[-1, 1]: variance a²/3 per component (Å)."""
    return rng.uniform(-1.0, 1.0, size=(n_atoms, 3)) * amplitude


def phonon_displacements(
    rng: np.random.Generator, zeta: np.ndarray, *, gaussian: bool = False
) -> np.ndarray:
    """u = ε·ζ with ε ~ U[-1, 1] (variance ζ²/3) or, if ``gaussian``, N(0, 1) (variance ζ²)."""
    eps = rng.standard_normal(zeta.shape) if gaussian else rng.uniform(-1.0, 1.0, zeta.shape)
    return eps * zeta


@register_scheme("random", temperature=False)
def _random(rng: np.random.Generator, ctx: DrawContext) -> tuple[np.ndarray, dict[str, Any]]:
    """u = ε·a, ε ~ U[-1, 1], a ~ U[a_min, a_max] per configuration (paper eq. 2)."""
    a = float(rng.uniform(*ctx.spec.amplitude))
    return random_displacements(rng, ctx.n_atoms, a), {"amplitude": a}


@register_scheme("phonon", phonons=True)
def _phonon(rng: np.random.Generator, ctx: DrawContext) -> np.ndarray:
    """u = ε·ζ(T), ε ~ U[-1, 1] (paper eq. 3)."""
    return phonon_displacements(rng, ctx.amplitudes())


@register_scheme("phonon-gaussian", phonons=True)
def _phonon_gaussian(rng: np.random.Generator, ctx: DrawContext) -> np.ndarray:
    """u = ε·ζ(T), ε ~ N(0, 1), so ⟨u²⟩ = ζ²."""
    return phonon_displacements(rng, ctx.amplitudes(), gaussian=True)


@register_scheme("normal-mode", phonons=True)
def _normal_mode(rng: np.random.Generator, ctx: DrawContext) -> np.ndarray:
    """Correlated harmonic sampling of the supercell normal modes at T."""
    return ctx.normal_modes().sample(ctx.temperature, ctx.spec.policy, rng, 1)[0]


@register_scheme("md", trajectory=True)
def _md(*args: Any, **kwargs: Any) -> list[int]:
    """Snapshots of a Langevin NVT run at T with the calculator."""
    from thermognn.sampling.md import sample_md

    return sample_md(*args, **kwargs)


def virtual_crystal_amplitudes(
    symbols: list[str], zeta_br: np.ndarray, zeta_i: np.ndarray, br_fraction: float
) -> np.ndarray:
    """Amplitudes of a Ag3SBr_xI_(1-x) supercell from its end members' (site-mapped) ones.

    Halide sites take the amplitude of their own end member; Ag and S sites the
    Vegard-like mix of the variances, ζ² = x ζ²_Br + (1 − x) ζ²_I. (The force constants
    of every random occupation would need 240 displaced cells each; the paper does not
    say how its mixed cells were treated. Recorded as ``fc_source='vca:…'``.)
    """
    sym = np.asarray(symbols)
    mix = np.sqrt(br_fraction * zeta_br**2 + (1.0 - br_fraction) * zeta_i**2)
    return np.where((sym == "Br")[:, None], zeta_br, np.where((sym == "I")[:, None], zeta_i, mix))
