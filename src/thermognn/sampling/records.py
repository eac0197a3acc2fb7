"""What identifies a sampled configuration: its random stream and its database record.

Shared by the displacement schemes (:mod:`thermognn.sampling.sample`) and MD
(:mod:`thermognn.sampling.md`), so every configuration is reproducible from its recorded
seed, index and batch, and every row carries the same keys.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

__all__ = ["config_record", "config_rng"]


def config_rng(seed: int, index: int, batch: str) -> np.random.Generator:
    """The random stream of configuration ``index`` of a batch."""
    return np.random.default_rng([seed, index, zlib.crc32(batch.encode())])


def config_record(
    spec: Any,
    scheme: str,
    temperature: float | None,
    index: int,
    batch: str,
    parent_id: int,
    br_fraction: float | None,
) -> dict[str, Any]:
    """The key-value pairs every sampled configuration records (scheme-specific ones aside).

    Parameters
    ----------
    spec
        The :class:`~thermognn.sampling.SamplingSpec` (material, seed, supercell).
    scheme
        Sampling scheme stored on the row.
    temperature
        K (``None`` for temperature-free schemes).
    index, batch
        Configuration index and batch key (with the seed they reproduce the draw).
    parent_id, br_fraction
        Row id of the reference crystal and its Br fraction.
    """
    return {
        "material": spec.material,
        "scheme": scheme,
        "temperature": temperature,
        "seed": spec.seed,
        "config_index": index,
        "batch": batch,
        "parent_id": parent_id,
        "supercell": spec.supercell,
        "br_fraction": br_fraction,
    }
