"""The symmetry groups of the rotated-MNIST models, in the book's order: one list for every module."""
from __future__ import annotations

import math


GROUPS = ("trivial", "C4", "D4", "C8", "D8", "SO2", "O2")


GROUP_ORDER = {"trivial": 1, "C4": 4, "D4": 8, "C8": 8, "D8": 16, "SO2": math.inf, "O2": math.inf}

# How figures and tables name each group: the store keeps the ids, a reader sees the groups' usual names.
GROUP_LABELS = {"trivial": "plain CNN", "C4": "C4", "D4": "D4", "C8": "C8", "D8": "D8", "SO2": "SO(2)", "O2": "O(2)"}


def group_label(group: str) -> str:
    """A group's name for a reader (an id this module does not know is shown as it is)."""
    return GROUP_LABELS.get(group, group)
