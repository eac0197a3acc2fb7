"""Optuna plumbing of the search: pruner, storage, study identity and the epoch reporter.

:func:`open_storage` opens a journal file (default ``OUT/optuna.log``), an SQLite file or
any Optuna storage URL; :func:`open_study` creates or resumes a study and refuses one
made for another study (its identity is a study user attribute); :class:`OptunaReporter`
runs on the worker, reports each epoch's validation loss to the shared storage and stops
the training when the pruner says so. Used by :mod:`thermognn.studies.search`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thermognn.errors import ThermognnError
from thermognn.experiments.jobs import StopTraining
from thermognn.experiments.records import normalise

#: Pruners accepted by ``pruner``.
PRUNERS = ("median", "sha", "none")

#: Samplers accepted by ``sampler``: TPE (constant liar, for parallel trials) or random.
SAMPLERS = ("tpe", "random")

#: Study user attribute holding what the study is about (checked on every resume).
IDENTITY_ATTR = "thermognn_study"

_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


@dataclass(frozen=True)
class PrunerSpec:
    """A picklable description of the pruner (workers rebuild it).

    Attributes
    ----------
    kind
        ``median`` (median of earlier trials at the same epoch), ``sha``
        (asynchronous successive halving, reduction factor 3) or ``none``.
    epochs
        Maximum epochs of a trial.
    startup_trials
        Trials never pruned by the median pruner while fewer have finished.
    warmup
        Epochs before a trial may be pruned (median) or the first rung (sha); default
        a tenth of ``epochs`` (median) or Optuna's ``auto`` (sha).
    """

    kind: str = "median"
    epochs: int = 300
    startup_trials: int = 5
    warmup: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in PRUNERS:
            raise ThermognnError(f"pruner must be one of {', '.join(PRUNERS)}, got {self.kind!r}")

    def build(self) -> Any:
        """The Optuna pruner."""
        import optuna

        if self.kind == "median":
            warmup = self.warmup if self.warmup is not None else max(1, self.epochs // 10)
            return optuna.pruners.MedianPruner(
                n_startup_trials=self.startup_trials, n_warmup_steps=warmup
            )
        if self.kind == "sha":
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource=self.warmup or "auto", reduction_factor=3
            )
        return optuna.pruners.NopPruner()


def storage_spec(storage: str | Path | None, out: Path) -> str:
    """The storage as a string workers can open: a URL, or an absolute file path."""
    if storage is None:
        return str((out / "optuna.log").resolve())
    text = str(storage)
    return text if "://" in text else str(Path(text).resolve())


def open_storage(spec: str) -> Any:
    """An Optuna storage: a URL, an SQLite file (``.db``/``.sqlite``) or a journal file."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    try:
        if "://" in spec:
            return _open_url(_with_driver(spec))
        path = Path(spec)
        if not path.parent.is_dir():
            raise ThermognnError(f"Optuna storage {spec}: folder {path.parent} does not exist")
        if path.suffix in _SQLITE_SUFFIXES:
            return optuna.storages.RDBStorage(f"sqlite:///{path}")
        return JournalStorage(JournalFileBackend(str(path)))
    except ThermognnError:
        raise
    except Exception as exc:  # noqa: BLE001 - driver/URL errors of many kinds
        raise ThermognnError(
            f"Optuna storage {spec}: cannot open ({type(exc).__name__}: {exc})"
        ) from None


def _open_url(url: str, attempts: int = 4) -> Any:
    """An RDB storage; retried when another process is creating the same tables.

    Machines starting a search on a fresh database at the same moment race to create
    Optuna's schema (one sees ``CREATE TYPE`` fail); the loser waits and opens it.
    """
    import time

    import optuna

    for attempt in range(attempts):
        try:
            return optuna.storages.get_storage(url)
        except ImportError:
            raise
        except Exception:  # noqa: BLE001 - the driver's own errors
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _with_driver(url: str) -> str:
    """``postgresql://`` with psycopg2 (ASE's driver) where SQLAlchemy's default is absent.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3; with only psycopg2
    installed (the ``postgres`` extra) the URL names it explicitly.
    """
    from importlib.util import find_spec

    if url.startswith("postgresql://") and find_spec("psycopg") is None and find_spec("psycopg2"):
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def open_study(
    spec: str,
    study_name: str,
    identity: Mapping[str, Any],
    *,
    seed: int,
    pruner: PrunerSpec,
    startup_trials: int = 10,
    sampler: str = "tpe",
) -> Any:
    """Create or resume the Optuna study, refusing one made for another study.

    Parameters
    ----------
    spec
        Storage (see :func:`open_storage`).
    study_name
        Optuna study name.
    identity
        What the study is about (label, data split, space, training settings); a
        study of the same name must have been created with the same identity.
    seed
        Seed of the sampler.
    pruner
        The pruner.
    startup_trials
        Random trials before TPE starts modelling.
    sampler
        ``tpe`` or ``random`` (:data:`SAMPLERS`).
    """
    import optuna

    if sampler not in SAMPLERS:
        raise ThermognnError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    storage = open_storage(spec)
    if sampler == "random":
        chosen: Any = optuna.samplers.RandomSampler(seed=seed)
    else:
        chosen = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=startup_trials, constant_liar=True
        )
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=chosen,
        pruner=pruner.build(),
        direction="minimize",
        load_if_exists=True,
    )
    wanted = normalise(dict(identity))
    found = study.user_attrs.get(IDENTITY_ATTR)
    if found is None and study.trials:
        raise ThermognnError(
            f"Optuna storage {spec}: study {study_name!r} was not made by thermognn; "
            "choose another --storage or --study-name"
        )
    if found is None:
        study.set_user_attr(IDENTITY_ATTR, wanted)
    elif normalise(found) != wanted:
        differ = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
        details = "; ".join(
            f"{k}: {found.get(k)!r} there, {wanted.get(k)!r} here" for k in differ[:3]
        )
        raise ThermognnError(
            f"Optuna storage {spec}: study {study_name!r} belongs to another study ({details}); "
            "choose another --storage or --study-name"
        )
    return study


class TrialRef:
    """A running trial named by its study and number, reached through the storage's public API.

    Picklable (the storage opens lazily), so a worker can report to the trial the client
    asked for. Reporting writes the intermediate value to the storage and asks the
    pruner (:meth:`optuna.pruners.BasePruner.prune`) about the stored trial.

    Parameters
    ----------
    storage
        Storage spec (see :func:`open_storage`).
    study_name
        Optuna study name.
    number
        The trial's number in its study (``trial.number``).
    pruner
        The study's pruner.
    """

    def __init__(
        self, storage: str, study_name: str, number: int, pruner: PrunerSpec | None = None
    ) -> None:
        self.storage, self.study_name, self.number = storage, study_name, number
        self.pruner = pruner or PrunerSpec("none")
        self._opened: tuple[Any, Any, int] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_opened": None}

    def _open(self) -> tuple[Any, Any, int]:
        """(storage, study, storage id of the trial), opened once."""
        if self._opened is None:
            import optuna

            storage = open_storage(self.storage)
            study = optuna.load_study(
                study_name=self.study_name, storage=storage, pruner=self.pruner.build()
            )
            study_id = storage.get_study_id_from_name(self.study_name)
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, self.number)
            self._opened = (storage, study, trial_id)
        return self._opened

    def report(self, value: float, step: int) -> bool:
        """Store ``value`` at ``step``; ``True`` when the pruner says stop."""
        storage, study, trial_id = self._open()
        storage.set_trial_intermediate_value(trial_id, step, value)
        return bool(study.pruner.prune(study, storage.get_trial(trial_id)))

    def set_user_attr(self, key: str, value: Any) -> None:
        """Set a user attribute of the (running) trial."""
        storage, _, trial_id = self._open()
        storage.set_trial_user_attr(trial_id, key, value)


class OptunaReporter:
    """Epoch hook run on the worker: report the validation loss, stop when pruned.

    Takes the parameters of :class:`TrialRef` (the storage opens lazily on the worker).
    """

    def __init__(self, storage: str, study_name: str, number: int, pruner: PrunerSpec) -> None:
        self.trial = TrialRef(storage, study_name, number, pruner)

    def __call__(self, log: Any) -> None:
        """Report ``log.val_loss`` at step ``log.epoch``; raise :class:`StopTraining` if pruned."""
        if not math.isfinite(log.val_loss):
            return
        if self.trial.report(float(log.val_loss), int(log.epoch)):
            raise StopTraining("pruned", int(log.epoch), f"pruned at epoch {log.epoch}")
