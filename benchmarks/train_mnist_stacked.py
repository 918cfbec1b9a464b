"""Stacked against one-at-a-time rotated-MNIST training: images per second with the real trainers.

Trains K runs of one group (different seeds, one data stream each) for whole
epochs, first one after another with ``equilib.training.loop.train``, then as
one stacked module with ``equilib.training.stacked.train_stacked``, in the same
process, and reports each path's training images per second and their ratio.
Each rate is the difference between a run of 1 + ``--epochs`` epochs and a run
of 1 epoch, so building, escnn's bases and the first evaluation cancel out.
The data are random images of MNIST's shape (throughput does not depend on
the values); validation and test sets are small, so these are training rates.

One model at a time trains at the same rate whatever K is, so it is measured
once per group (K runs one after another take K times as long) and every K's
ratio is against it. Members are copies of one built model rather than K
escnn builds (seconds each at 400,000 parameters): their weights are equal,
which changes no rate. The file is rewritten after every row, so a run
stopped at a deadline keeps what it measured.

    python benchmarks/train_mnist_stacked.py [--device cuda] [--stacks 1 8 32 64] [--groups trivial C8 SO2]
"""
from __future__ import annotations

import argparse
import copy
import time
from functools import lru_cache

import torch

from common import gpu_processes, save, sync
from equilib.base.paths import resolve_device
from equilib.models.steerable import build_cnn
from equilib.training.loop import ClassificationTask, TrainConfig, train
from equilib.training.stacked import Member, train_stacked


def random_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 29, 29, generator=g), torch.randint(0, 10, (n,), generator=g)


@lru_cache(maxsize=None)
def prototype(group: str, target: int, stack: int = 1) -> torch.nn.Module:
    return build_cnn(group, target_params=target, verbose=False, stack=stack)


def seconds(group: str, k: int, epochs: int, stacked: bool, args, device: torch.device) -> float:
    data = {"train": random_images(args.n_train, 0), "val": random_images(64, 1), "test": random_images(64, 2)}
    configs = [TrainConfig(epochs=epochs, lr=2e-3, batch_size=64, eval_every=epochs, device=str(device), seed=s)
               for s in range(k)]
    build = lambda stack=1: copy.deepcopy(prototype(group, args.target, stack))  # noqa: E731
    build(), build(k)  # built (and cached) before the clock starts
    task = ClassificationTask()
    sync(device)
    start = time.perf_counter()
    if stacked:
        train_stacked([Member(build, data, c) for c in configs], task, stacked=build(k), progress=False)
    else:
        for c in configs:
            train(build, task, data, c, progress=False)
    sync(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--groups", nargs="+", default=["trivial", "C8", "SO2"])
    parser.add_argument("--stacks", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--target", type=int, default=20_000, help="parameters per model (the cpu preset's)")
    parser.add_argument("--n-train", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = []

    def rate(group: str, k: int, stacked: bool) -> float:
        seconds(group, k, 1, stacked, args, device)  # warm-up: CUDA's context, kernels and autotuning for the shape
        span = seconds(group, k, 1 + args.epochs, stacked, args, device) - seconds(group, k, 1, stacked, args, device)
        if span <= 0:  # on a GPU a short epoch is within the noise of building and evaluating
            raise TimeoutError(f"{args.epochs} epoch(s) of {args.n_train} images took no measurable time; "
                               "raise --n-train or --epochs")
        return k * args.n_train * args.epochs / span

    for group in args.groups:
        alone = rate(group, 1, False)
        for k in args.stacks:
            try:
                stacked = alone if k == 1 else rate(group, k, True)
            except torch.cuda.OutOfMemoryError:  # the larger stacks of this group do not fit; the next group may
                print(f"{group:8s} K={k:3d}  out of GPU memory", flush=True)
                torch.cuda.empty_cache()
                break
            except TimeoutError as err:
                print(f"{group:8s} K={k:3d}  {err}", flush=True)
                continue
            row = {"group": group, "K": k, "alone_img_s": alone, "stacked_img_s": stacked}
            row["ratio"] = row["stacked_img_s"] / row["alone_img_s"]
            row["gpu_processes"] = gpu_processes() if device.type == "cuda" else None
            rows.append(row)
            print(f"{group:8s} K={k:3d}  one at a time {row['alone_img_s']:8.0f} img/s   "
                  f"stacked {row['stacked_img_s']:8.0f} img/s   x{row['ratio']:.2f}", flush=True)
            save("train_mnist_stacked", device, {"target_params": args.target, "n_train": args.n_train,
                                                 "epochs": args.epochs, "rows": rows})


if __name__ == "__main__":
    main()
