"""Plug-ins: a scheme, a labeler and a model family defined here run the whole pipeline.

Nothing in ``src/`` knows about ``test-shake``, ``test-pair`` or ``test-mlp``: they are
registered by the decorators below (as an installed package would through the
``thermognn.plugins`` entry-point group) and then used by name.
"""

from __future__ import annotations

import logging
import math
import sys
from importlib.metadata import EntryPoint

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write
from torch_geometric.nn import global_max_pool, global_mean_pool

from thermognn import plugins
from thermognn.database import StudyDatabase
from thermognn.errors import ThermognnError
from thermognn.labels import Labels, get_labeler, label_database, labeler_names, register_labeler
from thermognn.labels.base import hydrostatic_gpa
from thermognn.models import Scaling, get_model, register_family
from thermognn.sampling import SamplingSpec, register_scheme, sample_configurations, scheme_names
from thermognn.studies.space import FloatRange, IntRange, dimension, family_space, named_grid

SIGMA = 0.05  # Å, default of the test scheme


@register_scheme("test-shake", temperature=False)
def shake(rng: np.random.Generator, ctx) -> tuple[np.ndarray, dict[str, float]]:  # noqa: ANN001
    """Gaussian rattle with σ from the scheme options, centre of mass fixed."""
    sigma = float(ctx.spec.scheme_options.get("sigma", SIGMA))
    u = rng.normal(0.0, sigma, (ctx.n_atoms, 3))
    return u - u.mean(axis=0), {"sigma": sigma}


@register_labeler("test-pair")
class PairLabeler:
    """EMT energy and stress; a 'gap' and 'VBM' from the shortest bond (toy, but smooth)."""

    name = "test-pair"
    version = "pair-1"  # ASE refuses key-value strings that read as numbers

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def label(self, atoms) -> Labels:  # noqa: ANN001
        atoms = atoms.copy()
        atoms.calc = EMT()
        d = atoms.get_all_distances(mic=True)
        shortest = float(d[d > 0].min())
        return Labels(
            energy_per_atom=atoms.get_potential_energy() / len(atoms),
            band_gap=self.scale * (shortest - 2.0),
            vbm=-self.scale * shortest,
            hydrostatic_stress=hydrostatic_gpa(atoms.get_stress(voigt=True)),
        )


@register_family(
    "test-mlp",
    scaling=Scaling(node="standard", edge="identity", target="standard"),
    description="node MLP + pooling (a plug-in test family)",
    search_space={
        "lr": {"low": 1e-3, "high": 3e-2, "log": True},
        "hidden": [8, 16],
        "n_layers": {"low": 1, "high": 2},
        "pool": ["mean", "max"],
    },
)
class NodeMLP(torch.nn.Module):
    """Per-node MLP, pooled: ignores edges (enough to exercise the trainer)."""

    def __init__(
        self,
        in_channels: int = 4,
        hidden: int = 16,
        n_layers: int = 1,
        pool: str = "mean",
        dropout: float = 0.0,
        n_targets: int = 1,
    ) -> None:
        super().__init__()
        layers: list[torch.nn.Module] = []
        width = in_channels
        for _ in range(n_layers):
            layers += [torch.nn.Linear(width, hidden), torch.nn.ReLU(), torch.nn.Dropout(dropout)]
            width = hidden
        self.body = torch.nn.Sequential(*layers)
        self.head = torch.nn.Linear(width, n_targets)
        self.pool = global_max_pool if pool == "max" else global_mean_pool

    def forward(self, x, edge_index, edge_weight=None, batch=None):  # noqa: ANN001, ANN201
        return self.head(self.pool(self.body(x), batch))


@pytest.fixture()
def cu_file(tmp_path):
    path = tmp_path / "Cu.cif"
    write(path, bulk("Cu", "fcc", a=3.6, cubic=True))
    return str(path)


def test_registered_names_are_listed():
    assert "test-shake" in scheme_names() and "test-pair" in labeler_names()
    assert isinstance(get_labeler("test-pair", scale=2.0), PairLabeler)
    with pytest.raises(ThermognnError, match=r"unknown labeler 'nope' \(known: gfn1-xtb, .*test"):
        get_labeler("nope")


def test_family_declares_its_search_space():
    space = family_space("test-mlp")
    dims = space.dimensions()
    assert space.models == ("test-mlp",)
    assert dims["lr"] == FloatRange(1e-3, 3e-2, log=True)
    assert dims["n_layers"] == IntRange(1, 2)
    assert dims["hidden"].values() == (8, 16) and dims["pool"].values() == ("mean", "max")
    dist = space.distributions()
    assert dist["lr"].log and dist["lr"].low == 1e-3
    assert type(dist["n_layers"]).__name__ == "IntDistribution"
    assert named_grid("test-mlp") == space
    grid = space.restrict(lr=[1e-2], pool=["max"])
    assert grid.size == 2 * 2  # hidden × n_layers
    point = grid.points()[-1]
    assert point.trial_id == "test-mlp_lr0.01_h16_n_layers2_poolmax"
    model = get_model(point.model, **{k: v for k, v in point.hparams().items() if k != "lr"})
    assert isinstance(model.pool, type(global_max_pool)) and len(model.body) == 2 * 3
    # an Optuna search samples the declared space: lr log-uniform, n_layers an integer
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    points = [space.point(study.ask(dist).params) for _ in range(40)]
    lrs = np.log10([p.lr for p in points])
    assert lrs.min() >= -3 and lrs.max() <= math.log10(3e-2)
    assert (lrs < -2.5).sum() > 8  # log-uniform: 34 % of draws (13.5); uniform: 7.5 % (3)
    assert {dict(p.extra)["n_layers"] for p in points} == {1, 2}
    assert {p.hidden for p in points} == {8, 16} and points[0].dropout is None
    with pytest.raises(ThermognnError, match="search space names depth"):
        register_family("test-bad", scaling=Scaling(), search_space={"depth": [1]})(NodeMLP)
    with pytest.raises(ThermognnError, match="log range needs low > 0"):
        dimension("lr", {"low": 0.0, "high": 1.0, "log": True})


def test_scheme_labeler_and_family_run_the_pipeline(tmp_path, cu_file):
    db = StudyDatabase(tmp_path / "s.db", study="plugins")
    for name, sigma, n in (("tight", 0.03, 14), ("loose", 0.12, 14)):
        spec = SamplingSpec(
            cu_file,
            "test-shake",
            n,
            seed=1,
            supercell=(1, 1, 1),
            calculator="emt",
            sample_set=name,
            scheme_options={"sigma": sigma},
        )
        assert len(sample_configurations(db, spec)) == n
    rows = list(db.select(scheme="test-shake"))
    u = {
        s: np.stack([r.data["displacements"] for r in rows if r.sample_set == s])
        for s in ("tight", "loose")
    }
    np.testing.assert_allclose(u["tight"].mean(axis=1), 0.0, atol=1e-12)  # centre fixed
    # rms of N(0, σ²) less the centre of mass: σ·sqrt((n-1)/n), n = 4 atoms; 14·12 draws
    for s, sigma in (("tight", 0.03), ("loose", 0.12)):
        rms = np.sqrt((u[s] ** 2).mean())
        assert abs(rms - sigma * math.sqrt(3 / 4)) < 0.15 * sigma
    assert {r.sigma for r in rows} == {0.03, 0.12}

    summary = label_database(db, labeler="test-pair", workers=0)
    assert summary.labeled == 28 + 1 and summary.failed == 0  # and the reference row
    row = next(db.select(scheme="test-shake", labeled=True))
    ref = PairLabeler().label(row.toatoms())
    assert row.labeler == "test-pair" and row.band_gap == pytest.approx(ref.band_gap)
    assert row.hydrostatic_stress == pytest.approx(ref.hydrostatic_stress)

    from thermognn.experiments import run_experiment
    from thermognn.settings import ExperimentSpec

    spec = ExperimentSpec.model_validate(
        {
            "labels": ["band_gap"],
            "test_sets": [{"name": "held", "select": {"sample_set": "loose"}, "size": 4}],
            "arms": [
                {"name": "tight", "select": {"sample_set": "tight"}},
                {"name": "loose", "select": {"sample_set": "loose"}},
            ],
            "sizes": [6],
            "seeds": 1,
            "train": {
                "model": "test-mlp",
                "hparams": {"hidden": 8, "n_layers": 2, "pool": "max"},
                "epochs": 3,
                "batch_size": 4,
            },
        }
    )
    result = run_experiment(str(tmp_path / "s.db"), spec, out=tmp_path / "exp", workers=0)
    assert {(r["arm"], r["test_set"]) for r in result.rows} == {
        ("tight", "held"),
        ("loose", "held"),
    }
    assert all(int(r["n_test"]) == 4 and math.isfinite(float(r["mae"])) for r in result.rows)


def test_entry_points_register_once_and_broken_ones_are_skipped(tmp_path, monkeypatch, caplog):
    (tmp_path / "tgnn_fake_plugin.py").write_text(
        "from thermognn.sampling import register_scheme\n"
        "@register_scheme('test-from-entry-point', temperature=False)\n"
        "def zero(rng, ctx):\n"
        "    return 0.0 * rng.uniform(size=(ctx.n_atoms, 3))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    group = plugins.ENTRY_POINT_GROUP
    eps = [
        EntryPoint("fake", "tgnn_fake_plugin", group),
        EntryPoint("broken", "tgnn_missing_module_xyz", group),
    ]
    monkeypatch.setattr(
        "importlib.metadata.entry_points",
        lambda group=None: eps if group == plugins.ENTRY_POINT_GROUP else [],
    )
    with caplog.at_level(logging.WARNING, logger="thermognn.plugins"):
        assert plugins.load_plugins(force=True) == ["fake"]
    assert "broken" in caplog.text and "tgnn_missing_module_xyz" in caplog.text
    assert "test-from-entry-point" in scheme_names()
    assert plugins.load_plugins() == []  # once per session
    sys.modules.pop("tgnn_fake_plugin", None)
