"""N-body training throughput at the paper's scale (10,000 samples, batch 128).

Times training steps of each model and reports seconds per epoch (79 steps)
and model-epochs per second, next to the reference implementation's figures on
one H100 (EGNN 1.42 s per epoch, GNN 1.04 s; ../shared/notes/stack.md).

    python benchmarks/train_nbody.py [--device cuda]
"""
from __future__ import annotations

import argparse

import torch

from common import save, timed
from equilib.base.paths import resolve_device
from equilib.models.catalogue import build_model
from equilib.training.loop import RegressionTask

REFERENCE_H100_S_PER_EPOCH = {"egnn": 1.42, "gnn": 1.04}
STEPS_PER_EPOCH = 79  # ceil(10,000 / 128)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    device = resolve_device(args.device)
    task, rows = RegressionTask(), {}
    for name in ("gnn", "egnn"):
        for dim in (2, 3, 8):
            torch.manual_seed(0)
            model = build_model(name, dim).to(device)
            opt = torch.optim.Adam(model.parameters(), lr=5e-4)
            g = torch.Generator().manual_seed(0)
            batch = [t.to(device) for t in (torch.randn(128, 5, dim, generator=g), torch.randn(128, 5, dim, generator=g),
                                            torch.randn(128, 5, generator=g).sign(), torch.randn(128, 5, dim, generator=g))]

            def step():
                loss = task.loss(model, batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            per_step = timed(step, device, repeat=args.steps)
            epoch = per_step * STEPS_PER_EPOCH
            ref = REFERENCE_H100_S_PER_EPOCH[name]
            rows[f"{name}-{dim}"] = {"s_per_step": per_step, "s_per_epoch": epoch, "model_epochs_per_s": 1 / epoch,
                                     "reference_h100_s_per_epoch": ref, "speed_vs_reference": ref / epoch}
            print(f"{name} n={dim}: {per_step * 1e3:.1f} ms/step, {epoch:.2f} s/epoch, {1 / epoch:.2f} model-epochs/s "
                  f"({ref / epoch:.2f}x the reference on one H100)")
    save("train_nbody", device, {"models": rows})


if __name__ == "__main__":
    main()
