"""Stacked against one-at-a-time N-body training, at the paper's scale (10,000 samples, batch 128).

Runs the real trainers (``equilib.training.loop.train`` and
``equilib.training.stacked.train_stacked``) for whole epochs on random data of the
paper's shapes (throughput does not depend on the values) and reports
model-epochs per second and the ratio to the one-at-a-time path measured in
the same process. The protocol's stacks hold every dimension (padded to R^8)
and seed of one model, as the sweep builds them. Each rate is the difference
between a run of 1 + ``--epochs`` epochs and a run of 1 epoch, so set-up and
compile time cancel out (the overhead is reported on its own). Validation and
test sets are small here, so the rates are training throughput: the
protocol's evaluation (4,000 samples, forward only, every 10 epochs) adds
about 1-2 %.

Projects the paper's Figure 1 protocol (10,000 epochs x 5 dimensions x 2
models x 5 seeds) from the measured rates.

    python benchmarks/train_stacked.py [--device cuda] [--epochs 1]
"""
from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from common import save, sync
from equilib.base.paths import resolve_device
from equilib.experiments.nbody import nbody_member
from equilib.models.catalogue import build_model
from equilib.training.loop import RegressionTask, TrainConfig, train
from equilib.training.stacked import train_stacked

DIMS = (2, 3, 4, 6, 8)
N_TRAIN, N_EVAL, PARTICLES = 10_000, 128, 5
PROTOCOL_EPOCHS, PROTOCOL_SEEDS = 10_000, 5


def random_data(dim: int, pad_to: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)

    def split(n):
        x, v, xT = (F.pad(torch.randn(n, PARTICLES, dim, generator=g), (0, pad_to - dim)) for _ in range(3))
        return x, v, torch.randint(0, 2, (n, PARTICLES), generator=g).float() * 2 - 1, xT

    return {"train": split(N_TRAIN), "val": split(N_EVAL), "test": split(N_EVAL)}


def seconds(name: str, dims: list[int], seeds: int, epochs: int, compiled: bool, device: torch.device) -> float:
    """Wall time to train ``len(dims) * seeds`` models for ``epochs`` (stacked if more than one)."""
    top = max(dims)
    cfgs = [TrainConfig(epochs=epochs, eval_every=epochs, device=str(device), seed=s) for s in range(seeds)]
    data = {d: random_data(d, top, d) for d in dims}
    task = RegressionTask()
    sync(device)
    start = time.perf_counter()
    if len(dims) * seeds == 1:
        train(lambda: build_model(name, dims[0]), task, data[dims[0]], cfgs[0], progress=False)
    else:
        members = [nbody_member(name, d, top, data[d], c) for d in dims for c in cfgs]
        train_stacked(members, task, template=build_model(name, top), progress=False, compiled=compiled)
    sync(device)
    return time.perf_counter() - start


def rate(name: str, dims: list[int], seeds: int, epochs: int, compiled: bool, device: torch.device) -> tuple:
    """Model-epochs per second over ``epochs`` epochs, with set-up and compile cancelled; and the overhead (s)."""
    short = seconds(name, dims, seeds, 1, compiled, device)
    long = seconds(name, dims, seeds, 1 + epochs, compiled, device)
    per_epoch = (long - short) / epochs
    return len(dims) * seeds / per_epoch, short - per_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=1, help="epochs timed, after one that absorbs set-up")
    args = parser.parse_args()
    device = resolve_device(args.device)
    seconds("egnn", [3], 1, 1, False, device)  # warm-up: first-call costs out of the baseline
    cases = {name: [("one at a time, n=3", [3], 1, False), ("stack of 5 seeds, n=3", [3], 5, False),
                    ("stack of 5 dims x 5 seeds (protocol)", list(DIMS), 5, False),
                    ("stack of 5 dims x 5 seeds (protocol), compiled", list(DIMS), 5, True)]
             for name in ("gnn", "egnn")}
    rows = {}
    for name, runs in cases.items():
        base = None
        for label, dims, seeds, compiled in runs:
            speed, overhead = rate(name, dims, seeds, args.epochs, compiled, device)
            base = base or speed
            rows[f"{name}: {label}"] = {"models": len(dims) * seeds, "model_epochs_per_s": speed,
                                        "ratio_to_one_at_a_time": speed / base, "overhead_s": overhead}
            print(f"{name:4s} {label:46s} {speed:8.3f} model-epochs/s  {speed / base:5.2f}x one at a time  "
                  f"(set-up and compile {overhead:5.1f} s)", flush=True)
    models = len(DIMS) * PROTOCOL_SEEDS
    ways = {"one_at_a_time": "one at a time, n=3", "stacked": "(protocol)", "stacked_compiled": "(protocol), compiled"}
    projection = {}
    for way, label in ways.items():
        speeds = [r["model_epochs_per_s"] for key, r in rows.items() if key.endswith(label)]
        projection[f"{way}_hours"] = PROTOCOL_EPOCHS * models * sum(1 / r for r in speeds) / 3600
    print(f"Figure 1 protocol ({PROTOCOL_EPOCHS} epochs x {len(DIMS)} dims x 2 models x {PROTOCOL_SEEDS} seeds), "
          "hours: " + ", ".join(f"{k[:-6].replace('_', ' ')} {v:.1f}" for k, v in projection.items()))
    save("train_stacked", device, {"epochs": args.epochs, "n_train": N_TRAIN, "batch_size": 128, "cases": rows,
                                   "figure1_protocol": projection})


if __name__ == "__main__":
    main()
