"""The temperature curve as a record: ⟨P⟩_T with its spreads, CSV/JSON output and plot.

:class:`TemperatureCurve` is what
:func:`~thermognn.temperature.curve.harmonic_ensemble_average` returns (see that module
for what the curve is and how it is made).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thermognn.temperature.domain import TrainingDomain

#: One line saying what the curve's ``mean`` is (CSV sidecar, plot, report).
QUANTITY = (
    "harmonic fixed-volume ensemble average <P>_T of the model-predicted label over "
    "thermally displaced configurations of the reference crystal"
)
CSV_COLUMNS = (
    "temperature_K",
    "label",
    "unit",
    "mean",
    "sem",
    "thermal_std",
    "model_std",
    "n_configs",
    "n_models",
    "in_training_range",
    "scheme",
)


@dataclass
class TemperatureCurve:
    """⟨P⟩_T: harmonic, fixed-volume ensemble averages of predicted labels versus T.

    Attributes
    ----------
    temperatures
        K, shape (n_T,).
    labels, units
        Label names (columns) and their units (eV, GPa, …).
    mean
        ⟨P⟩_T: mean over configurations and models, shape (n_T, n_labels).
    sem
        Standard error of ``mean``: sqrt(s²_configs / n_configs + model_std² / n_models),
        s_configs the spread over configurations of the model-averaged prediction (all
        models see the same configurations). With one model only the first term.
    thermal_std
        Spread of the predictions over configurations (thermal fluctuations of P at T,
        root-mean-square over models), same shape.
    model_std
        Standard deviation between the models' ensemble averages (ddof 1); NaN for one
        model (unknown, not zero).
    n_configs, n_models
        Configurations per temperature and number of models.
    in_training_range
        (n_T,) booleans: T within every model's training temperatures; ``None`` when the
        training range is unknown.
    training_domain
        That range (K) and where it was read from.
    settings
        Scheme, seed, supercell, imaginary-mode policy, frequency floor, force constants.
    """

    temperatures: np.ndarray
    labels: list[str]
    units: dict[str, str]
    mean: np.ndarray
    sem: np.ndarray
    thermal_std: np.ndarray
    model_std: np.ndarray
    n_configs: int
    n_models: int
    in_training_range: np.ndarray | None = None
    training_domain: TrainingDomain | None = None
    material: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def config_std(self) -> np.ndarray:
        """Former name of :attr:`thermal_std`."""
        return self.thermal_std

    @property
    def scheme(self) -> str:
        return str(self.settings.get("scheme", ""))

    def metadata(self) -> dict[str, Any]:
        """What the curve is and how it was made (JSON-ready)."""
        dom = self.training_domain
        return {
            "quantity": QUANTITY,
            "material": self.material,
            "labels": self.labels,
            "units": self.units,
            "n_configs": self.n_configs,
            "n_models": self.n_models,
            "training_range_K": None if dom is None else [dom.t_min, dom.t_max],
            "training_range_source": None if dom is None else dom.source,
            "training_schemes": None if dom is None else list(dom.schemes),
            **self.settings,
        }

    def write_csv(self, path: str | Path) -> Path:
        """One row per temperature and label (:data:`CSV_COLUMNS`), plus ``<stem>.json``.

        The JSON sidecar holds :meth:`metadata` (quantity, scheme, training range, …).
        """
        import csv
        import json

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = self.in_training_range
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(CSV_COLUMNS)
            for i, t in enumerate(self.temperatures):
                flag = "unknown" if flags is None else str(bool(flags[i])).lower()
                for j, lab in enumerate(self.labels):
                    w.writerow(
                        [
                            f"{t:g}",
                            lab,
                            self.units.get(lab, ""),
                            *(
                                f"{a[i, j]:.6g}"
                                for a in (self.mean, self.sem, self.thermal_std, self.model_std)
                            ),
                            self.n_configs,
                            self.n_models,
                            flag,
                            self.scheme,
                        ]
                    )
        path.with_suffix(".json").write_text(json.dumps(self.metadata(), indent=1, default=str))
        return path

    def plot(self, path: str | Path, direct: Any = None) -> Path:
        """Figure of ⟨P⟩_T (see :func:`thermognn.temperature.plot.plot_curve`)."""
        from thermognn.temperature.plot import plot_curve

        return plot_curve(self, path, direct=direct)
