"""Trained models as tools: ``thermognn.load_model(RUN).predict(atoms_list)``.

:func:`load_model` opens a run folder written by ``thermognn train`` (or
:func:`thermognn.training.train_run`), an ensemble folder (``train --ensemble K``) or a
folder whose sub-folders hold one run per label (``thermognn reproduce``), and returns a
:class:`LoadedModel`. Its :meth:`~LoadedModel.predict` maps each label to a NumPy array
with one value per structure, in the label's unit::

    import thermognn
    from ase.io import read

    model = thermognn.load_model("runs/band_gap")
    values = model.predict(read("cells.extxyz", index=":"))
    values["band_gap"]        # eV, shape (n,)
    values.get("band_gap_std")  # the calibrated spread, for an ensemble only

The loading and the predictions are those of ``thermognn predict``
(:func:`thermognn.training.ensemble.load_predictor`); nothing is re-implemented here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from ase import Atoms

__all__ = ["LoadedModel", "load_model"]

#: Suffix of the key holding a label's calibrated spread (ensembles only).
STD_SUFFIX = "_std"


class LoadedModel:
    """One or more loaded runs that predict labels for ASE structures.

    Parameters
    ----------
    predictors
        Loaded predictors (:class:`~thermognn.training.predict.Predictor` or
        :class:`~thermognn.training.ensemble.EnsemblePredictor`), one per run folder.
    runs
        Their folders, in the same order.

    Attributes
    ----------
    runs
        The run folders behind the model.
    """

    def __init__(self, predictors: Sequence[Any], runs: Sequence[Path]) -> None:
        self._predictors = list(predictors)
        self.runs = list(runs)

    @property
    def labels(self) -> list[str]:
        """Predicted label names (``energy_per_atom``, ``band_gap`` …), in key order."""
        return [name for p in self._predictors for name in p.labels]

    @property
    def units(self) -> dict[str, str]:
        """Unit of every key :meth:`predict` returns (``eV/atom``, ``eV``, ``GPa``)."""
        units: dict[str, str] = {}
        for p in self._predictors:
            for name in p.labels:
                units[name] = p.record.units.get(name, "")
                if hasattr(p, "predict_atoms_std"):
                    units[name + STD_SUFFIX] = units[name]
        return units

    @property
    def records(self) -> list[Any]:
        """The :class:`~thermognn.training.checkpoint.RunRecord` of each run."""
        return [p.record for p in self._predictors]

    def predict(self, atoms_list: Sequence[Atoms] | Atoms) -> dict[str, np.ndarray]:
        """Predict every label for periodic crystals.

        Parameters
        ----------
        atoms_list
            ASE structures (any number of atoms; same-size cells take the fast dense
            route), or a single structure.

        Returns
        -------
        dict[str, numpy.ndarray]
            ``{label: values}``, one float64 value per structure in the unit of
            :attr:`units`. An ensemble adds ``{label}_std``: the spread of its members,
            calibrated on the validation rows. Further keys may be added in later
            versions; read the ones you need by name.
        """
        from ase import Atoms as AseAtoms

        from thermognn.structures import check_structure

        structures = [atoms_list] if isinstance(atoms_list, AseAtoms) else list(atoms_list)
        structures = [check_structure(a, source=f"structure {k}") for k, a in enumerate(structures)]
        out: dict[str, np.ndarray] = {}
        for p in self._predictors:
            if hasattr(p, "predict_atoms_std"):
                mean, std = p.predict_atoms_std(structures)
                spread = {name + STD_SUFFIX: std[:, k] for k, name in enumerate(p.labels)}
            else:
                mean, spread = p.predict_atoms(structures), {}
            out.update({name: mean[:, k] for k, name in enumerate(p.labels)})
            out.update(spread)
        return out

    def __repr__(self) -> str:
        runs = ", ".join(str(r) for r in self.runs)
        return f"LoadedModel({runs}; labels {', '.join(self.labels)})"


def load_model(run: str | Path, device: str = "cpu") -> LoadedModel:
    """Load a trained model (a run, an ensemble, or a folder of runs) for prediction.

    Parameters
    ----------
    run
        A run folder (``model.json`` + ``model.pt``), an ensemble folder
        (``ensemble.json``), or a folder whose direct sub-folders are runs (one per
        label; their labels are predicted together).
    device
        ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or ``auto``.

    Returns
    -------
    LoadedModel
        Call :meth:`LoadedModel.predict` with a list of ASE structures.

    Raises
    ------
    thermognn.errors.CheckpointError
        When ``run`` holds no run, or a record or weights file is malformed (weights
        are read with ``weights_only=True``; pickled objects are refused).
    """
    from thermognn.errors import CheckpointError
    from thermognn.training.checkpoint import find_runs
    from thermognn.training.device import resolve_device
    from thermognn.training.ensemble import load_predictor

    runs = find_runs(run)
    where = str(resolve_device(device))
    predictors = [load_predictor(r, where) for r in runs]
    seen: dict[str, Path] = {}
    for r, p in zip(runs, predictors, strict=True):
        for name in p.labels:
            if name in seen:
                raise CheckpointError(f"{run}: {name} is predicted by both {seen[name]} and {r}")
            seen[name] = r
    return LoadedModel(predictors, runs)
