"""Learning curves with cross-tests (paper Fig. 4): a configuration of the one runner.

Each named set (a sampling set such as ``phonon``, ``random-matched``,
``random-paper``, or a scheme name, which selects every set of that scheme) gets a
reserved test set of ``test_size`` structures, reserved first; their union is the
``combined`` test set. Each set is also an arm trained on its own pool at every size
and seed, plus the ``combined`` arm trained on every pool. Every model is scored on
every test set (own, complementary and combined: the panels of Fig. 4), seeds are
paired, and the paired differences between arms come with 95 % intervals.

Folder: the runner's (``results.csv``, ``test_sets.json``, ``differences.csv``, …)
plus ``learning_curves.png`` (one figure per label when several).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thermognn.errors import ThermognnError
from thermognn.experiments import run_experiment
from thermognn.experiments.runner import ExperimentView
from thermognn.settings import ArmSpec, ExperimentSpec, Selection, TestSetSpec, TrainSettings

logger = logging.getLogger(__name__)

#: Name of the union of the sets, as an arm and as a test set.
COMBINED = "combined"


@dataclass
class CurveResult(ExperimentView):
    """Outcome of :func:`run_learning_curves`: the experiment and its figures."""

    figures: list[Path] = field(default_factory=list)


def curve_spec(
    sets: Sequence[str],
    *,
    labels: Sequence[str] = ("band_gap",),
    sizes: Sequence[int] | None = (100, 250, 500, 1000),
    seeds: int = 5,
    test_size: int = 250,
    combined: bool = True,
    material: Sequence[str] | None = None,
    query: str | None = None,
    val_fraction: float = 0.15,
    on_short: str = "clip",
    seed: int = 0,
    train: TrainSettings | None = None,
    sizes_per_label: Mapping[str, Sequence[int]] | None = None,
    combined_sizes: str = "all",
    combined_only: Sequence[str] = (),
) -> ExperimentSpec:
    """The experiment of a learning-curve study (one arm and one test set per set).

    ``combined_sizes="largest"`` trains the combined arm at the largest size only; the
    labels in ``combined_only`` train the combined arm only (no comparison of sets).
    """
    if len(set(sets)) < 2 or COMBINED in sets:
        raise ThermognnError(f"give two or more distinct sets (not {COMBINED!r}), got {list(sets)}")

    def select(name: str) -> Selection:
        return Selection(
            sample_set=[name], material=list(material) if material else None, query=query
        )

    tests = [TestSetSpec(name=s, select=select(s), size=test_size) for s in sets]
    arms = [ArmSpec(name=s, select=select(s)) for s in sets]
    if combined:
        tests.append(TestSetSpec(name=COMBINED, union=list(sets)))
        if combined_sizes not in ("all", "largest"):
            raise ThermognnError(f"combined_sizes: 'all' or 'largest', got {combined_sizes!r}")
        arms.append(
            ArmSpec(name=COMBINED, union=list(sets), largest_only=combined_sizes == "largest")
        )
    return ExperimentSpec(
        labels=list(labels),
        test_sets=tests,
        arms=arms,
        sizes=list(sizes) if sizes else None,
        seeds=seeds,
        val_fraction=val_fraction,
        seed=seed,
        train=train or TrainSettings(),
        on_short=on_short,  # type: ignore[arg-type]
        sizes_per_label={k: list(v) for k, v in (sizes_per_label or {}).items()},
        arms_per_label={k: [COMBINED] for k in combined_only} if combined else {},
    )


def run_learning_curves(
    db: Any,
    *,
    out: str | Path,
    label: str | Sequence[str] = "band_gap",
    schemes: Sequence[str] = ("phonon", "random"),
    sizes: Sequence[int] = (100, 250, 500, 1000),
    seeds: int = 5,
    test_size: int = 250,
    train: TrainSettings | None = None,
    material: Sequence[str] | None = None,
    query: str | None = None,
    combined: bool = True,
    val_fraction: float = 0.15,
    on_short: str = "clip",
    seed: int = 0,
    sizes_per_label: Mapping[str, Sequence[int]] | None = None,
    spread: str = "std",
    plots: bool = True,
    **options: Any,
) -> CurveResult:
    """Learning curves with cross-tests (paper Fig. 4) on the experiment runner.

    Parameters
    ----------
    db
        Study database holding labeled rows of every set.
    out
        Experiment folder; an existing one with the same settings is resumed.
    label
        Label(s) to predict (one model per label).
    schemes
        Sets compared (two or more): sampling-set names or scheme names.
    sizes
        Training sizes (structures); clipped to what each pool holds.
    seeds
        Paired seeds per point.
    test_size
        Structures reserved per set for testing (the paper kept 250).
    train
        Training settings (model, hyperparameters, recipe); default
        :class:`~thermognn.settings.TrainSettings`.
    material, query
        Restrict every set to these materials / an ASE query.
    combined
        Also train on every set together, and test on the union.
    val_fraction, on_short, seed, sizes_per_label
        See :class:`~thermognn.settings.ExperimentSpec`.
    spread
        Band of the figure: ``std`` or ``minmax``.
    plots
        Write the figure(s).
    **options
        ``workers``, ``scheduler``, ``connect_timeout``, ``cache_dir``, ``progress``:
        see :func:`~thermognn.experiments.run_experiment`.
    """
    labels = [label] if isinstance(label, str) else list(label)
    spec = curve_spec(
        schemes,
        labels=labels,
        sizes=sizes,
        seeds=seeds,
        test_size=test_size,
        combined=combined,
        material=material,
        query=query,
        val_fraction=val_fraction,
        on_short=on_short,
        seed=seed,
        train=train,
        sizes_per_label=sizes_per_label,
    )
    result = CurveResult(run_experiment(db, spec, out=out, **options))
    experiment = result.experiment
    if plots:
        from thermognn.graphs import LABEL_UNITS
        from thermognn.studies.plots import plot_learning_curves

        for name in labels:
            suffix = "" if len(labels) == 1 else f"_{name}"
            figure = plot_learning_curves(
                [r for r in experiment.rows if r["label"] == name],
                Path(out) / f"learning_curves{suffix}.png",
                spread=spread,
                unit=str(LABEL_UNITS.get(name, "")),
            )
            if figure is not None:
                result.figures.append(figure)
    return result
