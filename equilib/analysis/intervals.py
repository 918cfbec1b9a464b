"""Every estimate the book reports: intervals over seeds, ratios, trends, power-law fits, convergence shares.

Used by the charts and by the verdict rules (:mod:`equilib.analysis.rules`),
so a number drawn in a chart and the verdict stated beside it come from the
same computation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
from scipy import stats as sps

LEVEL = 0.95


def t_quantile(q: float, dof: float) -> float:
    """Student's t quantile: scipy's own ``stats.t.ppf`` without its argument handling, which costs 90 times
    the quantile (the power simulations ask for it hundreds of thousands of times). NaN for a bad ``dof``."""
    return float(special.stdtrit(dof, q))


def mean_ci(values: np.ndarray | pd.Series, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval (the interval is NaN with fewer than two values)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if x.size < 2:
        return m, np.nan, np.nan
    half = float(t_quantile(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
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
        half = t_quantile(0.5 + level / 2, self.dof) * self.se
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
    """``a - b`` for two independent estimates (say, two log ratios), Welch-Satterthwaite degrees of freedom,
    capped at the smaller of the two estimates' own (Satterthwaite of Satterthwaite runs liberal with 3 seeds
    per cell: a family of such changes claimed a move in 5.5% of null redraws; capped, 2%, at no loss of power)."""
    se = math.hypot(a.se, b.se)
    terms = [d.se ** 4 / d.dof for d in (a, b) if d.se > 0 and math.isfinite(d.dof)]
    dof = min(se ** 4 / sum(terms), a.dof, b.dof) if terms and se > 0 else np.nan
    return Difference(a.estimate - b.estimate, se, dof, min(a.n_a, a.n_b), min(b.n_a, b.n_b))


def bonferroni(level: float, comparisons: int) -> float:
    """The confidence level of each of ``comparisons`` intervals, so that all hold together at ``level``."""
    return 1 - (1 - level) / comparisons


def log_ratio(a: np.ndarray, b: np.ndarray) -> Difference:
    """The log ratio of the geometric means of two independent samples (seeds are independent runs)."""
    return welch_difference(np.log(np.asarray(a, float)), np.log(np.asarray(b, float)))


def log_ratio_to(values: np.ndarray, reference: float) -> Difference:
    """The log ratio of a sample's geometric mean to a fixed number (a published result), with a t standard error."""
    logs = np.log(np.asarray(values, float))
    logs = logs[np.isfinite(logs)]
    if logs.size == 0 or not reference > 0:
        return Difference(np.nan, np.nan, np.nan, logs.size, logs.size)
    se = float(logs.std(ddof=1) / math.sqrt(logs.size)) if logs.size > 1 else np.nan
    return Difference(float(logs.mean() - math.log(reference)), se, logs.size - 1.0, logs.size, logs.size)


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
    finished = runs[(runs["status"] == "finished") & runs[by].notna()]
    points, models = finished[by].to_numpy(), finished["model"].to_numpy()
    values = finished[metric].to_numpy()
    for key in np.unique(points):  # in order, as a groupby would give them (arrays: the power simulations call
        at = points == key         # this thousands of times, and per-group pandas masks were most of their time)
        a, b = values[at & (models == numerator)], values[at & (models == denominator)]
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

    The slope is a fixed linear contrast of the points, so its variance is the
    points' variances carried through it, with Satterthwaite's degrees of
    freedom from each point's ``dof`` (default: infinite). It is not scaled by
    the line's misfit: the question is whether the points rise with ``x``, not
    whether they lie on a line, and a convex rise (the N-body ratio's) would
    otherwise widen the interval the more clearly it rises (the reduced
    chi-square grows as the per-point errors shrink).
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
    spread = float((terms * terms / dof).sum())
    satterthwaite = var * var / spread if spread > 0 else math.inf
    quantile = t_quantile(0.5 + level / 2, min(satterthwaite, float(dof.min())))
    half = quantile * math.sqrt(var)
    return Trend(slope, slope - half, slope + half, k)


def seed_spread(runs: pd.DataFrame, metric: str = "test_at_best_val", by: tuple[str, ...] = ("dim", "model")
                ) -> pd.DataFrame:
    """Per point and model: how far apart the seeds land (largest over smallest metric, and the SD of its log)."""
    finished = runs[runs["status"] == "finished"]
    logs = finished.assign(log=np.log(finished[metric].astype(float)))
    out = logs.groupby(list(by))["log"].agg(seeds="count", sd_log=lambda v: v.std(ddof=1),
                                           spread=lambda v: math.exp(v.max() - v.min()))
    return out.reset_index()


def improving_at_end(runs: pd.DataFrame) -> pd.Series:
    """Per trained run: was its best validation at its last evaluation (so more steps might still help)?"""
    trained = runs[(runs["status"] == "finished") & (runs["epochs_done"] > 0)]
    flag = trained["best_at_last_eval"].astype("boolean")  # missing in runs stored before the flag existed
    return flag.fillna(trained["best_val_epoch"] == trained["epochs_done"]).astype(bool)


def unconverged_share(runs: pd.DataFrame) -> float:
    """The share of trained runs still improving at their last evaluation (0 when none were trained)."""
    improving = improving_at_end(runs)
    return float(improving.mean()) if len(improving) else 0.0


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
                half = t_quantile(0.5 + level / 2, len(x) - 2) * fit.stderr
                row["low"], row["high"] = fit.slope - half, fit.slope + half
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- group comparisons (rotated MNIST)


def group_cells(runs: pd.DataFrame, metric: str) -> dict[tuple, np.ndarray]:
    """(variant, group, size) -> the metric over its runs, floored at 1e-4 (an error rate of 0 has no log).

    One pass over the runs: a verdict looks up dozens of cells, and the power
    simulations call each verdict thousands of times.
    """
    values = runs[metric].clip(lower=1e-4).to_numpy(float)
    keys = zip(runs["variant"].to_numpy(), runs["group"].to_numpy(), runs["n_train"].to_numpy())
    cells: dict[tuple, list] = {}
    for key, value in zip(keys, values):
        cells.setdefault(key, []).append(value)
    return {key: np.asarray(v) for key, v in cells.items()}


def beats_reference_table(runs: pd.DataFrame, variant: str, reference: str = "trivial",
                          metric: str = "test_at_best_val", level: float = LEVEL,
                          invert: bool = False) -> pd.DataFrame:
    """Per (group, size): the reference's error over the group's (> 1: the group is better), with 95% intervals
    (``difference`` holds the log ratio as a :class:`Difference`); ``invert``: the group's over the reference's."""
    df = runs[(runs["status"] == "finished") & (runs["variant"] == variant)]
    at, rows = group_cells(df, metric), []
    for group in sorted(set(df["group"]) - {reference}):
        shared = set(df.loc[df["group"] == group, "n_train"]) & set(df.loc[df["group"] == reference, "n_train"])
        for n in sorted(shared):
            cells = at[variant, reference, n], at[variant, group, n]
            r = log_ratio(*(cells[::-1] if invert else cells))
            lo, hi = r.interval(level)
            rows.append({"variant": variant, "group": group, "n_train": n, "ratio": math.exp(r.estimate),
                         "low": math.exp(lo), "high": math.exp(hi), "seeds": min(r.n_a, r.n_b), "difference": r})
    return pd.DataFrame(rows, columns=["variant", "group", "n_train", "ratio", "low", "high", "seeds", "difference"])


def seed_slopes(runs: pd.DataFrame, variant: str, group: str, metric: str = "test_at_best_val") -> np.ndarray:
    """One log-log scaling slope per seed (each seed's runs across sizes are one curve, fitted alone)."""
    df = runs[(runs["status"] == "finished") & (runs["variant"] == variant) & (runs["group"] == group)]
    seeds, x = df["seed"].to_numpy(), np.log(df["n_train"].to_numpy(float))
    y = np.log(df[metric].clip(lower=1e-4).to_numpy(float))
    slopes = []
    for seed in np.unique(seeds):
        xs, ys = x[seeds == seed], y[seeds == seed]
        if np.unique(xs).size >= 2:  # least squares, as scipy's linregress computes its slope
            xc = xs - xs.mean()
            slopes.append(float((xc * (ys - ys.mean())).sum() / (xc * xc).sum()))
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


