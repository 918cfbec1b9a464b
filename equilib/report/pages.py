"""What the pages say in words about their own protocol and results: sentences and cell formats, kept here so
that a page only calls, shows and explains."""
from __future__ import annotations

import pandas as pd
from pandas.io.formats.style import Styler

from ..analysis.rules import GROWTH_OF_INTEREST
from ..models.catalogue import MODEL_LABELS
from .charts import interval_text


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


def power_text(rates: dict[str, float], rule: str) -> str:
    """A rule's size and power, as a reader can use them (from :func:`equilib.analysis.claims.dimension_power`)."""
    def tenths(share: float) -> str:
        return f"{round(10 * share)} of 10"

    return (f"Redrawn with this store's own noise and {rates['seeds']} seeds per point, {rule} says supported in "
            f"{tenths(rates['seen'])} repeats at the ratios seen here, in {tenths(rates['of_interest'])} at a "
            f"{GROWTH_OF_INTEREST:g}-fold rise from the smallest n to the largest, and in {rates['flat']:.0%} of them when the ratio does "
            "not rise at all")


def ratio_grid(table: pd.DataFrame, label: str) -> pd.DataFrame:
    """A ratio table with intervals (:func:`equilib.analysis.intervals.beats_reference_table`) as one cell per
    (variant, group) and training size; a named row when nothing is measured yet."""
    if table.empty:
        return pd.DataFrame({"": ["not yet measured"]})
    shown = table.assign(**{label: [interval_text(r, lo, hi) for r, lo, hi in
                                    zip(table.ratio, table.low, table.high)]})
    return shown.pivot(index=["variant", "group"], columns="n_train", values=label).rename_axis(columns="n")


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
