"""The symmetry groups of the rotated-MNIST models, in the book's order: one list for every module."""
from __future__ import annotations

import math


GROUPS = ("trivial", "C4", "D4", "C8", "D8", "SO2", "O2")


GROUP_ORDER = {"trivial": 1, "C4": 4, "D4": 8, "C8": 8, "D8": 16, "SO2": math.inf, "O2": math.inf}
