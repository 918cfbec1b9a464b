"""equilib: when is an equivariant network worth it?

A small package behind the equilib book: the N-body simulator, rotated MNIST,
the GNN/EGNN and steerable-CNN models, one trainer, and a run store that the
book's figures are drawn from.
"""
from __future__ import annotations

__version__ = "0.1.0"
