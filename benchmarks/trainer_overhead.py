"""What the trainer costs over a plain PyTorch loop, and a candidate cut in the EGNN's first edge layer.

1. Seconds per training step at batch 128 (10,000 trajectories, n = 3) of
   ``equilib.training.loop.train`` against a bare loop (shuffle, slice, loss,
   backward, Adam) over the same model and data, in the same process. Both
   train the same number of epochs without evaluation in between, so the
   difference is the trainer's own bookkeeping (schedule, metrics, checks).
2. The EGNN's edge MLP starts with a linear layer on ``[h_i, h_j, |x_ij|^2,
   a_ij]`` for every edge. Its ``h_i`` and ``h_j`` parts can be computed once
   per node and gathered (N nodes instead of N(N-1) edges). This times a
   training step with that change against the package's EGNN, checks that
   the outputs agree to float tolerance with the same weights, and says
   whether it reaches the 1.3x that would justify taking it.

    python benchmarks/trainer_overhead.py [--device cuda] [--epochs 2]
"""
from __future__ import annotations

import argparse
import math
import time

import torch

from common import save, sync, timed
from equilib.base.paths import resolve_device
from equilib.models.catalogue import build_model
from equilib.models.graph import EGNN, EGNNLayer
from equilib.training.loop import RegressionTask, TrainConfig, train

N_TRAIN, BATCH, DIM = 10_000, 128, 3


class NodeFirstEGNNLayer(EGNNLayer):
    """The same layer, with the node parts of the edge MLP's first linear map computed per node."""

    def forward(self, h, x, v, edge_index, edge_attr, degree):
        first = self.phi_e[0]
        hidden = self.hidden
        w = first.weight
        self._hi, self._hj = h @ w[:, :hidden].t(), h @ w[:, hidden : 2 * hidden].t()
        return super().forward(h, x, v, edge_index, edge_attr, degree)

    def propagate(self, edge_index, h, x, edge_attr):
        src, dst = edge_index
        diff = x[dst] - x[src]
        first = self.phi_e[0]
        w = first.weight
        hidden = self.hidden
        pre = (self._hi[dst] + self._hj[src] + (diff * diff).sum(-1, keepdim=True) @ w[:, 2 * hidden : 2 * hidden + 1].t()
               + edge_attr @ w[:, 2 * hidden + 1 :].t() + first.bias)
        m = self.phi_e[1:](pre)
        out = torch.cat([m, diff * self.phi_x(m)], dim=-1)
        agg = torch.zeros(h.shape[0], out.shape[1], dtype=out.dtype, device=out.device)
        return agg.index_add_(0, dst, out)


def node_first(model: EGNN) -> EGNN:
    """A copy of ``model`` whose layers compute the first edge map per node (same weights)."""
    clone = build_model("egnn", model.dim)
    clone.layers = torch.nn.ModuleList(NodeFirstEGNNLayer(layer.hidden, edge_dim=2) for layer in model.layers)
    clone.load_state_dict(model.state_dict())
    return clone


def plain_loop(model, data, epochs: int, lr: float, device) -> float:
    """Seconds per step of a bare training loop."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    task, gen = RegressionTask(), torch.Generator().manual_seed(1)
    x = tuple(t.to(device) for t in data)
    sync(device)
    start = time.perf_counter()
    steps = 0
    for _ in range(epochs):
        order = torch.randperm(N_TRAIN, generator=gen).to(device)
        for s in range(0, N_TRAIN, BATCH):
            idx = order[s : s + BATCH]
            loss = task.loss(model, tuple(t[idx] for t in x))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
    sync(device)
    return (time.perf_counter() - start) / steps


def trainer(build, data, epochs: int, lr: float, device) -> float:
    """Seconds per step of ``equilib.training.loop.train`` with the cpu preset's schedule, evaluating only at the end."""
    small = tuple(t[:64] for t in data)
    cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=BATCH, eval_every=epochs, device=str(device),
                      schedule="cosine", warmup=0.05, patience=10)
    start = time.perf_counter()
    train(build, RegressionTask(), {"train": data, "val": small, "test": small}, cfg, progress=False)
    return (time.perf_counter() - start) / (epochs * math.ceil(N_TRAIN / BATCH))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    device = resolve_device(args.device)
    g = torch.Generator().manual_seed(0)
    data = (torch.randn(N_TRAIN, 5, DIM, generator=g), torch.randn(N_TRAIN, 5, DIM, generator=g),
            torch.randn(N_TRAIN, 5, generator=g).sign(), torch.randn(N_TRAIN, 5, DIM, generator=g))
    out: dict = {}
    for name in ("gnn", "egnn"):
        build = lambda name=name: build_model(name, DIM)  # noqa: E731
        torch.manual_seed(0)
        loop = plain_loop(build().to(device), data, args.epochs, 1e-3, device)
        ours = trainer(build, data, args.epochs, 1e-3, device)
        out[name] = {"plain_s_per_step": loop, "trainer_s_per_step": ours, "overhead": ours / loop - 1}
        print(f"{name}: plain loop {loop * 1e3:.2f} ms/step, trainer {ours * 1e3:.2f} ms/step, "
              f"overhead {100 * (ours / loop - 1):+.1f}%", flush=True)

    torch.manual_seed(0)
    base = build_model("egnn", DIM).to(device)
    cut = node_first(base).to(device)
    batch = tuple(t[:BATCH].to(device) for t in data)
    with torch.no_grad():
        err = (base(*batch[:3]) - cut(*batch[:3])).abs().max().item()
    task = RegressionTask()
    rates = {}
    for label, model in (("per edge (package)", base), ("per node (candidate)", cut)):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(model=model, opt=opt):
            loss = task.loss(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        rates[label] = timed(step, device, repeat=30)
    speedup = rates["per edge (package)"] / rates["per node (candidate)"]
    out["edge_layer_cut"] = {"max_abs_output_difference": err, "s_per_step": rates, "speedup": speedup,
                             "taken": bool(speedup >= 1.3 and err < 1e-4)}
    print(f"EGNN first edge layer per node: outputs differ by at most {err:.1e}; "
          f"{rates['per edge (package)'] * 1e3:.2f} -> {rates['per node (candidate)'] * 1e3:.2f} ms/step, "
          f"{speedup:.2f}x ({'reaches' if speedup >= 1.3 else 'below'} the 1.3x bar)")
    save("trainer_overhead", device, out)


if __name__ == "__main__":
    main()
