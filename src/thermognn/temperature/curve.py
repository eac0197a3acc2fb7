"""Property versus temperature, e.g. the thermal band-gap renormalisation E_g(T).

At each temperature, ``n_configs`` configurations are drawn with a phonon scheme (eq. 3
amplitudes from the material's force constants, same policy and floor as sampling) and
every model of the ensemble predicts them. The curve reports the mean over
configurations and models, the spread over configurations (thermal fluctuations) and
the spread between models (model uncertainty, when several runs are given).
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from thermognn.errors import ThermognnError
from thermognn.sampling.sample import SamplingSpec, draw_configurations, phonon_source


@dataclass
class TemperatureCurve:
    """Predicted label(s) versus temperature.

    Attributes
    ----------
    temperatures
        K, shape (n_T,).
    labels
        Label names (columns), with ``units``.
    mean
        Mean over configurations and models, shape (n_T, n_labels).
    config_std
        Standard deviation over configurations (model-averaged), same shape.
    model_std
        Standard deviation between models of the configuration mean (0 for one model).
    n_configs, n_models
        Sample sizes.
    """

    temperatures: np.ndarray
    labels: list[str]
    units: dict[str, str]
    mean: np.ndarray
    config_std: np.ndarray
    model_std: np.ndarray
    n_configs: int
    n_models: int
    material: str = ""
    settings: dict[str, object] = field(default_factory=dict)

    def write_csv(self, path: str | Path) -> Path:
        """One row per temperature and label."""
        path = Path(path)
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(
                [
                    "temperature_K",
                    "label",
                    "unit",
                    "mean",
                    "config_std",
                    "model_std",
                    "n_configs",
                    "n_models",
                ]
            )
            for i, t in enumerate(self.temperatures):
                for j, lab in enumerate(self.labels):
                    w.writerow(
                        [
                            f"{t:g}",
                            lab,
                            self.units.get(lab, ""),
                            f"{self.mean[i, j]:.6g}",
                            f"{self.config_std[i, j]:.6g}",
                            f"{self.model_std[i, j]:.6g}",
                            self.n_configs,
                            self.n_models,
                        ]
                    )
        return path

    def plot(self, path: str | Path) -> Path:
        """Mean ± configuration spread (band) and model spread (error bars) vs T."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(
            1, len(self.labels), figsize=(4.2 * len(self.labels), 3.4), squeeze=False
        )
        for j, (ax, lab) in enumerate(zip(axes[0], self.labels)):
            m, s = self.mean[:, j], self.config_std[:, j]
            ax.fill_between(self.temperatures, m - s, m + s, alpha=0.25, label="± thermal spread")
            ax.errorbar(
                self.temperatures,
                m,
                yerr=self.model_std[:, j],
                marker="o",
                ms=3,
                capsize=2,
                label="mean (± model spread)",
            )
            ax.set_xlabel("temperature (K)")
            ax.set_ylabel(f"{lab} ({self.units.get(lab, '')})")
            ax.set_title(f"{self.material}: {lab}(T)")
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=8)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=130)
        plt.close(fig)
        return path


def property_vs_temperature(
    runs: Sequence[str | Path],
    material: str,
    temperatures: Sequence[float],
    *,
    n_configs: int = 32,
    seed: int = 0,
    supercell: tuple[int, int, int] = (2, 2, 2),
    scheme: str = "phonon",
    phonons: str | None = None,
    calculator: str = "gfn1-xtb",
    imaginary_policy: str = "abs",
    frequency_floor: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
) -> TemperatureCurve:
    """Predict every run's labels on phonon-sampled configurations at each temperature.

    Parameters
    ----------
    runs
        Run folders (one model, or an ensemble of seeds); all must predict the same labels.
    material
        Built-in name or structure file (the reference crystal).
    temperatures
        K, each ≥ 0.
    scheme
        ``phonon``, ``phonon-gaussian`` or ``normal-mode``.
    n_configs
        Configurations per temperature.
    seed
        Seed of the draws (the same seed gives the same configurations).
    supercell
        Repetitions of the reference crystal; must match the models' training cells.
    phonons
        phonopy folder/file; default: bundled, cached or computed with ``calculator``.
    calculator
        Calculator for force constants when they must be computed.
    imaginary_policy, frequency_floor
        Mode policy, as for sampling (DESIGN.md §2).
    progress
        Called as ``progress(done, total)`` per temperature.
    """
    from thermognn.structures import resolve_material
    from thermognn.training import Predictor

    temps = np.asarray(list(temperatures), dtype=float)
    if temps.size == 0 or np.any(~np.isfinite(temps)) or np.any(temps < 0):
        raise ThermognnError(f"temperatures: need finite values ≥ 0 K, got {temps.tolist()}")
    if scheme not in ("phonon", "phonon-gaussian", "normal-mode"):
        raise ThermognnError(f"scheme: {scheme!r} is not a phonon scheme")
    if not runs:
        raise ThermognnError("no model runs given")
    predictors = [Predictor.from_run(r) for r in runs]
    labels = list(predictors[0].record.labels)
    for r, p in zip(runs, predictors):
        if list(p.record.labels) != labels:
            raise ThermognnError(f"{r}: predicts {p.record.labels}, not {labels} like {runs[0]}")
    reference = resolve_material(material, supercell, seed=seed)
    refs: list[tuple[int, Atoms, float | None]] = [(0, reference, None)]
    preds = np.zeros((len(temps), len(predictors), n_configs, len(labels)))
    source = None  # force constants loaded once, imaginary modes named once
    for i, t in enumerate(temps):
        spec = SamplingSpec(
            material,
            scheme,
            n_configs,
            seed=seed,
            supercell=supercell,
            temperatures=[float(t)],
            phonons=phonons,
            calculator=calculator,
            imaginary_policy=imaginary_policy,
            frequency_floor=frequency_floor,
        )
        spec.validate()
        batch = f"T{zlib.crc32(spec.batch_key().encode())}"
        source = source or phonon_source(spec)
        draws = draw_configurations(spec, refs, list(range(n_configs)), batch, source=source)
        atoms = [a for a, _, _ in draws]
        for k, p in enumerate(predictors):
            preds[i, k] = p.predict_atoms(atoms)
        if progress:
            progress(i + 1, len(temps))
    per_model_mean = preds.mean(axis=2)  # (T, models, labels)
    return TemperatureCurve(
        temperatures=temps,
        labels=labels,
        units=dict(predictors[0].record.units),
        mean=preds.mean(axis=(1, 2)),
        config_std=preds.std(axis=2).mean(axis=1),
        model_std=per_model_mean.std(axis=1),
        n_configs=n_configs,
        n_models=len(predictors),
        material=material,
        settings={
            "scheme": scheme,
            "seed": seed,
            "supercell": list(supercell),
            "imaginary_policy": imaginary_policy,
            "frequency_floor": frequency_floor,
        },
    )
