"""The models by name: which exist, what the book calls them, and how to build one."""
from __future__ import annotations

from torch import nn

from .graph import EGNN, GNN, ResidualGNN

MODEL_LABELS = {"gnn": "GNN", "egnn": "EGNN", "resgnn": "residual GNN", "freeflight": "free flight",
                "gnn+aug": "augmented GNN"}


NBODY_MODELS = ("gnn", "egnn", "resgnn", "freeflight")  # freeflight: x0 + T dt v0, a baseline with nothing to train


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
