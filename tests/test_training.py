"""Training: scalers, splits, determinism, checkpoints, NaN guard, run folder, recipe."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch_geometric.nn import global_mean_pool

from test_models import random_graph
from thermognn.errors import CheckpointError, ThermognnError
from thermognn.graphs import GraphDataset
from thermognn.models import MODEL_REGISTRY, Scaling, register_family
from thermognn.settings import TrainSettings
from thermognn.training import (
    PlateauRule,
    Predictor,
    Scalers,
    evaluate_run,
    load_run,
    resolve_device,
    split_dataset,
    train_run,
)
from thermognn.training.checkpoint import RECORD_FILE, WEIGHTS_FILE, read_record
from thermognn.training.loop import MIN_LR_FACTOR
from thermognn.training.scalers import ColumnScaler
from thermognn.training.splits import given_split

LABELS = ("energy_per_atom", "band_gap", "vbm", "hydrostatic_stress")
FAST: dict[str, Any] = {"epochs": 3, "patience": 5, "batch_size": 8, "progress": False}


def synthetic_dataset(n: int = 30, n_atoms: int | None = 6, parents: int = 1) -> GraphDataset:
    """Random graphs with four finite labels that depend on the edge weights."""
    graphs = []
    for k in range(n):
        size = n_atoms or 3 + k % 4
        g = random_graph(size, 4 * size, seed=100 + k, n_targets=4)
        mean_d = float(g.edge_attr.mean())
        g.y = torch.tensor(
            [[-3.0 + 0.1 * mean_d, 1.4 - 0.2 * mean_d, 2.0 + 0.05 * k % 3, 5 * mean_d]]
        )
        graphs.append(g)
    return GraphDataset(
        graphs,
        labels=LABELS,
        row_ids=np.arange(1, n + 1),
        parent_ids=np.arange(n) % parents,
        schemes=["phonon"] * n,
        materials=["Ag3SBr"] * n,
        cutoff=5.5,
    )


@pytest.fixture(scope="module")
def dataset() -> GraphDataset:
    return synthetic_dataset()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, dataset: GraphDataset) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    train_run(None, labels="band_gap", dataset=dataset, out=out, hparams={"hidden": 8}, **FAST)
    return out


# ----------------------------------------------------------------------------- scalers


def test_column_scalers_roundtrip_and_constant_columns() -> None:
    values = np.array([[1.0, 5.0], [3.0, 5.0], [2.0, 5.0]])
    for kind in ("minmax", "standard", "identity", "proximity"):
        scaler = ColumnScaler.fit(kind, values, cutoff=5.5)
        t = torch.tensor(values)
        torch.testing.assert_close(scaler.inverse(scaler.transform(t)), t)
        assert ColumnScaler.from_dict(json.loads(json.dumps(scaler.to_dict()))) == scaler
    minmax = ColumnScaler.fit("minmax", values)
    assert minmax.offset == (1.0, 5.0) and minmax.scale == (2.0, 1.0)
    proximity = ColumnScaler.fit("proximity", values, cutoff=4.0)
    torch.testing.assert_close(
        proximity.transform(torch.tensor([[0.0, 1.0], [4.0, 3.0]], dtype=torch.float64)),
        torch.tensor([[1.0, 0.75], [0.0, 0.25]], dtype=torch.float64),
    )
    with pytest.raises(ValueError, match="positive cutoff"):
        ColumnScaler.fit("proximity", values)


def test_scalers_are_fitted_on_the_training_split_only(tmp_path: Path) -> None:
    data = synthetic_dataset(20)
    extreme = data[19]
    extreme.x = extreme.x * 100.0
    extreme.edge_attr = extreme.edge_attr * 10.0
    extreme.y = extreme.y * 1000.0
    split = {"train": list(range(12)), "val": [12, 13, 14, 15], "test": [16, 17, 18, 19]}
    train_run(
        None,
        labels=["band_gap"],
        dataset=data,
        split_indices=split,
        out=tmp_path / "r",
        hparams={"hidden": 8},
        **FAST,
    )
    scalers = read_record(tmp_path / "r").scalers
    train = [data[i] for i in split["train"]]
    expected = Scalers.fit(
        train,
        np.concatenate([g.y[:, [1]].numpy() for g in train]),
        ("minmax", "proximity", "minmax"),
        cutoff=5.5,
    )
    assert scalers == expected
    assert max(np.add(scalers.node.offset, scalers.node.scale)) < 100.0
    assert scalers.edge == ColumnScaler("proximity", (5.5,), (-5.5,))


def test_edge_inputs_do_not_depend_on_the_training_rows(tmp_path: Path) -> None:
    """Two runs on different training rows map one graph's distances to the same inputs."""
    data = synthetic_dataset(20)
    data[0].edge_attr = data[0].edge_attr * 2.0  # distances only the first run trains on
    inputs = []
    for name, train in (("a", range(0, 10)), ("b", range(10, 16))):
        split = {"train": list(train), "val": [16, 17], "test": [18, 19]}
        train_run(
            None,
            labels="vbm",
            dataset=data,
            split_indices=split,
            out=tmp_path / name,
            hparams={"hidden": 8},
            **FAST,
        )
        scaled = read_record(tmp_path / name).scalers.transform_graph(data[18])
        inputs.append(scaled.edge_weight)
    torch.testing.assert_close(inputs[0], inputs[1], rtol=0, atol=0)
    torch.testing.assert_close(inputs[0], 1 - data[18].edge_attr.reshape(-1) / 5.5)
    fitted = [
        Scalers.fit([data[i] for i in rows], np.zeros((len(rows), 1)), ("minmax",) * 3)
        for rows in (range(0, 10), range(10, 16))
    ]
    assert fitted[0].edge != fitted[1].edge  # the old rule: inputs moved with the rows


def test_runs_with_the_old_fitted_edge_scaler_still_load(trained: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / WEIGHTS_FILE).write_bytes((trained / WEIGHTS_FILE).read_bytes())
    record = json.loads((trained / RECORD_FILE).read_text())
    record["scalers"]["edge"] = {"kind": "minmax", "offset": [2.0], "scale": [3.5]}
    (old / RECORD_FILE).write_text(json.dumps(record))
    graph = synthetic_dataset(1)[0]
    scalers = load_run(old)[1].scalers
    assert scalers.edge.kind == "minmax"
    expected = (graph.edge_attr.reshape(-1) - 2.0) / 3.5
    torch.testing.assert_close(scalers.transform_graph(graph).edge_weight, expected)
    assert np.isfinite(Predictor.from_run(old).predict_graphs([graph])).all()


# ----------------------------------------------------------------------------- splits


def test_random_split_is_seeded_70_15_15() -> None:
    a = split_dataset(100, seed=3)
    b = split_dataset(100, seed=3)
    c = split_dataset(100, seed=4)
    assert a.strategy == "random" and a.sizes == {"train": 70, "val": 15, "test": 15}
    assert all(np.array_equal(a.indices[k], b.indices[k]) for k in a.indices)
    assert not np.array_equal(a.indices["test"], c.indices["test"])
    assert sorted(np.concatenate(list(a.indices.values())).tolist()) == list(range(100))


def test_group_split_keeps_each_parent_in_one_split() -> None:
    parents = np.repeat(np.arange(20), 5)
    split = split_dataset(100, seed=0, groups=parents)
    assert split.strategy == "group"
    owner: dict[int, str] = {}
    for name, index in split.indices.items():
        for p in set(parents[index].tolist()):
            assert owner.setdefault(p, name) == name
    assert 60 <= split.sizes["train"] <= 80 and split.sizes["val"] > 0 and split.sizes["test"] > 0


def test_few_parents_are_stratified_so_every_parent_trains() -> None:
    parents = np.repeat([7, 8, 9], 20)
    split = split_dataset(60, seed=0, groups=parents)
    assert split.strategy == "stratified"
    for name in ("train", "val", "test"):
        assert set(parents[split.indices[name]].tolist()) == {7, 8, 9}


def test_given_split_is_validated() -> None:
    with pytest.raises(ThermognnError, match="overlap"):
        given_split({"train": [0, 1], "val": [1], "test": [2]}, 3)
    with pytest.raises(ThermognnError, match="positions"):
        given_split({"train": [0, 5], "val": [1], "test": [2]}, 3)


def test_run_records_group_split_by_parent(tmp_path: Path) -> None:
    data = synthetic_dataset(36, parents=12)
    train_run(
        None, labels="band_gap", dataset=data, out=tmp_path / "g", hparams={"hidden": 8}, **FAST
    )
    split = json.loads((tmp_path / "g" / "split.json").read_text())
    assert split["strategy"] == "group"
    parents = [set(data.parent_ids[split[k]["index"]].tolist()) for k in ("train", "val", "test")]
    assert not (parents[0] & parents[1] or parents[0] & parents[2] or parents[1] & parents[2])
    assert split["train"]["row_id"] == data.row_ids[split["train"]["index"]].tolist()


# ----------------------------------------------------------------------------- runs


def test_run_folder_layout_and_outputs(trained: Path, dataset: GraphDataset) -> None:
    for name in (
        WEIGHTS_FILE,
        RECORD_FILE,
        "split.json",
        "metrics.json",
        "predictions.csv",
        "history.csv",
    ):
        assert (trained / name).is_file(), name
    record = json.loads((trained / RECORD_FILE).read_text())
    assert record["labels"] == ["band_gap"] and record["units"] == {"band_gap": "eV"}
    assert record["cutoff"] == 5.5 and record["node_features"][0] == "atomic_number"
    assert record["hparams"]["hidden"] == 8 and record["model"] == "paper-1"
    assert record["training"]["seed"] == 0 and record["split"]["sizes"]["train"] == 21
    assert record["version"] and record["training"]["status"] == "done"
    metrics = json.loads((trained / "metrics.json").read_text())["metrics"]["band_gap"]
    assert set(metrics) == {"train", "val", "test"}
    assert {"mae", "rmse", "r2", "max_error"} <= set(metrics["test"])
    with (trained / "predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["row_id", "split", "label", "true", "predicted"]
    assert len(rows) == len(dataset)


def test_checkpoint_roundtrip_reproduces_predictions(trained: Path, dataset: GraphDataset) -> None:
    model, record = load_run(trained)
    assert not model.training and record.model == "paper-1"
    with (trained / "predictions.csv").open() as handle:
        saved = {int(r["row_id"]): float(r["predicted"]) for r in csv.DictReader(handle)}
    predicted = Predictor(model, record).predict_graphs(list(dataset))[:, 0]
    expected = np.array([saved[int(r)] for r in dataset.row_ids])
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-6)
    evaluation = evaluate_run(trained, dataset=dataset)
    np.testing.assert_allclose(evaluation.predicted[:, 0], expected, rtol=1e-5, atol=1e-6)


def test_same_seed_same_metrics_other_seed_differs(tmp_path: Path, dataset: GraphDataset) -> None:
    def metrics(seed: int, name: str) -> dict:
        return train_run(
            None,
            labels="band_gap",
            dataset=dataset,
            out=tmp_path / name,
            seed=seed,
            hparams={"hidden": 8, "dropout": 0.2},
            **FAST,
        ).metrics["band_gap"]

    first, again, other = metrics(5, "a"), metrics(5, "b"), metrics(6, "c")
    for split in first:
        for key, value in first[split].items():
            assert math.isclose(value, again[split][key], rel_tol=1e-6, abs_tol=1e-9), key
    assert other["test"]["mae"] != first["test"]["mae"]


@pytest.mark.parametrize("model", ["schnet", "cgcnn"])
def test_multi_target_run_of_other_families(tmp_path: Path, model: str) -> None:
    data = synthetic_dataset(24, n_atoms=None)
    result = train_run(
        None,
        labels="all",
        model=model,
        dataset=data,
        out=tmp_path / model,
        hparams={"hidden": 8, "lr": 3e-3},
        **FAST,
    )
    assert result.labels == list(LABELS) and set(result.metrics) == set(LABELS)
    record = read_record(tmp_path / model)
    assert record.scalers.target.kind == "standard" and record.training["dense"] is False
    assert record.hparams["cutoff"] == 5.5
    predictions = Predictor.from_run(tmp_path / model).predict_graphs(list(data))
    assert predictions.shape == (24, 4) and np.isfinite(predictions).all()


def test_dense_path_is_chosen_for_fixed_size_cells(trained: Path, tmp_path: Path) -> None:
    assert read_record(trained).training["dense"] is True
    mixed = synthetic_dataset(20, n_atoms=None)
    train_run(None, labels="vbm", dataset=mixed, out=tmp_path / "m", hparams={"hidden": 8}, **FAST)
    assert read_record(tmp_path / "m").training["dense"] is False


def test_existing_run_is_not_overwritten(trained: Path, dataset: GraphDataset) -> None:
    with pytest.raises(ThermognnError, match="already holds a run"):
        train_run(None, labels="band_gap", dataset=dataset, out=trained, **FAST)


def test_missing_label_in_dataset_is_an_error(tmp_path: Path, dataset: GraphDataset) -> None:
    with pytest.raises(ThermognnError, match="no label gap"):
        train_run(None, labels="gap", dataset=dataset, out=tmp_path / "x", **FAST)


# ----------------------------------------------------------------------------- safety


def test_schema_mismatch_is_a_checkpoint_error(trained: Path, dataset: GraphDataset) -> None:
    other = GraphDataset(
        list(dataset),
        labels=dataset.labels,
        row_ids=dataset.row_ids,
        parent_ids=dataset.parent_ids,
        schemes=dataset.schemes,
        materials=dataset.materials,
        cutoff=4.0,
    )
    with pytest.raises(CheckpointError, match="5.5 Å cutoff.*4.0 Å"):
        evaluate_run(trained, dataset=other)
    unlabeled = GraphDataset(
        list(dataset),
        labels=("a", "b", "c", "d"),
        row_ids=dataset.row_ids,
        parent_ids=dataset.parent_ids,
        schemes=dataset.schemes,
        materials=dataset.materials,
        cutoff=5.5,
    )
    with pytest.raises(CheckpointError, match="no band_gap"):
        evaluate_run(trained, dataset=unlabeled)


def test_record_with_other_features_is_refused(trained: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / WEIGHTS_FILE).write_bytes((trained / WEIGHTS_FILE).read_bytes())
    record = json.loads((trained / RECORD_FILE).read_text())
    record["node_features"] = [
        "atomic_number",
        "atomic_mass",
        "covalent_radius",
        "electronegativity",
    ]
    (copy / RECORD_FILE).write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="node features"):
        Predictor.from_run(copy)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.marker),))


def test_pickle_payload_is_refused_unexecuted(trained: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / RECORD_FILE).write_text((trained / RECORD_FILE).read_text())
    marker = tmp_path / "pwned"
    torch.save({"weights": _Payload(marker)}, evil / WEIGHTS_FILE)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_run(evil)
    assert not marker.exists()


def test_weights_of_another_shape_are_refused(trained: Path, tmp_path: Path) -> None:
    copy = tmp_path / "shape"
    copy.mkdir()
    (copy / WEIGHTS_FILE).write_bytes((trained / WEIGHTS_FILE).read_bytes())
    record = json.loads((trained / RECORD_FILE).read_text())
    record["hparams"]["hidden"] = 16
    (copy / RECORD_FILE).write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_run(copy)


# ----------------------------------------------------------------------------- NaN guard


@register_family("test-nan", scaling=Scaling("standard", "identity", "standard"))
class NaNAfter(torch.nn.Module):
    """A model whose training output turns NaN after ``after`` training steps."""

    def __init__(self, in_channels: int = 4, n_targets: int = 1, after: int = 3) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(in_channels, n_targets)
        self.after = after
        self.steps = 0

    def forward(self, x, edge_index, edge_weight=None, batch=None):  # noqa: ANN001, ANN201
        out = global_mean_pool(self.lin(x), batch)
        if self.training:
            self.steps += 1
            if self.steps > self.after:
                return out * float("nan")
        return out


def test_nan_loss_stops_and_keeps_last_good_checkpoint(
    tmp_path: Path, dataset: GraphDataset
) -> None:
    try:
        result = train_run(
            None,
            labels="band_gap",
            model="test-nan",
            dataset=dataset,
            out=tmp_path / "nan",
            hparams={"after": 4, "lr": 1e-2},
            epochs=50,
            patience=50,
            batch_size=64,
            progress=False,
        )
    finally:
        MODEL_REGISTRY.pop("test-nan", None)
    assert result.stop_reason == "nan_loss" and result.epochs_run == 5
    assert 0 <= result.best_epoch <= 4
    assert all(math.isfinite(m["mae"]) for m in result.metrics["band_gap"].values())
    record = read_record(tmp_path / "nan")
    assert record.training["stop_reason"] == "nan_loss"
    assert record.training["best_epoch"] == result.best_epoch


def test_auto_split_with_a_dominant_parent_is_stratified():
    """One big parent (e.g. the Ag3SBr supercell) beside many small ones (mixed cells)."""
    from thermognn.training.splits import split_dataset

    groups = np.array([0] * 60 + [1 + k // 2 for k in range(40)])
    split = split_dataset(100, seed=0, groups=groups)
    assert split.strategy == "stratified"
    for name in ("train", "val", "test"):
        assert np.any(groups[split.indices[name]] == 0)  # the big parent is in every split
    even = np.repeat(np.arange(20), 5)
    assert split_dataset(100, seed=0, groups=even).strategy == "group"


def test_learning_rate_decays_on_a_validation_plateau(
    tmp_path: Path, dataset: GraphDataset
) -> None:
    def run(name: str, **optimiser: float) -> tuple[float, dict]:
        train_run(
            None,
            labels="band_gap",
            dataset=dataset,
            out=tmp_path / name,
            epochs=30,
            patience=30,
            batch_size=8,
            progress=False,
            hparams={"hidden": 8, "lr": 0.05, **optimiser},
        )
        metrics = json.loads((tmp_path / name / "metrics.json").read_text())
        return metrics["final_lr"], read_record(tmp_path / name).training

    constant, _ = run("constant", lr_decay=1.0)
    assert constant == pytest.approx(0.05)
    decayed, settings = run("decayed", lr_decay=0.5, lr_patience=1)
    halvings = math.log2(0.05 / decayed)
    floor = 0.05 * MIN_LR_FACTOR
    assert halvings >= 1 and decayed >= floor * (1 - 1e-9)
    assert halvings == pytest.approx(round(halvings), abs=1e-6) or decayed == pytest.approx(floor)
    assert settings["lr_decay"] == 0.5 and settings["lr_patience"] == 1
    history = _history(tmp_path / "decayed")
    assert history["lr"][0] == pytest.approx(0.05)
    assert np.all(np.diff(history["lr"]) <= 0) and history["lr"][-1] >= decayed
    with pytest.raises(
        ThermognnError, match=r"\[train\]\.lr_decay: expected a value ≤ 1(\.0)?, got 1.5"
    ):
        run("bad", lr_decay=1.5)


# ----------------------------------------------------------------------------- recipe


def _history(run_dir: Path) -> dict[str, np.ndarray]:
    with (run_dir / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}


def _first_stop(rule: PlateauRule, losses: np.ndarray) -> int | None:
    for epoch, loss in enumerate(losses, start=1):
        if rule.update(float(loss))[1]:
            return epoch
    return None


def _noisy(trend: np.ndarray, seed: int) -> np.ndarray:
    """``trend`` times log-normal noise of 25 % (a 75-row validation set's scatter)."""
    return trend * np.exp(0.25 * np.random.default_rng(seed).standard_normal(len(trend)))


def test_smoothed_rule_sees_through_validation_noise() -> None:
    epochs = np.arange(1, 1001)
    falling = np.exp(-epochs / 300)  # still improving 15 % per 50 epochs at the end
    raw_stops, smoothed_stops = [], []
    for seed in range(8):
        losses = _noisy(falling, seed)
        raw_stops.append(_first_stop(PlateauRule(100, smoothing=0.0, min_delta=0.0), losses))
        smoothed_stops.append(_first_stop(PlateauRule(100, smoothing=0.9), losses))
    assert smoothed_stops == [None] * 8
    assert sum(s is not None and s < 700 for s in raw_stops) >= 4, raw_stops
    # ... and it still stops on a noisy plateau and on overfitting
    flat = [_first_stop(PlateauRule(100), _noisy(np.ones(1000), seed)) for seed in range(8)]
    assert all(s is not None and 100 <= s <= 300 for s in flat), flat
    rising = 1 + ((epochs - 200) / 200.0) ** 2  # the best model is that of epoch 200
    late = [_first_stop(PlateauRule(100), _noisy(rising, seed)) for seed in range(8)]
    assert all(s is not None and 250 <= s <= 400 for s in late), late


def test_plateau_rule_counts_patience_min_delta_and_min_epochs() -> None:
    rule = PlateauRule(patience=3, lr_patience=2, smoothing=0.0, min_delta=0.1)
    decisions = [rule.update(x) for x in (1.0, 0.95, 0.95, 0.85, 0.9, 0.9, 0.9)]
    # 0.95 is not 10 % below 1.0; 0.85 is; then three stale epochs stop
    assert [d[1] for d in decisions] == [False] * 6 + [True]
    assert [d[0] for d in decisions] == [False, False, True, False, False, True, False]
    assert rule.improved_epoch == 4 and rule.best == 0.85
    late = PlateauRule(patience=3, smoothing=0.0, min_epochs=10)
    assert _first_stop(late, np.ones(20)) == 10
    ema = PlateauRule(patience=5, smoothing=0.5)
    for x in (4.0, 2.0):
        ema.update(x)
    assert ema.smoothed == pytest.approx(4.0 ** (1 / 3) * 2.0 ** (2 / 3))  # weights 1/4, 1/2


def test_history_records_smoothed_loss_lr_and_a_plot(trained: Path) -> None:
    history = _history(trained)
    assert list(history) == [
        "epoch",
        "train_loss",
        "val_loss",
        "smoothed_val_loss",
        "best_val_loss",
        "lr",
        "seconds",
    ]
    a, val = TrainSettings().smoothing, history["val_loss"]
    weights = a ** np.arange(len(val))[::-1]
    expected = [
        np.exp((weights[-k:] * np.log(val[:k])).sum() / weights[-k:].sum())
        for k in range(1, len(val) + 1)
    ]
    np.testing.assert_allclose(history["smoothed_val_loss"], expected, rtol=1e-6)
    assert (trained / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_records_the_settings_and_accepts_the_old_hparams_spelling(
    tmp_path: Path, dataset: GraphDataset
) -> None:
    old = train_run(
        None,
        labels="band_gap",
        dataset=dataset,
        out=tmp_path / "old",
        hparams={"hidden": 8, "lr": 3e-3, "lr_decay": 0.7},
        **FAST,
    )
    settings = TrainSettings(
        model="paper-1", hparams={"hidden": 8}, lr=3e-3, lr_decay=0.7, epochs=3, patience=5
    )
    new = train_run(
        None,
        labels="band_gap",
        dataset=dataset,
        out=tmp_path / "new",
        settings=settings,
        batch_size=8,
        progress=False,
    )
    assert old.metrics == new.metrics
    record = read_record(tmp_path / "old")
    expected = TrainSettings.of(settings, batch_size=8).model_dump()
    assert {k: record.training[k] for k in expected} == {
        **expected,
        "split": list(expected["split"]),
    }
    assert "lr" not in record.hparams and record.hparams["hidden"] == 8
    with pytest.raises(ThermognnError, match=r"\[train\]\.patients: unknown key"):
        train_run(None, labels="band_gap", dataset=dataset, out=tmp_path / "x", patients=3)


def test_device_names_are_checked() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(ThermognnError, match="'gpu0' is not a torch device"):
        resolve_device("gpu0")
    if torch.cuda.device_count() < 8:
        with pytest.raises(ThermognnError, match=r"--device cuda:7: this machine has"):
            resolve_device("cuda:7")
    if not torch.backends.mps.is_available():
        with pytest.raises(ThermognnError, match="--device mps: not available"):
            resolve_device("mps")


def test_metrics_on_a_tiny_array_by_hand() -> None:
    from thermognn.training.metrics import regression_metrics

    true = np.array([1.0, 2.0, 3.0, 4.0])
    predicted = np.array([1.5, 2.0, 2.0, 4.0])  # errors +0.5, 0, −1, 0
    m = regression_metrics(true, predicted)
    assert m["mae"] == pytest.approx(1.5 / 4)
    assert m["rmse"] == pytest.approx(np.sqrt(1.25 / 4))
    assert m["max_error"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1 - 1.25 / 5.0)  # SS_tot = 2.25 + 0.25 + 0.25 + 2.25
    r = np.corrcoef(true, predicted)[0, 1]
    assert m["pearson_r2"] == pytest.approx(r**2) and m["n"] == 4
    assert np.isnan(regression_metrics(np.ones(3), np.ones(3))["r2"])  # no variance: undefined
