"""Train a confirmatory N-body grid (``nbody/confirm`` or ``nbody/confirm-clipped``, each declared in docs/).

One seed at a time, every model and dimension of it, so that a session that ends mid-grid leaves whole seeds
behind (the claims need 3 seeds at every n before they say anything). The runs are the preset's, with the ids a
single sweep would give them; rerun to resume. On a GPU, ``--together`` trains the seeds in one sweep, so that
every seed and dimension of a model shares one stack (a GPU step costs about the same for 1 or 100 members), and
``--models`` splits the models between processes.
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
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--models", nargs="+", default=None, help="train only these of the grid's models")
    parser.add_argument("--together", action="store_true",
                        help="all the seeds in one sweep, so that they share stacks (the GPU way)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="train only these of the grid's seeds (two 1-thread processes on two seeds train more "
                             "per hour than one 2-thread process on a 2-core CPU)")
    args = parser.parse_args()
    protocol = resolve("nbody", args.preset)
    unknown = sorted(set(args.seeds or []) - set(protocol["seeds"]))
    if unknown:
        parser.error(f"seeds {unknown} are not the confirmatory grid's; it declared {protocol['seeds']}")
    unknown = sorted(set(args.models or []) - set(protocol["models"]))
    if unknown:
        parser.error(f"models {unknown} are not the grid's; it declared {protocol['models']}")
    run = RunSettings(results=args.results, threads=args.threads, device=args.device)
    seeds = args.seeds or protocol["seeds"]
    for part in [seeds] if args.together else [[seed] for seed in seeds]:
        nbody_sweep(protocol["dims"], args.models or protocol["models"], part, [protocol["n_train"]],
                    **nbody_training(protocol, protocol["budget_steps"]), run=run)


if __name__ == "__main__":
    main()
