"""The EGNN paper's Table 2 on its own N-body task (issue 26), with equilib's simulator, models and trainer.

The preset ``nbody/egnn-paper`` is the task and protocol (3D, NRI's law and clip, the authors' own
trajectories, input at step 3,100, target 1,000 steps on, 3,000 training trajectories, batch 100, constant
rates 1e-3 for the GNN and 5e-4 for the EGNN, test at the best validation). Published test MSE: GNN 0.0107,
EGNN 0.0071 (Satorras et al. 2021, Table 2).

Stages, in this order, each resumable (rerun and it trains what the store lacks):

1. ``table``: the preset, seeds 0-4: the GNN, the EGNN and free flight at the preset's budget (15,000 steps).
2. ``gap``: why the GNN falls short. The reference trains 10,000 epochs (300,000 steps) where the preset
   trains 15,000; the GNN's validation curve past 15,000 steps at the same constant rate says whether the
   budget is the cause: the GNN at 4x the budget (60,000 steps), seeds 0-2, every evaluation on the curve.
   (Seeds 3 and 4 of the table came after: 3 seeds left the EGNN's interval [0.87, 1.07] of the published
   number, wider than the 10% the reproduction is judged by.)

Runs go to the N-body store (``--results``); the N-body page reads them from there.
"""
from __future__ import annotations

import argparse

from equilib.experiments.nbody import nbody_sweep, nbody_training
from equilib.experiments.presets import resolve
from equilib.experiments.settings import RunSettings

PUBLISHED = {"gnn": 0.0107, "egnn": 0.0071}  # Satorras et al. 2021, Table 2 (test MSE)
GAP_FACTOR = 4
GAP_SEEDS = [0, 1, 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stages", nargs="+", default=["table", "gap"], choices=["table", "gap"])
    args = parser.parse_args()
    protocol = resolve("nbody", "egnn-paper")
    run = RunSettings(results=args.results, threads=args.threads, device="cpu")
    if "table" in args.stages:
        nbody_sweep(protocol["dims"], protocol["models"], protocol["seeds"], [protocol["n_train"]],
                    **nbody_training(protocol, protocol["budget_steps"]), run=run)
    if "gap" in args.stages:
        nbody_sweep(protocol["dims"], ["gnn"], GAP_SEEDS, [protocol["n_train"]],
                    **nbody_training(protocol, GAP_FACTOR * protocol["budget_steps"]), run=run)


if __name__ == "__main__":
    main()
