"""The ``md`` scheme: snapshots of a Langevin NVT run at T (the paper's AIMD comparison).

Temperatures are cycled over blocks of consecutive snapshots: with temperatures
[200, 400, 600] and n = 600, snapshots 0–199 come from one run at 200 K, and so on.
Each run is equilibrated for ``md_equilibration`` steps and then writes a snapshot
every ``md_stride`` steps. An interrupted run resumes from its last stored snapshot
with velocities redrawn from the seed (recorded as ``md_restart``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from ase import Atoms, units

from thermognn.database import StudyDatabase


def sample_md(
    db: StudyDatabase,
    spec: Any,
    refs: list[tuple[int, Atoms, float | None]],
    todo: list[int],
    batch: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> list[int]:
    """Run the MD blocks that still have missing snapshots; returns written row ids."""
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    from thermognn.labels import calculator_factory
    from thermognn.sampling.records import config_record, config_rng

    temps = list(spec.temperatures)
    per_block = int(np.ceil(spec.n / len(temps)))
    written: list[int] = []
    todo_set = set(todo)
    make_calc = calculator_factory(spec.calculator)
    for b, temperature in enumerate(temps):
        block = [i for i in range(b * per_block, min(spec.n, (b + 1) * per_block))]
        missing = [i for i in block if i in todo_set]
        if not missing:
            continue
        ref_id, ref, x = refs[b % len(refs)]
        first = missing[0]
        atoms = ref.copy()
        restart = first != block[0]
        if restart:  # continue from the last stored snapshot of this block
            prev = next(db.select(batch=batch, config_index=first - 1))
            atoms.positions = prev.positions
        rng = config_rng(spec.seed, first, batch)
        atoms.calc = make_calc()
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
        Stationary(atoms)
        dyn = Langevin(
            atoms,
            spec.md_timestep * units.fs,
            temperature_K=temperature,
            friction=spec.md_friction / units.fs,
            rng=rng,
        )
        if not restart:
            dyn.run(spec.md_equilibration)
        for index in missing:
            dyn.run(spec.md_stride)
            snap = Atoms(ref.numbers, positions=atoms.positions.copy(), cell=ref.cell, pbc=True)
            u = snap.positions - ref.positions
            record = {
                **config_record(spec, "md", float(temperature), index, batch, ref_id, x),
                "md_calculator": spec.calculator,
                "md_stride": spec.md_stride,
                "md_timestep": spec.md_timestep,
                "md_restart": restart,
                "sample_set": getattr(spec, "sample_set", None),
            }
            written.append(db.add_configuration(snap, u, record))
            if progress:
                progress(len(written), len(todo))
    return written
