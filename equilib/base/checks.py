"""Checks of user-given values that name the bad value and what is allowed, before anything expensive runs."""
from __future__ import annotations

from typing import Any, Sequence


def check_ints(name: str, values: Any, minimum: int) -> list[int]:
    """``values`` (one integer or several) as a list, or an error naming the ones below ``minimum``."""
    values = [values] if isinstance(values, int) else list(values)
    if not values:
        raise ValueError(f"{name} must not be empty")
    bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool) or v < minimum]
    if bad:
        raise ValueError(f"{name} must be integers >= {minimum}; bad value(s): {bad}")
    return values


def check_choices(name: str, values: Any, allowed: Sequence[str]) -> list[str]:
    """``values`` (one name or several) as a list, or an error naming the unknown ones and the valid ones."""
    values = [values] if isinstance(values, str) else list(values)
    if not values:
        raise ValueError(f"{name} must not be empty; choose from {list(allowed)}")
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"unknown {name} {bad}; choose from {list(allowed)}")
    return values
