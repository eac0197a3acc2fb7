"""Figures and the self-contained HTML report of a reproduce/run folder."""

from __future__ import annotations

from thermognn.report.html import PAPER, write_report

__all__ = ["PAPER", "write_report"]
