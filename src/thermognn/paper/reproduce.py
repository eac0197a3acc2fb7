"""``thermognn reproduce``: the paper's study on the bundled data set, one command.

Stages (each writes into the run folder and is skipped when its output exists, so an
interrupted run resumes):

1. data — the bundled GFN1-xTB data set (or ``--relabel``: rebuilt from scratch),
   its counts, calibration and label distributions (paper SI Fig. 10);
2. sweep — the paper's grid on the band gap (a reduced grid by default; ``--preset
   paper`` is the full 480-model grid), phonon + random data;
3. models — the best architecture/hyperparameters retrained for each of the four
   labels (Table 1, Fig. 2 parity plots);
4. curves — phonon vs random learning curves with cross-tests (Fig. 4);
5. compare — MD vs phonon data (SI Table 1), when the data set has MD rows;
6. explain — best vs poorly performing band-gap model (Fig. 5);
7. temperature — E_g(T) of Ag3SBr from the band-gap model;
8. report — one HTML page.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from thermognn._version import __version__
from thermognn.errors import ThermognnError
from thermognn.labels.base import LABEL_NAMES

log = logging.getLogger(__name__)

BUNDLED_DB = Path(__file__).resolve().parent.parent / "data" / "ag3sx_study.db"
TRAIN_QUERY = "labeled=1,scheme!=reference,scheme!=md"


@dataclass
class Preset:
    """How much of the study to run (see :data:`PRESETS`)."""

    name: str
    grid: dict[str, list[Any]]
    sweep_epochs: int
    sweep_patience: int
    final_epochs: int
    final_patience: int
    curve_sizes: list[int]
    curve_seeds: int
    curve_test_size: int
    curve_epochs: int
    compare_epochs: int
    explain_structures: int
    explain_seeds: int
    explain_epochs: int
    temperatures: list[float] = field(default_factory=lambda: [float(t) for t in range(0, 651, 50)])
    temperature_configs: int = 32
    batch_size: int = 64
    compare_min_rows: int = 50
    # the final models halve the learning rate after this many epochs without a better
    # validation loss (a plateau otherwise ends them early, depending on thread count)
    final_lr_decay: float = 0.5
    final_lr_patience: int = 8


PRESETS: dict[str, Preset] = {
    # ≤ 30 min on 2 CPU cores with the bundled data set
    "quick": Preset(
        name="quick",
        grid={
            "models": ["paper-1", "paper-3", "paper-5"],
            # 1e-5 under-trains in 40 epochs: the poorly performing model of Fig. 5
            "lr": [1e-3, 1e-4, 1e-5],
            "hidden": [64],
            "dropout": [0.0],
        },
        sweep_epochs=40,
        sweep_patience=10,
        final_epochs=120,
        final_patience=20,
        curve_sizes=[100, 250, 500, 1000],
        curve_seeds=3,
        curve_test_size=250,
        curve_epochs=60,
        compare_epochs=80,
        explain_structures=6,
        explain_seeds=3,
        explain_epochs=200,
    ),
    # the paper's protocol: 480-model grid, 10 seeds (GPU territory)
    "paper": Preset(
        name="paper",
        grid={
            "models": [f"paper-{k}" for k in range(1, 7)],
            "lr": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6],
            "hidden": [32, 64, 128, 256],
            "dropout": [0.0, 0.2, 0.4, 0.6],
        },
        sweep_epochs=300,
        sweep_patience=30,
        final_epochs=500,
        final_patience=50,
        final_lr_patience=20,
        curve_sizes=[100, 250, 500, 1000, 1500, 2000],
        curve_seeds=10,
        curve_test_size=250,
        curve_epochs=300,
        compare_epochs=300,
        explain_structures=20,
        explain_seeds=10,
        explain_epochs=200,
    ),
    # a smoke test of every stage in a few minutes (tests, CI)
    "smoke": Preset(
        name="smoke",
        grid={"models": ["paper-1", "paper-3"], "lr": [1e-3], "hidden": [16], "dropout": [0.0]},
        sweep_epochs=3,
        sweep_patience=3,
        final_epochs=3,
        final_patience=3,
        curve_sizes=[4, 8],
        curve_seeds=2,
        curve_test_size=4,
        curve_epochs=3,
        compare_epochs=3,
        explain_structures=1,
        explain_seeds=1,
        explain_epochs=5,
        temperatures=[0.0, 300.0],
        temperature_configs=4,
        batch_size=8,
        compare_min_rows=4,
    ),
}


def _stage(state: dict[str, Any], name: str, say: Callable[[str], None]):
    """Context manager timing one stage into ``state['stage_seconds']``."""

    class _Timer:
        def __enter__(self) -> None:
            say(f"[{name}]")
            self.t0 = time.perf_counter()

        def __exit__(self, *exc: object) -> None:
            state.setdefault("stage_seconds", {})[name] = round(time.perf_counter() - self.t0, 1)

    return _Timer()


def reproduce(
    out: str | Path = "runs/reproduce",
    *,
    preset: str | Preset = "quick",
    db: str | Path | None = None,
    relabel: bool = False,
    recipe: str | Path | None = None,
    workers: int | None = None,
    material: str = "Ag3SBr",
    supercell: tuple[int, int, int] = (2, 2, 2),
    status: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Run the whole study into ``out``; returns the path of the HTML report."""
    from thermognn.database import StudyDatabase

    p = PRESETS.get(preset) if isinstance(preset, str) else preset
    if p is None:
        raise ThermognnError(f"preset: unknown {preset!r}; choose one of {', '.join(PRESETS)}")
    say = status or log.info
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    (root / "figures").mkdir(exist_ok=True)
    state: dict[str, Any] = {
        "preset": asdict(p),
        "thermognn_version": __version__,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    t_start = time.perf_counter()
    study_db = root / "data" / "study.db"

    with _stage(state, "data", say):
        if relabel:
            from thermognn.paper.dataset import DatasetRecipe, build_dataset

            rec = DatasetRecipe.from_toml(recipe) if recipe else None
            build_dataset(study_db, rec, workers=workers, status=say, progress=progress)
        elif not study_db.exists():
            source = Path(db) if db else BUNDLED_DB
            if not source.is_file():
                raise ThermognnError(f"{source}: data set not found (run with --relabel)")
            study_db.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, study_db)
        sdb = StudyDatabase(study_db, create=False)
        info = {
            "counts": sdb.counts(),
            "calibration": sdb.metadata.get("config", {}).get("calibration"),
            "recipe": sdb.metadata.get("config", {}).get("recipe"),
            "labeler": sdb.metadata.get("config", {}).get("label"),
        }
        (root / "dataset.json").write_text(json.dumps(info, indent=1, default=str))
        from thermognn.report.figures import label_distributions

        label_distributions(study_db, root / "figures" / "label_distributions.png")
    n_train = sdb.ase.count(TRAIN_QUERY)
    if n_train < 10:
        raise ThermognnError(f"{study_db}: only {n_train} labeled phonon/random rows; need ≥ 10")

    common: dict[str, Any] = {"workers": workers, "batch_size": p.batch_size}
    with _stage(state, "sweep", say):
        from thermognn.studies import SearchSpace, run_sweep

        grid = SearchSpace(
            tuple(p.grid["models"]),
            tuple(p.grid["lr"]),
            tuple(p.grid["hidden"]),
            tuple(p.grid["dropout"]),
        )
        sweep = run_sweep(
            study_db,
            label="band_gap",
            out=root / "sweep",
            query=TRAIN_QUERY,
            grid=grid,
            epochs=p.sweep_epochs,
            patience=p.sweep_patience,
            keep="all",
            progress=progress,
            **common,
        )
        if sweep.best is None:
            raise ThermognnError("sweep: no trial finished; see sweep/trials.csv")
        best = sweep.best
        state["sweep_best"] = best
    model = best["model"]
    hparams = {
        "lr": float(best["lr"]),
        "hidden": int(float(best["hidden"])),
        "dropout": float(best["dropout"]),
    }

    with _stage(state, "models", say):
        from thermognn.report.figures import parity_figure
        from thermognn.training import train_run

        for lab in LABEL_NAMES:
            run_dir = root / "models" / lab
            if not (run_dir / "metrics.json").exists():
                train_run(
                    study_db,
                    labels=lab,
                    model=model,
                    hparams={
                        **hparams,
                        "lr_decay": p.final_lr_decay,
                        "lr_patience": p.final_lr_patience,
                    },
                    out=run_dir,
                    query=TRAIN_QUERY,
                    epochs=p.final_epochs,
                    patience=p.final_patience,
                    batch_size=p.batch_size,
                    progress=False,
                    overwrite=True,
                )
            parity_figure(run_dir, lab, root / "figures" / f"parity_{lab}.png")

    with _stage(state, "curves", say):
        from thermognn.studies import run_learning_curves

        smallest = min(sdb.ase.count(f"labeled=1,scheme={s}") for s in ("phonon", "random"))
        test_size = min(p.curve_test_size, smallest // 5)
        if test_size < p.curve_test_size:
            state["curve_test_size"] = test_size
            say(f"  {smallest} structures in the smaller scheme: reserving {test_size} for tests")

        run_learning_curves(
            study_db,
            out=root / "curves",
            label="band_gap",
            schemes=("phonon", "random"),
            sizes=p.curve_sizes,
            seeds=p.curve_seeds,
            test_size=test_size,
            model=model,
            hparams=hparams,
            query="labeled=1",
            on_short="clip",
            epochs=p.curve_epochs,
            patience=max(5, p.curve_epochs // 5),
            progress=progress,
            **common,
        )

    n_md = sdb.ase.count("labeled=1,scheme=md")
    with _stage(state, "compare", say):
        if n_md >= p.compare_min_rows:
            from thermognn.studies import run_md_comparison

            run_md_comparison(
                study_db,
                out=root / "compare",
                label="band_gap",
                schemes=("md", "phonon"),
                model=model,
                hparams=hparams,
                epochs=p.compare_epochs,
                patience=max(5, p.compare_epochs // 5),
                progress=progress,
                **common,
            )
        else:
            state["compare_skipped"] = f"only {n_md} labeled md rows"

    with _stage(state, "explain", say):
        _explain(root, sweep, study_db, p, progress)

    with _stage(state, "temperature", say):
        from thermognn.temperature import property_vs_temperature

        curve = property_vs_temperature(
            [root / "models" / "band_gap"],
            material,
            p.temperatures,
            n_configs=p.temperature_configs,
            supercell=supercell,
            progress=progress,
        )
        (root / "temperature").mkdir(exist_ok=True)
        curve.write_csv(root / "temperature" / "curve.csv")
        curve.plot(root / "temperature" / "curve.png")

    state["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    (root / "reproduce.json").write_text(json.dumps(state, indent=1, default=str))
    from thermognn.report import write_report

    path, missing = write_report(root)
    if missing:
        say(f"report: {len(missing)} pieces missing: {'; '.join(missing)}")
    return path


def _explain(root: Path, sweep: Any, study_db: Path, p: Preset, progress) -> None:
    """Best vs a poorly performing sweep model, on the same test structures."""
    from thermognn.database import StudyDatabase
    from thermognn.explain.report import explain_and_write
    from thermognn.studies.records import as_float

    ok = [r for r in sweep.rows if r.get("status") == "ok" and r.get("run_dir")]
    ok = [r for r in ok if Path(r["run_dir"]).exists() or (sweep.out / r["run_dir"]).exists()]
    runs = {"best": str(root / "models" / "band_gap")}
    if len(ok) > 1:
        poor = max(ok, key=lambda r: as_float(r.get("val_mae")))
        poor_dir = Path(poor["run_dir"])
        runs["poor"] = str(poor_dir if poor_dir.is_absolute() else sweep.out / poor_dir)
    db = StudyDatabase(study_db, create=False)
    rows = list(db.select("labeled=1,scheme=phonon", limit=p.explain_structures))
    explain_and_write(
        runs,
        [r.toatoms() for r in rows],
        root / "explain",
        label="band_gap",
        seeds=range(p.explain_seeds),
        epochs=p.explain_epochs,
        progress=progress,
    )
