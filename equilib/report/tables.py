"""Summary tables of the run store for a terminal (the CLI prints them after a sweep): pandas only, so that the
training commands run where the book's packages are not installed (a GPU node)."""
from __future__ import annotations

import pandas as pd

from ..analysis import intervals
from ..models.groups import GROUPS
from ..tasks.mnist import VARIANT_LABELS


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
        out["variant"] = out["variant"].map(lambda v: VARIANT_LABELS.get(v, v))
        out["group"] = pd.Categorical(out["group"], GROUPS, ordered=True)
        out = out.sort_values(["variant", "group"]).reset_index(drop=True)
        out["group"] = out["group"].astype(str)
    return out
