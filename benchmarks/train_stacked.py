"""Stacked against one-at-a-time N-body training, at the paper's scale (10,000 samples, batch 128).

Runs the real trainers (``equilib.training.train`` and
``equilib.stacking.train_stacked``) for whole epochs on random data of the
paper's shapes (throughput does not depend on the values) and reports
model-epochs per second and the ratio to the one-at-a-time path measured in
the same process. The EGNN stack of 25 is the paper's protocol stack: 5
dimensions (padded to R^8) x 5 seeds; the GNN stacks across seeds only.
Validation and test sets are small here, so the figures are training
throughput: the protocol's evaluation (4,000 samples, forward only, every 10
epochs) adds about 1-2 %.

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
from equilib.models import build_model
from equilib.paths import resolve_device
from equilib.stacking import Member, train_stacked
from equilib.training import RegressionTask, TrainConfig, train

DIMS = (2, 3, 4, 6, 8)
N_TRAIN, N_EVAL, PARTICLES = 10_000, 128, 5
PROTOCOL_EPOCHS, PROTOCOL_SEEDS = 10_000, 5


def random_data(dim: int, pad_to: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)

    def split(n):
        x, v, xT = (F.pad(torch.randn(n, PARTICLES, dim, generator=g), (0, pad_to - dim)) for _ in range(3))
        return x, v, torch.randint(0, 2, (n, PARTICLES), generator=g).float() * 2 - 1, xT

    return {"train": split(N_TRAIN), "val": split(N_EVAL), "test": split(N_EVAL)}


def model_epochs_per_s(name: str, dims: list[int], seeds: int, epochs: int, device: torch.device) -> float:
    """Train ``len(dims) * seeds`` models (stacked if more than one); return model-epochs per second."""
    top = max(dims)
    cfgs = [TrainConfig(epochs=epochs, eval_every=epochs, device=str(device), seed=s) for s in range(seeds)]
    data = {d: random_data(d, top, d) for d in dims}
    task = RegressionTask()
    sync(device)
    start = time.perf_counter()
    if len(dims) * seeds == 1:
        train(lambda: build_model(name, dims[0]), task, data[dims[0]], cfgs[0], progress=False)
    else:
        members = [Member(lambda d=d: build_model(name, d), data[d], c, pad_ratio=top / d) for d in dims for c in cfgs]
        train_stacked(members, task, template=build_model(name, top), progress=False)
    sync(device)
    return len(dims) * seeds * epochs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--big", type=int, default=25, help="seeds in the largest single-dimension stack")
    args = parser.parse_args()
    device = resolve_device(args.device)
    model_epochs_per_s("egnn", [3], 1, 1, device)  # warm-up: first-call costs out of the baseline
    cases = {
        "gnn": [("one at a time, n=3", [3], 1), ("stack of 5 seeds, n=3", [3], 5),
                (f"stack of {args.big} seeds, n=3", [3], args.big)],
        "egnn": [("one at a time, n=3", [3], 1), ("stack of 5 seeds, n=3", [3], 5),
                 ("stack of 5 dims x 5 seeds (protocol)", list(DIMS), 5),
                 (f"stack of {args.big} seeds, n=3", [3], args.big)],
    }
    rows = {}
    for name, runs in cases.items():
        base = None
        for label, dims, seeds in runs:
            rate = model_epochs_per_s(name, dims, seeds, args.epochs, device)
            base = base or rate
            rows[f"{name}: {label}"] = {"models": len(dims) * seeds, "model_epochs_per_s": rate,
                                        "ratio_to_one_at_a_time": rate / base}
            print(f"{name:4s} {label:38s} {rate:8.3f} model-epochs/s  {rate / base:5.2f}x one at a time", flush=True)
    models = len(DIMS) * PROTOCOL_SEEDS
    single = {m: rows[f"{m}: one at a time, n=3"]["model_epochs_per_s"] for m in ("gnn", "egnn")}
    stacked = {"gnn": rows["gnn: stack of 5 seeds, n=3"]["model_epochs_per_s"],
               "egnn": rows["egnn: stack of 5 dims x 5 seeds (protocol)"]["model_epochs_per_s"]}
    projection = {f"{way}_hours": PROTOCOL_EPOCHS * models * sum(1 / r for r in rates.values()) / 3600
                  for way, rates in (("one_at_a_time", single), ("stacked", stacked))}
    print(f"Figure 1 protocol ({PROTOCOL_EPOCHS} epochs x {len(DIMS)} dims x 2 models x {PROTOCOL_SEEDS} seeds): "
          f"{projection['one_at_a_time_hours']:.1f} h one at a time, {projection['stacked_hours']:.1f} h stacked")
    save("train_stacked", device, {"epochs": args.epochs, "n_train": N_TRAIN, "batch_size": 128, "cases": rows,
                                   "figure1_protocol": projection})


if __name__ == "__main__":
    main()
