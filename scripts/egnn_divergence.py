"""Replay the exploratory grid's diverged EGNN runs step by step, with and without gradient clipping.

The traces go to the run store (``results/nbody/tables/step-trace-*``), where the N-body page reads them; rerun
to add what is missing.
"""
from __future__ import annotations

import argparse

from equilib.experiments.nbody import nbody_rates, nbody_step_trace
from equilib.experiments.presets import resolve
from equilib.experiments.settings import RunSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", nargs="+", default=["6:2"], help="dim:seed of the exploratory grid's EGNN runs")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--clip", type=float, nargs="+", default=[0.0])
    args = parser.parse_args()
    protocol = resolve("nbody", "cpu")
    run = RunSettings(results=args.results, threads=args.threads, device="cpu")
    protocol["lr"] = nbody_rates(protocol, RunSettings(results=args.results, train_missing=False))
    for spec in args.runs:
        dim, seed = (int(part) for part in spec.split(":"))
        for clip in args.clip:
            trace = nbody_step_trace(protocol, "egnn", dim, seed, args.steps, clip_norm=clip, run=run)
            last = trace.iloc[-1]
            print(f"n={dim} seed={seed} clip={clip:g}: {len(trace)} steps, last loss {last.loss:.3g}, "
                  f"largest gradient norm {trace.grad_norm.max():.3g}, largest shift {trace['shift'].max():.3g}")


if __name__ == "__main__":
    main()
