"""Property versus temperature from a trained model and phonon sampling at each T."""

from __future__ import annotations

from thermognn.temperature.curve import TemperatureCurve, property_vs_temperature

__all__ = ["TemperatureCurve", "property_vs_temperature"]
