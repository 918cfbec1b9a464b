"""equilib: when is an equivariant network worth it?

A small package behind the equilib book, in layers, each importing only the
ones below it: ``base`` (paths, cache, run store, checks), ``tasks`` (the
N-body simulator, rotated MNIST, symmetry, the linear theory), ``models``,
``training``, ``experiments`` (presets and sweeps), ``analysis`` (intervals,
verdict rules, claims) and ``report`` (charts, rendering, export), with the
command line on top. ARCHITECTURE.md draws the house.
"""
from __future__ import annotations

__version__ = "0.2.0"
