"""The experiment engine: reserved test sets, paired seeds, MD blocks, statistics, runner.

Plans are checked on synthetic row records (exact bookkeeping); the runner on a tiny
EMT-labeled Cu study in which one arm is known to be worse (its training labels carry
a constant offset), so the paired difference must say so.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from thermognn.errors import ThermognnError
from thermognn.experiments import (
    ExperimentPlan,
    RowRecord,
    bootstrap_ci,
    make_plan,
    paired_differences,
    run_experiment,
)
from thermognn.experiments.plan import row_record
from thermognn.settings import (
    ArmSpec,
    ExperimentSpec,
    Selection,
    TestSetSpec,
    TrainSettings,
    validated,
)


def _rows() -> list[RowRecord]:
    """40 phonon, 40 random and 60 MD rows (two temperatures, 30 snapshots each)."""
    rows = [RowRecord(i, "Ag3SBr", "phonon", "phonon", f"row:{i}") for i in range(1, 41)]
    rows += [RowRecord(i, "Ag3SBr", "random", "random-paper", f"row:{i}") for i in range(41, 81)]
    for k, i in enumerate(range(81, 141)):
        kv = {"scheme": "md", "material": "Ag3SBr", "batch": "b1", "config_index": k}
        kv["temperature"] = 200.0 if k < 30 else 600.0
        rows.append(row_record(i, kv, md_block=10))
    return rows


def _spec(**kw) -> ExperimentSpec:
    base = {
        "test_sets": [
            {"name": "phonon", "select": {"scheme": "phonon"}, "size": 10},
            {"name": "md", "select": {"scheme": "md"}, "size": 15},
            {"name": "all", "union": ["phonon", "md"]},
        ],
        "arms": [
            {"name": "phonon", "select": {"sample_set": "phonon"}},
            {"name": "random", "select": {"scheme": "random"}},
            {"name": "md", "select": {"scheme": "md"}},
            {"name": "both", "union": ["phonon", "random"]},
        ],
        "sizes": [5, 10, 20],
        "seeds": 3,
    }
    return validated(ExperimentSpec, {**base, **kw})


def test_test_sets_are_reserved_first_and_disjoint_from_every_pool() -> None:
    plan = make_plan(_rows(), _spec())
    reserved = set(plan.test_ids())
    assert len(plan.test_sets["phonon"]) == 10 and len(plan.test_sets["md"]) == 15
    assert set(plan.test_sets["all"]) == set(plan.test_sets["phonon"]) | set(plan.test_sets["md"])
    for name, pool in plan.pools.items():
        assert not set(pool) & reserved, name
        assert not set(pool) & set(plan.set_aside), name
    assert len(plan.pools["phonon"]) == 30 and len(plan.pools["random"]) == 40
    assert set(plan.pools["both"]) == set(plan.pools["phonon"]) | set(plan.pools["random"])
    assert make_plan(_rows(), _spec()).to_dict() == plan.to_dict()  # same seed, same plan
    # a set name selects that set only; a scheme selects every set of the scheme
    with pytest.raises(ThermognnError, match="arm 'r': no labeled rows"):
        make_plan(_rows(), _spec(arms=[{"name": "r", "select": {"sample_set": "random"}}]))
    again = ExperimentPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again.selection("md", 10, 1) == plan.selection("md", 10, 1)


def test_md_blocks_are_never_split_between_test_and_training() -> None:
    rows = _rows()
    plan = make_plan(rows, _spec())
    block = {r.row_id: r.block for r in rows}
    test_blocks = {block[r] for r in plan.test_sets["md"]}
    pool_blocks = {block[r] for r in plan.pools["md"]}
    aside_blocks = {block[r] for r in plan.set_aside}
    assert not test_blocks & pool_blocks
    assert not aside_blocks & pool_blocks  # a block cut by the test size leaves every pool
    assert len(plan.test_sets["md"]) == 15 and len(plan.set_aside) == 5
    for seed in range(3):
        sel = plan.selection("md", 20, seed)
        train_blocks = {block[r] for r in sel["train"]}
        val_blocks = {block[r] for r in sel["val"]}
        assert not train_blocks & val_blocks
        assert not (set(sel["train"]) | set(sel["val"])) & set(plan.test_ids())


def test_seeds_are_paired_and_sizes_nested() -> None:
    plan = make_plan(_rows(), _spec())
    random_pool = plan.pools["random"]
    # two arms with pools of equal size draw the same positions for the same seed
    twin = ExperimentPlan(
        plan.test_sets, {"a": random_pool, "b": [r + 1000 for r in random_pool]}, seed=plan.seed
    )
    for seed in range(3):
        a, b = twin.selection("a", 10, seed), twin.selection("b", 10, seed)
        assert [r + 1000 for r in a["train"]] == b["train"]
        assert [r + 1000 for r in a["val"]] == b["val"]
    assert twin.selection("a", 10, 0)["train"] != twin.selection("a", 10, 1)["train"]
    previous: set[int] = set()
    for size in (5, 10, 20):
        sel = plan.selection("random", size, 2)
        assert len(sel["train"]) == size and len(sel["val"]) == plan.n_val(size)
        assert not set(sel["train"]) & set(sel["val"])
        assert previous <= set(sel["train"])
        previous = set(sel["train"])
    assert plan.sizes("phonon", [5, 10, 40]) == [5, 10, 26]  # 26 + 4 validation = 30
    with pytest.raises(ThermognnError, match="size 40 needs 40 \\+ 6"):
        plan.sizes("phonon", [40], on_short="error")


def test_an_arm_trained_at_its_largest_size_only(tiny_ag3sbr_db) -> None:
    from thermognn.experiments.runner import plan_jobs

    spec = _spec()
    arms = [a.model_copy(update={"largest_only": a.name == "both"}) for a in spec.arms]
    spec = spec.model_copy(update={"arms": arms, "labels": ["band_gap"]})
    plan = make_plan(_rows(), spec)
    jobs = list(plan_jobs(str(tiny_ag3sbr_db), spec, plan))  # the db names the data only
    sizes = {
        arm: sorted({j.info["size"] for j in jobs if j.info["arm"] == arm}) for arm in plan.pools
    }
    assert sizes["both"] == [20] and sizes["phonon"] == [5, 10, 20]
    assert len([j for j in jobs if j.info["arm"] == "both"]) == spec.seeds
    # a label may train a subset of the arms; an unknown arm name is refused
    two = spec.model_copy(
        update={"labels": ["band_gap", "vbm"], "arms_per_label": {"vbm": ["both"]}}
    )
    arms = {(j.info["label"], j.info["arm"]) for j in plan_jobs(str(tiny_ag3sbr_db), two, plan)}
    assert {a for lab, a in arms if lab == "vbm"} == {"both"}
    assert {a for lab, a in arms if lab == "band_gap"} == set(plan.pools)
    with pytest.raises(ThermognnError, match="arms_per_label.vbm: unknown arms \\['nope'\\]"):
        two.model_copy(update={"arms_per_label": {"vbm": ["nope"]}}).check_names()


def test_bad_specs_fail_with_one_line_per_error() -> None:
    with pytest.raises(ThermognnError) as err:
        validated(ExperimentSpec, {"test_sets": [{"name": "t", "size": 0}], "arms": [], "seedz": 3})
    lines = str(err.value).splitlines()
    assert any(line.startswith("test_sets.0.size: expected a value ≥ 1") for line in lines)
    assert any(line.startswith("arms: ") for line in lines)
    assert "seedz: unknown key" in lines
    with pytest.raises(ThermognnError, match="union of unknown"):
        make_plan(_rows(), _spec(arms=[{"name": "x", "union": ["nope"]}]))
    with pytest.raises(ThermognnError, match="no labeled rows match"):
        make_plan(_rows(), _spec(test_sets=[{"name": "t", "select": {"scheme": "normal-mode"}}]))


def test_bootstrap_interval_and_verdicts_on_known_numbers() -> None:
    lo, hi = bootstrap_ci([1.0, 1.0, 1.0])
    assert lo == hi == 1.0
    lo, hi = bootstrap_ci([-1.0, 1.0, -1.0, 1.0, 0.0], seed=3, expand=False)
    assert -1 < lo < 0 < hi < 1
    wide = bootstrap_ci([-1.0, 1.0, -1.0, 1.0, 0.0], seed=3)
    factor = math.sqrt(5 / 4) * 2.7764451 / 1.9599640  # √(n/(n−1))·t(0.975, 4)/z(0.975)
    assert wide[0] == pytest.approx(factor * lo) and wide[1] == pytest.approx(factor * hi)
    # coverage with five seeds: the expanded interval holds ~95 %, the plain one does not
    rng = np.random.default_rng(11)
    samples = rng.normal(0.0, 1.0, size=(400, 5))
    covered = {
        expand: np.mean(
            [
                lo <= 0 <= hi
                for lo, hi in (bootstrap_ci(x, n_resamples=2000, expand=expand) for x in samples)
            ]
        )
        for expand in (True, False)
    }
    assert 0.91 <= covered[True] <= 0.99 and covered[False] < 0.9
    assert math.isnan(bootstrap_ci([0.5])[0])
    rows = []
    for seed, (a, b) in enumerate([(0.10, 0.20), (0.12, 0.21), (0.11, 0.19), (0.10, 0.22)]):
        for arm, mae in (("a", a), ("b", b)):
            rows.append(
                {"label": "g", "arm": arm, "size": 10, "seed": seed, "test_set": "t", "mae": mae}
            )
    rows.append({"label": "g", "arm": "b", "size": 10, "seed": 9, "test_set": "t", "mae": 5.0})
    (d,) = paired_differences(rows)
    assert d.n_seeds == 4  # seed 9 has no partner in arm a
    assert d.difference == pytest.approx(np.mean([-0.10, -0.09, -0.08, -0.12]))
    assert d.ci_high < 0 and d.verdict == "a better"
    assert "a is better" in d.sentence("eV")
    tie = [{**r, "mae": 0.1 + 0.01 * (-1) ** r["seed"]} for r in rows if r["seed"] != 9]
    tie = [{**r, "mae": r["mae"] if r["arm"] == "a" else 0.1} for r in tie]
    (t,) = paired_differences(tie)
    assert t.verdict == "no significant difference"
    few = [r for r in rows if r["seed"] in (0, 1)]
    (f,) = paired_differences(few)
    assert f.n_seeds == 2 and f.verdict == "too few seeds" and "too few seeds." in f.sentence()


LABEL = "energy_per_atom"


@pytest.fixture(scope="module")
def offset_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 EMT-labeled Cu cells in two sets; the 'offset' set's labels shifted by +0.5 eV/atom."""
    from thermognn.database import StudyDatabase
    from thermognn.labels import label_database
    from thermognn.sampling import SamplingSpec, sample_configurations

    folder = tmp_path_factory.mktemp("offset")
    cif = folder / "Cu.cif"
    write(cif, bulk("Cu", "fcc", a=3.6))
    db = StudyDatabase(folder / "study.db", study="offset")
    spec = SamplingSpec(
        str(cif),
        "random",
        48,
        seed=4,
        supercell=(2, 1, 1),
        amplitude=(0.02, 0.2),
        calculator="emt",
    )
    sample_configurations(db, spec)
    label_database(db, labeler="emt", workers=0)
    for k, row in enumerate(list(db.ase.select("labeled=1,scheme=random"))):
        if k % 2:
            db.ase.update(row.id, sample_set="offset", **{LABEL: row[LABEL] + 0.5})
        else:
            db.ase.update(row.id, sample_set="clean")
    return folder / "study.db"


def test_runner_finds_the_arm_known_to_be_worse_and_resumes(
    offset_db: Path, tmp_path: Path
) -> None:
    spec = ExperimentSpec(
        labels=[LABEL],
        test_sets=[TestSetSpec(name="clean", select=Selection(sample_set="clean"), size=8)],
        arms=[
            ArmSpec(name="clean", select=Selection(sample_set="clean")),
            ArmSpec(name="offset", select=Selection(sample_set="offset")),
        ],
        sizes=[10],
        seeds=5,
        train=TrainSettings(model="paper-1", hparams={"hidden": 8}, epochs=40, patience=40),
    )
    out = tmp_path / "exp"
    result = run_experiment(offset_db, spec, out=out, workers=0)
    assert (result.ran, result.skipped) == (10, 0)
    with (out / "results.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 and {r["status"] for r in rows} == {"ok"}
    assert {"label", "arm", "size", "seed", "test_set", "n_test", "mae", "rmse", "r2"} <= set(
        rows[0]
    )
    test_sets = json.loads((out / "test_sets.json").read_text())
    assert len(test_sets["clean"]) == 8
    for r in rows:
        train = json.loads((out / "plan.json").read_text())["pools"][r["arm"]]
        assert not set(train) & set(test_sets["clean"])
    (d,) = result.differences
    assert (d["arm_a"], d["arm_b"], d["n_seeds"]) == ("clean", "offset", 5)
    assert d["difference"] < -0.2 and d["ci_high"] < 0 and d["verdict"] == "clean better"
    assert len(result.run_dirs(LABEL, "clean")) == 5  # largest size kept for every seed
    again = run_experiment(offset_db, spec, out=out, workers=0)
    assert (again.ran, again.skipped) == (0, 10)
    with pytest.raises(ThermognnError, match="other settings"):
        run_experiment(
            offset_db, spec.model_copy(update={"seeds": 6, "seed": 1}), out=out, workers=0
        )
