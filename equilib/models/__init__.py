"""Models: message-passing networks for N-body (``graph``), steerable CNNs for rotated MNIST (``steerable``).

``steerable`` imports escnn, so it is not imported here: N-body work never pays for it.
"""
from .catalogue import GRAPH_MODELS, MODEL_LABELS, NBODY_MODELS, build_model, count_parameters
from .graph import EGNN, GNN, ResidualGNN, free_flight
from .groups import GROUP_ORDER, GROUPS

__all__ = ["EGNN", "GNN", "ResidualGNN", "free_flight", "build_model", "count_parameters", "GRAPH_MODELS",
           "MODEL_LABELS", "NBODY_MODELS", "GROUPS", "GROUP_ORDER"]
