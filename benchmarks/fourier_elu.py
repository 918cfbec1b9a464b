"""Training speed of the SO(2) and O(2) CNNs with escnn's Fourier ELU against ours, in one process.

Also profiles one training step of each and prints where its time goes (top
operators by self time), which is how the Fourier ELU's einsum layout copies
were found. Same weights, same batch; only the Fourier ELU's class differs.

    python benchmarks/fourier_elu.py [--device cpu] [--target 20000] [--steps 10]
"""
from __future__ import annotations

import argparse

import torch
from torch.nn import functional as F

from common import save, timed
from equilib.base.paths import resolve_device
from equilib.models.steerable import build_cnn


def _step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _with_escnn_elu(model: torch.nn.Module) -> torch.nn.Module:
    from escnn import nn as enn

    from equilib.models.escnn_layers import FourierELU

    for m in model.modules():
        if isinstance(m, FourierELU):
            m.__class__ = enn.FourierELU
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--target", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    device = resolve_device(args.device)
    x = torch.randn(args.batch, 1, 29, 29, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)
    rows = {}
    for group in ("SO2", "O2"):
        rates = {}
        for name in ("escnn", "equilib", "escnn", "equilib"):  # interleaved, best of two, against drift
            torch.manual_seed(0)
            model = build_cnn(group, target_params=args.target, verbose=False).to(device).train()
            model = _with_escnn_elu(model) if name == "escnn" else model
            rate = args.batch / timed(_step(model, x, y), device, repeat=args.steps)
            rates[name] = max(rate, rates.get(name, 0.0))
        torch.manual_seed(0)
        model = build_cnn(group, target_params=args.target, verbose=False).to(device).train()
        with torch.profiler.profile() as prof:
            _step(model, x, y)()
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8)
        rows[group] = {**{f"{k}_img_per_s": v for k, v in rates.items()},
                       "speedup": rates["equilib"] / rates["escnn"]}
        print(f"{group}: escnn Fourier ELU {rates['escnn']:.0f} img/s, ours {rates['equilib']:.0f} img/s "
              f"({rows[group]['speedup']:.2f}x)\nwhere one step of ours spends its time:\n{table}")
    save(f"fourier_elu-{args.target}", device, {"batch": args.batch, "groups": rows})


if __name__ == "__main__":
    main()
