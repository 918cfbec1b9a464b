"""A small Figure 2 sweep with one run at a time against several at once (worker processes).

Times ``equilib.experiments.mnist_sweep`` end to end (process start-up, model
builds, data loading and training) into a fresh run store for each worker
count, and reports runs per hour and the ratio to one worker measured in the
same process. ``--workers auto`` adds the count the sweep itself would choose
(on a GPU: from the free memory; on a CPU: 1). Needs MNIST in
``$EQUILIB_DATA_DIR/mnist``.

    python benchmarks/sweep_mnist.py [--device cuda] [--target-params 400000] [--workers 1 2 4 auto]
"""
from __future__ import annotations

import argparse
import tempfile
import time

from common import save
from equilib.experiments import mnist_sweep
from equilib.paths import resolve_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--groups", nargs="+", default=["trivial", "C4", "C8", "SO2"])
    parser.add_argument("--n-train", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--target-params", type=int, default=20_000)
    parser.add_argument("--workers", nargs="+", default=["1", "2"])
    args = parser.parse_args()
    device = resolve_device(args.device)
    sweep = dict(variants=["rotated"], groups=args.groups, n_trains=args.n_train, epochs=args.epochs, n_val=1000,
                 n_test=1000, target_params=args.target_params, lr=1e-3, device=str(device), progress=False)
    mnist_sweep(results=tempfile.mkdtemp(), **{**sweep, "groups": ["trivial"], "n_trains": [100]}, workers=1)
    rows, base = {}, None
    for choice in args.workers:
        with tempfile.TemporaryDirectory() as results:
            start = time.perf_counter()
            runs = mnist_sweep(results=results, workers=choice if choice == "auto" else int(choice), **sweep)
            seconds = time.perf_counter() - start
        per_hour = len(runs) * 3600 / seconds
        base = base or per_hour
        rows[choice] = {"runs": len(runs), "seconds": seconds, "runs_per_hour": per_hour, "ratio": per_hour / base}
        print(f"workers={choice:>4s}: {len(runs)} runs in {seconds:6.1f} s, {per_hour:7.1f} runs/h, "
              f"{per_hour / base:4.2f}x one at a time", flush=True)
    save("sweep_mnist", device, {"sweep": {k: v for k, v in sweep.items() if k != "progress"}, "workers": rows})


if __name__ == "__main__":
    main()
