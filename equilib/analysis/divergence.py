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
SPIKE_FACTOR = 100.0  # one step's gradient norm this many times the median before it: where a blow-up starts
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


def onset(trace: pd.DataFrame, factor: float = SPIKE_FACTOR) -> dict | None:
    """Where a step-by-step trace (:func:`~equilib.experiments.nbody.nbody_step_trace`) first blew up.

    The first step whose gradient norm is more than ``factor`` times the median
    of every step before it, with that step's loss and largest coordinate
    update against the medians before it; ``None`` when no step is.
    """
    norms = trace["grad_norm"].to_numpy(dtype=float)
    typical = pd.Series(norms).expanding().median().shift(1).to_numpy()
    hits = np.flatnonzero(norms[1:] > factor * typical[1:]) + 1
    if not len(hits):
        return None
    at = int(hits[0])
    before = trace.iloc[:at]
    return {"step": int(trace["step"].iloc[at]), "grad_norm": float(norms[at]), "typical_grad_norm": float(typical[at]),
            "loss": float(trace["loss"].iloc[at]), "typical_loss": float(before["loss"].median()),
            "shift": float(trace["shift"].iloc[at]), "typical_shift": float(before["shift"].median())}


def settled_loss(trace: pd.DataFrame, share: float = 0.1) -> float:
    """The median training loss over the last ``share`` of a trace's steps: where the replay ended up."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be a fraction in (0, 1], got {share!r}")
    return float(trace["loss"].iloc[-max(1, round(share * len(trace))):].median())
