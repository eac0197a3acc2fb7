"""Graph neural networks for crystal graphs, selected by name from a registry.

* ``paper-1`` … ``paper-6`` (family ``paper``): the paper's GraphConv networks, one
  configurable class with an exact dense fast path (:mod:`thermognn.models.dense`).
* ``schnet``: continuous-filter convolutions on a Gaussian radial basis.
* ``cgcnn``: PyG ``CGConv`` on a Gaussian radial basis.
* ``moments``: atom-centred density moments (l ≤ 2 power spectrum) under a learned
  head; needs the bond vectors (``edge_vec``).

Every model's ``forward(x, edge_index, edge_weight, batch)`` maps scaled inputs to
scaled predictions ``[B, n_targets]``; models with ``supports_dense = True`` also have
``forward_dense(DenseBatch)``.
"""

from __future__ import annotations

# Register the built-in families (the registry imports them lazily as well).
from thermognn.models import cgcnn, moments, paper, schnet  # noqa: E402, F401
from thermognn.models.dense import DenseBatch, DenseGraphStore, dense_from_batch
from thermognn.models.registry import (
    MODEL_REGISTRY,
    ModelSpec,
    Scaling,
    get_model,
    model_spec,
    register_family,
    register_model,
)

__all__ = [
    "MODEL_REGISTRY",
    "ModelSpec",
    "Scaling",
    "get_model",
    "model_spec",
    "register_family",
    "register_model",
    "model_names",
    "DenseBatch",
    "DenseGraphStore",
    "dense_from_batch",
]


def model_names() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(MODEL_REGISTRY)
