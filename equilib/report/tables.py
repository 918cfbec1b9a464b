"""Summary tables of the run store for a terminal (the CLI prints them after a sweep): pandas only, so that the
training commands run where the book's packages are not installed (a GPU node)."""
from __future__ import annotations

import pandas as pd

from ..analysis import intervals
from ..models.groups import GROUPS, group_label
from ..tasks.mnist import VARIANT_LABELS


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its ``group`` and ``variant`` columns as a reader names them (plain CNN, SO(2), rotated
    MNIST), as ordered categoricals in the book's order, so that a sort or a pivot keeps it: the store keeps the
    ids, every table a reader sees goes through here."""
    out = table.copy()
    for column, order, name in (("variant", list(VARIANT_LABELS), lambda v: VARIANT_LABELS.get(v, v)),
                                ("group", list(GROUPS), group_label)):
        if column in out:
            present = list(dict.fromkeys(out[column]))
            ids = [i for i in order if i in present] + [i for i in present if i not in order]
            out[column] = pd.Categorical(out[column].map(name), [name(i) for i in ids], ordered=True)
    return out


def nbody_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Geometric-mean test MSE per (dim, model) under both protocols, with the number of seeds."""
    columns = ["dim", "model", "seeds", "best_test", "test_at_best_val"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    finished = runs[runs["status"] == "finished"]
    return (finished.groupby(["dim", "model"])
            .agg(seeds=("seed", "nunique"),
                 best_test=("best_test", lambda v: intervals.geometric_ci(v)[0]),
                 test_at_best_val=("test_at_best_val", lambda v: intervals.geometric_ci(v)[0]))
            .reset_index())


def fits_table(runs: pd.DataFrame, protocol: str = "test_at_best_val", n_min: int = 0,
                   n_max: int | None = None) -> pd.DataFrame:
    """:func:`equilib.analysis.intervals.power_law_fits`, labelled and in the book's group order."""
    out = intervals.power_law_fits(runs, protocol, n_min, n_max)
    if not out.empty:
        out = labelled(out).sort_values(["variant", "group"]).reset_index(drop=True)
        out[["variant", "group"]] = out[["variant", "group"]].astype(str)
    return out
