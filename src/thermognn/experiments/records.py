"""Study bookkeeping on disk: append-only result tables, settings and JSON files.

Every study folder is written by the client process only (workers return results, the
client records them), one row as each result arrives, so a study killed at any
moment loses at most the tasks in flight and resumes by skipping recorded keys.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from thermognn.errors import ThermognnError

logger = logging.getLogger(__name__)


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as fh:
        json.dump(data, fh, indent=2, sort_keys=False, default=_jsonable)
        fh.write("\n")
    os.replace(fh.name, path)
    return path


def read_json(path: str | Path) -> Any:
    """Read a JSON file; a clear error when it is unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ThermognnError(f"{path}: unreadable ({exc})") from None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def normalise(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples → lists, numpy → Python)."""
    return json.loads(json.dumps(value, default=_jsonable))


def check_settings(out: Path, kind: str, settings: Mapping[str, Any]) -> None:
    """Record a study's settings in ``out/study.json``, or check they match on resume.

    Parameters
    ----------
    out
        Study folder.
    kind
        Study kind (``grid``, ``optuna``, ``curves``, ``comparison``).
    settings
        Settings that fix the meaning of the recorded results (label, data selection,
        epochs, seeds …); a resumed study must use the same values.

    Raises
    ------
    ThermognnError
        When ``out`` holds another kind of study or one with other settings.
    """
    path = out / "study.json"
    wanted = normalise({"kind": kind, **settings})
    if path.is_file():
        found = read_json(path)
        differ = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
        if differ:
            details = "; ".join(
                f"{k}: {found.get(k)!r} there, {wanted.get(k)!r} now" for k in differ[:4]
            )
            raise ThermognnError(
                f"{out} holds a {found.get('kind', 'different')} study with other settings "
                f"({details}); resume with the same settings or choose another --out"
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    write_json(path, wanted)


class ResultTable:
    """An append-only CSV file with a fixed header, flushed after every row.

    Parameters
    ----------
    path
        The CSV file (created with its header on the first append).
    columns
        Column names, in order.
    """

    def __init__(self, path: str | Path, columns: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = tuple(columns)
        if self.path.is_file() and self.path.stat().st_size > 0:
            with self.path.open(newline="") as fh:
                header = next(csv.reader(fh), [])
            if tuple(header) != self.columns:
                raise ThermognnError(
                    f"{self.path}: unexpected columns {header} (expected {list(self.columns)}); "
                    "it was written by another kind of study or version"
                )

    def rows(self) -> list[dict[str, str]]:
        """All complete rows (a row cut short by a kill is ignored)."""
        if not self.path.is_file():
            return []
        with self.path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            return [row for row in reader if None not in row.values() and None not in row]

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row (missing columns empty) and flush it to disk."""
        self.append_many([row])

    def append_many(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows (missing columns empty) and flush them to disk at once."""
        new = not self.path.is_file() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        cut = not new and _ends_mid_line(self.path)
        with self.path.open("a", newline="") as fh:
            writer = csv.writer(fh)
            if new:
                writer.writerow(self.columns)
            if cut:  # a row cut short by a kill stays on its own (ignored) line
                fh.write("\r\n")
            for row in rows:
                writer.writerow([format_cell(row.get(c)) for c in self.columns])
            fh.flush()
            os.fsync(fh.fileno())


def _ends_mid_line(path: Path) -> bool:
    """Whether the file's last byte is not a line end (its last write was cut short)."""
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) not in (b"\n", b"\r")


def format_cell(value: Any) -> str:
    """A CSV cell: floats with 6 significant digits, ``None`` empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def as_float(text: str | None) -> float:
    """A CSV cell as a float (empty → NaN)."""
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def write_files(folder: Path, files: Mapping[str, bytes]) -> Path:
    """Write a run folder's files into ``folder``, replacing it as a whole.

    The new folder is written beside the old one and swapped in by renames, so an
    interruption leaves either the old or the new folder complete. Only a folder this
    study wrote (holding nothing but run files) is ever removed.
    """
    staging = folder.with_name(folder.name + ".new")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name, content in files.items():
        (staging / Path(name).name).write_bytes(content)
    old = folder.with_name(folder.name + ".old")
    if folder.exists():
        if old.exists():
            shutil.rmtree(old)
        folder.rename(old)
    staging.rename(folder)
    if old.exists():
        shutil.rmtree(old)
    return folder
