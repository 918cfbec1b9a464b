"""The EGNN with gradient clipping, paired with the exploratory grid's EGNN runs; its runs go to results/pilots.

In the exploratory grid (``nbody/cpu``, seeds 0-4, peak rate 3e-3) seven EGNN runs at n = 4, 6 and 8 blew up
mid-training (``equilib.analysis.divergence``), and those runs are its 3-5x scatter over seeds. Replayed step by
step (``scripts/egnn_divergence.py``), a blow-up starts with one batch whose coordinate update is 10-20 times the
usual, and Adam turns the gradient spike that follows into a cascade. Here the same runs (model, seeds, data,
protocol) train again with every step's gradient clipped to ``--clip``: the grid's runs are the "before", these
the "after". n = 6 and 8 first (where the grid's runs blew up), then n = 3 (where none did: clipping must not
cost anything there). Resumable: rerun and it trains what the store lacks.
"""
from __future__ import annotations

import argparse

from equilib.experiments.nbody import nbody_sweep, nbody_training
from equilib.experiments.presets import resolve
from equilib.experiments.settings import RunSettings

DIMS = ([6, 8], [3])
SEEDS = [0, 1, 2, 3, 4]
RATE = 3e-3  # the exploratory grid's rate (its pilot's choice)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/pilots")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS, choices=SEEDS)
    args = parser.parse_args()
    base = resolve("nbody", "cpu")
    run = RunSettings(results=args.results, threads=args.threads, device="cpu")
    settings = {**nbody_training(base, base["budget_steps"], RATE), "clip_norm": args.clip}
    for dims in DIMS:
        nbody_sweep(dims, ["egnn"], args.seeds, [base["n_train"]], **settings, run=run)


if __name__ == "__main__":
    main()
