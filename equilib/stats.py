"""Every statistic the book reports: intervals over seeds, ratio fits, and the rules that turn them into verdicts.

One module, used by the figures and by the claims, so a number drawn in a chart
and the verdict stated beside it come from the same computation. Each rule is
fixed before looking at the data, says ``inconclusive`` when the data cannot
decide, and is tested on synthetic data where the truth is known
(``tests/test_stats.py``): under "no effect", ``supported`` comes out at most
5% of the time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

LEVEL = 0.95
MIN_SEEDS = 3  # fewer seeds at a point and its interval says too little to decide on
MAX_UNCONVERGED = 0.2  # a larger share of runs still improving at their last evaluation: no verdict
SLOPE_MARGIN = math.log(1.05)  # |trend| below 5% per dimension counts as "no growth" (equivalence margin)
VERDICTS = ("supported", "not supported", "inconclusive", "not yet measured")


def mean_ci(values: np.ndarray | pd.Series, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval (the interval is NaN with fewer than two values)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if x.size < 2:
        return m, np.nan, np.nan
    half = float(sps.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, m - half, m + half


def geometric_ci(values: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Geometric mean with a t-interval on the log scale (errors are positive and skewed)."""
    m, lo, hi = mean_ci(np.log(np.asarray(values, float)), level)
    return float(np.exp(m)), float(np.exp(lo)), float(np.exp(hi))


@dataclass(frozen=True)
class Difference:
    """A difference of two independent samples' means, its standard error and Welch degrees of freedom."""

    estimate: float
    se: float
    dof: float
    n_a: int
    n_b: int

    def interval(self, level: float = LEVEL) -> tuple[float, float]:
        if not (self.se > 0 and math.isfinite(self.dof)):
            return (self.estimate, self.estimate) if self.se == 0 else (np.nan, np.nan)
        half = sps.t.ppf(0.5 + level / 2, self.dof) * self.se
        return self.estimate - half, self.estimate + half


def welch_difference(a: np.ndarray, b: np.ndarray) -> Difference:
    """``mean(a) - mean(b)`` with Welch's standard error and degrees of freedom (non-finite values dropped)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return Difference(np.nan, np.nan, np.nan, a.size, b.size)
    d = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return Difference(d, np.nan, np.nan, a.size, b.size)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if se > 0 else math.inf
    return Difference(d, se, dof, a.size, b.size)


def difference_of(a: Difference, b: Difference) -> Difference:
    """``a - b`` for two independent estimates (say, two log ratios), Welch-Satterthwaite degrees of freedom."""
    se = math.hypot(a.se, b.se)
    terms = [d.se ** 4 / d.dof for d in (a, b) if d.se > 0 and math.isfinite(d.dof)]
    dof = se ** 4 / sum(terms) if terms and se > 0 else np.nan
    return Difference(a.estimate - b.estimate, se, dof, min(a.n_a, a.n_b), min(b.n_a, b.n_b))


def change_verdict(change: Difference, min_seeds: int = MIN_SEEDS, level: float = LEVEL) -> str:
    """Did a log ratio move between two settings? ``"grew"`` or ``"shrank"`` when the 95% interval of the change
    excludes 0 (each at most 2.5% of the time when nothing moved), ``"inconclusive"`` otherwise or with fewer
    than ``min_seeds`` seeds on either side."""
    lo, hi = change.interval(level)
    if min(change.n_a, change.n_b) < min_seeds or not np.isfinite(lo):
        return "inconclusive"
    return "grew" if lo > 0 else "shrank" if hi < 0 else "inconclusive"


def bonferroni(level: float, comparisons: int) -> float:
    """The confidence level of each of ``comparisons`` intervals, so that all hold together at ``level``."""
    return 1 - (1 - level) / comparisons


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


def log_ratio(a: np.ndarray, b: np.ndarray) -> Difference:
    """The log ratio of the geometric means of two independent samples (seeds are independent runs)."""
    return welch_difference(np.log(np.asarray(a, float)), np.log(np.asarray(b, float)))


def log_ratio_ci(a: np.ndarray, b: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Ratio of geometric means ``a / b`` with a Welch t-interval on the log scale."""
    r = log_ratio(a, b)
    lo, hi = r.interval(level)
    return float(np.exp(r.estimate)), float(np.exp(lo)), float(np.exp(hi))


def ratio_table(runs: pd.DataFrame, numerator: str, denominator: str, metric: str = "test_at_best_val",
                by: str = "dim") -> pd.DataFrame:
    """``metric`` of model ``numerator`` over model ``denominator`` per value of ``by``, with 95% intervals.

    Columns: ``by``, ratio, low, high, log_ratio, se, dof, seeds (the smaller of the two models' counts).
    """
    rows = []
    finished = runs[runs["status"] == "finished"]
    for key, at in finished.groupby(by):
        a = at.loc[at["model"] == numerator, metric].to_numpy()
        b = at.loc[at["model"] == denominator, metric].to_numpy()
        if a.size == 0 or b.size == 0:
            continue
        r = log_ratio(a, b)
        lo, hi = r.interval()
        rows.append({by: key, "ratio": math.exp(r.estimate), "low": math.exp(lo), "high": math.exp(hi),
                     "log_ratio": r.estimate, "se": r.se, "dof": r.dof, "seeds": min(r.n_a, r.n_b)})
    return pd.DataFrame(rows, columns=[by, "ratio", "low", "high", "log_ratio", "se", "dof", "seeds"])


@dataclass(frozen=True)
class Trend:
    """A straight line through per-point estimates: ``y = intercept + slope * x``, with a 95% slope interval."""

    slope: float
    low: float
    high: float
    points: int


def trend(x: np.ndarray, y: np.ndarray, se: np.ndarray, dof: np.ndarray | None = None,
          level: float = LEVEL) -> Trend:
    """Least-squares slope of ``y`` on ``x``, its interval from the points' own standard errors ``se``.

    The slope is a fixed combination of the points, so its variance is the
    points' variances carried through the fit, with Satterthwaite's degrees of
    freedom from each point's ``dof`` (default: infinite). When the points
    scatter about the line more than their errors allow (reduced chi-square
    above 1), the error is scaled up by its square root, so a line that does
    not fit gets a wider interval, never a narrower one.
    """
    x, y, se = (np.asarray(v, float) for v in (x, y, se))
    dof = np.full(x.size, np.inf) if dof is None else np.asarray(dof, float)
    k = x.size
    if k < 3 or np.unique(x).size < 2 or not np.all(np.isfinite(se)):
        return Trend(np.nan, np.nan, np.nan, k)
    xc = x - x.mean()
    weights = xc / float((xc * xc).sum())  # slope = sum(weights * y)
    slope = float((weights * y).sum())
    terms = weights * weights * se * se
    var = float(terms.sum())
    if var == 0:
        return Trend(slope, slope, slope, k)
    resid = y - y.mean() - slope * xc
    chi2 = float((resid * resid / np.where(se > 0, se * se, np.inf)).sum()) / (k - 2)
    spread = float((terms * terms / dof).sum())
    quantile = sps.t.ppf(0.5 + level / 2, var * var / spread) if spread > 0 else sps.norm.ppf(0.5 + level / 2)
    half = quantile * math.sqrt(var * max(1.0, chi2))
    return Trend(slope, slope - half, slope + half, k)


def improving_at_end(runs: pd.DataFrame) -> pd.Series:
    """Per trained run: was its best validation at its last evaluation (so more steps might still help)?"""
    trained = runs[(runs["status"] == "finished") & (runs["epochs_done"] > 0)]
    flag = trained["best_at_last_eval"].astype("boolean")  # missing in runs stored before the flag existed
    return flag.fillna(trained["best_val_epoch"] == trained["epochs_done"]).astype(bool)


def unconverged_share(runs: pd.DataFrame) -> float:
    """The share of trained runs still improving at their last evaluation (0 when none were trained)."""
    improving = improving_at_end(runs)
    return float(improving.mean()) if len(improving) else 0.0


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

    Also returned: the slope and its interval (per unit of ``x``, as a factor),
    and at how many points the ratio's own interval lies above 1.
    """
    out = {"verdict": "not yet measured", "slope": np.nan, "low": np.nan, "high": np.nan, "points": len(table),
           "above_one": int((table["low"] > 1).sum()) if len(table) else 0, "reason": ""}
    if len(table) < 3:
        out["reason"] = "fewer than three points"
        return out
    fit = trend(table[x].to_numpy(float), table["log_ratio"].to_numpy(), table["se"].to_numpy(),
                table["dof"].to_numpy())
    out.update(slope=math.exp(fit.slope), low=math.exp(fit.low), high=math.exp(fit.high))
    thin = table.loc[table["seeds"] < min_seeds, x].tolist()
    if thin:
        out.update(verdict="inconclusive", reason=f"fewer than {min_seeds} seeds at {x} = {thin}")
    elif unconverged > MAX_UNCONVERGED:
        out.update(verdict="inconclusive",
                   reason=f"{unconverged:.0%} of runs still improving at their last evaluation "
                          f"(more than {MAX_UNCONVERGED:.0%})")
    elif fit.low > 0:
        out.update(verdict="supported", reason="the slope's interval lies above 0")
    elif fit.high < 0:
        out.update(verdict="not supported", reason="the slope's interval lies below 0: the ratio shrinks")
    elif -margin < fit.low and fit.high < margin:
        out.update(verdict="not supported",
                   reason=f"the slope's interval lies within +-{math.exp(margin) - 1:.0%} per unit: flat")
    else:
        out.update(verdict="inconclusive", reason="the slope's interval straddles 0 and the equivalence margin")
    return out


def budget_check(runs: pd.DataFrame, numerator: str = "gnn", denominator: str = "egnn",
                 metric: str = "test_at_best_val") -> pd.DataFrame:
    """Is the budget B long enough? Per dimension, is the ratio at B inside the 95% interval of the ratio at 2B?

    ``runs`` carry a ``budget_factor`` column (1 for B). Returns one row per
    dimension with the ratio at each factor, the interval at the largest, and ``ok``.
    """
    rows = []
    top = runs["budget_factor"].max()
    for dim, at in runs.groupby("dim"):
        row: dict = {"dim": dim}
        for factor, g in at.groupby("budget_factor"):
            t = ratio_table(g, numerator, denominator, metric)
            row[f"ratio x{factor:g}"] = float(t["ratio"].iloc[0]) if len(t) else np.nan
            if factor == top and len(t):
                row["low"], row["high"] = float(t["low"].iloc[0]), float(t["high"].iloc[0])
        at_b = row.get("ratio x1", np.nan)
        row["ok"] = bool(row.get("low", np.nan) <= at_b <= row.get("high", np.nan))
        rows.append(row)
    return pd.DataFrame(rows)


def power_law_fits(runs: pd.DataFrame, protocol: str = "test_at_best_val", n_min: int = 0,
                   n_max: int | None = None, level: float = LEVEL) -> pd.DataFrame:
    """Slope b of ``error = a n^b`` per (variant, group), by least squares on log-log over every seed's point."""
    rows = []
    df = runs[runs["status"] == "finished"]
    df = df[(df["n_train"] >= n_min) & (df["n_train"] <= (n_max or df["n_train"].max()))]
    for (variant, group), g in df.groupby(["variant", "group"]):
        x, y = np.log(g["n_train"].to_numpy(float)), np.log(g[protocol].clip(lower=1e-4).to_numpy(float))
        row = {"variant": variant, "group": group, "points": len(x), "sizes": int(g["n_train"].nunique()),
               "slope": np.nan, "low": np.nan, "high": np.nan}
        if np.unique(x).size >= 2:
            fit = sps.linregress(x, y)
            row["slope"] = fit.slope
            if len(x) > 2:
                half = sps.t.ppf(0.5 + level / 2, len(x) - 2) * fit.stderr
                row["low"], row["high"] = fit.slope - half, fit.slope + half
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- group comparisons (rotated MNIST)

SLOPE_EQUIVALENCE = 0.1  # scaling slopes within +-0.1 on log-log axes count as "similar"


def _cell(runs: pd.DataFrame, variant: str, group: str, n: int, metric: str) -> np.ndarray:
    at = runs[(runs["variant"] == variant) & (runs["group"] == group) & (runs["n_train"] == n)]
    return at[metric].clip(lower=1e-4).to_numpy(float)


def _check_points(runs: pd.DataFrame, groups: list[str], min_seeds: int) -> str:
    """Why no verdict can be given ('' when it can): thin points or unconverged runs."""
    return _thin_points(runs, groups, min_seeds) or _unconverged_reason(_unconverged(runs, groups))


def _thin_points(runs: pd.DataFrame, groups: list[str], min_seeds: int) -> str:
    finished = runs[runs["status"] == "finished"]
    counts = finished[finished["group"].isin(groups)].groupby(["variant", "group", "n_train"])["seed"].nunique()
    thin = counts[counts < min_seeds]
    if len(thin):
        v, g, n = thin.index[0]
        return f"fewer than {min_seeds} seeds at {len(thin)} point(s), e.g. {g} on {v} at n = {n} ({thin.iloc[0]})"
    return ""


def _unconverged(runs: pd.DataFrame, groups: list[str]) -> dict[tuple[str, str], float]:
    """(variant, group) -> share still improving, for each group over :data:`MAX_UNCONVERGED`.

    Each group on its own: converged groups must not hide one that was still improving.
    """
    finished = runs[(runs["status"] == "finished") & runs["group"].isin(groups)]
    shares = {key: unconverged_share(g) for key, g in finished.groupby(["variant", "group"])}
    return {key: share for key, share in shares.items() if share > MAX_UNCONVERGED}


def _unconverged_reason(over: dict[tuple[str, str], float]) -> str:
    if not over:
        return ""
    said = ", ".join(f"{g} on {v} ({share:.0%})" for (v, g), share in over.items())
    return f"runs still improving at their last evaluation in more than {MAX_UNCONVERGED:.0%}: {said}"


def lowest_group_verdict(runs: pd.DataFrame, variant: str, group: str, metric: str = "test_at_best_val",
                         min_seeds: int = MIN_SEEDS, level: float = LEVEL) -> dict:
    """Is ``group`` the lowest-error group of ``variant`` at every training size?

    At each size, the log error of every other group minus ``group``'s, with a
    Welch interval over seeds. *Supported* when every such interval, at every
    size, lies above 0 (an intersection-union test: valid at 5% without
    correction). *Not supported* when some other group is lower beyond doubt:
    an interval below 0 at the Bonferroni level 5% / (number of comparisons),
    so that equal groups trigger it at most 5% of the time. Else
    *inconclusive*, as when a point has fewer than ``min_seeds`` seeds or too
    many runs were still improving.
    """
    df = runs[(runs["status"] == "finished") & (runs["variant"] == variant)]
    others = sorted(set(df["group"]) - {group})
    sizes = sorted(df.loc[df["group"] == group, "n_train"].unique())
    if not sizes or not others:
        return {"verdict": "not yet measured", "reason": f"no {group} runs, or nothing to compare with, on {variant}",
                "sizes": 0}
    judged = [group, *others]
    thin, over = _thin_points(df, judged, min_seeds), _unconverged(df, judged)
    comparisons = [(n, g, log_ratio(_cell(df, variant, g, n, metric), _cell(df, variant, group, n, metric)))
                   for n in sizes for g in others]
    strict = bonferroni(level, len(comparisons))
    # a loss counts only between converged groups; an unconverged group elsewhere cannot undo it
    beaten = [(n, g) for n, g, r in comparisons if r.interval(strict)[1] < 0
              and (variant, group) not in over and (variant, g) not in over]
    wins_everywhere = all(r.interval(level)[0] > 0 for _, _, r in comparisons)
    out = {"sizes": len(sizes), "comparisons": len(comparisons),
           "lowest_at": sum(all(r.interval(level)[0] > 0 for m, _, r in comparisons if m == n) for n in sizes)}
    if thin:
        return {**out, "verdict": "inconclusive", "reason": thin}
    if beaten:
        n, g = beaten[0]
        more = f" and {len(beaten) - 1} more" if len(beaten) > 1 else ""
        return {**out, "verdict": "not supported", "reason": f"{g} is lower beyond doubt at n = {n:,}{more}"}
    if over:
        return {**out, "verdict": "inconclusive", "reason": _unconverged_reason(over)}
    if wins_everywhere:
        return {**out, "verdict": "supported", "reason": f"lower than each of {len(others)} groups at every size"}
    return {**out, "verdict": "inconclusive", "reason": f"clearly lowest at {out['lowest_at']} of {len(sizes)} sizes; "
                                                        "elsewhere the intervals overlap"}


def beats_reference_table(runs: pd.DataFrame, variant: str, reference: str = "trivial",
                          metric: str = "test_at_best_val", level: float = LEVEL,
                          invert: bool = False) -> pd.DataFrame:
    """Per (group, size): the reference's error over the group's (> 1: the group is better), with 95% intervals
    (``difference`` holds the log ratio as a :class:`Difference`); ``invert``: the group's over the reference's."""
    df = runs[(runs["status"] == "finished") & (runs["variant"] == variant)]
    rows = []
    for group in sorted(set(df["group"]) - {reference}):
        shared = set(df.loc[df["group"] == group, "n_train"]) & set(df.loc[df["group"] == reference, "n_train"])
        for n in sorted(shared):
            cells = _cell(df, variant, reference, n, metric), _cell(df, variant, group, n, metric)
            r = log_ratio(*(cells[::-1] if invert else cells))
            lo, hi = r.interval(level)
            rows.append({"variant": variant, "group": group, "n_train": n, "ratio": math.exp(r.estimate),
                         "low": math.exp(lo), "high": math.exp(hi), "seeds": min(r.n_a, r.n_b), "difference": r})
    return pd.DataFrame(rows, columns=["variant", "group", "n_train", "ratio", "low", "high", "seeds", "difference"])


def beats_reference_verdict(runs: pd.DataFrame, variant: str, group: str, reference: str = "trivial",
                            metric: str = "test_at_best_val", min_seeds: int = MIN_SEEDS,
                            level: float = LEVEL) -> dict:
    """Does ``group`` beat ``reference`` at every training size? Supported when the error ratio's interval
    lies above 1 at every size; not supported when it lies below 1 at some size at the Bonferroni level over
    sizes; else inconclusive (also for thin or unconverged points)."""
    df = runs[(runs["status"] == "finished") & (runs["variant"] == variant)]
    table = beats_reference_table(df, variant, reference, metric, level)
    table = table[table["group"] == group]
    if table.empty:
        return {"verdict": "not yet measured", "reason": f"no {group} and {reference} runs at common sizes",
                "sizes": 0, "better_at": 0}
    strict = bonferroni(level, len(table))
    worse = [n for n, r in zip(table["n_train"], table["difference"]) if r.interval(strict)[1] < 0]
    out = {"sizes": len(table), "better_at": int((table["low"] > 1).sum())}
    reason = _check_points(df, [group, reference], min_seeds)
    if reason:
        return {**out, "verdict": "inconclusive", "reason": reason}
    if worse:
        return {**out, "verdict": "not supported", "reason": f"{reference} is better beyond doubt at n = {worse[0]:,}"}
    if out["better_at"] == len(table):
        return {**out, "verdict": "supported", "reason": f"better at every one of {len(table)} sizes"}
    return {**out, "verdict": "inconclusive",
            "reason": f"better beyond doubt at {out['better_at']} of {len(table)} sizes"}


def seed_slopes(runs: pd.DataFrame, variant: str, group: str, metric: str = "test_at_best_val") -> np.ndarray:
    """One log-log scaling slope per seed (each seed's runs across sizes are one curve, fitted alone)."""
    df = runs[(runs["status"] == "finished") & (runs["variant"] == variant) & (runs["group"] == group)]
    slopes = []
    for _, g in df.groupby("seed"):
        if g["n_train"].nunique() >= 2:
            slopes.append(sps.linregress(np.log(g["n_train"].to_numpy(float)),
                                         np.log(g[metric].clip(lower=1e-4).to_numpy(float))).slope)
    return np.asarray(slopes)


def slope_difference(runs: pd.DataFrame, variant: str, group: str, reference: str = "trivial",
                     metric: str = "test_at_best_val") -> Difference:
    """``group``'s scaling slope minus ``reference``'s, Welch over per-seed slopes.

    Fitting each seed's curve alone and comparing seeds keeps the nested
    training subsets of one seed from counting as independent points.
    """
    return welch_difference(seed_slopes(runs, variant, group, metric), seed_slopes(runs, variant, reference, metric))


def slope_table(runs: pd.DataFrame, variant: str, reference: str = "trivial", metric: str = "test_at_best_val",
                level: float = LEVEL) -> pd.DataFrame:
    """Per group of ``variant``: its mean per-seed scaling slope and its difference from ``reference``'s, with
    the Welch interval of :func:`slope_difference` (the numbers :func:`similar_slopes_verdict` judges)."""
    df = runs[(runs["status"] == "finished") & (runs["variant"] == variant)]
    rows = []
    for group in sorted(set(df["group"]) - {reference}):
        slopes, d = seed_slopes(df, variant, group, metric), slope_difference(df, variant, group, reference, metric)
        lo, hi = d.interval(level)
        rows.append({"variant": variant, "group": group, "slope": slopes.mean() if slopes.size else np.nan,
                     "difference": d.estimate, "low": lo, "high": hi, "seeds": min(d.n_a, d.n_b)})
    return pd.DataFrame(rows, columns=["variant", "group", "slope", "difference", "low", "high", "seeds"])


def similar_slopes_verdict(runs: pd.DataFrame, variants: list[str], reference: str = "trivial",
                           metric: str = "test_at_best_val", margin: float = SLOPE_EQUIVALENCE,
                           min_seeds: int = MIN_SEEDS, level: float = LEVEL) -> dict:
    """Do the equivariant groups scale with the plain CNN's slope? Equivalence within ``margin``.

    *Supported* when every group's slope-difference interval lies inside
    ``(-margin, margin)``; *not supported* when some interval excludes 0 at the
    Bonferroni level over all groups and variants (equal slopes trigger it at
    most 5% of the time); else *inconclusive*.
    """
    diffs = []
    for variant in variants:
        df = runs[runs["variant"] == variant]
        for group in sorted(set(df["group"]) - {reference}):
            diffs.append((variant, group, slope_difference(runs, variant, group, reference, metric)))
    if not diffs:
        return {"verdict": "not yet measured", "reason": "no groups to compare", "groups": 0}
    compared, groups = runs[runs["variant"].isin(variants)], sorted(set(runs["group"]))
    thin, over = _thin_points(compared, groups, min_seeds), _unconverged(compared, groups)
    intervals = [d.interval(level) for *_, d in diffs]
    out = {"groups": len(diffs), "within_margin": sum(-margin < lo and hi < margin for lo, hi in intervals)}
    if thin or any(not np.isfinite(lo) for lo, _ in intervals):
        return {**out, "verdict": "inconclusive", "reason": thin or "too few seeds for slope intervals"}
    strict = bonferroni(level, len(diffs))
    # a difference counts only between converged groups; an unconverged group elsewhere cannot undo it
    apart = [f"{group} on {variant} ({d.estimate:+.2f})" for variant, group, d in diffs
             if not d.interval(strict)[0] <= 0 <= d.interval(strict)[1]
             and (variant, group) not in over and (variant, reference) not in over]
    if apart:
        return {**out, "verdict": "not supported", "reason": "slopes differ beyond doubt: " + ", ".join(apart)}
    if over:
        return {**out, "verdict": "inconclusive", "reason": _unconverged_reason(over)}
    if out["within_margin"] == len(diffs):
        return {**out, "verdict": "supported", "reason": f"every difference within +-{margin} (95% intervals)"}
    return {**out, "verdict": "inconclusive",
            "reason": f"{out['within_margin']} of {len(diffs)} differences shown within +-{margin}"}
