"""Bring rows sampled and labeled in another study database into this one.

A set made elsewhere (another machine, a separate background job) joins the study
with its labels, displacement fields and sampling records. Each row's reference
supercell is found or added here by structure (so ``parent_id`` points at this
database's reference row), the batch's settings are merged into the metadata, and a
row whose batch and configuration index are already present is skipped, so importing
twice adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from thermognn.database.study import StudyDatabase
from thermognn.errors import ThermognnError

log = logging.getLogger(__name__)

#: Keys that describe the row in its own database only.
_LOCAL_KEYS = ("parent_id",)


def import_rows(
    target: StudyDatabase,
    source: StudyDatabase,
    query: str | None = None,
    *,
    replace: Mapping[str, Any] | None = None,
) -> int:
    """Copy the sampled rows of ``source`` matching ``query`` into ``target``.

    Parameters
    ----------
    target, source
        Study databases.
    query
        ASE selection of the source rows (references are never copied directly).
    replace
        Key-value pairs overwritten on every copied row (e.g. a portable ``fc_source``).

    Returns
    -------
    int
        Rows written.
    """
    if target.study != source.study and source.study not in ("", "None"):
        log.info("importing rows of study %s into %s", source.study, target.study)
    parents: dict[int, int] = {}
    written = 0
    batches: set[str] = set()
    for row in source.ase.select(query):
        kv = dict(row.key_value_pairs)
        if kv.get("scheme") == "reference":
            continue
        batch, index = kv.get("batch"), kv.get("config_index")
        if batch is None or index is None:
            raise ThermognnError(f"{source.ase.filename} row {row.id}: no batch/config_index")
        if any(True for _ in target.ase.select(batch=batch, config_index=index)):
            continue
        parent = int(kv["parent_id"])
        if parent not in parents:
            ref = source.ase.get(id=parent)
            extra = {k: v for k, v in ref.key_value_pairs.items() if k not in ("scheme", "labeled")}
            extra.pop("structure_key", None)
            material = extra.pop("material")
            parents[parent] = target.add_reference(ref.toatoms(), material, **extra)
        kv = {k: v for k, v in kv.items() if k not in _LOCAL_KEYS}
        kv.update(replace or {})
        kv["parent_id"] = parents[parent]
        target.ase.write(row.toatoms(), key_value_pairs=kv, data=dict(row.data))
        batches.add(str(batch))
        written += 1
    config = source.metadata.get("config", {})
    for batch in sorted(batches):
        settings = config.get(f"sample:{batch}")
        if settings is not None:
            target.update_config(f"sample:{batch}", {**settings, **(replace or {})})
    return written
