"""Model factories: graph networks for N-body, steerable CNNs for rotated MNIST."""
from __future__ import annotations

from torch import nn

from .graph import EGNN, GNN, ResidualGNN, free_flight

GRAPH_MODELS = {"gnn": GNN, "egnn": EGNN, "resgnn": ResidualGNN}


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build_model(name: str, dim: int, *, hidden: int = 64, layers: int = 4, horizon: float = 10.0) -> nn.Module:
    """An N-body model by name (``"gnn"``, ``"egnn"`` or ``"resgnn"``) for particles in R^dim.

    ``horizon`` (``T dt``, the time between input and target) is used by the
    residual GNN alone, which adds free flight over that time to its output.
    """
    if name not in GRAPH_MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(GRAPH_MODELS)}")
    if not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}")
    if hidden < 1 or layers < 1:
        raise ValueError(f"hidden and layers must be >= 1, got hidden={hidden}, layers={layers}")
    if name == "resgnn":
        if not (horizon > 0):
            raise ValueError(f"horizon must be positive, got {horizon!r}")
        return ResidualGNN(dim, hidden=hidden, layers=layers, horizon=horizon)
    return GRAPH_MODELS[name](dim, hidden=hidden, layers=layers)


def build_cnn(group: str, **kwargs) -> nn.Module:
    """A rotated-MNIST classifier equivariant to ``group`` (see :mod:`equilib.models.steerable`)."""
    from .steerable import build_cnn as _build

    return _build(group, **kwargs)


__all__ = ["EGNN", "GNN", "ResidualGNN", "free_flight", "build_model", "build_cnn", "count_parameters", "GRAPH_MODELS"]
