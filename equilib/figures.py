"""Tables and Altair charts drawn from the run store."""
from __future__ import annotations

import pandas as pd


def nbody_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean test MSE per (dim, model) under both protocols, with the number of seeds."""
    if runs.empty:
        return pd.DataFrame(columns=["dim", "model", "seeds", "best_test", "test_at_best_val"])
    return (runs.groupby(["dim", "model"])
            .agg(seeds=("seed", "nunique"), best_test=("best_test", "mean"),
                 test_at_best_val=("test_at_best_val", "mean"))
            .reset_index())
