"""The convergence record of an SCPH run: :class:`ScphResult`, ``scph.json`` and its plot.

Convergence is judged on what the sampling uses, the frequencies: the lowest frequency
per commensurate q-point star (Γ optical, X, M, R for a simple-cubic primitive cell) is
recorded after every iteration, and the run has converged when their mean over the last
``window`` iterations stopped drifting (:func:`frequencies_settled`). The relative
parameter change is kept too, but with a stochastic fit it levels off at the sampling
noise instead of going to zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.phonons.forceconstants import PARAMS_FILE

SCPH_FILE = "scph.json"
SCPH_PLOT = "scph.png"
_CUBIC_STARS = ("Γ", "X", "M", "R")  # by the number of ½ components of q


@dataclass
class ScphResult:
    """Outcome of a self-consistent harmonic renormalisation.

    Attributes
    ----------
    phonon
        New ``phonopy.Phonopy`` with the renormalised (full) force constants.
    temperature
        K.
    n_iterations, n_structures, alpha, cutoff, seed
        The settings used (``cutoff`` in Å).
    history
        Relative parameter change of each iteration done,
        ``‖p_i − p_(i−1)‖ / ‖p_i‖``.
    tolerance
        Threshold on the relative parameter change (reported, not the criterion).
    converged
        Whether the frequencies settled (:func:`frequencies_settled`).
    parameters
        Final cluster-space parameters (hiphive units, eV/Å²): the mean of the last
        ``window`` iterates (the sampling noise averages down by √window).
    frequency_history
        Lowest frequency (THz) per q-point star after each iteration, entry 0 being
        the start (:func:`lowest_frequencies`).
    frequency_tolerance, window
        Convergence: the mean of every tracked frequency over the last ``window``
        iterations within ``frequency_tolerance`` THz of the mean over the window before.
    iterations_done
        Iterations run (fewer than ``n_iterations`` when it stopped on convergence).
    final_frequencies
        :func:`lowest_frequencies` of the final force constants.
    min_frequency_harmonic, min_frequency_renormalized
        Lowest frequency (THz; negative = imaginary) over the q-points commensurate
        with the supercell, Γ's three acoustic modes excluded.
    gamma_min_frequency_harmonic, gamma_min_frequency_renormalized
        Lowest frequency at Γ (THz) excluding the acoustic modes; ``nan`` for a
        crystal with one atom per primitive cell (no optical modes).
    out_dir
        Folder holding ``phonopy_params.yaml`` and ``scph.json``, if saved.
    """

    phonon: Any
    temperature: float
    n_iterations: int
    n_structures: int
    alpha: float
    cutoff: float
    seed: int
    history: np.ndarray
    tolerance: float
    converged: bool
    parameters: np.ndarray
    min_frequency_harmonic: float
    min_frequency_renormalized: float
    gamma_min_frequency_harmonic: float
    gamma_min_frequency_renormalized: float
    frequency_history: list[dict[str, float]] = field(default_factory=list)
    frequency_tolerance: float = 0.1
    window: int = 4
    iterations_done: int = 0
    final_frequencies: dict[str, float] = field(default_factory=dict)
    out_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """JSON-serialisable summary (what ``scph.json`` holds)."""

        def num(x: float) -> float | None:
            return None if not np.isfinite(x) else float(x)

        return {
            "method": "self-consistent harmonic (hiphive fit)",
            "temperature": self.temperature,
            "n_iterations": self.n_iterations,
            "n_structures": self.n_structures,
            "alpha": self.alpha,
            "cutoff": self.cutoff,
            "seed": self.seed,
            "history": [float(h) for h in self.history],
            "tolerance": self.tolerance,
            "converged": self.converged,
            "criterion": (
                f"mean lowest frequency per q-star over the last {self.window} iterations "
                f"within {self.frequency_tolerance:g} THz of the mean over the {self.window} "
                "before"
            ),
            "frequency_tolerance": self.frequency_tolerance,
            "window": self.window,
            "iterations_done": self.iterations_done,
            "frequency_history": self.frequency_history,
            "final_frequencies": self.final_frequencies,
            "min_frequency_harmonic": num(self.min_frequency_harmonic),
            "min_frequency_renormalized": num(self.min_frequency_renormalized),
            "gamma_min_frequency_harmonic": num(self.gamma_min_frequency_harmonic),
            "gamma_min_frequency_renormalized": num(self.gamma_min_frequency_renormalized),
            "units": {"temperature": "K", "cutoff": "Å", "frequencies": "THz"},
            **self.extra,
        }

    def summary(self) -> str:
        """One line for the CLI and logs."""
        state = "converged" if self.converged else "NOT converged"
        last = self.history[-1] if len(self.history) else float("nan")
        return (
            f"SCPH at {self.temperature:g} K: {state} after {self.iterations_done} iterations × "
            f"{self.n_structures} structures (last relative change {last:.2e}, tolerance "
            f"{self.tolerance:.0e}); lowest frequency {self.min_frequency_harmonic:.3f} → "
            f"{self.min_frequency_renormalized:.3f} THz"
        )


def relative_changes(trajectory: list[np.ndarray]) -> np.ndarray:
    """``‖p_i − p_(i−1)‖ / ‖p_i‖`` for each step of a parameter trajectory."""
    params = [np.asarray(p, dtype=float) for p in trajectory]
    return np.array(
        [
            float(np.linalg.norm(params[i] - params[i - 1]))
            / max(float(np.linalg.norm(params[i])), 1e-300)
            for i in range(1, len(params))
        ]
    )


def _star_label(q: np.ndarray, cubic: bool) -> str:
    """Γ/X/M/R for a simple-cubic cell's q ∈ {0, ½}³, else the reduced coordinates."""
    frac = np.mod(q, 1.0)
    halves = np.isclose(frac, 0.5, atol=1e-8)
    if cubic and np.all(halves | np.isclose(frac, 0.0, atol=1e-8) | np.isclose(frac, 1.0)):
        return _CUBIC_STARS[int(halves.sum())]
    return "q(" + ",".join(f"{x:.3g}" for x in frac) + ")"


def lowest_frequencies(phonon) -> dict[str, float]:
    """Lowest frequency (THz, negative = imaginary) per commensurate q-point star.

    Γ's three acoustic translations are left out (Γ is absent for a one-atom primitive
    cell); ``"all"`` is the lowest over everything. Stars are named Γ, X, M, R when the
    primitive cell is simple cubic, else by reduced coordinates.
    """
    from thermognn.phonons.amplitudes import commensurate_qpoints

    cell = np.asarray(phonon.primitive.cell)
    lengths = np.linalg.norm(cell, axis=1)
    cubic = bool(np.allclose(cell @ cell.T, lengths[0] ** 2 * np.eye(3), atol=1e-6))
    qpoints = commensurate_qpoints(phonon)
    phonon.run_qpoints(qpoints)
    freqs = np.asarray(phonon.get_qpoints_dict()["frequencies"])
    lowest: dict[str, float] = {}
    for q, f in zip(qpoints, freqs):
        if np.allclose(q - np.rint(q), 0.0, atol=1e-8):
            f = np.sort(f[np.argsort(np.abs(f))][3:])  # drop the acoustic translations
        if f.size:
            label = _star_label(q, cubic)
            lowest[label] = min(lowest.get(label, np.inf), float(f.min()))
    lowest["all"] = min(lowest.values()) if lowest else float("nan")
    return lowest


def frequencies_settled(history: list[dict[str, float]], window: int, tolerance: float) -> bool:
    """Whether the stochastic iteration stopped drifting.

    Each iteration refits to a fresh random sample, so single iterates keep fluctuating
    by the sampling noise; what must settle is their average. Settled: for every tracked
    q-star, the mean frequency over the last ``window`` iterations differs from the mean
    over the ``window`` before by at most ``tolerance`` THz. False while fewer than
    ``2 · window`` iterations were done (entry 0 of ``history``, the start, never counts).
    """
    if window < 2 or len(history) - 1 < 2 * window:
        return False
    last, previous = history[-window:], history[-2 * window : -window]
    for key in set().union(*last, *previous):
        now = np.array([h.get(key, np.nan) for h in last], dtype=float)
        before = np.array([h.get(key, np.nan) for h in previous], dtype=float)
        if not np.all(np.isfinite(now)) or not np.all(np.isfinite(before)):
            return False
        if abs(now.mean() - before.mean()) > tolerance:
            return False
    return True


def plot_history(record: dict[str, Any], path: Path) -> Path:
    """Lowest frequency per q-star against iteration (from an ``scph.json`` record)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = record["frequency_history"]
    fig, ax = plt.subplots(figsize=(5.0, 3.5))
    keys = [k for k in history[0] if k != "all"]
    for key in keys:
        ax.plot(range(len(history)), [h.get(key, np.nan) for h in history], "o-", label=key)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xlabel("iteration (0 = harmonic, projected on the cluster space)")
    ax.set_ylabel("lowest frequency (THz, < 0 imaginary)")
    ax.set_title(f"SCPH at {record['temperature']:g} K")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def save_scph(result: ScphResult, out: Path) -> Path:
    """Write ``phonopy_params.yaml`` (force constants included), ``scph.json`` and
    ``scph.png`` (frequencies per iteration) to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    result.phonon.save(out / PARAMS_FILE, settings={"force_constants": True})
    record = result.record()
    (out / SCPH_FILE).write_text(json.dumps(record, indent=2))
    if len(result.frequency_history) > 1:
        plot_history(record, out / SCPH_PLOT)
    return out
