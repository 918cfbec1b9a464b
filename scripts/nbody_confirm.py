"""Train a confirmatory N-body grid (``nbody/confirm`` or ``nbody/confirm-clipped``, each declared in docs/).

One seed at a time, every model and dimension of it, so that a session that ends mid-grid leaves whole seeds
behind (the claims need 3 seeds at every n before they say anything). The runs are the preset's, with the ids a
single sweep would give them; rerun to resume.
"""
from __future__ import annotations

import argparse

from equilib.experiments.nbody import nbody_sweep, nbody_training
from equilib.experiments.presets import resolve
from equilib.experiments.settings import RunSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="confirm", choices=["confirm", "confirm-clipped"])
    parser.add_argument("--results", default="results")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="train only these of the grid's seeds (two 1-thread processes on two seeds train more "
                             "per hour than one 2-thread process on a 2-core CPU)")
    args = parser.parse_args()
    protocol = resolve("nbody", args.preset)
    unknown = sorted(set(args.seeds or []) - set(protocol["seeds"]))
    if unknown:
        parser.error(f"seeds {unknown} are not the confirmatory grid's; it declared {protocol['seeds']}")
    run = RunSettings(results=args.results, threads=args.threads, device="cpu")
    for seed in args.seeds or protocol["seeds"]:
        nbody_sweep(protocol["dims"], protocol["models"], [seed], [protocol["n_train"]],
                    **nbody_training(protocol, protocol["budget_steps"]), run=run)


if __name__ == "__main__":
    main()
