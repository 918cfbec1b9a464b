"""A small Figure 2 sweep, one run at a time against several at once (a process pool, Ray).

Times ``equilib.experiments.mnist.mnist_sweep`` end to end (pool or Ray start-up,
model builds, data loading and training) into a fresh run store for each
executor, and reports runs per hour and the ratio to the first one measured in
the same process. ``local-all`` is the local executor with every core for one
run (the default way to sweep on a CPU); the others give each training
``--threads``. On a CPU the pool and Ray run ``cores / threads`` trainings at
once; on a GPU the pool runs ``--workers`` and Ray as many as the measured
peak memory lets share it. Needs MNIST in ``$EQUILIB_DATA_DIR/mnist``.

    python benchmarks/sweep_mnist.py [--device cuda] [--target-params 400000] [--threads 1]
        [--executors local-all processes ray] [--workers 12]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace

from common import save
from equilib.base.paths import resolve_device
from equilib.experiments.mnist import mnist_sweep
from equilib.experiments.settings import RunSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--groups", nargs="+", default=["trivial", "C4", "C8", "SO2"])
    parser.add_argument("--n-train", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--target-params", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                        help="intra-op threads per training (every executor but local-all)")
    parser.add_argument("--executors", nargs="+", default=["local-all", "local", "processes", "ray"],
                        choices=["local-all", "local", "processes", "ray"])
    parser.add_argument("--workers", type=int, default=None,
                        help="the pool's size (default: cores / threads)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    workers = args.workers or max(1, cores // args.threads)
    device = resolve_device(args.device)
    sweep = dict(variants=["rotated"], groups=args.groups, n_trains=args.n_train, epochs=args.epochs, n_val=1000,
                 n_test=1000, target_params=args.target_params, lr=1e-3)
    here = RunSettings(device=str(device), progress=False, threads=args.threads)
    mnist_sweep(**{**sweep, "groups": ["trivial"], "n_trains": [100]},
                run=replace(here, results=tempfile.mkdtemp()))  # warm caches
    rows, base = {}, None
    for name in args.executors:
        executor = "local" if name == "local-all" else name
        settings = {"threads": cores} if name == "local-all" else {"workers": workers} if name == "processes" else {}
        with tempfile.TemporaryDirectory() as results:
            start = time.perf_counter()
            runs = mnist_sweep(**sweep, run=replace(here, results=results, executor=executor, **settings))
            seconds = time.perf_counter() - start
        per_hour = len(runs) * 3600 / seconds
        base = base or per_hour
        rows[name] = {"runs": len(runs), "seconds": seconds, "runs_per_hour": per_hour, "ratio": per_hour / base}
        print(f"{name:>9s}: {len(runs)} runs in {seconds:6.1f} s, {per_hour:7.1f} runs/h, "
              f"{per_hour / base:4.2f}x {args.executors[0]}", flush=True)
    save("sweep_mnist", device, {"sweep": {k: v for k, v in sweep.items() if k != "progress"}, "executors": rows})


if __name__ == "__main__":
    main()
