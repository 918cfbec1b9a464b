"""Tables and Altair charts drawn from results.

Every chart here works in the static book: its controls are Altair parameters
bound to HTML inputs, evaluated by Vega in the browser, with no kernel. In a live
notebook, :func:`equilib.report.render.explore` puts ipywidgets in front of the
same chart function.
"""
from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from ..analysis import intervals
from ..analysis.claims import RATIOS
from ..models.catalogue import MODEL_LABELS
from ..models.groups import GROUPS, group_label
from ..tasks.mnist import VARIANT_LABELS
from .tables import labelled


# --------------------------------------------------------------------------- theory


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
    x = alt.X("n:Q", scale=alt.Scale(type="log", nice=False, padding=14), title="training samples n")
    y_scale = alt.Scale(type="log")
    gap = "test-risk gap: least squares minus G-averaged"
    by_n = base.transform_filter(alt.datum.pair == pick_pair)
    line = by_n.mark_line(color="black", strokeDash=[4, 3]).encode(
        x=x, y=alt.Y("predicted:Q", scale=y_scale, title=gap))
    bars = by_n.mark_errorbar(color="#d62728").encode(x=x, y=alt.Y("low:Q", scale=y_scale, title=gap), y2="high:Q")
    points = by_n.mark_point(color="#d62728", filled=True).encode(
        x=x, y=alt.Y("measured:Q", scale=y_scale, title=gap),
        tooltip=["pair", "n", alt.Tooltip("measured:Q", format=".4f"), alt.Tooltip("low:Q", format=".4f"),
                 alt.Tooltip("high:Q", format=".4f"), alt.Tooltip("predicted:Q", format=".4f")])
    top = (line + bars + points).add_params(pick_pair).properties(
        width=520, height=260, title="Measured (red, 95% CI) and predicted (dashed) gap for one pair")
    at_n = base.transform_filter(alt.datum.n == pick_n)
    order = alt.EncodingSortField(field="removed", order="descending")
    ybar = alt.Y("pair:N", sort=order, title=None)
    pred = at_n.mark_tick(color="black", thickness=2, size=18).encode(
        x=alt.X("predicted:Q", title="gap at the chosen n"), y=ybar)
    ci = at_n.mark_rule(color="#d62728").encode(x="low:Q", x2="high:Q", y=ybar)
    meas = at_n.mark_point(color="#d62728", filled=True).encode(
        x="measured:Q", y=ybar, tooltip=["pair", "removed", alt.Tooltip("measured:Q", format=".4f"),
                                         alt.Tooltip("predicted:Q", format=".4f")])
    bottom = (pred + ci + meas).add_params(pick_n).properties(
        width=520, height=220, title="All pairs at one n: tick = equation (1), dot and bar = simulation")
    return alt.vconcat(top, bottom)


# --------------------------------------------------------------------------- shared

PROTOCOLS = {"best_test": "best test (paper)", "test_at_best_val": "test at best validation (honest)"}


def _finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "finished"]


# --------------------------------------------------------------------------- n-body


MODEL_COLORS = {"GNN": "#4c78a8", "EGNN": "#e45756", "residual GNN": "#f58518", "free flight": "#777777"}


def nbody_frames(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figure 1's data: each ratio of :data:`RATIOS` per dimension and protocol, and each model's MSE."""
    runs = _finished(runs)
    ratios, mses = [], []
    for col, label in PROTOCOLS.items():
        for name, (num, den) in RATIOS.items():
            table = intervals.ratio_table(runs, num, den, col)
            ratios += [{**row, "protocol": label, "comparison": name} for row in table.to_dict("records")]
        for (dim, model), g in runs.groupby(["dim", "model"]):
            mean, lo, hi = intervals.geometric_ci(g[col].to_numpy())
            mses.append({"dim": dim, "model": MODEL_LABELS.get(model, model), "protocol": label, "mse": mean,
                         "low": lo, "high": hi, "seeds": len(g)})
    return (pd.DataFrame(ratios, columns=["dim", "ratio", "low", "high", "log_ratio", "se", "dof", "seeds",
                                          "protocol", "comparison"]),
            pd.DataFrame(mses, columns=["dim", "model", "protocol", "mse", "low", "high", "seeds"]))


def _protocol_param(default: str | None = None) -> alt.Parameter:
    labels = list(PROTOCOLS.values())
    return alt.param(name="protocol", value=default or labels[1],
                     bind=alt.binding_radio(options=labels, name="summary protocol: "))


def nbody_figure(ratios: pd.DataFrame, mses: pd.DataFrame, protocol: str | None = None) -> alt.HConcatChart:
    """Figure 1: the MSE ratios against n with 95% intervals, and every model's MSE (free flight included).

    Left: GNN / EGNN (the paper's ratio) and residual GNN / EGNN (what is left
    once the plain model is given free flight). Right: test MSE per model.
    """
    pick = _protocol_param(protocol)
    dims = sorted(int(d) for d in set(mses["dim"]) | set(ratios["dim"]))
    x = alt.X("dim:Q", title="dimension n", scale=alt.Scale(nice=False, zero=False, padding=12),
              axis=alt.Axis(values=dims, format="d"))
    comparison = alt.Color("comparison:N", title=None, legend=alt.Legend(orient="top", columns=1),
                           scale=alt.Scale(domain=list(RATIOS), range=["#4c78a8", "#f58518"]))
    base = alt.Chart(ratios).transform_filter(alt.datum.protocol == pick)
    y_ratio = alt.Y("ratio:Q", scale=alt.Scale(type="log"), title="MSE ratio (> 1: EGNN better)",
                    axis=alt.Axis(format="~g"))
    bars = base.mark_rule(strokeWidth=2).encode(x=x, y=alt.Y("low:Q", scale=alt.Scale(type="log")), y2="high:Q",
                                                 color=comparison)
    line = base.mark_line(point=True).encode(
        x=x, y=y_ratio, color=comparison,
        tooltip=["comparison", "dim", alt.Tooltip("ratio:Q", format=".3f"), alt.Tooltip("low:Q", format=".3f"),
                 alt.Tooltip("high:Q", format=".3f"), "seeds", "protocol"])
    one = alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 3], color="gray").encode(y="y:Q")
    left = (bars + line + one).add_params(pick).properties(width=230, height=240, title="Benefit of equivariance")
    models = [m for m in MODEL_LABELS.values() if m in set(mses["model"])]
    color = alt.Color("model:N", title=None, sort=models, legend=alt.Legend(orient="top", columns=2),
                      scale=alt.Scale(domain=models, range=[MODEL_COLORS[m] for m in models]))
    mbase = alt.Chart(mses).transform_filter(alt.datum.protocol == pick)
    y = alt.Y("mse:Q", scale=alt.Scale(type="log"), title="test MSE (geometric mean)", axis=alt.Axis(format="~g"))
    mbars = mbase.mark_rule().encode(x=x, y=alt.Y("low:Q", scale=alt.Scale(type="log")), y2="high:Q", color=color)
    mline = mbase.mark_line(point=True).encode(
        x=x, y=y, color=color, tooltip=["model", "dim", alt.Tooltip("mse:Q", format=".4g"),
                                        alt.Tooltip("low:Q", format=".4g"), alt.Tooltip("high:Q", format=".4g"),
                                        "seeds"])
    right = (mbars + mline).properties(width=230, height=240, title="Test MSE of each model")
    return alt.hconcat(left, right).resolve_scale(color="independent")


def nbody_curves_chart(curves: pd.DataFrame, runs: pd.DataFrame, dim: int | None = None) -> alt.Chart:
    """Learning curves: validation MSE against optimiser step, one line per run, for the dimension picked."""
    df = curves.merge(runs[["run_id", "model", "dim", "seed", "steps_per_epoch"]], on="run_id")
    df["model"] = df["model"].map(MODEL_LABELS).fillna(df["model"])
    df["step"] = df["epoch"] * df["steps_per_epoch"]
    dims = sorted(df["dim"].unique())
    pick = alt.param(name="curve_dim", value=int(dim or dims[0]),
                     bind=alt.binding_radio(options=[int(d) for d in dims], name="dimension n: "))
    return alt.Chart(df[["model", "dim", "seed", "step", "val"]]).mark_line(opacity=0.75).encode(
        x=alt.X("step:Q", title="optimiser step"),
        y=alt.Y("val:Q", scale=alt.Scale(type="log"), title="validation MSE"),
        color=alt.Color("model:N", title=None, legend=alt.Legend(orient="top")), detail="seed:N",
        tooltip=["model", "dim", "seed", "step", alt.Tooltip("val:Q", format=".4g")],
    ).transform_filter(alt.datum.dim == pick).add_params(pick).properties(width=560, height=220)


def reproduction_chart(curves: pd.DataFrame, runs: pd.DataFrame, published: dict[str, float]) -> alt.LayerChart:
    """Training, validation and test MSE against optimiser step for each run, one panel per model, with the
    published test MSE as a dashed line: where a run's curves stand against the number it should reach."""
    df = curves.merge(runs[["run_id", "model", "seed", "steps_per_epoch", "budget_steps"]], on="run_id")
    df = df.assign(step=df["epoch"] * df["steps_per_epoch"], model=df["model"].map(MODEL_LABELS).fillna(df["model"]),
                   budget=df["budget_steps"].map("{:,} steps".format))
    long = df.melt(id_vars=["model", "seed", "step", "budget"], value_vars=["train_loss", "val", "test"],
                   var_name="split", value_name="mse")
    long["split"] = long["split"].map({"train_loss": "train", "val": "validation", "test": "test"})
    lines = alt.Chart().mark_line(opacity=0.7).encode(
        x=alt.X("step:Q", title="optimiser step"), y=alt.Y("mse:Q", scale=alt.Scale(type="log"), title="MSE"),
        color=alt.Color("split:N", title=None, legend=alt.Legend(orient="top")),
        strokeDash=alt.StrokeDash("budget:N", title="budget"), detail="seed:N",
        tooltip=["model", "seed", "split", "budget", "step", alt.Tooltip("mse:Q", format=".4g")])
    long["published"] = long["model"].map({MODEL_LABELS.get(m, m): v for m, v in published.items()})
    rule = alt.Chart().mark_rule(color="black", strokeDash=[2, 2]).encode(
        y="mean(published):Q", tooltip=[alt.Tooltip("mean(published):Q", title="published test MSE")])
    return alt.layer(lines, rule, data=long).properties(width=235, height=200).facet(
        column=alt.Column("model:N", title=None))


TRACE_PANELS = {"loss": "training loss (batch)", "grad_norm": "gradient norm", "shift": "largest coordinate update"}


def step_trace_chart(traces: pd.DataFrame, window: tuple[int, int] | None = None) -> alt.FacetChart:
    """One replayed run step by step, a panel per quantity (log scale), a line per clipping setting.

    ``traces`` are :func:`~equilib.experiments.nbody.nbody_step_trace` tables
    with a ``clip`` column (a label); ``window`` limits the steps shown.
    """
    df = traces if window is None else traces[traces["step"].between(*window)]
    long = df.melt(id_vars=["step", "clip"], value_vars=list(TRACE_PANELS), var_name="quantity", value_name="value")
    long["quantity"] = long["quantity"].map(TRACE_PANELS)
    return alt.Chart(long).mark_line(opacity=0.8, strokeWidth=1).encode(
        x=alt.X("step:Q", title="optimiser step"),
        y=alt.Y("value:Q", scale=alt.Scale(type="log"), title=None, axis=alt.Axis(format=".0e", tickCount=5)),
        color=alt.Color("clip:N", title="gradient clipping", legend=alt.Legend(orient="top"),
                        scale=alt.Scale(range=["#e45756", "#4c78a8", "#54a24b", "#b279a2"])),
        tooltip=["clip", "step", alt.Tooltip("value:Q", format=".4g")],
    ).properties(width=560, height=110).facet(
        row=alt.Row("quantity:N", title=None, sort=list(TRACE_PANELS.values()),
                    header=alt.Header(labelAngle=0, labelAlign="left", labelOrient="top"))
    ).resolve_scale(y="independent")


# --------------------------------------------------------------------------- rotated MNIST


def models_table(rows: list[dict]):
    """The CNN zoo as a reader sees it: group order as an integer (continuous for SO(2) and O(2)), no index."""
    df = labelled(pd.DataFrame(rows))
    df["order"] = [("continuous" if not np.isfinite(o) else f"{int(o)}") for o in df["order"]]
    df["params"] = df["params"].map("{:,}".format)
    df["deviation"] = df["deviation"].map("{:+.1%}".format)
    df = df.rename(columns={"order": "group order", "widths": "channels per block", "params": "parameters",
                            "deviation": "from target"})
    return df.style.hide(axis="index")


def mnist_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Figure 2's data: test error per (variant, group, n) and protocol, geometric mean and CI over seeds."""
    rows = []
    for (variant, group, n), g in _finished(runs).groupby(["variant", "group", "n_train"]):
        for col, label in PROTOCOLS.items():
            mean, lo, hi = intervals.geometric_ci(g[col].clip(lower=1e-4).to_numpy())
            rows.append({"variant": VARIANT_LABELS.get(variant, variant), "group": group, "n_train": n,
                         "protocol": label, "error": mean, "low": lo, "high": hi, "seeds": len(g)})
    return pd.DataFrame(rows)


def interval_text(value: float, low: float, high: float, fmt: str = ".2f") -> str:
    """An estimate with its 95% interval for a table; one seed has no interval, and says so."""
    if pd.isna(low) or pd.isna(high):
        return f"{value:{fmt}} (one seed)"
    return f"{value:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


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
    sizes = [int(n) for n in sorted(frame["n_train"].unique())]
    # one size leaves no range to pick: the parameters stay, unbound, so the filters still read them
    ranged = len(sizes) > 1
    n_lo = alt.param(name="n_min", value=sizes[0],
                     bind=alt.binding_select(options=sizes, name="smallest n: ") if ranged else alt.Undefined)
    n_hi = alt.param(name="n_max", value=sizes[-1],
                     bind=alt.binding_select(options=sizes, name="largest n: ") if ranged else alt.Undefined)
    groups_present = [group_label(g) for g in GROUPS if g in set(frame["group"])]
    frame = frame.assign(group=frame["group"].map(group_label))  # the legend's names
    groups = alt.selection_point(fields=["group"], bind="legend")
    color = alt.Color("group:N", sort=groups_present, scale=alt.Scale(domain=groups_present, scheme="category10"),
                      title="group (click to highlight)",
                      legend=alt.Legend(orient="top", direction="horizontal", titleOrient="top", titleLimit=400))
    x = alt.X("n_train:Q", scale=alt.Scale(type="log", nice=False), axis=alt.Axis(values=sizes, format="~s"),
              title="training images n")  # ticks at the sizes trained
    # the data's own range (a log axis rounded out to whole decades left half of each panel empty)
    y_scale = alt.Scale(type="log", nice=False, padding=8)
    y = alt.Y("error:Q", scale=y_scale, axis=alt.Axis(format="~%"), title="test error")
    base = alt.Chart().transform_filter(
        (alt.datum.protocol == pick_protocol) & ((pick_variant == "both") | (alt.datum.variant == pick_variant))
        & (alt.datum.n_train >= n_lo) & (alt.datum.n_train <= n_hi))
    opacity = alt.condition(groups, alt.value(1.0), alt.value(0.12))
    lines = base.mark_line(point=True).encode(
        x=x, y=y, color=color, opacity=opacity,
        tooltip=["variant", "group", "n_train", alt.Tooltip("error:Q", format=".4f"),
                 alt.Tooltip("low:Q", format=".4f"), alt.Tooltip("high:Q", format=".4f"), "seeds"])
    bars = base.mark_rule().encode(x=x, y=alt.Y("low:Q", scale=y_scale), y2="high:Q", color=color,
                                   opacity=opacity)
    fits = base.transform_regression("n_train", "error", method="pow", groupby=["group"]).mark_line(
        strokeDash=[3, 3], strokeWidth=1).encode(x=x, y=y, color=color, opacity=opacity)
    # a range that cannot be drawn says so instead of leaving the panels blank
    refused = alt.Chart().transform_aggregate(points="count()").transform_filter(n_lo > n_hi).mark_text(
        text="smallest n is above largest n: pick a smaller one", color="#d62728", fontSize=12).encode(
        x=alt.value(115), y=alt.value(115))
    # the layers carry no data of their own: the facet splits one data set into the panels
    panel = alt.layer(lines, bars, fits, refused).properties(width=230, height=220)
    order = [label for label in VARIANT_LABELS.values() if label in set(frame["variant"])]  # rotated first
    chart = panel.facet(column=alt.Column("variant:N", title=None, sort=order), data=frame)
    return chart.add_params(pick_variant, pick_protocol, n_lo, n_hi, groups)


# --------------------------------------------------------------------------- beyond the paper


def interval_chart(table: pd.DataFrame, *, x: str, x_title: str, y_title: str, pick: str = "dim",
                   pick_title: str = "dimension n: ", value: Any = None, color: str | None = None,
                   y: str = "ratio", reference: float | None = 1.0, log_x: bool = False) -> alt.LayerChart:
    """Estimates with 95% intervals (``y``, ``low``, ``high``) against ``x``, one ``pick`` value at a time.

    The ``pick`` dropdown is an Altair parameter, so it works in the static
    book; ``value`` sets its first choice (the live notebook's widgets pass it).
    ``reference`` draws a dashed line (1: no advantage either way).
    """
    table = table.drop(columns=[c for c in ("difference",) if c in table])  # a Difference is not data for a chart

    def values(column: str) -> list:  # plain Python values, sorted: what a Vega spec can hold
        return [v.item() if hasattr(v, "item") else v for v in sorted(table[column].unique())]

    options = values(pick)
    chosen = alt.param(name=f"pick_{pick}", value=options[0] if value is None else value,
                       bind=alt.binding_select(options=options, name=pick_title))
    scale = alt.Scale(type="log", nice=False, padding=16) if log_x else alt.Scale()  # no point on the frame
    ex = alt.X(f"{x}:{'Q' if log_x else 'N'}", title=x_title, scale=scale,
               **({"axis": alt.Axis(values=values(x))} if log_x else {"sort": list(dict.fromkeys(table[x]))}))
    why = alt.Y(f"{y}:Q", scale=alt.Scale(type="log"), title=y_title, axis=alt.Axis(format="~g"))
    col = alt.Color(f"{color}:N", title=None, legend=alt.Legend(orient="top")) if color else alt.value("#4c78a8")
    offset = {"xOffset": alt.XOffset(f"{color}:N")} if color and not log_x else {}
    base = alt.Chart(table).transform_filter(alt.datum[pick] == chosen)
    points = base.mark_point(filled=True, size=60).encode(
        x=ex, y=why, color=col, **offset,
        tooltip=[alt.Tooltip(c, format=".3g") if table[c].dtype.kind == "f" else c
                 for c in table.columns])
    bars = base.mark_rule().encode(x=ex, y=alt.Y("low:Q", scale=alt.Scale(type="log")), y2="high:Q", color=col,
                                   **offset)
    layers = [bars, points]
    if reference is not None:
        layers.append(alt.Chart(pd.DataFrame({"r": [reference]})).mark_rule(strokeDash=[4, 4], color="#999")
                      .encode(y="r:Q"))
    return alt.layer(*layers).properties(width=360, height=220).add_params(chosen)


VERDICT_COLORS = {"grew": "#4c78a8", "shrank": "#f58518", "reversed": "#e45756", "inconclusive": "#9d9d9d",
                  "missing": "#d9d9d9"}
FOREST_DOMAIN = (0.05, 20.0)  # change in the benefit of equivariance; intervals past it are clipped at the edge


def effects_forest(table: pd.DataFrame) -> alt.FacetChart:
    """The answer page's forest plot: one row per effect (:func:`equilib.analysis.answer.effects`), its change in
    the benefit of equivariance and interval on a log axis, one panel per property, coloured by verdict, with a
    line at "no change". A missing study is a row too, marked at 1 with the word "missing"."""
    data = table.assign(change_at=table["change"].fillna(1.0), low_at=table["low"].fillna(table["change"]),
                        high_at=table["high"].fillna(table["change"]), level=(100 * table["level"]).round(2))
    data["shown"] = np.where(table["verdict"].eq("missing"), "missing", "")
    scale = alt.Scale(type="log", domain=list(FOREST_DOMAIN), clamp=True)
    x = alt.X("change_at:Q", scale=scale, title="change in the benefit of equivariance (ratio; > 1: pays more)",
              axis=alt.Axis(format="~g", values=[0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20]))
    y = alt.Y("effect:N", title=None, sort=list(dict.fromkeys(data["effect"])), axis=alt.Axis(labelLimit=330))
    color = alt.Color("verdict:N", scale=alt.Scale(domain=list(VERDICT_COLORS), range=list(VERDICT_COLORS.values())),
                      legend=alt.Legend(orient="top", title="verdict"))
    tooltip = [alt.Tooltip("effect:N"), alt.Tooltip("source:N"), alt.Tooltip("change:Q", format=".3g"),
               alt.Tooltip("low:Q", format=".3g"), alt.Tooltip("high:Q", format=".3g"),
               alt.Tooltip("level:Q", title="level (%)"), alt.Tooltip("verdict:N"),
               alt.Tooltip("why:N", title="held back by"), alt.Tooltip("seeds:Q"),
               alt.Tooltip("runs:Q", title="runs behind it"),
               alt.Tooltip("detectable:Q", format=".3g", title="found 80% of the time beyond (factor)"),
               alt.Tooltip("finding:N")]
    base = alt.Chart()
    known = base.transform_filter(alt.datum.verdict != "missing")
    bars = known.mark_rule(strokeWidth=2).encode(x=x, x2="high_at:Q", y=y, color=color, tooltip=tooltip) \
        .transform_calculate(change_at="datum.low_at")
    points = known.mark_point(filled=True, size=50).encode(x=x, y=y, color=color, tooltip=tooltip)
    missing = base.transform_filter(alt.datum.verdict == "missing").mark_text(align="left", dx=4, color="#777") \
        .encode(x=x, y=y, text="shown:N", tooltip=tooltip)
    one = base.mark_rule(strokeDash=[4, 4], color="#777").encode(x=alt.datum(1))
    return (alt.layer(one, bars, points, missing, data=data).properties(width=300)
            .facet(row=alt.Row("property:N", sort=list(dict.fromkeys(data["property"])), title=None,
                               header=alt.Header(labelAngle=0, labelAlign="left", labelFontWeight="bold",
                                                 labelOrient="top")))
            .resolve_scale(y="independent"))


# --------------------------------------------------------------------------- exported pictures


