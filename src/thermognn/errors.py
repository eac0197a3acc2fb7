"""User-facing errors: one clear line naming the file, row or field at fault."""

from __future__ import annotations


class ThermognnError(Exception):
    """An error caused by user input or data; the CLI prints it as one line, no traceback."""


class StructureError(ThermognnError):
    """A structure file or reference crystal is unreadable or unphysical."""


class LabelError(ThermognnError):
    """A labeler failed on one configuration (SCF not converged, unknown element, NaN)."""


class DatabaseError(ThermognnError):
    """A study database is missing, belongs to another study, or has inconsistent rows."""


class CheckpointError(ThermognnError):
    """A model checkpoint is unreadable or does not match the data's schema."""
