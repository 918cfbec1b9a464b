"""What the pages say in words about their own protocol and results: sentences and cell formats, kept here so
that a page only calls, shows and explains."""
from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd
from pandas.io.formats.style import Styler

from ..analysis import intervals
from ..analysis.beyond import BREAKING_OF_INTEREST
from ..analysis.claims import seeds_to_decide
from ..analysis.divergence import settled_loss
from ..analysis.rules import BUDGET_MARGIN, GROWTH_OF_INTEREST, MAX_UNCONVERGED, budget_check, budget_verdict
from ..experiments.protocol import complete_sizes
from ..models.catalogue import MODEL_LABELS
from ..models.groups import group_label
from ..tasks.mnist import VARIANT_LABELS
from .charts import interval_text
from .tables import labelled


def sentence(text: str) -> str:
    """``text`` with its first letter capitalised (a glued clause that starts a sentence on the page)."""
    return text[:1].upper() + text[1:]


def percent(share: float) -> str:
    """A share as a percentage; tiny ones in scientific notation rather than as 0.00%."""
    return f"{share:.2%}" if share >= 1e-4 else f"{100 * share:.1e}%"


def rates_text(rates: float | dict[str, float] | None) -> str:
    """The peak rates an N-body protocol trained with, as the page states them."""
    if isinstance(rates, dict):
        return "each model's pilot rate: " + ", ".join(f"{MODEL_LABELS[m]} {r:g}" for m, r in rates.items())
    return f"{rates}" if rates is not None else "the pilot's (not finished yet)"


def nbody_protocol_text(protocol: dict, runs: pd.DataFrame, rates: float | dict[str, float] | None) -> str:
    """One paragraph: what the N-body grid is and how much of it the store holds."""
    trained = runs[runs.model != "freeflight"]
    devices = ", ".join(sorted(set(trained.device))) or "nothing yet"
    expected = len(protocol["dims"]) * len(protocol["models"]) * len(protocol["seeds"])
    return (f"{protocol['preset']} preset: dimensions {protocol['dims']}, {len(protocol['seeds'])} seeds "
            f"(each with its own data), {protocol['n_train']:,} training / {protocol['n_val']:,} validation / "
            f"{protocol['n_test']:,} test trajectories of {protocol['steps']:,} steps; a budget of "
            f"{protocol['budget_steps']:,} optimiser steps at batch {protocol['batch_size']} with a "
            f"{protocol['schedule']} schedule ({protocol['warmup']:.0%} warm-up), early stopping after "
            f"{protocol['patience']} evaluations without a new best validation MSE (one every "
            f"{protocol['eval_every']} epochs); Adam at {rates_text(rates)}. {len(runs)} of the {expected} runs are "
            f"in the store, trained on {devices} in {trained.wall_time.sum() / 3600:.2f} h")


def tenths(share: float) -> str:
    """A share of redraws as a reader counts it: "7 of 10"."""
    return f"{round(10 * share)} of 10"


def power_text(rates: dict[str, float], rule: str) -> str:
    """A rule's size and power, as a reader can use them (from :func:`equilib.analysis.claims.dimension_power`):
    one sentence, full stop included."""
    return (f"Redrawn with this store's own noise and {rates['seeds']} seeds per point, {rule} says supported in "
            f"{tenths(rates['seen'])} repeats at the ratios seen here, in {tenths(rates['of_interest'])} at a "
            f"{GROWTH_OF_INTEREST:g}-fold rise from the smallest n to the largest, and in {rates['flat']:.0%} of "
            "them when the ratio does not rise at all.")


def convergence_text(trained: pd.DataFrame) -> str:
    """How a grid's trained runs ended: stopped early (and whether any before the protocol allowed it), and still
    improving at their last evaluation against the rules' limit (``rules.MAX_UNCONVERGED``)."""
    if trained.empty:
        return "No trained run in the store yet."
    early = trained[trained["stopped_early"].fillna(False).astype(bool)]
    allowed = trained["stop_after"].fillna(0.0) * trained["budget_steps"]
    too_soon = int((early["stop_step"] < allowed.loc[early.index]).sum())
    return (f"Of its {len(trained)} trained runs, {len(early) / len(trained):.0%} stopped early, "
            f"{'none' if not too_soon else too_soon} before the protocol allowed it; "
            f"{intervals.unconverged_share(trained):.0%} were still improving at their last evaluation "
            f"(the rules allow at most {MAX_UNCONVERGED:.0%}).")


def divergence_text(found: pd.DataFrame) -> str:
    """Which models' runs blew up (:func:`equilib.analysis.divergence.divergences`), at which n and steps, and
    how many never came back, in words."""
    if found.empty:
        return "No trained run with a learning curve in the store yet."
    parts = []
    for model, runs in found.groupby("model", sort=False):
        blown = runs[runs["blew_up"]]
        label = MODEL_LABELS.get(model, model)
        if blown.empty:
            parts.append(f"none of the {len(runs)} {label} runs")
            continue
        dims = ", ".join(str(int(d)) for d in sorted(blown["dim"].unique()))
        never = int((~blown["recovered"]).sum())
        first, last = int(blown["rise_step"].min()), int(blown["rise_step"].max())
        when = f"at step {first:,}" if first == last else f"between steps {first:,} and {last:,}"
        parts.append(f"{len(blown)} of the {len(runs)} {label} runs (at n = {dims}, {when}; "
                     + (f"{never} of them never came back to the loss they had reached)" if never else
                        "each came back to the loss it had reached)"))
    blew = [p for p in parts if not p.startswith("none")]
    held = [p for p in parts if p.startswith("none")]
    said = "; ".join(blew) if blew else "no run"
    return f"Blew up: {said}" + (f"; against {' and '.join(held)}" if held else "") + "."


def budget_text(verdict: dict, rates: dict) -> str:
    """The budget check's verdict (:func:`equilib.analysis.rules.budget_verdict`) and its power
    (:func:`equilib.analysis.claims.budget_power`), in words."""
    margin = f"{BUDGET_MARGIN - 1:.0%}"
    said = {"supported": "long enough: at every n, doubling it moves the GNN / EGNN ratio by less than " + margin,
            "not supported": f"too short: doubling it moves the ratio by more than {margin} beyond doubt at "
                             f"{verdict['beyond']} of {verdict['dims']} n",
            "inconclusive": f"undecided: the change is shown within {margin} at {verdict['within']} of "
                            f"{verdict['dims']} n and beyond it at none",
            "not yet measured": "not measured yet"}[verdict["verdict"]]
    needed = (f"{rates['needed']} seeds per cell would find it 8 times in 10" if rates["needed"] else
              f"not even {rates['tried']} seeds per cell would find it 8 times in 10")
    return (f"The budget is {said}. Redrawn with this check's own noise and {rates['seeds']} seeds per cell, it "
            f"says long enough in {tenths(rates['stable'])} repeats when doubling the budget changes "
            f"nothing, and in {rates['at_margin']:.0%} when it moves a ratio by {margin}; {needed}")


def confirm_protocol_text(name: str, protocol: dict, stored: int) -> str:
    """The confirmatory grid's protocol in one clause, and how much of it the store holds."""
    rates = protocol["lr"]
    rate = (f"rate {next(iter(rates.values())):g} for every model" if isinstance(rates, dict)
            and len(set(rates.values())) == 1 else rates_text(rates))
    expected = len(protocol["dims"]) * len(protocol["models"]) * len(protocol["seeds"])
    return (f"preset {name}: seeds {', '.join(map(str, protocol['seeds']))}, {rate}, early stopping only after "
            f"{protocol['stop_after']:.0%} of the budget; {stored} of its {expected} runs are in the store")


CELL_PADDING = {"selector": "td", "props": "padding: 0.1em 0.6em;"}  # numbers in adjacent columns stay apart


def confirm_source_text(about: dict) -> str:
    """Which confirmatory N-body grid the verdicts come from (:func:`equilib.analysis.answer.confirmatory_grid`,
    as ``stored_effects`` reports it in ``about``), and the later grids still training, in words."""
    name, have, expected = about["confirm_name"], about["confirm_have"], about["confirm_expected"]
    if name is None:
        return "no confirmatory grid was asked for"
    said = (f"all {expected} runs of the {name} grid are in, so these are its verdicts" if have >= expected else
            f"the {name} grid holds {have} of its {expected} runs; its verdicts replace these once it is complete")
    for later, got, of in about.get("confirm_waiting", []):
        said += f"; the {later} grid, declared after it, holds {got} of its {of} runs and takes over once complete"
    return said


def grid_comparison_table(table: pd.DataFrame) -> Styler:
    """:func:`equilib.analysis.claims.grid_comparison`'s ratios as the page shows them: per ratio, one column per
    grid (the spreads are :func:`spread_comparison_table`'s)."""
    if table.empty:
        return pd.DataFrame({"": ["not yet measured"]}).style.hide(axis="index")
    grids = list(dict.fromkeys(c[0] for c in table.columns if isinstance(c, tuple)))
    cells: dict[tuple[str, str], list[str]] = {}
    for name in ("GNN / EGNN", "residual GNN / EGNN"):
        for grid in grids:
            key = (grid, name, "ratio")
            cells[name, grid] = ([interval_text(r, lo, hi) if pd.notna(r) else "–" for r, lo, hi in
                                  zip(table[key], table[(grid, name, "low")], table[(grid, name, "high")])]
                                 if key in table else ["–"] * len(table))
    out = pd.DataFrame(cells, index=pd.Index(table["dim"], name="n"))
    return out.style.set_table_styles([{"selector": "th.col_heading.level0", "props": "text-align: center;"},
                                       CELL_PADDING])


def spread_comparison_table(table: pd.DataFrame) -> Styler:
    """:func:`equilib.analysis.claims.spread_comparison` as the page shows it: a row per model and grid, a column
    per n (narrow enough for the text column)."""
    if table.empty:
        return pd.DataFrame({"": ["not yet measured"]}).style.hide(axis="index")
    shown = table.T.rename(index=MODEL_LABELS, level=0).rename_axis(index=["model", "grid"],
                                                                    columns="n")
    return shown.style.format("{:.2f}x", na_rep="–").set_table_styles([CELL_PADDING])


def clip_comparison_table(table: pd.DataFrame) -> Styler:
    """:func:`equilib.analysis.claims.clip_comparison` for the page: a row per n, before and after side by side."""
    if table.empty:
        return pd.DataFrame({"": ["not yet measured: the clipping pilot has no finished run in the store"]}).style \
            .hide(axis="index")
    shown = pd.DataFrame({
        "n": table["dim"],
        "seeds": table["after_seeds"],
        "blew up, before": table["before_blew_up"], "blew up, after": table["after_blew_up"],
        "spread, before": table["before_spread"].map("{:.2f}x".format),
        "spread, after": table["after_spread"].map("{:.2f}x".format),
        "test MSE, after / before": [interval_text(r, lo, hi) if r == r else "–"
                                     for r, lo, hi in zip(table.ratio, table.low, table.high)],
    })
    return shown.style.hide(axis="index").set_table_styles([CELL_PADDING])


def onset_text(found: dict | None, typical_scale: str = "the largest coordinate update any layer makes") -> str:
    """Where a replayed run blew up (:func:`equilib.analysis.divergence.onset`), in words."""
    if found is None:
        return "No step of this replay stands out: it did not blow up."
    return (f"Up to step {found['step'] - 1:,} nothing is unusual: the median gradient norm is "
            f"{found['typical_grad_norm']:.2g}, and {typical_scale} in a batch is typically "
            f"{found['typical_shift']:.1f}. At step {found['step']:,} one batch's update reaches "
            f"{found['shift']:,.0f}, its loss {found['loss']:.3g} (typically {found['typical_loss']:.2g}), and its "
            f"gradient norm {found['grad_norm']:.3g}")


def replays_text(traces: dict[str, pd.DataFrame]) -> str:
    """How replays of one run ended with each clipping setting (label ``"none"``: unclipped), in words."""
    if not traces:
        return "The replays are not in the store for this preset"
    def amount(x: float) -> str:
        return "beyond float32's range" if x == float("inf") else f"{x:,.0f}" if x < 1e5 else f"{x:.2g}"

    parts = [f"{label}: training loss {settled_loss(t):.3g} over its last tenth, largest update "
             f"{amount(t['shift'].max())}, largest gradient norm {amount(t['grad_norm'].max())}" +
             (" before clipping" if label != "none" else "") for label, t in traces.items()]
    return "Where each replay ended, by clipping (" + "; ".join(parts) + ")"


def clip_text(table: pd.DataFrame) -> str:
    """What the clipping pilot (:func:`equilib.analysis.claims.clip_comparison`) found, in words."""
    if table.empty:
        return "The clipping pilot has no finished run in the store yet."
    parts = []
    for row in table.itertuples():
        change = ("no run blew up either way" if row.before_blew_up == row.after_blew_up == 0 else
                  f"{row.before_blew_up} of {row.before_seeds} runs blew up before, {row.after_blew_up} after")
        ratio = (f"; test MSE after / before {interval_text(row.ratio, row.low, row.high)}"
                 if row.ratio == row.ratio else "")
        parts.append(f"At n = {row.dim} ({row.after_seeds} seeds), {change}; spread over seeds "
                     f"{row.before_spread:.2f}x before, {row.after_spread:.2f}x after{ratio}.")
    return " ".join(parts)


def reproduction_table(table: pd.DataFrame) -> Styler:
    """:func:`equilib.analysis.claims.reproduction_table` for the page."""
    if table.empty:
        return pd.DataFrame({"": ["not yet measured"]}).style.hide(axis="index")
    shown = pd.DataFrame({
        "model": table["model"].map(MODEL_LABELS), "budget (steps)": table["budget_steps"].map("{:,}".format),
        "seeds": table["seeds"],
        "equilib test MSE": [interval_text(m, lo, hi, ".4f") for m, lo, hi in zip(table.mse, table.low, table.high)],
        "EGNN paper": table["published"].map("{:.4f}".format),
        "equilib / paper": [interval_text(r, lo, hi) for r, lo, hi in
                            zip(table.ratio, table.ratio_low, table.ratio_high)],
        "within 10%": table["verdict"].map({"equal": "yes", "above": "no: higher", "below": "no: lower",
                                            "inconclusive": "undecided"})})
    return shown.style.hide(axis="index")


def reproduction_text(table: pd.DataFrame, runs: pd.DataFrame, protocol: dict | None) -> str:
    """What the reproduction shows, in words: each model against its published number, and the ratio between them."""
    if protocol is None:
        return "Skipped in this run (reproduction=None)."
    if table.empty:
        return "None of its runs is in the store yet."
    budget = protocol["budget_steps"]
    by = table[table["budget_steps"] == budget].set_index("model")
    parts = [f"the {MODEL_LABELS[m]}'s {r.ratio:.2f}x the published number [{r.ratio_low:.2f}, {r.ratio_high:.2f}]"
             for m, r in by.iterrows()]
    text = f"At the preset's {budget:,}-step budget, equilib's test MSE is " + " and ".join(parts)
    if {"gnn", "egnn"} <= set(by.index):
        ours = by.loc["gnn", "mse"] / by.loc["egnn", "mse"]
        paper = by.loc["gnn", "published"] / by.loc["egnn", "published"]
        text += f"; GNN / EGNN is {ours:.2f} here against {paper:.2f} in the paper"
    longer = table[table["budget_steps"] > budget]
    for r in longer.itertuples():
        text += (f". At {r.budget_steps:,} steps the {MODEL_LABELS[r.model]} reaches {r.mse:.4f} "
                 f"({r.ratio:.2f}x the published number, {r.seeds} seeds)")
    return text + "."


def published_mnist_table(table: pd.DataFrame) -> Styler:
    """:func:`equilib.analysis.claims.published_mnist_table` for the page: one row per model, ours first (how
    each trained, and where the numbers come from, are in :func:`published_recipes_text`)."""
    if table.empty:
        return pd.DataFrame({"": ["not yet measured"]}).style.hide(axis="index")
    error = [f"{e:.2%}" if pd.isna(s) else
             (f"{e:.2%} [{lo:.2%}, {hi:.2%}]" if pd.notna(lo) else f"{e:.2%} (one seed)")
             for e, lo, hi, s in zip(table.error, table.low, table.high, table.seeds)]
    shown = pd.DataFrame({
        "model": [m if pd.isna(s) else f"{m}, {int(s)} seeds" for m, s in zip(table.model, table.seeds)],
        "group": table["group"].map(lambda g: "{e} (plain)" if g == "trivial" else group_label(g)),
        "test error": error,
        "parameters": table["params"].map(lambda p: "not counted" if pd.isna(p) else f"{int(p):,}"),
        "images": table["n_train"].map("{:,}".format), "augmentation": table["augmentation"]})
    return shown.style.hide(axis="index")


def published_recipes_text(table: pd.DataFrame) -> str:
    """How each model of :func:`published_mnist_table` trained and where its number comes from, in words."""
    ours = table[table["source"] == "this book's store"]
    parts = ([f"ours: {ours['training'].iloc[0]} ({ours['source'].iloc[0]})"] if len(ours) else [])
    parts += [f"{r.model}: {r.training} ({r.source})" for r in table[table["source"] != "this book's store"].itertuples()]
    return "How each trained: " + "; ".join(parts) + "." if parts else ""


def published_gap_text(table: pd.DataFrame) -> str:
    """How far our best model is from each published one, in words (error ratio and parameter ratio)."""
    ours = table[table["source"] == "this book's store"]
    if ours.empty:
        return "No rotated-MNIST run of this protocol is in the store yet."
    best = ours.sort_values("error").iloc[0]
    parts = [f"{p.model} reaches {p.error:.2%} ({best.error / p.error:.1f}x lower error"
             + (f", with {p.params / best.params:.0f}x the parameters)" if pd.notna(p.params) else ")")
             for p in table[table["source"] != "this book's store"].itertuples()]
    return (f"Our best, {best.group} at {best.n_train:,} images, has {best.error:.2%} test error with "
            f"{best.params:,} parameters; " + "; ".join(parts) + ".")


def sizes_by_variant(cells: list[tuple[str, int]]) -> str:
    """[("rotated", 20000), ("rotated", 50000), ("fliprot", 1000)] as
    "rotated MNIST at 20,000 and 50,000; flip-rotated MNIST at 1,000"."""
    def listed(sizes: list[int]) -> str:
        words = [f"{n:,}" for n in sizes]
        return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"

    variants = dict.fromkeys(v for v, _ in cells)
    return "; ".join(f"{VARIANT_LABELS[v]} at {listed([n for w, n in cells if w == v])}" for v in variants)


def large_sizes_text(protocol: dict | None, runs: pd.DataFrame, check: pd.DataFrame | None, expected: int,
                     check_expected: int = 0) -> str:
    """Where the 20,000- and 50,000-image runs (``expected`` of them) and their budget check (``check_expected``)
    stand, in words."""
    if protocol is None:
        return "Skipped in this run (large=None)."
    done = int((runs["status"] == "finished").sum()) if len(runs) else 0
    sizes = " and ".join(f"{n:,}" for n in protocol["n_trains"])
    whole = complete_sizes(protocol, runs)
    text = (f"{done} of the {expected} runs at {sizes} images are in the store"
            + (" (the command line's mnist-protocol with the large preset trains the rest, and on a GPU its stack "
               "option trains the seeds of a group as one module); the figure shows those that are, and the "
               "verdicts take a size once all its declared runs are in: "
               + (f"{sizes_by_variant(whole)} so far" if whole else "none yet")
               if done < expected else "; the figure and the verdicts use all of them"))
    if check is None:
        return text + "."
    return text + ". " + budget_check_text(check, check_expected)


def budget_check_text(check: pd.DataFrame, expected: int = 0) -> str:
    """The MNIST budget check (plain CNN over SO(2) at 50,000 images, at the budget and twice it) in words: the
    runs in, the ratio at each budget, its change with the 95% interval, and the verdict once all ``expected``
    runs are in (the interval is shown as the runs land; the verdict is read once)."""
    have = int((check["status"] == "finished").sum()) if len(check) else 0
    if have == 0:
        return "The budget check has no run in the store yet, so the largest sizes are shown unchecked."
    table = budget_check(check, "trivial", "SO2", column="group", by="n_train")
    runs_in = f"{have} of {expected} runs in" if expected else f"{have} run{'' if have == 1 else 's'}"
    said = f"The budget check ({runs_in})"
    row, top = table.iloc[-1], check["budget_factor"].max()
    if pd.notna(row["change"]):
        said += (f": the plain / SO(2) error ratio is {row['ratio x1']:.2f} at the budget and "
                 f"{row[f'ratio x{top:g}']:.2f} at {top:g}x it, a change "
                 f"of x{interval_text(row['change'], row['low'], row['high'])} over {row['seeds']} seeds")
    elif top == 1:
        said += ": no run at twice the budget yet"
    else:
        said += ": at twice the budget, one group's runs only so far"
    if expected and have < expected:  # one look, at the end: an interim "supported" would add to the check's size
        return said + f"; the verdict waits for all {expected} runs, as declared." + budget_gain_text(check)
    verdict = budget_verdict(table)
    return said + (f"; verdict: {verdict['verdict']}"
                   + ("" if verdict["verdict"] != "not supported" else
                      "; the 50,000-image points are under-trained, and the claims that use them say so") + "."
                   + budget_gain_text(check))


def group_name(group: str) -> str:
    """A group as the prose writes it: "the plain CNN", C8, SO(2)."""
    return "the plain CNN" if group == "trivial" else group_label(group)


def budget_gain_text(check: pd.DataFrame) -> str:
    """What the longer budget bought each group in absolute terms (geometric mean test error at each budget)
    and how many of its runs were still improving when it ended: the ratio can hold while both errors fall."""
    finished = check[check["status"] == "finished"]
    top = finished["budget_factor"].max() if len(finished) else 1.0
    if top == 1.0:
        return ""
    parts, improving = [], []
    for group, runs in finished.groupby("group", sort=False):
        base, longer = (runs[runs["budget_factor"] == f] for f in (1.0, top))
        if base.empty or longer.empty:
            continue
        parts.append(f"{group_name(group)} {intervals.geometric_ci(base['test_at_best_val'])[0]:.2%} to "
                     f"{intervals.geometric_ci(longer['test_at_best_val'])[0]:.2%}")
        if "best_at_last_eval" in longer:
            improving.append(f"{group_name(group)} {int(intervals.improving_at_end(longer).sum())} of {len(longer)}")
    if not parts:
        return ""
    said = (f" In absolute terms, {top:g}x the steps take the test error (geometric mean over seeds) of "
            + " and of ".join(parts))
    if improving:
        said += ("; runs still improving at the last evaluation of the longer budget: " + ", ".join(improving)
                 + f" (more than {MAX_UNCONVERGED:.0%} holds a group's verdicts back)")
    return said + "."


MNIST_CLAIM_NAMES = {"alignment": "the matching group is the best", "regime": "equivariance helps at every size",
                     "slope": "the slopes are similar"}


def capacity_text(verdict: dict) -> str:
    """The capacity question's verdict (:func:`equilib.analysis.claims.capacity_claim`), in words."""
    group = verdict["group"]
    if verdict["verdict"] == "not yet measured":
        return (f"Not yet measured: {verdict['have']} of the {verdict['expected']} runs declared in "
                "docs/confirmatory-capacity.md are in; the verdict waits for all of them.")
    said = (f"At 5x the parameters, {group}'s slope minus the plain CNN's is "
            f"{interval_text(verdict['large'], verdict['low'], verdict['high'], '+.3f')}, against "
            f"{verdict['small']:+.3f} in the smaller models (a change of "
            f"{interval_text(verdict['change'], verdict['change_low'], verdict['change_high'], '+.3f')}). ")
    why = {"above zero": f"its interval lies above 0: {group} still scales differently in the larger model",
           "within margin": f"its interval lies within ±{verdict['margin']:g}: the smaller models' difference was "
                            "a capacity effect",
           "straddles": f"its interval reaches past ±{verdict['margin']:g} without lying above 0",
           "thin": "fewer than 3 seeds have every size",
           "unconverged": "more than 20% of a group's larger runs were still improving at their last evaluation: "
                          + ", ".join(f"{group_name(g)} {share:.0%}"
                                      for g, share in verdict.get("unconverged", {}).items())}
    return said + f"Verdict: {verdict['verdict']} ({why[verdict['why']]})."


def mnist_power_text(table: pd.DataFrame, trained: int = 3) -> str:
    """:func:`equilib.analysis.claims.mnist_power` in words: per claim, what it says at the seeds trained and how
    many seeds would decide it 8 times in 10."""
    needed = seeds_to_decide(table)
    parts = []
    for name, g in table.groupby("claim", sort=False):
        now = g[g["seeds"] == trained].iloc[0] if (g["seeds"] == trained).any() else g.iloc[0]
        answer = "supported" if now["supported"] >= now["not supported"] else "not supported"
        k = needed[name]
        more = (f"{k} seeds per cell would decide it in 8 of 10" if k and k > int(now["seeds"]) else
                "that is already 8 in 10 or more" if k else
                f"not even {int(g['seeds'].max())} seeds per cell would decide it 8 times in 10")
        parts.append(f"“{MNIST_CLAIM_NAMES.get(name, name)}”: with {int(now['seeds'])} seeds per cell the rule "
                     f"says {answer} in {tenths(now[answer])} redraws; {more}")
    return "; ".join(parts) + "."


def breaking_power_text(rates: dict) -> str:
    """:func:`equilib.analysis.beyond.breaking_power` in words."""
    if rates.get("point") is None:
        return ""
    setting, dim = rates["point"]
    return (f"Redrawn with this study's own noise and {rates['seeds']} seeds per point, the walls family claims a "
            f"move in {rates['none']:.0%} of repeats when nothing moved, finds GNN / EGNN at {setting}, n = {dim} "
            f"falling to {BREAKING_OF_INTEREST:g} of the unbroken ratio in {tenths(rates['of_interest'])}, "
            f"and a halving in {tenths(rates['halved'])}.")


def augmentation_power_text(rates: dict) -> str:
    """:func:`equilib.analysis.beyond.augmentation_power` in words."""
    needed = (f"{rates['needed']} seeds per point would say it 8 times in 10" if rates["needed"] else
              f"not even {rates['tried']} seeds per point would say it 8 times in 10: the EGNN's own spread over "
              "seeds at n = 6 and 8 is wider than the 10% margin (the confirmatory protocol narrows it)")
    return (f"If the augmented GNN equalled the EGNN at every n, this rule, redrawn with this study's own noise and "
            f"{rates['seeds']} seeds per point, would say closed in {tenths(rates['tie'])} repeats; "
            f"{needed}.")


def horizon_power_text(rates: dict) -> str:
    """:func:`equilib.analysis.beyond.horizon_power` in words."""
    if rates.get("point") is None:
        return ""
    setting, dim = rates["point"]
    return (f"Redrawn with this study's own noise and {rates['seeds']} seeds per point, the rule claims a move in "
            f"{rates['none']:.0%} of repeats when nothing moves, and finds GNN / EGNN at {setting}, n = {dim} "
            f"moving {rates['factor']:.3g}-fold in {tenths(rates['of_interest'])}: the horizon question "
            "needs more seeds than it has to find any but a large move.")


NOT_READ = "not read yet"  # a ratio grid's cell at a size whose declared runs are not all in


def ratio_grid(tables: Sequence[pd.DataFrame], label: str) -> pd.DataFrame:
    """Ratio tables with intervals (:func:`equilib.analysis.intervals.beats_reference_table`, one per variant) as
    one grid: a cell per (variant, group) and training size. A size one variant's verdicts do not read yet (its
    declared runs are not all in) says so instead of showing a blank; a named row when nothing is measured."""
    measured = [t for t in tables if not t.empty]
    if not measured:
        return pd.DataFrame({"": ["not yet measured"]})
    table = pd.concat(measured, ignore_index=True)
    shown = labelled(table.assign(**{label: [interval_text(r, lo, hi) for r, lo, hi in
                                             zip(table.ratio, table.low, table.high)]}))
    grid = shown.pivot(index=["variant", "group"], columns="n_train", values=label).rename_axis(columns="n")
    return grid.fillna(NOT_READ)


def interval_table(table: pd.DataFrame, columns: list[str], **intervals: tuple[str, str, str]) -> Styler:
    """``columns`` of ``table`` for the page; each keyword names a column made of an (estimate, low, high) triple
    of ``table``'s columns, as text. Floats get three significant figures, not decimals (a short horizon's MSEs
    are of order 1e-4); an empty table says it is not yet measured."""
    if not len(table):
        return pd.DataFrame({"": ["not yet measured"]}).style.hide(axis="index")
    shown = table.assign(**{name: [interval_text(e, lo, hi, ".3g") if pd.notna(e) else "" for e, lo, hi in
                                   zip(*(table[c] for c in triple))] for name, triple in intervals.items()})
    floats = shown[columns].select_dtypes("float").columns
    return shown[columns].style.hide(axis="index").format(na_rep="").format("{:.3g}", subset=floats, na_rep="")


DETECTABLE_CAP = 100.0  # a change only found beyond 100-fold is said as "x100 or more": the digits mean nothing there


def _reach(low: float, high: float) -> str:
    """The factors the undecided effects could have found, in words (above :data:`DETECTABLE_CAP`: "or more")."""
    if low >= DETECTABLE_CAP:
        return f"x{DETECTABLE_CAP:g} or more"
    said = f"x{low:.2g}" + (f"-{high:.2g}" if f"{high:.2g}" != f"{low:.2g}" else "")
    return said if high < DETECTABLE_CAP else f"x{low:.2g}, some only at x{DETECTABLE_CAP:g} or more"


def _changes(changes: pd.Series) -> str:
    """The changes of some effects, in words: "changes 0.6 to 0.7", or "change 1.2" where they print alike."""
    low, high = f"{changes.min():.2g}", f"{changes.max():.2g}"
    return f"change {low}" if low == high else f"changes {low} to {high}"


def missing_text(table: pd.DataFrame) -> str:
    """The effects the store cannot answer yet (:func:`equilib.analysis.answer.effects`' "missing" rows), each
    with how far its declared grid is, where it has one."""
    missing = table[table["verdict"] == "missing"]
    if not len(missing):
        return "none"
    return "; ".join(f"{r.effect} ({r.source})" if str(r.source).startswith("declared") else r.effect
                     for r in missing.itertuples())


_WORD = re.compile(r"\([^)]*\)\S*|\S+")  # a word, or a bracketed phrase with what sticks to it: "(first look)"


def _varies_at(a: list[str], b: list[str]) -> int | None:
    """The one word position where two effect names differ (None if they differ in length or at several words)."""
    differ = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    return differ[0] if len(a) == len(b) and len(differ) == 1 else None


def _listed(values: list[str]) -> str:
    """The words that vary in one run of names, as one list: "rotated, flip-rotated:" (the mark they share said
    once), "(confirmation, first look)" (the brackets they share said once)."""
    mark = values[0][-1]
    if not mark.isalnum() and mark != ")" and all(v[-1] == mark and len(v) > 1 for v in values):
        return _listed([v[:-1] for v in values]) + mark
    if all(v.startswith("(") and v.endswith(")") for v in values):
        return "(" + ", ".join(v[1:-1] for v in values) + ")"
    return ", ".join(values)


def effect_names(names: Sequence[str]) -> str:
    """Several effects in one phrase, each run of names that differ in one word said once with that word listed:
    "n = 4, 6, 8 vs n = 2", not three names that repeat each other (the decision table names every decided
    effect, however many)."""
    runs: list[dict] = []  # each: the first name's words, the position that varies (None: one name), its values
    for name in names:
        words = _WORD.findall(name)
        for run in runs:
            at = _varies_at(run["words"], words)
            if at is not None and run["at"] in (None, at):
                run["at"] = at
                run["values"] = (run["values"] or [run["words"][at]]) + [words[at]]
                break
        else:
            runs.append({"words": words, "at": None, "values": []})
    said = []
    for run in runs:
        words, at = run["words"], run["at"]
        if at is not None:
            words = words[:at] + [_listed(run["values"])] + words[at + 1:]
        said.append(" ".join(words))
    return " and ".join(said)


def decision_table(effects: pd.DataFrame) -> pd.DataFrame:
    """The answer page's decision table: per property, in plain words, which way the benefit of equivariance
    moved where the store decides it, how many of its effects are decided, how large a change the undecided ones
    could have found (80% power), how many were held back by runs still improving, and whether it repeats a
    published finding (from
    :func:`equilib.analysis.answer.effects`)."""
    rows = []
    for prop, at in effects.groupby("property", sort=False):
        measured = at[at["verdict"] != "missing"]
        decided = measured[measured["verdict"].isin(["grew", "shrank", "reversed"])]
        held = measured["why"].ne("")  # MNIST rows held back by runs still improving (answer.effects' "why")
        free = measured[~held]  # the rows whose seeds were allowed to speak
        if measured.empty:
            said, sure = "not measured yet: " + "; ".join(at["effect"]), "missing"
        elif decided.empty and free.empty:  # nothing was judged: the seeds did not say "no change"
            said = f"undecided: every effect held back by runs still improving ({_changes(measured['change'])})"
            sure = f"0 of {len(measured)} decided"
        elif decided.empty:
            said = (f"no change beyond doubt ({_changes(free['change'])}"
                    + (f", in the {len(free)} effect{'s' if len(free) > 1 else ''} not held back)"
                       if held.any() else ")"))
            sure = f"0 of {len(measured)} decided"
        else:
            words = {"grew": "pays more", "shrank": "pays less", "reversed": "reverses: the plain model wins"}
            parts = [f"{words[v]} for {effect_names(g['effect'])} ({_changes(g['change'])})"
                     for v, g in decided.groupby("verdict", sort=False)]
            said = "; ".join(parts)
            sure = f"{len(decided)} of {len(measured)} decided"
        if len(measured) and len(measured) < len(at):  # a study of this property still to run: named, not dropped
            said += "; not measured yet: " + "; ".join(at.loc[at["verdict"] == "missing", "effect"])
        undecided = measured.loc[~measured.index.isin(decided.index) & ~held, "detectable"]
        reach = undecided.dropna()
        if len(reach):  # what an "inconclusive" could not rule out
            sure += "; the undecided find a change 80% of the time only beyond " + _reach(reach.min(), reach.max())
        if undecided.isna().any():
            sure += f"; {int(undecided.isna().sum())} with too few seeds for an interval"
        if held.any():
            sure += f"; {int(held.sum())} held back by runs still improving at their last evaluation"
        rows.append({"property": prop, "the benefit of equivariance": said, "how sure": sure,
                     "finding": at["finding"].iloc[0]})
    return pd.DataFrame(rows)
