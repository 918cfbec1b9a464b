"""Verdict rules: from intervals over seeds to "supported", "not supported" or "inconclusive".

Each rule is decided before the runs it judges and tested on synthetic data
where the truth is known (``tests/test_stats.py``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .intervals import (LEVEL, Difference, beats_reference_table, bonferroni, difference_of, group_cells,
                        log_ratio, slope_difference, trend, unconverged_share)

MIN_SEEDS = 3  # fewer seeds at a point and its interval says too little to decide on
MAX_UNCONVERGED = 0.2  # a larger share of runs still improving at their last evaluation: no verdict
GROWTH_OF_INTEREST = 4.0  # the growth rule must find a ratio rising 4-fold from the smallest x to the largest
SLOPE_MARGIN = math.log(1.05)  # |trend| below 5% per dimension counts as "no growth" (equivalence margin)
VERDICTS = ("supported", "not supported", "inconclusive", "not yet measured")


def change_verdict(change: Difference, min_seeds: int = MIN_SEEDS, level: float = LEVEL) -> str:
    """Did a log ratio move between two settings? ``"grew"`` or ``"shrank"`` when the 95% interval of the change
    excludes 0 (each at most 2.5% of the time when nothing moved), ``"inconclusive"`` otherwise or with fewer
    than ``min_seeds`` seeds on either side."""
    lo, hi = change.interval(level)
    if min(change.n_a, change.n_b) < min_seeds or not np.isfinite(lo):
        return "inconclusive"
    return "grew" if lo > 0 else "shrank" if hi < 0 else "inconclusive"


def family_change_verdict(changes: dict[str, Difference], min_seeds: int = MIN_SEEDS,
                          level: float = LEVEL) -> dict:
    """Did a log ratio move anywhere in a family of changes (one per setting and dimension)?

    Each change is judged at the Bonferroni level (:func:`bonferroni`),
    so that when nothing moved, a claim of any move comes out at most 5% of the
    time. ``verdict``: "grew" or "shrank" when some changes moved beyond doubt
    and all of those the same way, "both" when they went both ways, else
    "inconclusive"; ``grew`` and ``shrank`` list the labels that moved.
    """
    if not changes:
        return {"verdict": "not yet measured", "grew": [], "shrank": [], "level": level}
    strict = bonferroni(level, len(changes))
    moved = {label: change_verdict(c, min_seeds, strict) for label, c in changes.items()}
    grew = [k for k, v in moved.items() if v == "grew"]
    shrank = [k for k, v in moved.items() if v == "shrank"]
    verdict = "both" if grew and shrank else "grew" if grew else "shrank" if shrank else "inconclusive"
    return {"verdict": verdict, "grew": grew, "shrank": shrank, "level": strict}


def equivalence_verdict(ratio: Difference, margin: float = 0.1, min_seeds: int = MIN_SEEDS,
                        level: float = LEVEL) -> str:
    """Is a ratio 1 within ``margin``? ``"equal"`` when its interval lies inside ``(1 - margin, 1 + margin)``;
    ``"above"`` / ``"below"`` when it excludes 1 on that side; else (or with thin points) ``"inconclusive"``."""
    lo, hi = ratio.interval(level)
    if min(ratio.n_a, ratio.n_b) < min_seeds or not np.isfinite(lo):
        return "inconclusive"
    if math.log(1 - margin) < lo and hi < math.log(1 + margin):
        return "equal"
    return "above" if lo > 0 else "below" if hi < 0 else "inconclusive"


def growth_verdict(table: pd.DataFrame, *, x: str = "dim", unconverged: float = 0.0, min_seeds: int = MIN_SEEDS,
                   margin: float = SLOPE_MARGIN) -> dict:
    """Does a ratio grow with ``x``? The rule for the N-body claim, decided on the log scale.

    * ``inconclusive`` when a point has fewer than ``min_seeds`` seeds, when more
      than :data:`MAX_UNCONVERGED` of the runs were still improving, or when the
      slope interval is neither above 0 nor inside ``(-margin, margin)``;
    * ``supported`` when the 95% interval of the slope of log ratio against
      ``x`` lies above 0;
    * ``not supported`` when it lies below 0 (the ratio shrinks) or wholly
      within ``(-margin, margin)`` (flat, to within 5% per unit of ``x``).

    The slope is a linear contrast of the points (:func:`trend`, not inflated by
    the line's misfit). With the committed grid's own noise it says "supported"
    at most 2% of the time under a flat ratio and at least 80% of the time at
    :data:`GROWTH_OF_INTEREST` with the cpu preset's 5 seeds
    (``tests/test_stats.py``, by :mod:`equilib.analysis.power`).

    Returns numbers and a verdict, no prose: the slope and its interval (per
    unit of ``x``, as a factor), at how many points the ratio's own interval lies
    above 1, and ``why`` (one of :data:`GROWTH_WHY`) with what it rests on:
    ``thin`` (the points with too few seeds), ``unconverged`` (the share),
    ``margin`` (as a factor per unit).
    """
    out = {"verdict": "not yet measured", "slope": np.nan, "low": np.nan, "high": np.nan, "points": len(table),
           "above_one": int((table["low"] > 1).sum()) if len(table) else 0, "why": "few points", "thin": [],
           "unconverged": unconverged, "min_seeds": min_seeds, "margin": math.exp(margin), "x": x}
    if len(table) < 3:
        return out
    fit = trend(table[x].to_numpy(float), table["log_ratio"].to_numpy(), table["se"].to_numpy(),
                table["dof"].to_numpy())
    out.update(slope=math.exp(fit.slope), low=math.exp(fit.low), high=math.exp(fit.high))
    thin = table.loc[table["seeds"] < min_seeds, x].tolist()
    if thin:
        out.update(verdict="inconclusive", why="thin", thin=thin)
    elif unconverged > MAX_UNCONVERGED:
        out.update(verdict="inconclusive", why="unconverged")
    elif fit.low > 0:
        out.update(verdict="supported", why="above zero")
    elif fit.high < 0:
        out.update(verdict="not supported", why="below zero")
    elif -margin < fit.low and fit.high < margin:
        out.update(verdict="not supported", why="flat")
    else:
        out.update(verdict="inconclusive", why="straddles")
    return out


GROWTH_WHY = ("few points", "thin", "unconverged", "above zero", "below zero", "flat", "straddles")


def budget_check(runs: pd.DataFrame, numerator: str = "gnn", denominator: str = "egnn",
                 metric: str = "test_at_best_val", level: float = LEVEL, *, column: str = "model",
                 by: str = "dim") -> pd.DataFrame:
    """Per point (``by``: N-body's dimension, MNIST's training size): the ratio of ``numerator`` over
    ``denominator`` (values of ``column``: N-body's models, MNIST's groups) at each budget factor, and its
    change from the budget B to the largest factor.

    ``runs`` carry a ``budget_factor`` column (1 for B). ``change`` is the ratio
    at the largest factor over the ratio at B (a factor), with its Welch
    interval (``low``, ``high``) and the fewer seeds of the two (``seeds``); the
    change as a :class:`Difference` of log ratios is in ``difference``.
    """
    rows = []
    top = runs["budget_factor"].max()
    points, factors = runs[by].to_numpy(), runs["budget_factor"].to_numpy()
    labels, values = runs[column].to_numpy(), runs[metric].to_numpy()
    finished = (runs["status"] == "finished").to_numpy()
    for point in np.unique(points):  # arrays, not groupbys: the power simulations call this thousands of times
        row: dict = {by: point}
        ratios = {}
        here = points == point
        for factor in np.unique(factors[here]):
            at = here & (factors == factor) & finished
            ratios[factor] = log_ratio(values[at & (labels == numerator)], values[at & (labels == denominator)])
            row[f"ratio x{factor:g}"] = math.exp(ratios[factor].estimate)
        change = difference_of(ratios[top], ratios[1.0]) if 1.0 in ratios and top != 1.0 else None
        lo, hi = change.interval(level) if change is not None else (np.nan, np.nan)
        row.update(change=math.exp(change.estimate) if change is not None else np.nan, low=math.exp(lo),
                   high=math.exp(hi), seeds=min(change.n_a, change.n_b) if change is not None else 0,
                   difference=change)
        rows.append(row)
    return pd.DataFrame(rows)


BUDGET_MARGIN = 1.25  # the budget is long enough where the longer budget moves the ratio by less than 25%


def budget_verdict(table: pd.DataFrame, margin: float = BUDGET_MARGIN, min_seeds: int = MIN_SEEDS,
                   level: float = LEVEL) -> dict:
    """Is the budget long enough? An equivalence question on :func:`budget_check`'s changes, both ways.

    (Dimensions below are :func:`budget_check`'s points: MNIST's training sizes.)
    ``supported`` when every dimension's 90% interval of the change lies inside
    ``(1 / margin, margin)`` (two one-sided tests at 5% each, and an
    intersection-union test over dimensions: at most 5% when some change is at
    the margin); ``not supported`` when some dimension's change
    lies beyond the margin (either side) at the Bonferroni level over
    dimensions; ``inconclusive`` otherwise, or with fewer than ``min_seeds``
    seeds on either side of a change. Also returned: how many dimensions were
    shown inside (``within``) and beyond (``beyond``) the margin.
    """
    if margin <= 1 or not math.isfinite(margin):
        raise ValueError(f"margin must be a factor > 1, got {margin!r}")
    changes = [d for d in table.get("difference", pd.Series(dtype=object)) if d is not None]
    out = {"verdict": "not yet measured", "within": 0, "beyond": 0, "dims": len(changes), "margin": margin}
    if not changes:
        return out
    m, strict = math.log(margin), bonferroni(level, len(changes))
    bounds = [d.interval(1 - 2 * (1 - level)) for d in changes]  # TOST: each side at 1 - level
    out["within"] = sum(-m < lo and hi < m for lo, hi in bounds)
    out["beyond"] = sum(lo > m or hi < -m for lo, hi in (d.interval(strict) for d in changes))
    if min(min(d.n_a, d.n_b) for d in changes) < min_seeds or any(not np.isfinite(lo) for lo, _ in bounds):
        return {**out, "verdict": "inconclusive"}
    if out["beyond"]:
        return {**out, "verdict": "not supported"}
    return {**out, "verdict": "supported" if out["within"] == len(changes) else "inconclusive"}


SLOPE_EQUIVALENCE = 0.1  # scaling slopes within +-0.1 on log-log axes count as "similar"


def _points_check(runs: pd.DataFrame, groups: list[str], min_seeds: int) -> tuple[list[tuple], dict]:
    """What stands in the way of a verdict: the thin points and the unconverged groups (both empty when nothing)."""
    return _thin_points(runs, groups, min_seeds), unconverged_groups(runs, groups)


def _thin_points(runs: pd.DataFrame, groups: list[str], min_seeds: int) -> list[tuple[str, str, int, int]]:
    """(variant, group, size, seeds) of every point of ``groups`` with fewer than ``min_seeds`` finished seeds."""
    finished = runs[runs["status"] == "finished"]
    counts = finished[finished["group"].isin(groups)].groupby(["variant", "group", "n_train"])["seed"].nunique()
    return [(v, g, int(n), int(k)) for (v, g, n), k in counts[counts < min_seeds].items()]


def unconverged_shares(runs: pd.DataFrame, groups: list[str]) -> dict[tuple[str, str], float]:
    """(variant, group) -> share of its finished runs still improving at their last evaluation.

    Each group on its own: converged groups must not hide one that was still improving.
    """
    finished = runs[(runs["status"] == "finished") & runs["group"].isin(groups)]
    return {(v, g): unconverged_share(cell) for (v, g), cell in finished.groupby(["variant", "group"])}


def unconverged_groups(runs: pd.DataFrame, groups: list[str]) -> dict[tuple[str, str], float]:
    """The groups of :func:`unconverged_shares` over :data:`MAX_UNCONVERGED`: what holds back every MNIST verdict."""
    return {key: share for key, share in unconverged_shares(runs, groups).items() if share > MAX_UNCONVERGED}


LOWEST_MARGIN = 0.1  # "the best group" within 10% of the error rate: a closer tie is a tie, not a loss
GROUP_WHY = ("nothing to compare", "thin", "unconverged", "beaten", "best", "worse", "better", "apart", "similar",
             "undecided", "no intervals")


def lowest_group_verdict(runs: pd.DataFrame, variant: str, group: str, metric: str = "test_at_best_val",
                         margin: float = LOWEST_MARGIN, min_seeds: int = MIN_SEEDS, level: float = LEVEL) -> dict:
    """Is ``group`` the best group of ``variant`` at every training size, to within ``margin``?

    At each size, the log error of every other group minus ``group``'s, with a
    Welch interval over seeds. *Supported* when no other group is lower by more
    than ``margin`` at any size: every difference's one-sided bound (the 90%
    interval's lower end) lies above ``log(1 - margin)`` (an intersection-union
    test, at most 5% when some group is better by exactly the margin). *Not
    supported* when some other group is lower by more than the margin beyond
    doubt (its interval below ``log(1 - margin)`` at the Bonferroni level over
    all comparisons). Else *inconclusive*, as when a point has fewer than
    ``min_seeds`` seeds or too many runs were still improving. Two groups whose
    errors differ by 1% are tied, and a tie says the matching group is as good as
    the best; which of them is lower would take hundreds of seeds.

    Numbers and a verdict, no prose: ``why`` (one of :data:`GROUP_WHY`),
    ``beaten`` (the (size, group) lower by more than the margin), ``behind``
    (comparisons not shown within it), ``lowest_at`` (sizes where ``group`` is
    lower than every other beyond doubt at 95%), ``thin`` and ``unconverged``.
    """
    if not 0 < margin < 1:
        raise ValueError(f"margin must be a fraction in (0, 1), got {margin!r}")
    df = runs[(runs["status"] == "finished") & (runs["variant"] == variant)]
    others = sorted(set(df["group"]) - {group})
    sizes = sorted(df.loc[df["group"] == group, "n_train"].unique())
    out = {"verdict": "not yet measured", "why": "nothing to compare", "variant": variant, "group": group,
           "sizes": len(sizes), "comparisons": 0, "margin": margin, "beaten": [], "behind": 0, "lowest_at": 0,
           "thin": [], "unconverged": {}, "min_seeds": min_seeds}
    if not sizes or not others:
        return out
    thin, over = _points_check(df, [group, *others], min_seeds)
    cells, none = group_cells(df, metric), np.empty(0)
    comparisons = [(n, g, log_ratio(cells.get((variant, g, n), none), cells[variant, group, n]))
                   for n in sizes for g in others]
    floor, strict, one_sided = math.log(1 - margin), bonferroni(level, len(comparisons)), 1 - 2 * (1 - level)
    # a loss counts only between converged groups; an unconverged group elsewhere cannot undo it
    beaten = [(int(n), g) for n, g, r in comparisons if r.interval(strict)[1] < floor
              and (variant, group) not in over and (variant, g) not in over]
    behind = [(n, g) for n, g, r in comparisons if not r.interval(one_sided)[0] > floor]
    out.update(comparisons=len(comparisons), beaten=beaten, behind=len(behind), thin=thin, unconverged=over,
               lowest_at=sum(all(r.interval(level)[0] > 0 for m, _, r in comparisons if m == n) for n in sizes))
    if thin:
        return {**out, "verdict": "inconclusive", "why": "thin"}
    if beaten:
        return {**out, "verdict": "not supported", "why": "beaten"}
    if over:
        return {**out, "verdict": "inconclusive", "why": "unconverged"}
    if not behind:
        return {**out, "verdict": "supported", "why": "best"}
    return {**out, "verdict": "inconclusive", "why": "undecided"}


def beats_reference_verdict(runs: pd.DataFrame, variant: str, group: str, reference: str = "trivial",
                            metric: str = "test_at_best_val", min_seeds: int = MIN_SEEDS,
                            level: float = LEVEL) -> dict:
    """Does ``group`` beat ``reference`` at every training size? Supported when the error ratio's interval
    lies above 1 at every size; not supported when it lies below 1 at some size at the Bonferroni level over
    sizes; else inconclusive (also for thin or unconverged points). Numbers and a verdict: ``why`` (one of
    :data:`GROUP_WHY`), ``worse`` (the sizes where ``reference`` is better beyond doubt), ``better_at``."""
    df = runs[(runs["status"] == "finished") & (runs["variant"] == variant)]
    table = beats_reference_table(df, variant, reference, metric, level)
    table = table[table["group"] == group]
    out = {"verdict": "not yet measured", "why": "nothing to compare", "variant": variant, "group": group,
           "reference": reference, "sizes": len(table), "better_at": 0, "worse": [], "thin": [], "unconverged": {},
           "min_seeds": min_seeds}
    if table.empty:
        return out
    strict = bonferroni(level, len(table))
    thin, over = _points_check(df, [group, reference], min_seeds)
    out.update(better_at=int((table["low"] > 1).sum()), thin=thin, unconverged=over,
               worse=[int(n) for n, r in zip(table["n_train"], table["difference"]) if r.interval(strict)[1] < 0])
    if thin:
        return {**out, "verdict": "inconclusive", "why": "thin"}
    if over:
        return {**out, "verdict": "inconclusive", "why": "unconverged"}
    if out["worse"]:
        return {**out, "verdict": "not supported", "why": "worse"}
    if out["better_at"] == len(table):
        return {**out, "verdict": "supported", "why": "better"}
    return {**out, "verdict": "inconclusive", "why": "undecided"}


def similar_slopes_verdict(runs: pd.DataFrame, variants: list[str], reference: str = "trivial",
                           metric: str = "test_at_best_val", margin: float = SLOPE_EQUIVALENCE,
                           min_seeds: int = MIN_SEEDS, level: float = LEVEL) -> dict:
    """Do the equivariant groups scale with the plain CNN's slope? Equivalence within ``margin``, both ways.

    *Supported* when every group's slope-difference interval lies inside
    ``(-margin, margin)``; *not supported* when some group's interval lies
    wholly outside it (beyond the margin, at the Bonferroni level over all
    groups and variants); else *inconclusive*. The margin is the question, so
    both answers are judged against it: a difference that is real but smaller
    than the margin (0.05, say) counts toward "similar", never against it.
    Numbers and a verdict: ``why`` (one of :data:`GROUP_WHY`), ``apart`` (the
    (variant, group, difference) beyond the margin), ``within_margin``.
    """
    diffs = []
    for variant in variants:
        df = runs[runs["variant"] == variant]
        for group in sorted(set(df["group"]) - {reference}):
            diffs.append((variant, group, slope_difference(runs, variant, group, reference, metric)))
    out = {"verdict": "not yet measured", "why": "nothing to compare", "groups": len(diffs), "within_margin": 0,
           "apart": [], "margin": margin, "thin": [], "unconverged": {}, "min_seeds": min_seeds}
    if not diffs:
        return out
    compared, groups = runs[runs["variant"].isin(variants)], sorted(set(runs["group"]))
    thin, over = _points_check(compared, groups, min_seeds)
    bounds = [d.interval(level) for *_, d in diffs]
    strict = bonferroni(level, len(diffs))
    # a difference counts only between converged groups; an unconverged group elsewhere cannot undo it
    apart = [(variant, group, d.estimate) for variant, group, d in diffs
             if (d.interval(strict)[0] > margin or d.interval(strict)[1] < -margin)
             and (variant, group) not in over and (variant, reference) not in over]
    out.update(within_margin=sum(-margin < lo and hi < margin for lo, hi in bounds), thin=thin, unconverged=over,
               apart=apart)
    if thin:
        return {**out, "verdict": "inconclusive", "why": "thin"}
    if any(not np.isfinite(lo) for lo, _ in bounds):
        return {**out, "verdict": "inconclusive", "why": "no intervals"}
    if apart:
        return {**out, "verdict": "not supported", "why": "apart"}
    if over:
        return {**out, "verdict": "inconclusive", "why": "unconverged"}
    if out["within_margin"] == len(diffs):
        return {**out, "verdict": "supported", "why": "similar"}
    return {**out, "verdict": "inconclusive", "why": "undecided"}


CAPACITY_MARGIN = 0.05  # slope differences within +-0.05 on log-log axes count as none at all


def capacity_verdict(small: Difference, large: Difference, margin: float = CAPACITY_MARGIN,
                     min_seeds: int = MIN_SEEDS, level: float = LEVEL) -> dict:
    """Is a slope difference (a group's scaling slope minus the plain CNN's) a small-model effect?

    Judged on the larger model's difference: "survives" when its interval lies
    above 0 (the group still scales differently; it may have shrunk, and
    ``change``, the larger minus the smaller with its interval, says by how much);
    "vanishes" when its interval lies inside ``(-margin, margin)`` (no
    difference worth the name: the smaller model's was a capacity effect); else
    "inconclusive", as with fewer than ``min_seeds`` seeds. Each wrong answer
    comes out at most 2.5% of the time at the boundary of its truth (0 for
    "survives", the margin for "vanishes"). Numbers and a verdict, no prose.
    """
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin!r}")
    change = difference_of(large, small)
    lo, hi = large.interval(level)
    change_lo, change_hi = change.interval(level)
    out = {"large": large.estimate, "low": lo, "high": hi, "small": small.estimate, "change": change.estimate,
           "change_low": change_lo, "change_high": change_hi, "margin": margin}
    if min(large.n_a, large.n_b) < min_seeds or not np.isfinite(lo):
        return {**out, "verdict": "inconclusive", "why": "thin"}
    if lo > 0:
        return {**out, "verdict": "survives", "why": "above zero"}
    if -margin < lo and hi < margin:
        return {**out, "verdict": "vanishes", "why": "within margin"}
    return {**out, "verdict": "inconclusive", "why": "straddles"}
