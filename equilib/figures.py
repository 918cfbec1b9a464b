"""Tables and Altair charts drawn from results, and the live ipywidgets that drive them.

Every chart here works in the static book: its controls are Altair parameters
bound to HTML inputs, evaluated by Vega in the browser, with no kernel. In a live
notebook, :func:`explore` puts ipywidgets in front of the same chart function.
"""
from __future__ import annotations

from typing import Any, Callable

import altair as alt
import numpy as np
import pandas as pd
from scipy import stats


def mean_ci(values: np.ndarray | pd.Series, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval (the interval is NaN with fewer than two values)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if x.size < 2:
        return m, np.nan, np.nan
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return m, m - half, m + half


LIVE_FRONTEND_ENV = ("JPY_SESSION_NAME", "VSCODE_PID")  # set for kernels that a Jupyter server or VS Code starts


def explore(chart: Callable[..., alt.TopLevelMixin], **controls: Any):
    """ipywidgets controls (one per keyword: a list gives a dropdown, a (lo, hi, step) tuple a slider)
    that redraw ``chart(**values)`` live.

    Only under a live frontend: executed headless (papermill, the book build), an
    ``interactive`` widget's output capture can deadlock ipykernel 7 (seen twice
    here), and there is nobody to move the controls anyway; the static book uses
    the Altair controls. ``EQUILIB_WIDGETS=1`` forces the widgets on.
    """
    import os

    if os.environ.get("EQUILIB_WIDGETS") != "1" and not any(os.environ.get(k) for k in LIVE_FRONTEND_ENV):
        return "(ipywidgets controls appear here when the notebook runs in Jupyter)"
    import ipywidgets as widgets
    from IPython.display import display

    return widgets.interactive(lambda **kw: display(chart(**kw)), **controls)


# --------------------------------------------------------------------------- theory


def theory_frame(estimates: list[dict]) -> pd.DataFrame:
    """Rows of (pair, n, measured, low, high, predicted, removed) from :func:`equilib.theory.simulate_gap` results."""
    return pd.DataFrame(estimates)


def theory_gap_chart(df: pd.DataFrame, pair: str | None = None, n: int | None = None) -> alt.VConcatChart:
    """Measured gap (with its CI) against equation (1), per (V, W) pair and sample size n.

    Top: the gap against n for the pair picked in a dropdown (log-log).
    Bottom: every pair at the n picked with a slider, sorted by the number of
    linear maps that averaging removes.
    """
    pairs = list(dict.fromkeys(df["pair"]))
    ns = sorted(df["n"].unique())
    pick_pair = alt.param(name="pair", value=pair or pairs[0],
                          bind=alt.binding_select(options=pairs, name="group and representations "))
    pick_n = alt.param(name="n_pick", value=int(n or ns[len(ns) // 2]),
                       bind=alt.binding_select(options=[int(n) for n in ns], name="sample size n "))
    base = alt.Chart(df)
    x = alt.X("n:Q", scale=alt.Scale(type="log", nice=False), title="training samples n")
    y_scale = alt.Scale(type="log")
    by_n = base.transform_filter(alt.datum.pair == pick_pair)
    line = by_n.mark_line(color="black", strokeDash=[4, 3]).encode(
        x=x, y=alt.Y("predicted:Q", scale=y_scale, title="test-risk gap: least squares minus G-averaged"))
    bars = by_n.mark_errorbar(color="#d62728").encode(x=x, y=alt.Y("low:Q", scale=y_scale), y2="high:Q")
    points = by_n.mark_point(color="#d62728", filled=True).encode(
        x=x, y=alt.Y("measured:Q", scale=y_scale),
        tooltip=["pair", "n", alt.Tooltip("measured:Q", format=".4f"), alt.Tooltip("low:Q", format=".4f"),
                 alt.Tooltip("high:Q", format=".4f"), alt.Tooltip("predicted:Q", format=".4f")])
    top = (line + bars + points).add_params(pick_pair).properties(
        width=520, height=260, title="Measured (red, 95% CI) and predicted (dashed) gap for one pair")
    at_n = base.transform_filter(alt.datum.n == pick_n)
    order = alt.EncodingSortField(field="removed", order="descending")
    ybar = alt.Y("pair:N", sort=order, title=None)
    pred = at_n.mark_tick(color="black", thickness=2, size=18).encode(x=alt.X("predicted:Q", title="gap at the chosen n"), y=ybar)
    ci = at_n.mark_rule(color="#d62728").encode(x="low:Q", x2="high:Q", y=ybar)
    meas = at_n.mark_point(color="#d62728", filled=True).encode(
        x="measured:Q", y=ybar, tooltip=["pair", "removed", alt.Tooltip("measured:Q", format=".4f"),
                                         alt.Tooltip("predicted:Q", format=".4f")])
    bottom = (pred + ci + meas).add_params(pick_n).properties(
        width=520, height=220, title="All pairs at one n: tick = equation (1), dot and bar = simulation")
    return alt.vconcat(top, bottom)


# --------------------------------------------------------------------------- shared

PROTOCOLS = {"best_test": "best test (paper)", "test_at_best_val": "test at best validation (honest)"}


def log_ratio_ci(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Ratio of geometric means ``a / b`` with a Welch t-interval on the log scale (seeds are independent)."""
    la, lb = np.log(np.asarray(a, float)), np.log(np.asarray(b, float))
    la, lb = la[np.isfinite(la)], lb[np.isfinite(lb)]
    if la.size == 0 or lb.size == 0:
        return np.nan, np.nan, np.nan
    d = la.mean() - lb.mean()
    if la.size < 2 or lb.size < 2:
        return float(np.exp(d)), np.nan, np.nan
    va, vb = la.var(ddof=1) / la.size, lb.var(ddof=1) / lb.size
    se = np.sqrt(va + vb)
    if se == 0:
        return float(np.exp(d)), float(np.exp(d)), float(np.exp(d))
    dof = (va + vb) ** 2 / (va**2 / (la.size - 1) + vb**2 / (lb.size - 1))
    half = stats.t.ppf(0.5 + level / 2, dof) * se
    return float(np.exp(d)), float(np.exp(d - half)), float(np.exp(d + half))


def geometric_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Geometric mean with a t-interval on the log scale (errors are positive and skewed)."""
    m, lo, hi = mean_ci(np.log(np.asarray(values, float)), level)
    return float(np.exp(m)), float(np.exp(lo)), float(np.exp(hi))


def _finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "finished"]


# --------------------------------------------------------------------------- n-body


def nbody_frames(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figure 1's data: the GNN/EGNN MSE ratio per dimension and protocol, and each model's MSE."""
    runs = _finished(runs)
    ratios, mses = [], []
    for dim, at_dim in runs.groupby("dim"):
        for col, label in PROTOCOLS.items():
            by_model = {m: g[col].to_numpy() for m, g in at_dim.groupby("model")}
            for model, values in by_model.items():
                mean, lo, hi = geometric_ci(values)
                mses.append({"dim": dim, "model": model.upper(), "protocol": label, "mse": mean, "low": lo,
                             "high": hi, "seeds": len(values)})
            if "gnn" in by_model and "egnn" in by_model:
                r, lo, hi = log_ratio_ci(by_model["gnn"], by_model["egnn"])
                ratios.append({"dim": dim, "protocol": label, "ratio": r, "low": lo, "high": hi,
                               "seeds": min(len(by_model["gnn"]), len(by_model["egnn"]))})
    return pd.DataFrame(ratios), pd.DataFrame(mses)


def _protocol_param(default: str | None = None) -> alt.Parameter:
    labels = list(PROTOCOLS.values())
    return alt.param(name="protocol", value=default or labels[1],
                     bind=alt.binding_radio(options=labels, name="summary protocol: "))


def nbody_figure(ratios: pd.DataFrame, mses: pd.DataFrame, protocol: str | None = None) -> alt.HConcatChart:
    """Figure 1: MSE_GNN / MSE_EGNN against n with its 95% band, and both MSEs on a log scale."""
    pick = _protocol_param(protocol)
    x = alt.X("dim:Q", title="dimension n", scale=alt.Scale(nice=False), axis=alt.Axis(tickMinStep=1))
    base = alt.Chart(ratios).transform_filter(alt.datum.protocol == pick)
    band = base.mark_area(opacity=0.25, color="#4c78a8").encode(x=x, y=alt.Y("low:Q", title="MSE_GNN / MSE_EGNN"),
                                                                  y2="high:Q")
    line = base.mark_line(point=True, color="#4c78a8").encode(
        x=x, y="ratio:Q", tooltip=["dim", alt.Tooltip("ratio:Q", format=".3f"), alt.Tooltip("low:Q", format=".3f"),
                                   alt.Tooltip("high:Q", format=".3f"), "seeds", "protocol"])
    one = alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 3], color="gray").encode(y="y:Q")
    left = (band + line + one).add_params(pick).properties(
        width=270, height=240, title="Benefit of equivariance (ratio > 1: EGNN better)")
    mbase = alt.Chart(mses).transform_filter(alt.datum.protocol == pick)
    color = alt.Color("model:N", title="model")
    y = alt.Y("mse:Q", scale=alt.Scale(type="log"), title="test MSE (geometric mean over seeds)")
    mband = mbase.mark_area(opacity=0.2).encode(x=x, y=alt.Y("low:Q", scale=alt.Scale(type="log")), y2="high:Q",
                                                color=color)
    mline = mbase.mark_line(point=True).encode(
        x=x, y=y, color=color, tooltip=["model", "dim", alt.Tooltip("mse:Q", format=".4g"), "seeds"])
    right = (mband + mline).properties(width=270, height=240, title="Test MSE of each model")
    return alt.hconcat(left, right)


def nbody_curves_chart(curves: pd.DataFrame, runs: pd.DataFrame) -> alt.Chart:
    """Learning curves: test MSE against epoch, one panel per dimension, one line per run."""
    df = curves.merge(runs[["run_id", "model", "dim", "seed"]], on="run_id")
    df["model"] = df["model"].str.upper()
    return alt.Chart(df).mark_line(opacity=0.7).encode(
        x=alt.X("epoch:Q"), y=alt.Y("test:Q", scale=alt.Scale(type="log"), title="test MSE"),
        color=alt.Color("model:N"), detail="seed:N",
        tooltip=["model", "dim", "seed", "epoch", alt.Tooltip("test:Q", format=".4g")],
    ).properties(width=140, height=120).facet(column=alt.Column("dim:O", title="dimension n"))


def nbody_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean test MSE per (dim, model) under both protocols, with the number of seeds."""
    if runs.empty:
        return pd.DataFrame(columns=["dim", "model", "seeds", "best_test", "test_at_best_val"])
    return (runs.groupby(["dim", "model"])
            .agg(seeds=("seed", "nunique"), best_test=("best_test", "mean"),
                 test_at_best_val=("test_at_best_val", "mean"))
            .reset_index())


# --------------------------------------------------------------------------- rotated MNIST

GROUP_ORDER = ["trivial", "C4", "D4", "C8", "D8", "SO2", "O2"]
VARIANT_LABELS = {"rotated": "rotated MNIST", "fliprot": "flip-rotated MNIST", "plain": "MNIST"}


def mnist_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Figure 2's data: test error per (variant, group, n) and protocol, geometric mean and CI over seeds."""
    rows = []
    for (variant, group, n), g in _finished(runs).groupby(["variant", "group", "n_train"]):
        for col, label in PROTOCOLS.items():
            mean, lo, hi = geometric_ci(g[col].clip(lower=1e-4).to_numpy())
            rows.append({"variant": VARIANT_LABELS.get(variant, variant), "group": group, "n_train": n,
                         "protocol": label, "error": mean, "low": lo, "high": hi, "seeds": len(g)})
    return pd.DataFrame(rows)


def power_law_fits(runs: pd.DataFrame, protocol: str = "test_at_best_val", n_min: int = 0,
                   n_max: int | None = None, level: float = 0.95) -> pd.DataFrame:
    """Slope b of ``error = a n^b`` per (variant, group), by least squares on log-log over every seed's point."""
    rows = []
    df = _finished(runs)
    df = df[(df["n_train"] >= n_min) & (df["n_train"] <= (n_max or df["n_train"].max()))]
    for (variant, group), g in df.groupby(["variant", "group"]):
        x, y = np.log(g["n_train"].to_numpy(float)), np.log(g[protocol].clip(lower=1e-4).to_numpy(float))
        row = {"variant": VARIANT_LABELS.get(variant, variant), "group": group, "points": len(x),
               "sizes": int(g["n_train"].nunique()), "slope": np.nan, "low": np.nan, "high": np.nan}
        if np.unique(x).size >= 2:
            fit = stats.linregress(x, y)
            row["slope"] = fit.slope
            if len(x) > 2:
                half = stats.t.ppf(0.5 + level / 2, len(x) - 2) * fit.stderr
                row["low"], row["high"] = fit.slope - half, fit.slope + half
        rows.append(row)
    out = pd.DataFrame(rows)
    if not out.empty:
        out["group"] = pd.Categorical(out["group"], GROUP_ORDER, ordered=True)
        out = out.sort_values(["variant", "group"]).reset_index(drop=True)
        out["group"] = out["group"].astype(str)
    return out


def mnist_figure(frame: pd.DataFrame, variant: str | None = None, protocol: str | None = None) -> alt.Chart:
    """Figure 2: test error against training-set size (log-log), one line per group, one panel per variant.

    Controls: the variant shown, the protocol, the range of training sizes (the
    dashed power-law fits and their slopes follow the range), and a click on the
    legend highlights groups.
    """
    variants = ["both"] + list(dict.fromkeys(frame["variant"]))
    pick_variant = alt.param(name="variant", value=variant or "both",
                             bind=alt.binding_select(options=variants, name="data set: "))
    pick_protocol = _protocol_param(protocol)
    sizes = sorted(frame["n_train"].unique())
    n_lo = alt.param(name="n_min", value=int(sizes[0]),
                     bind=alt.binding_range(min=int(sizes[0]), max=int(sizes[-1]), step=1, name="smallest n: "))
    n_hi = alt.param(name="n_max", value=int(sizes[-1]),
                     bind=alt.binding_range(min=int(sizes[0]), max=int(sizes[-1]), step=1, name="largest n: "))
    groups = alt.selection_point(fields=["group"], bind="legend")
    groups_present = [g for g in GROUP_ORDER if g in set(frame["group"])]
    color = alt.Color("group:N", sort=groups_present, scale=alt.Scale(domain=groups_present, scheme="category10"),
                      title="group (click to highlight)")
    x = alt.X("n_train:Q", scale=alt.Scale(type="log", nice=False), title="training images n")
    y = alt.Y("error:Q", scale=alt.Scale(type="log"), title="test error")
    base = alt.Chart().transform_filter(
        (alt.datum.protocol == pick_protocol) & ((pick_variant == "both") | (alt.datum.variant == pick_variant))
        & (alt.datum.n_train >= n_lo) & (alt.datum.n_train <= n_hi))
    opacity = alt.condition(groups, alt.value(1.0), alt.value(0.12))
    lines = base.mark_line(point=True).encode(
        x=x, y=y, color=color, opacity=opacity,
        tooltip=["variant", "group", "n_train", alt.Tooltip("error:Q", format=".4f"),
                 alt.Tooltip("low:Q", format=".4f"), alt.Tooltip("high:Q", format=".4f"), "seeds"])
    bars = base.mark_rule().encode(x=x, y=alt.Y("low:Q", scale=alt.Scale(type="log")), y2="high:Q", color=color,
                                   opacity=opacity)
    fits = base.transform_regression("n_train", "error", method="pow", groupby=["group"]).mark_line(
        strokeDash=[3, 3], strokeWidth=1).encode(x=x, y=y, color=color, opacity=opacity)
    # the layers carry no data of their own: the facet splits one data set into the panels
    panel = alt.layer(lines, bars, fits).properties(width=250, height=230)
    chart = panel.facet(column=alt.Column("variant:N", title=None), data=frame)
    return chart.add_params(pick_variant, pick_protocol, n_lo, n_hi, groups)
