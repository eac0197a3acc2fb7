"""``thermognn train``: train a model on a labeled study database, write a run folder.

Train a graph neural network on the labeled rows of a study database and write a run
folder: model.pt (weights), model.json (record), split.json, metrics.json,
predictions.csv, history.csv and history.png. Options left out take the defaults of
thermognn.settings.TrainSettings.

One label gives one run folder (``--out RUN``). Several labels (a comma list or
``all``) give one single-target run per label, ``RUN/<label>/`` — what the paper did —
or, with ``--multi-target``, one model predicting all of them in ``RUN``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from thermognn.cli import common

if TYPE_CHECKING:
    from thermognn.settings import TrainSettings

#: Options that set a :class:`thermognn.settings.TrainSettings` field of the same name
#: (type, help). They default to ``None``: an option left out keeps the settings'
#: default, which lives only in ``settings.py``.
SETTING_OPTIONS: dict[str, tuple[type, str]] = {
    "model": (str, "paper-1 … paper-6, paper, schnet, cgcnn, moments"),
    "epochs": (int, "maximum epochs"),
    "patience": (
        int,
        "stop after this many epochs without a real improvement of the smoothed validation loss",
    ),
    "min_epochs": (int, "never stop before this epoch"),
    "smoothing": (
        float,
        "exponential smoothing of the validation loss seen by the "
        "stopping rule and the schedule, 0 ≤ s < 1 (0 = raw loss)",
    ),
    "min_delta": (float, "relative improvement of the smoothed validation loss that counts"),
    "lr": (float, "Adam learning rate"),
    "weight_decay": (float, "Adam L2 weight decay"),
    "lr_decay": (float, "learning-rate factor on a validation plateau (1 = constant)"),
    "lr_patience": (int, "plateau epochs before the learning rate decays"),
    "batch_size": (int, "graphs per batch"),
    "seed": (int, "seed of the split, initial weights, dropout and batch order"),
    "device": (str, "any torch device: cpu, cuda, cuda:N, mps, or auto"),
    "cutoff": (float, "graph cutoff, Å"),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = common.add_command(sub, "train", __doc__)
    p.add_argument("--db", help="study database")
    p.add_argument(
        "--data",
        default=None,
        help="labeled structure file (extxyz …, labels in each frame's info) instead of --db",
    )
    p.add_argument(
        "--label",
        help="label, comma list, or 'all' (energy_per_atom, band_gap, vbm, hydrostatic_stress)",
    )
    p.add_argument("--out", help="run folder (several labels: one sub-folder per label)")
    p.add_argument("--query", default="labeled=1", help="ASE selection (default: labeled=1)")
    common.add_setting_options(p, SETTING_OPTIONS)
    common.add_hparam_options(p, "any other model setting, e.g. n_rbf=48 (repeatable)")
    p.add_argument("--multi-target", action="store_true", help="one model for all the labels")
    p.add_argument(
        "--ensemble",
        type=int,
        nargs="?",
        const=5,
        default=None,
        metavar="K",
        help="train a deep ensemble of K members (default K 5) differing in seed and data "
        "order; predictions get a calibrated spread <label>_std",
    )
    common.add_choice(
        p,
        "--missing",
        ("skip", "error"),
        "rows without a finite label: skip them (counted) or fail",
    )
    p.add_argument("--cache-dir", default=None, help="graph cache folder (default: next to the db)")
    p.add_argument("--overwrite", action="store_true", help="write into a folder holding a run")
    common.add_config_option(p)
    p.set_defaults(func=run)


def parse_hparams(args: argparse.Namespace) -> dict[str, Any]:
    """Model hyperparameters from ``--hidden/--dropout`` and ``--hparam KEY=VALUE``.

    Optimiser keys given as ``--hparam lr=…`` (the older spelling) stay in the dict;
    :meth:`TrainSettings.of` moves them to their fields.
    """
    hparams = common.parse_key_values(args.hparam, "--hparam")
    for key in ("hidden", "dropout"):
        if getattr(args, key) is not None:
            hparams[key] = getattr(args, key)
    return hparams


def train_settings(args: argparse.Namespace) -> TrainSettings:
    """The :class:`~thermognn.settings.TrainSettings` of parsed ``train`` options."""
    from thermognn.settings import TrainSettings  # noqa: F811 - lazy (no pydantic for --help)

    given = common.option_values(args, SETTING_OPTIONS)
    # explicit options win over optimiser keys spelled inside --hparam
    return TrainSettings.of(TrainSettings.of(None, hparams=parse_hparams(args)), **given)


def run(args: argparse.Namespace) -> int:
    from thermognn.errors import ThermognnError
    from thermognn.training import resolve_labels, train_run

    common.resolve_config(args, args.parser, "train")
    for option in ("label", "out") if args.data else ("db", "label", "out"):
        if not getattr(args, option):
            raise ThermognnError(f"--{option} is required (on the command line or in --config)")
    labels = resolve_labels(args.label)
    groups = [labels] if args.multi_target or len(labels) == 1 else [[name] for name in labels]
    settings = train_settings(args)
    for group in groups:
        out = Path(args.out) if len(groups) == 1 else Path(args.out) / group[0]
        if args.ensemble is not None:
            _train_ensemble(args, group, settings, out)
            continue
        result = train_run(
            args.data or args.db,
            labels=group,
            dataset=_file_dataset(args, group, settings.cutoff),
            settings=settings,
            **_output_kwargs(args, out),
        )
        note = (
            " — training loss turned NaN; kept the last good weights"
            if (result.stop_reason == "nan_loss")
            else ""
        )
        print(
            f"{out}: best epoch {result.best_epoch} of {result.epochs_run} "
            f"({result.stop_reason}), {result.wall_time:.1f} s{note}"
        )
        print_metrics(result.metrics, _units(out))
    return 0


def _output_kwargs(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Keywords that ``train_run`` and ``train_ensemble`` both take from the options."""
    return {
        "query": args.query or None,
        "out": out,
        "cache_dir": args.cache_dir,
        "missing": args.missing,
        "overwrite": args.overwrite,
    }


def _file_dataset(args: argparse.Namespace, labels: list[str], cutoff: float) -> Any:
    """``--data FILE``: the graphs of a labeled structure file (else ``None``)."""
    if not args.data:
        return None
    from thermognn.graphs.structures import load_structure_dataset

    return load_structure_dataset(args.data, labels=labels, cutoff=cutoff, missing=args.missing)


def _train_ensemble(
    args: argparse.Namespace, labels: list[str], settings: TrainSettings, out: Path
) -> None:
    """``--ensemble K``: K members in ``out``, their mean's metrics and calibration."""
    from thermognn.training.calibration import describe
    from thermognn.training.ensemble import train_ensemble
    from thermognn.training.labels import label_units

    result = train_ensemble(
        args.db,
        labels=labels,
        size=args.ensemble,
        settings=settings,
        **_output_kwargs(args, out),
    )
    print(f"{out}: ensemble of {len(result.members)} members, {result.wall_time:.1f} s")
    print_metrics(result.metrics, label_units(labels))
    for label, entry in result.calibration.items():
        print(describe(label, entry) + f"; calibrated spread applied (see {out}/calibration.png)")


def _units(run_dir: Path) -> dict[str, str]:
    from thermognn.training.checkpoint import read_record

    return read_record(run_dir).units


def print_metrics(metrics: dict[str, Any], units: dict[str, str]) -> None:
    """Render ``metrics[label][split]`` (or ``metrics[label]``) as a rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table("label", "split", "n", "MAE", "RMSE", "R²", "max error", "unit")
    for label, per_split in metrics.items():
        rows = per_split if "mae" not in per_split else {"all": per_split}
        for split, m in rows.items():
            table.add_row(
                label,
                split,
                str(m["n"]),
                *(_fmt(m[k]) for k in ("mae", "rmse", "r2", "max_error")),
                units.get(label, ""),
            )
    Console().print(table)


def _fmt(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.4g}"
