"""``thermognn sweep``: hyperparameter sweep, the paper's 480-model grid or an Optuna search.

Train every model of a hyperparameter grid (paper-1…6 × lr × hidden × dropout; --grid
paper is the paper's 480) or an Optuna search of the same space; write trials.csv,
best/, violins.png. Every trial trains on one fixed training split and is ranked on one
fixed validation split; the best is reported with its test metrics. Trials run on a
Dask LocalCluster (``--workers``) or an existing scheduler (``--scheduler``); each
finished trial is appended to ``OUT/trials.csv`` at once, and re-running the command
resumes.
"""

# This module also holds the options shared by ``sweep``, ``curve`` and ``compare``.

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from thermognn.cli import common


def split_list(value: Any, cast: Callable[[str], Any] = str) -> list[Any] | None:
    """``"a,b"`` or a TOML list → ``[cast(a), cast(b)]``; ``None``/empty → ``None``."""
    from thermognn.errors import ThermognnError

    if value is None or value == "" or value == []:
        return None
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    try:
        return [cast(str(v).strip()) for v in items if str(v).strip()]
    except ValueError:
        raise ThermognnError(f"cannot read {value!r} as a list of {cast.__name__}") from None


def add_data_options(p: argparse.ArgumentParser, label: str | None = None) -> None:
    """``--db --label --query --out --cutoff --cache-dir``."""
    p.add_argument("--db", help="study database")
    p.add_argument(
        "--label",
        default=label,
        help="label to predict (energy_per_atom, band_gap, "
        "vbm, hydrostatic_stress)" + (f"; default {label}" if label else ""),
    )
    p.add_argument("--query", default="labeled=1", help="ASE selection (default: labeled=1)")
    p.add_argument("--out", help="study folder (re-run to resume)")
    p.add_argument("--cutoff", type=float, default=5.5, help="graph cutoff, Å")
    p.add_argument("--cache-dir", default=None, help="graph cache folder (default: next to the db)")


def add_training_options(p: argparse.ArgumentParser) -> None:
    """``--epochs --patience --batch-size --seed --device``."""
    p.add_argument("--epochs", type=int, default=None, help="maximum epochs per model")
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience (epochs)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0, help="seed of splits, selections and weights")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N, mps or auto")


#: Options of :func:`add_data_options` and :func:`add_training_options` that set
#: :class:`~thermognn.settings.TrainSettings` fields of the same name.
TRAIN_OPTIONS = ("epochs", "patience", "batch_size", "device", "cutoff")

#: Options of ``sweep`` passed unchanged to :func:`~thermognn.studies.run_search`.
OPTUNA_OPTIONS = (
    "ranges",
    "trials",
    "sampler",
    "pruner",
    "pruner_warmup",
    "storage",
    "study_name",
    "epoch_budget",
)


#: Optuna options that default to ``None`` (the search's own default): (type, help).
OPTUNA_SETTINGS: dict[str, tuple[type, str]] = {
    "pruner_warmup": (int, "Optuna: epochs before a trial may be pruned (default: --epochs / 10)"),
    "storage": (str, "Optuna: storage file or URL shared by machines (default OUT/optuna.log)"),
    "epoch_budget": (int, "Optuna: stop asking for trials after this many epochs in total"),
}


def add_cluster_options(p: argparse.ArgumentParser) -> None:
    """``--workers --scheduler --connect-timeout``."""
    common.add_dask_options(
        p, "LocalCluster worker processes (default: one per core; 0: in this process)"
    )
    p.add_argument(
        "--connect-timeout", type=float, default=10.0, help="seconds to wait for --scheduler"
    )


def add_model_options(p: argparse.ArgumentParser) -> None:
    """``--model --lr --hidden --dropout --hparam --from-sweep`` (curve, compare)."""
    p.add_argument("--model", default=None, help="architecture (paper-1 … paper-6, schnet, cgcnn)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 1e-3)")
    common.add_hparam_options(p, "any other model hyperparameter (repeatable)")
    p.add_argument(
        "--from-sweep",
        default=None,
        metavar="DIR",
        help="use the best model and hyperparameters of a finished sweep folder",
    )


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Model, training and cluster options of a study of fixed models (curve, compare)."""
    add_model_options(p)
    add_training_options(p)
    add_cluster_options(p)


def study_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``train``, ``seed`` and the cluster keywords of :func:`add_run_options`'s options."""
    return {"train": train_settings(args), "seed": args.seed, **cluster_kwargs(args)}


def model_and_hparams(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The architecture and hyperparameters from ``--from-sweep`` and the model options."""
    from thermognn.cli.train import parse_hparams
    from thermognn.studies import best_hparams

    model, hparams = args.model, dict[str, Any]()
    if args.from_sweep:
        model, hparams = best_hparams(args.from_sweep)
    return model, {**hparams, **parse_hparams(args)}


def train_settings(args: argparse.Namespace) -> Any:
    """The :class:`~thermognn.settings.TrainSettings` of the model and training options."""
    from thermognn.settings import TrainSettings

    model, hparams = model_and_hparams(args)
    given = common.option_values(args, TRAIN_OPTIONS)
    return TrainSettings.of(None, model=model, hparams=hparams, **given)


#: Options of :func:`add_cluster_options` (and ``--cache-dir``) that study functions take.
CLUSTER_OPTIONS = ("workers", "scheduler", "connect_timeout", "cache_dir")


def cluster_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``workers``, ``scheduler``, ``connect_timeout``, ``cache_dir`` of the options."""
    return common.option_values(args, CLUSTER_OPTIONS)


def require(args: argparse.Namespace, options: Sequence[str]) -> None:
    """Options needed on the command line or in ``--config``."""
    from thermognn.errors import ThermognnError

    for option in options:
        if getattr(args, option) in (None, ""):
            flag = option.replace("_", "-")
            raise ThermognnError(f"--{flag} is required (on the command line or in --config)")


def start_study(args: argparse.Namespace, section: str) -> None:
    """Apply ``[section]`` of ``--config`` and require ``--db``, ``--label`` and ``--out``."""
    common.resolve_config(args, args.parser, section)
    require(args, ("db", "label", "out"))


def common_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments every study function takes, from the shared options."""
    return {
        **common.option_values(args, ("label", "out", "seed", *TRAIN_OPTIONS)),
        "query": args.query or None,
        **cluster_kwargs(args),
    }


def run_study(
    args: argparse.Namespace, section: str, title: str, study: Callable[..., Any], **kwargs: Any
) -> Any:
    """Run ``study(args.db, out=…, progress=…, **kwargs)`` of a study of fixed models.

    Applies ``[section]`` of ``--config`` first (:func:`start_study`); adds the model,
    training and cluster keywords of :func:`add_run_options` (:func:`study_kwargs`) and
    a progress bar titled ``title``.
    """
    start_study(args, section)
    with common.progress_callback(title) as update:
        return study(args.db, out=args.out, progress=update, **kwargs, **study_kwargs(args))


def register(sub: argparse._SubParsersAction) -> None:
    p = common.add_command(sub, "sweep", __doc__)
    add_data_options(p)
    p.add_argument("--grid", default="paper", help="base grid: paper (480) or small (16)")
    p.add_argument("--models", default=None, help="architectures, comma list (sub-grid)")
    p.add_argument("--lr", default=None, help="learning rates, comma list (sub-grid)")
    p.add_argument("--hidden", default=None, help="hidden channels, comma list (sub-grid)")
    p.add_argument("--dropout", default=None, help="dropout probabilities, comma list (sub-grid)")
    common.add_choice(
        p,
        "--search",
        ("grid", "optuna"),
        "every grid point, or an Optuna TPE search of the same space",
    )
    p.add_argument("--trials", type=int, default=50, help="Optuna: trials in the study")
    p.add_argument(
        "--choices-only",
        dest="ranges",
        action="store_false",
        help="Optuna: sample only the grid's choices (default: the ranges they span, "
        "the learning rate log-uniform)",
    )
    common.add_choice(p, "--sampler", ("tpe", "random"), "Optuna: TPE (default) or random sampling")
    common.add_choice(
        p,
        "--pruner",
        ("median", "sha", "none"),
        "Optuna: median or successive-halving pruning on validation loss",
    )
    p.add_argument("--study-name", default="thermognn-sweep", help="Optuna study name")
    common.add_setting_options(p, OPTUNA_SETTINGS)
    add_training_options(p)
    add_cluster_options(p)
    common.add_choice(
        p,
        "--keep",
        ("best", "all", "none"),
        "run folders kept: the best trial's (OUT/best), all, or none",
    )
    p.add_argument("--retry-failed", action="store_true", help="grid: re-run failed trials")
    p.add_argument("--no-plots", action="store_true", help="skip the violin plots")
    common.add_config_option(p)
    p.set_defaults(func=run)


def space_from_args(args: argparse.Namespace) -> Any:
    """The grid: ``--grid`` restricted by ``--models/--lr/--hidden/--dropout``."""
    from thermognn.studies.space import named_grid

    return named_grid(args.grid).restrict(
        models=split_list(args.models),
        lr=split_list(args.lr, float),
        hidden=split_list(args.hidden, int),
        dropout=split_list(args.dropout, float),
    )


def run(args: argparse.Namespace) -> int:
    start_study(args, "sweep")
    space = space_from_args(args)
    kwargs = {**common_kwargs(args), "keep": args.keep, "plots": not args.no_plots}
    if args.search == "optuna":
        import optuna

        from thermognn.studies import run_search

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with common.progress_callback(f"optuna search ({args.pruner} pruning)") as update:
            optuna_kwargs = common.option_values(args, OPTUNA_OPTIONS)
            result = run_search(args.db, space=space, progress=update, **optuna_kwargs, **kwargs)
    else:
        from thermognn.studies import run_sweep

        with common.progress_callback(f"grid sweep ({space.size} trials)") as update:
            result = run_sweep(
                args.db, grid=space, retry_failed=args.retry_failed, progress=update, **kwargs
            )
    print_sweep(result)
    return 0


def print_sweep(result: Any) -> None:
    """Counts, the best trial and the files written."""
    from rich.console import Console

    console = Console()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result.status_counts.items()))
    console.print(
        f"{result.out}: {len(result.rows)} trials ({counts}); {result.ran} run now, "
        f"{result.skipped} already recorded; {result.total_epochs} epochs in all"
    )
    best = result.best
    if best is None:
        console.print("no trial finished cleanly; see trials.csv")
        return
    g = {k: _rounded(v) for k, v in best.items()}
    console.print(
        f"best: {g['trial']} (lr {g['lr']}, hidden {g['hidden']}, dropout "
        f"{g['dropout']}): val MAE {g['val_mae']}, R² {g['val_r2']}; "
        f"test MAE {g['test_mae']}, RMSE {g['test_rmse']}, R² {g['test_r2']}"
    )
    console.print(
        "files: trials.csv, best.json, summary.json, split.json"
        + (", best/" if (result.out / "best").is_dir() else "")
        + "".join(f", {f.name}" for f in result.figures)
    )


def _rounded(value: Any) -> Any:
    """A table value with a fractional part to 4 significant digits (searched values)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return value if number.is_integer() else f"{number:.4g}"
