"""Step budgets: how many epochs and how often to evaluate, so that every training size gets its fair share."""
from __future__ import annotations

import math

from ..base.checks import check_ints


def epochs_for_budget(budget_steps: int, n_train: int, batch_size: int) -> int:
    """The epochs that hold at least ``budget_steps`` optimiser steps (the last epoch may pass it)."""
    check_ints("budget_steps", budget_steps, 1)
    return math.ceil(budget_steps / math.ceil(n_train / batch_size))


def sized_budget(n_train: int, *, epochs: int, min_steps: int, eval_every: int, batch_size: int,
                 taper_above: int = 0) -> tuple[int, int]:
    """The epochs and the evaluation interval at one training size (MNIST's sizes, N-body's data-size study).

    The budget is ``epochs`` passes over the data, but at least ``min_steps``
    optimiser steps, so that a small training set still gets enough updates;
    where the floor adds epochs, the interval grows with them, so that every
    size is evaluated about as often (and ``patience`` means the same share of
    the budget). Above ``taper_above`` training images (0: never) the passes
    fall as the size grows, ``ceil(epochs * taper_above / n_train)``, so that
    the step budget stays what it is at ``taper_above``: at 50,000 images and
    a taper from 10,000, 5 passes instead of 25 (the budget check of
    docs/confirmatory-large.md asks whether that is enough).
    """
    check_ints("taper_above", taper_above, 0)
    if taper_above and n_train > taper_above:
        epochs = max(1, math.ceil(epochs * taper_above / n_train))
    sized = max(epochs, epochs_for_budget(min_steps, n_train, batch_size) if min_steps else 0)
    return sized, max(1, round(eval_every * sized / epochs))
