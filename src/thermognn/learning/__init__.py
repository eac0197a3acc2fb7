"""Active learning: label the structures an ensemble is least sure of (``thermognn learn``).

* :mod:`~thermognn.learning.acquisition` — acquisition strategies (random, uncertainty,
  diverse, coverage, design) and structure descriptors;
* :mod:`~thermognn.learning.loop` — :func:`run_learning`, the resumable loop that samples
  a candidate pool, labels chosen rows with the Dask labeling runner and retrains a
  deep ensemble each round;
* :mod:`~thermognn.learning.settings` — :class:`LearnSettings`, the ``[learn]`` section.
"""

from __future__ import annotations

from thermognn.learning.acquisition import STRATEGIES, Acquisition, acquire, structure_descriptors

__all__ = ["STRATEGIES", "Acquisition", "acquire", "structure_descriptors"]
