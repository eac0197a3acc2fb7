"""Figures and the self-contained HTML report of a reproduce/run folder."""

from __future__ import annotations

from thermognn.report.html import write_report
from thermognn.report.page import PAPER

__all__ = ["PAPER", "write_report"]
