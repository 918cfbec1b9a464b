"""How often a verdict rule gives each of its answers when the truth is known: its size and its power.

A rule is judged on synthetic stores drawn like the real one: each cell (one
model at one point of a study) lognormal, with the mean and SD of its log metric
taken from the committed runs (:func:`log_cells`) or set by the question
(:func:`with_log_ratios`), and as many seeds as the preset trains. The same draws
serve the tests (a rule's size at most 5% under its null, its power at least 80%
at the effect it exists to find, every answer reachable) and the pages (how often
the rule says what it said, at the effect seen).
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from .intervals import t_quantile

HONEST = "test_at_best_val"


def log_cells(runs: pd.DataFrame, by: Sequence[str] = ("dim",), metric: str = HONEST) -> pd.DataFrame:
    """Per (point, model): mean and SD (ddof 1) of the log metric over the finished runs, and their count."""
    finished = runs[runs["status"] == "finished"]
    logs = finished.assign(log=np.log(finished[metric].astype(float)))
    cells = logs.groupby([*by, "model"])["log"].agg(mean="mean", sd="std", seeds="count").reset_index()
    if (cells["seeds"] < 2).any():
        thin = cells.loc[cells["seeds"] < 2, [*by, "model"]].to_dict("records")
        raise ValueError(f"a cell needs 2 seeds or more for its spread; these have one: {thin}")
    return cells


def _check_factors(factors: Mapping) -> None:
    """A truth moves a ratio by a factor: a positive, finite number (1 is no move)."""
    bad = {k: v for k, v in factors.items()
           if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (math.isfinite(v) and v > 0)}
    if bad:
        raise ValueError(f"an effect is a factor on a ratio and must be a positive, finite number (1: no change); "
                         f"got {bad}")


def with_log_ratios(cells: pd.DataFrame, numerator: str, denominator: str, log_ratios: Mapping,
                    by: str = "dim") -> pd.DataFrame:
    """``cells`` with the numerator's mean moved so that numerator / denominator is ``exp(log_ratios[point])``.

    Each cell keeps its own spread, so a question's truth is set while the
    store's noise stays what it is.
    """
    missing = sorted(set(cells[by]) - set(log_ratios))
    if missing:
        raise ValueError(f"log_ratios has no value for {by} = {missing}")
    out = cells.copy()
    den = out[out["model"] == denominator].set_index(by)["mean"]
    num = out["model"] == numerator
    out.loc[num, "mean"] = [den[p] + log_ratios[p] for p in out.loc[num, by]]
    return out


def with_rise(cells: pd.DataFrame, numerator: str, denominator: str, factor: float,
              by: str = "dim") -> pd.DataFrame:
    """``cells`` with numerator / denominator rising log-linearly by ``factor`` from the smallest ``by`` to the
    largest (1 at the smallest): the growth rule's truths, from "no rise" (``factor=1``) to its effect of interest."""
    _check_factors({"factor": factor})
    points = sorted(cells[by].unique())
    span = points[-1] - points[0]
    return with_log_ratios(cells, numerator, denominator,
                           {p: math.log(factor) * (p - points[0]) / span for p in points}, by=by)


def with_changes(cells: pd.DataFrame, numerator: str, denominator: str, changes: Mapping[tuple, float], *,
                 at: str, reference, within: str = "dim", points: Sequence | None = None) -> pd.DataFrame:
    """``cells`` with numerator / denominator at each (``at``, ``within``) point set to its ratio at
    (``reference``, ``within``) times ``changes.get((at value, within value), 1)``: a study whose settings
    (``at``: breaking settings, horizons, budget factors) move the ratio only as ``changes`` says.

    ``points`` are the ``at`` values so set (default: all but ``reference``); each cell keeps its own spread.
    """
    _check_factors(changes)
    out = cells.copy()
    mean = out.set_index([at, within, "model"])["mean"]
    moved = (out["model"] == numerator) & (out[at].isin(points) if points is not None else out[at] != reference)
    out.loc[moved, "mean"] = [mean[(a, w, denominator)] + mean[(reference, w, numerator)]
                              - mean[(reference, w, denominator)] + math.log(changes.get((a, w), 1.0))
                              for a, w in zip(out.loc[moved, at], out.loc[moved, within])]
    return out


def draw_runs(cells: pd.DataFrame, seeds: int, rng: np.random.Generator, by: Sequence[str] = ("dim",),
              metric: str = HONEST) -> pd.DataFrame:
    """One synthetic store: ``seeds`` finished, converged runs per cell, the metric lognormal as the cell says."""
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    n = len(cells)
    noise = rng.standard_normal((n, seeds))
    values = np.exp(cells["mean"].to_numpy()[:, None] + cells["sd"].to_numpy()[:, None] * noise)
    rows = np.repeat(np.arange(n), seeds)
    return pd.DataFrame({**{c: cells[c].to_numpy()[rows] for c in (*by, "model")},
                         "seed": np.tile(np.arange(seeds), n), "status": "finished", metric: values.ravel(),
                         "epochs_done": 10, "best_val_epoch": 5, "best_at_last_eval": False})


def answer_rates(judge: Callable[[pd.DataFrame], str], cells: pd.DataFrame, seeds: int, *, repeats: int = 1000,
                 seed: int = 0, answers: Sequence[str] = (), by: Sequence[str] = ("dim",),
                 metric: str = HONEST) -> dict[str, float]:
    """The share of ``repeats`` synthetic stores on which ``judge`` gives each answer (``answers`` listed first,
    at 0 when never given)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rng = np.random.default_rng(seed)
    said = pd.Series([judge(draw_runs(cells, seeds, rng, by, metric)) for _ in range(repeats)])
    rates = said.value_counts(normalize=True).to_dict()
    return {**{a: 0.0 for a in answers}, **{k: float(v) for k, v in rates.items()}}


def detectable_change(se: float, dof: float, level: float, power: float = 0.8) -> float:
    """The smallest factor by which a log ratio must move for its interval at ``level`` to exclude no change
    ``power`` of the time (either way), at the standard error ``se`` and Welch ``dof`` the data gave it.

    The usual sample-size formula, ``exp((t_level + t_power) * se)``: what a row of
    seeds could have found, so that an "inconclusive" says how large a change it
    could not rule out. NaN where the interval is not defined (fewer than 2 seeds).
    """
    if not 0 < level < 1 or not 0 < power < 1:
        raise ValueError(f"level and power must lie in (0, 1), got level={level!r}, power={power!r}")
    if not (se > 0 and math.isfinite(se) and dof > 0 and math.isfinite(dof)):
        return math.nan
    return math.exp((t_quantile(0.5 + level / 2, dof) + t_quantile(power, dof)) * se)
