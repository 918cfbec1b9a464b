"""Training throughput of the rotated-MNIST CNNs (images per second at batch 64) per group.

Reference, tutorial-style escnn models of about 2M parameters on one H100:
plain CNN 20,200 img/s, C8 4,070, D8 2,090, SO(2) 2,200, O(2) 1,530.

    python benchmarks/train_mnist.py [--device cuda] [--target 400000]
"""
from __future__ import annotations

import argparse

import torch
from torch.nn import functional as F

from common import save, timed
from equilib.base.paths import resolve_device
from equilib.models.catalogue import count_parameters
from equilib.models.groups import GROUPS
from equilib.models.steerable import build_cnn

REFERENCE_H100 = {"trivial": 20_200, "C8": 4_070, "D8": 2_090, "SO2": 2_200, "O2": 1_530}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--target", type=int, default=400_000)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = {}
    for group in GROUPS:
        model = build_cnn(group, target_params=args.target, verbose=False).to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=5e-5)
        x = torch.randn(64, 1, 29, 29, device=device)
        y = torch.randint(0, 10, (64,), device=device)

        def step():
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        rate = 64 / timed(step, device, repeat=args.steps)
        rows[group] = {"params": count_parameters(model), "img_per_s": rate, "reference_h100": REFERENCE_H100.get(group)}
        ref = f" (reference on one H100, ~2M params: {REFERENCE_H100[group]:,})" if group in REFERENCE_H100 else ""
        print(f"{group:7s} {count_parameters(model):8,d} params: {rate:8.0f} img/s{ref}")
    save(f"train_mnist-{args.target}", device, {"groups": rows})


if __name__ == "__main__":
    main()
