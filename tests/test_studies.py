"""Studies: sweep and search bookkeeping, learning-curve reservation, comparison, Dask.

Tiny data: EMT-labeled 8-atom fcc Cu cells of the random, phonon and md schemes; tiny
models (hidden 8, a few epochs). What is checked is the bookkeeping — splits, seeds,
resumption, failure handling, files — not the accuracy.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from thermognn.cli.main import main
from thermognn.errors import ThermognnError
from thermognn.experiments import RESULT_COLUMNS
from thermognn.experiments.jobs import DatasetRef, StopTraining, TrainJob, train_job
from thermognn.experiments.records import ResultTable, check_settings
from thermognn.settings import TrainSettings
from thermognn.studies import (
    SMALL_GRID,
    run_learning_curves,
    run_md_comparison,
    run_search,
    run_sweep,
)
from thermognn.studies.curves import COMBINED
from thermognn.studies.plots import (
    curve_summary,
    plot_learning_curves,
    plot_violins,
    violin_categories,
)
from thermognn.studies.search import (
    OptunaReporter,
    PrunerSpec,
    open_study,
)
from thermognn.studies.trials import TRIAL_COLUMNS, rank_trials

LABEL = "energy_per_atom"
FAST = {"label": LABEL, "epochs": 3, "patience": 2, "batch_size": 16, "workers": 0}
TINY = SMALL_GRID.restrict(models=["paper-1"], hidden=[8], lr=[1e-2, 1e-3], dropout=[0.0, 0.2])


@pytest.fixture(scope="module")
def study_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 random, 30 phonon and 12 md EMT-labeled 8-atom Cu cells (graphs cached)."""
    from thermognn.database import StudyDatabase
    from thermognn.graphs import load_graph_dataset
    from thermognn.labels import label_database
    from thermognn.sampling import SamplingSpec, sample_configurations

    folder = tmp_path_factory.mktemp("study")
    cif = folder / "Cu.cif"
    write(cif, bulk("Cu", "fcc", a=3.6))
    db = StudyDatabase(folder / "study.db", study="tiny")
    common = {"supercell": (2, 2, 2), "calculator": "emt", "seed": 1, "cache_dir": str(folder)}
    for scheme, n, extra in (
        ("random", 30, {"amplitude": (0.02, 0.15)}),
        ("phonon", 30, {"temperature_range": (100.0, 800.0)}),
        ("md", 12, {"temperatures": [300.0, 600.0], "md_stride": 2, "md_equilibration": 4}),
    ):
        sample_configurations(db, SamplingSpec(str(cif), scheme, n, **common, **extra))
    label_database(db, labeler="emt", workers=0)
    load_graph_dataset(folder / "study.db", labels=[LABEL], query="labeled=1")
    return folder / "study.db"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


# ----------------------------------------------------------------------------- sweep


def test_grid_sweep_ranks_on_validation_and_resumes(study_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    first = run_sweep(study_db, out=out, grid=TINY.restrict(dropout=[0.0]), **FAST)
    assert (first.ran, first.skipped) == (2, 0)
    result = run_sweep(study_db, out=out, grid=TINY, **FAST)
    assert (result.ran, result.skipped) == (2, 2)  # only the missing trials ran
    rows = _rows(out / "trials.csv")
    assert list(rows[0]) == list(TRIAL_COLUMNS)
    assert sorted(r["trial"] for r in rows) == sorted(p.trial_id for p in TINY.points())
    assert all(r["status"] == "ok" and int(r["epochs_run"]) >= 1 for r in rows)
    best = min(rows, key=lambda r: float(r["val_mae"]))
    assert result.best is not None and result.best["trial"] == best["trial"]
    assert json.loads((out / "best.json").read_text())["trial"] == best["trial"]
    assert rank_trials(rows)[0]["trial"] == best["trial"]
    record = json.loads((out / "best" / "model.json").read_text())
    assert record["hparams"]["hidden"] == 8 and (out / "best" / "model.pt").stat().st_size > 0
    split = json.loads((out / "split.json").read_text())
    ids = [set(split[k]) for k in ("train", "val", "test")]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    # the best run was trained on the sweep's one fixed split
    kept = json.loads((out / "best" / "split.json").read_text())
    assert kept["val"]["row_id"] == split["val"]
    assert (out / "violins.png").stat().st_size > 0
    assert json.loads((out / "summary.json").read_text())["trials"] == 4
    assert run_sweep(study_db, out=out, grid=TINY, **FAST).ran == 0
    with pytest.raises(ThermognnError, match="other settings"):
        run_sweep(study_db, out=out, grid=TINY, **{**FAST, "epochs": 5})


def test_failed_and_diverged_trials_do_not_stop_the_sweep(study_db: Path, tmp_path: Path) -> None:
    grid = TINY.restrict(models=["paper-3"], lr=[1e30, 1e-2], dropout=[0.0, 1.5])
    result = run_sweep(study_db, out=tmp_path / "s", grid=grid, keep="none", plots=False, **FAST)
    status = {r["trial"]: r["status"] for r in result.rows}
    assert status == {
        "paper-3_lr1e+30_h8_d0": "diverged",
        "paper-3_lr1e+30_h8_d1.5": "failed",
        "paper-3_lr0.01_h8_d0": "ok",
        "paper-3_lr0.01_h8_d1.5": "failed",
    }
    failed = [r for r in result.rows if r["status"] == "failed"]
    assert all("dropout" in r["error"] for r in failed)
    assert result.best is not None and result.best["trial"] == "paper-3_lr0.01_h8_d0"
    assert not (tmp_path / "s" / "best").exists()  # keep="none"
    again = run_sweep(
        study_db, out=tmp_path / "s", grid=grid, keep="none", plots=False, retry_failed=True, **FAST
    )
    assert again.ran == 2


# ----------------------------------------------------------------------------- Optuna


def test_optuna_search_resumes_and_refuses_another_study(study_db: Path, tmp_path: Path) -> None:
    import optuna

    out = tmp_path / "search"
    kw = {"space": TINY, "startup_trials": 2, "plots": False, **FAST}
    first = run_search(study_db, out=out, trials=3, **kw)
    assert len(first.rows) == 3 and (out / "optuna.log").stat().st_size > 0
    # a trial left running by a killed run of this folder: marked interrupted on resume
    study = optuna.load_study(study_name="thermognn-sweep", storage=_journal(out / "optuna.log"))
    stale = study.ask({"model": optuna.distributions.CategoricalDistribution(["paper-1"])})
    import socket

    stale.set_user_attr("owner", f"{socket.gethostname()}:{out.resolve()}")
    result = run_search(study_db, out=out, trials=5, **kw)
    rows = _rows(out / "trials.csv")
    assert len(rows) == 5 and len({r["trial"] for r in rows}) == 5
    assert result.skipped == 3
    states = {t.number: t for t in study.get_trials()}
    assert states[stale.number].state == optuna.trial.TrialState.FAIL
    dists = states[0].distributions  # suggest_float(log=True) for the learning rate
    assert dists["lr"] == optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)
    assert isinstance(dists["model"], optuna.distributions.CategoricalDistribution)
    assert states[stale.number].user_attrs["interrupted"] is True
    counted = [t for t in states.values() if not t.user_attrs.get("interrupted")]
    assert len(counted) == 5
    assert {r["status"] for r in rows} <= {"ok", "duplicate", "pruned"}
    with pytest.raises(ThermognnError, match="belongs to another study"):
        run_search(
            study_db,
            out=tmp_path / "other",
            trials=2,
            storage=out / "optuna.log",
            **{**kw, "label": "hydrostatic_stress"},
        )


def test_search_space_spans_the_grid_choices() -> None:
    from thermognn.studies import PAPER_GRID
    from thermognn.studies.space import FloatRange, IntRange

    dims = PAPER_GRID.as_ranges().dimensions()
    assert dims["lr"] == FloatRange(1e-6, 1e-2, log=True)
    assert dims["hidden"] == IntRange(32, 256, log=True)
    assert dims["dropout"] == FloatRange(0.0, 0.6)
    assert TINY.as_ranges().dimensions()["hidden"].values() == (8,)  # one choice stays


def _journal(path: Path):
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(str(path)))


def test_reporter_prunes_a_trial_worse_than_the_median(tmp_path: Path) -> None:
    import optuna

    pruner = PrunerSpec("median", epochs=10, startup_trials=1)
    spec = str(tmp_path / "j.log")
    study = open_study(spec, "s", {"label": "x"}, seed=0, pruner=pruner, startup_trials=1)
    done = study.ask()
    for step in range(1, 4):
        done.report(0.1, step)
    study.tell(done, 0.1)
    with pytest.raises(ThermognnError, match="belongs to another study"):
        open_study(spec, "s", {"label": "y"}, seed=0, pruner=pruner)
    trial = study.ask()
    reporter = OptunaReporter(spec, "s", trial.number, pruner)

    class Log:
        epoch, val_loss = 2, 5.0

    with pytest.raises(StopTraining) as stop:
        reporter(Log())
    assert stop.value.status == "pruned" and stop.value.epoch == 2
    assert study.trials[trial.number].intermediate_values == {2: 5.0}
    assert isinstance(PrunerSpec("sha").build(), optuna.pruners.SuccessiveHalvingPruner)
    other = open_study(str(tmp_path / "r.log"), "r", {}, seed=0, pruner=pruner, sampler="random")
    assert isinstance(other.sampler, optuna.samplers.RandomSampler)
    with pytest.raises(ThermognnError, match="sampler must be one of tpe, random"):
        open_study(spec, "s", {"label": "x"}, seed=0, pruner=pruner, sampler="grid")


def test_train_job_turns_a_stop_into_a_pruned_outcome(study_db: Path) -> None:
    from thermognn.graphs import load_graph_dataset

    ids = load_graph_dataset(study_db, labels=[LABEL], query="labeled=1").row_ids.tolist()

    def stop_at_two(log):
        if log.epoch == 2:
            raise StopTraining("pruned", log.epoch)

    job = TrainJob(
        "t",
        DatasetRef.of(study_db, LABEL, "labeled=1"),
        {"train": ids[:20], "val": ids[20:25], "test": ids[25:30]},
        TrainSettings(hparams={"hidden": 8}, epochs=5, batch_size=16),
        on_epoch=stop_at_two,
    )
    outcome = train_job(job)
    assert (outcome.status, outcome.epochs_run) == ("pruned", 2)
    bad = train_job(TrainJob("u", job.data, {**job.split, "val": [10**9]}))
    assert bad.status == "failed" and "not in the data set" in bad.error


# ----------------------------------------------------------------------------- curves


def test_learning_curves_end_to_end_and_resume(study_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "curves"
    train = TrainSettings(hparams={"hidden": 8}, epochs=3, patience=2, batch_size=16)
    kw = {"label": LABEL, "sizes": [4, 8], "test_size": 6, "train": train, "workers": 0}
    result = run_learning_curves(study_db, out=out, seeds=1, **kw)
    assert (result.ran, result.skipped) == (6, 0)  # 3 arms (2 sets + combined) × 2 sizes
    rows = _rows(out / "results.csv")
    assert list(rows[0]) == list(RESULT_COLUMNS) and len(rows) == 6 * 3
    test_sets = json.loads((out / "test_sets.json").read_text())
    assert set(test_sets[COMBINED]) == set(test_sets["phonon"]) | set(test_sets["random"])
    for r in rows:
        assert r["status"] == "ok" and math.isfinite(float(r["mae"]))
        assert int(r["n_test"]) == len(test_sets[r["test_set"]])
    assert {r["test_set"] for r in rows if r["arm"] == "phonon"} == {"phonon", "random", COMBINED}
    assert (out / "learning_curves.png").stat().st_size > 0
    more = run_learning_curves(study_db, out=out, seeds=2, plots=False, **kw)
    assert (more.ran, more.skipped) == (6, 6)  # only the new seed ran
    assert len(_rows(out / "results.csv")) == 12 * 3
    diffs = _rows(out / "differences.csv")
    assert {(d["arm_a"], d["arm_b"]) for d in diffs} >= {("phonon", "random")}
    assert all(int(d["n_seeds"]) == 2 for d in diffs)


# ----------------------------------------------------------------------------- comparison


def test_md_comparison_is_like_for_like(study_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "compare"
    train = TrainSettings(hparams={"hidden": 8}, epochs=3, patience=2, batch_size=16)
    kw = {"label": LABEL, "train": train, "workers": 0, "seeds": 2, "md_block": 2}
    result = run_md_comparison(study_db, out=out, **kw)
    test_sets = json.loads((out / "test_sets.json").read_text())
    assert set(test_sets) == {"md", "phonon"} and len(test_sets["md"]) == len(test_sets["phonon"])
    rows = _rows(out / "results.csv")
    sizes = {r["arm"]: int(r["size"]) for r in rows}
    assert sizes["md"] == sizes["phonon"] == result.size  # equal sizes on both sides
    assert {(r["arm"], r["test_set"]) for r in rows} == {
        (a, t) for a in ("md", "phonon") for t in ("md", "phonon")
    }
    plan = json.loads((out / "plan.json").read_text())
    blocks = plan["blocks"]
    md_test_blocks = {blocks[str(r)] for r in test_sets["md"]}
    assert not md_test_blocks & {blocks[str(r)] for r in plan["pools"]["md"]}
    table = (out / "comparison.md").read_text()
    assert "| md | phonon |" in table and "RMS displacement" in table
    stats = json.loads((out / "displacements.json").read_text())
    assert stats["md"]["rms"] > 0 and stats["phonon"]["rms"] > 0
    assert run_md_comparison(study_db, out=out, **kw).ran == 0


# ----------------------------------------------------------------------------- Dask


def test_sweep_on_a_dask_cluster_of_two_workers(study_db: Path, tmp_path: Path) -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False},
    ) as cluster:
        result = run_sweep(
            study_db,
            out=tmp_path / "d",
            grid=TINY,
            plots=False,
            scheduler=cluster.scheduler_address,
            **{**FAST, "workers": None},
        )
    assert result.ran == 4 and result.status_counts == {"ok": 4}
    assert len(_rows(tmp_path / "d" / "trials.csv")) == 4


def test_unreachable_scheduler_is_a_clear_error(study_db: Path, tmp_path: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(ThermognnError, match="scheduler tcp://127.0.0.1:9: unreachable"):
        run_sweep(
            study_db,
            out=tmp_path / "x",
            grid=TINY,
            scheduler="tcp://127.0.0.1:9",
            connect_timeout=1.0,
            **{**FAST, "workers": None},
        )
    assert time.perf_counter() - start < 20


# ----------------------------------------------------------------------------- CLI


def test_cli_sweep_curve_compare(study_db: Path, tmp_path: Path) -> None:
    config = tmp_path / "study.toml"
    config.write_text(
        '[sweep]\nmodels = ["paper-1"]\nlr = [1e-2]\nhidden = "8"\ndropout = "0,0.2"\n'
    )
    common = [
        "--db",
        str(study_db),
        "--label",
        LABEL,
        "--epochs",
        "2",
        "--patience",
        "2",
        "--batch-size",
        "16",
        "--workers",
        "0",
    ]
    assert main(["sweep", *common, "--out", str(tmp_path / "s"), "--config", str(config)]) == 0
    assert len(_rows(tmp_path / "s" / "trials.csv")) == 2
    search = ["--search", "optuna", "--trials", "2", "--pruner", "sha", "--no-plots"]
    search += ["--sampler", "random"]
    assert (
        main(["sweep", *common, "--out", str(tmp_path / "o"), "--config", str(config), *search])
        == 0
    )
    assert len(_rows(tmp_path / "o" / "trials.csv")) == 2
    assert (
        main(
            [
                "curve",
                *common,
                "--out",
                str(tmp_path / "c"),
                "--sizes",
                "4",
                "--seeds",
                "1",
                "--test-size",
                "6",
                "--no-combined",
                "--from-sweep",
                str(tmp_path / "s"),
            ]
        )
        == 0
    )
    assert len(_rows(tmp_path / "c" / "results.csv")) == 2 * 2
    spec = json.loads((tmp_path / "c" / "study.json").read_text())["spec"]
    assert spec["train"]["hparams"]["hidden"] == 8 and spec["train"]["epochs"] == 2
    compare = ["compare", *common, "--out", str(tmp_path / "m"), "--hidden", "8", "--seeds", "2"]
    assert main(compare) == 0
    assert (tmp_path / "m" / "comparison.md").is_file()
    assert (
        main(
            [
                "curve",
                *common,
                "--out",
                str(tmp_path / "e"),
                "--sizes",
                "100",
                "--test-size",
                "6",
                "--on-short",
                "error",
            ]
        )
        == 2
    )


# ----------------------------------------------------------------------------- files


def test_result_table_and_settings(tmp_path: Path) -> None:
    table = ResultTable(tmp_path / "t.csv", ("a", "b"))
    table.append({"a": 1, "b": 0.5})
    with (tmp_path / "t.csv").open("a") as fh:
        fh.write("2")  # a row cut short by a kill
    assert table.rows() == [{"a": "1", "b": "0.5"}]
    with pytest.raises(ThermognnError, match="unexpected columns"):
        ResultTable(tmp_path / "t.csv", ("a", "c"))
    check_settings(tmp_path, "grid", {"label": "band_gap", "epochs": 3})
    check_settings(tmp_path, "grid", {"label": "band_gap", "epochs": 3})
    with pytest.raises(ThermognnError, match="epochs: 3 there, 4 now"):
        check_settings(tmp_path, "grid", {"label": "band_gap", "epochs": 4})


def test_figures_leave_out_poor_trials_and_show_spread(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [
        {
            "model": f"paper-{1 + k % 2}",
            "lr": str([1e-3, 1e-4][k % 2]),
            "hidden": "32",
            "dropout": str(0.2 * (k % 3)),
            "status": "ok",
            "val_mae": str(rng.random()),
            "val_rmse": str(rng.random()),
            "val_r2": str(-5.0 if k == 0 else rng.random()),
        }
        for k in range(12)
    ]
    assert plot_violins(rows, tmp_path / "v.png", formats=("svg",)).stat().st_size > 0
    assert (tmp_path / "v.svg").stat().st_size > 0
    assert plot_violins(rows[:1], tmp_path / "none.png") is None  # only R² < −1: nothing shown
    # an Optuna search of ranges: every trial its own value, binned into a few violins
    searched = [
        {**r, "lr": str(10 ** rng.uniform(-5, -2)), "dropout": str(rng.uniform(0, 0.6))}
        for r in rows * 3
    ]
    which, labels = violin_categories("lr", searched)
    assert set(labels) <= {"1e-5–1e-4", "1e-4–1e-3", "1e-3–1e-2"} and len(which) == 36
    assert len(violin_categories("dropout", searched)[1]) <= 4
    assert violin_categories("model", searched)[1] == ["paper-1", "paper-2"]
    assert plot_violins(searched, tmp_path / "searched.png").stat().st_size > 0
    curve = [
        {
            "train_scheme": s,
            "size": str(n),
            "seed": str(k),
            "test_set": t,
            "status": "ok",
            "mae": str(0.1 / n + 0.01 * k),
            "r2": "0.5",
        }
        for s in ("phonon", "random")
        for n in (10, 20)
        for k in range(3)
        for t in ("phonon", "random", COMBINED)
    ]
    std = curve_summary(curve, "mae", "std")[("phonon", "phonon")]
    minmax = curve_summary(curve, "mae", "minmax")[("phonon", "phonon")]
    np.testing.assert_allclose(std[1], [0.02, 0.015])
    np.testing.assert_allclose(minmax[2], [0.01, 0.005])
    np.testing.assert_allclose(minmax[3], [0.03, 0.025])
    assert plot_learning_curves(curve, tmp_path / "c.png").stat().st_size > 0


def test_cli_experiment_from_a_spec_file(study_db: Path, tmp_path: Path, capsys) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f"""
[experiment]
labels = ["{LABEL}"]
sizes = [6]
seeds = 3
train = {{ model = "paper-1", hparams = {{ hidden = 8 }}, epochs = 3, patience = 2 }}

[[experiment.test_sets]]
name = "phonon"
select = {{ scheme = "phonon" }}
size = 8

[[experiment.arms]]
name = "phonon"
select = {{ scheme = "phonon" }}

[[experiment.arms]]
name = "random"
select = {{ scheme = "random" }}
"""
    )
    out = tmp_path / "exp"
    argv = ["experiment", str(spec), "--db", str(study_db), "--out", str(out), "--workers", "0"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "phonon − random" in printed and "3 paired" not in printed  # one line per pair
    rows = _rows(out / "results.csv")
    assert len(rows) == 2 * 3 and {r["arm"] for r in rows} == {"phonon", "random"}
    (diff,) = _rows(out / "differences.csv")
    assert diff["n_seeds"] == "3" and diff["test_set"] == "phonon"
    spec.write_text(spec.read_text().replace("seeds = 3", 'seeds = "three"'))
    assert main(argv) == 2
    assert "seeds: expected an integer" in capsys.readouterr().err
