"""Runs whose training blew up: read from the stored learning curves, no retraining.

A run that diverges mid-training and never comes back still records a test
error, the one at its best validation before the blow-up, so in a table of
results it looks like a run that merely did worse. Its curve tells them apart:
the training loss, which otherwise falls with noise, jumps far above the lowest
value it had reached. When the factor was set, the largest such
jump of any GNN or residual GNN is 5.3x; seven EGNN runs jumped between 100x
and 1e31x. ``BLOWUP_FACTOR`` sits between.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

BLOWUP_FACTOR = 10.0  # a training loss this many times the lowest it had reached: the run blew up
RUN_COLUMNS = ["run_id", "model", "dim", "seed", "lr", "steps_per_epoch", "best_val_step"]


def divergences(runs: pd.DataFrame, curves: pd.DataFrame, factor: float = BLOWUP_FACTOR) -> pd.DataFrame:
    """Per trained run with a curve: its largest rise and whether it blew up.

    ``rise`` is the largest ratio of an evaluation's training loss to the
    lowest of the evaluations before it; ``rise_step`` is the optimiser step of
    that evaluation; ``blew_up`` is ``rise > factor``; ``recovered`` says
    whether the last training loss came back within ``factor`` of the lowest
    reached before the blow-up (always true for runs that did not blow up).
    """
    if not factor > 1:
        raise ValueError(f"factor must be a number > 1 (a rise of the training loss), got {factor!r}")
    missing = sorted(set(RUN_COLUMNS) - set(runs.columns))
    if missing:
        raise ValueError(f"runs lack the column(s) {missing}")
    trained = runs[runs["steps_per_epoch"].fillna(0) > 0]
    rows = []
    by_run = {k: g.sort_values("epoch") for k, g in curves[curves["run_id"].isin(trained["run_id"])].groupby("run_id")}
    for run in trained[RUN_COLUMNS].itertuples(index=False):
        curve = by_run.get(run.run_id)
        if curve is None or len(curve) < 2:
            continue
        loss = curve["train_loss"].to_numpy(dtype=float)
        lowest = np.minimum.accumulate(loss)
        jumps = loss[1:] / lowest[:-1]
        at = int(np.nanargmax(jumps)) + 1
        rise = float(jumps[at - 1])
        blew_up = rise > factor
        recovered = (not blew_up) or float(loss[-1]) <= factor * float(lowest[at - 1])
        rows.append({**run._asdict(), "rise": rise, "rise_step": int(curve["epoch"].iloc[at]) * int(run.steps_per_epoch),
                     "blew_up": blew_up, "recovered": recovered})
    return pd.DataFrame(rows, columns=[*RUN_COLUMNS, "rise", "rise_step", "blew_up", "recovered"])


def divergence_table(found: pd.DataFrame) -> pd.DataFrame:
    """Per model and peak rate: trained runs, how many blew up, how many never recovered, and at which n."""
    if found.empty:
        return pd.DataFrame(columns=["model", "lr", "runs", "blew_up", "not_recovered", "dims"])
    grouped = found.groupby(["model", "lr"], sort=True)
    return grouped.apply(lambda g: pd.Series({
        "runs": len(g), "blew_up": int(g["blew_up"].sum()),
        "not_recovered": int((g["blew_up"] & ~g["recovered"]).sum()),
        "dims": sorted(int(d) for d in g.loc[g["blew_up"], "dim"].unique())}), include_groups=False).reset_index()
