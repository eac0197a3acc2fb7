"""Typed settings of the active-learning loop: the ``[learn]`` study section."""

from __future__ import annotations

from pydantic import Field, model_validator

from thermognn.learning.acquisition import Strategy
from thermognn.settings import Settings


class LearnSettings(Settings):
    """How ``thermognn learn`` spends its labels.

    Attributes
    ----------
    label
        The label whose ensemble spread drives the acquisition.
    initial
        Labeled cells of round 0, drawn at random from the pool (n₀).
    pool
        Candidate configurations drawn by the sampling scheme.
    per_round
        Candidates labeled per round (k).
    budget
        Most labels spent in all (round 0 included; failed labels count).
    target_mae
        Stop once the ensemble's validation MAE is at or below this (label unit).
    ensemble
        Members of each round's ensemble (≥ 2).
    acquisition
        ``diverse`` (largest spread, spread out in descriptor space), ``uncertainty``
        (largest spread), ``coverage`` (farthest point, model-free), ``design``
        (V-optimal design on the descriptors, model-free) or ``random``.
    shortlist
        ``diverse``: candidates considered = ``shortlist`` × ``per_round`` largest
        spreads.
    val_fraction
        Share of the labeled cells held out for validation (stopping rule and
        calibration) in each round.
    """

    label: str = "band_gap"
    initial: int = Field(20, ge=4)
    pool: int = Field(200, ge=1)
    per_round: int = Field(10, ge=1)
    budget: int = Field(100, ge=1)
    target_mae: float | None = Field(None, gt=0)
    ensemble: int = Field(5, ge=2)
    acquisition: Strategy = "diverse"
    shortlist: float = Field(4.0, ge=1)
    val_fraction: float = Field(0.2, gt=0, lt=1)

    @model_validator(mode="after")
    def _sizes(self) -> LearnSettings:
        if self.initial > self.pool:
            raise ValueError(f"initial ({self.initial}) exceeds the pool ({self.pool})")
        if self.initial > self.budget:
            raise ValueError(f"initial ({self.initial}) exceeds the budget ({self.budget})")
        return self
