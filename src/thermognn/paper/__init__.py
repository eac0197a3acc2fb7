"""The paper's case study (Benítez et al. 2026): data-set recipe, calibration, reproduce."""
