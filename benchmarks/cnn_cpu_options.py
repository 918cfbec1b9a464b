"""What channels-last memory and ``torch.compile`` buy one rotated-MNIST training step, per group, on this device.

For each group, one model of the cpu preset's size (20,000 parameters) is built
once; each option trains a copy of the same weights on the same batches (batch
64, Adam), in the same process, after warm-up steps. Reported: seconds per step,
the ratio to today's step (above 1: faster), and the largest difference of the
options' logits from today's on the first batch (same weights, so they must
agree to float tolerance before a speed-up counts). An option that fails to run
says why instead of a time.

    python benchmarks/cnn_cpu_options.py [--groups trivial C8 SO2] [--steps 10]
"""
from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F

from common import save, sync
from equilib.base.paths import resolve_device
from equilib.models.steerable import build_cnn


def batches(n: int, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.rand(64, 1, 29, 29, generator=g).to(device), torch.randint(0, 10, (64,), generator=g).to(device))
            for _ in range(n)]


def prepare(model: torch.nn.Module, option: str) -> tuple[torch.nn.Module, bool]:
    if option == "channels-last":
        return model.to(memory_format=torch.channels_last), True
    if option == "compile":
        return torch.compile(model), False
    return model, False


def step_seconds(base: torch.nn.Module, option: str, data, warmup: int) -> tuple[float, float]:
    """Seconds per training step, and the first batch's logits' largest difference from ``base``'s (eval mode)."""
    model = copy.deepcopy(base)
    model, last = prepare(model, option)
    reference = copy.deepcopy(base).eval()
    x0 = data[0][0].contiguous(memory_format=torch.channels_last) if last else data[0][0]
    model.eval()
    with torch.no_grad():
        gap = (model(x0) - reference(data[0][0])).abs().max().item()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for i, (x, y) in enumerate(data):
        if i == warmup:
            sync(x.device)
            start = time.perf_counter()
        x = x.contiguous(memory_format=torch.channels_last) if last else x
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    sync(data[0][0].device)
    return (time.perf_counter() - start) / (len(data) - warmup), gap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--groups", nargs="+", default=["trivial", "C8", "SO2"])
    parser.add_argument("--options", nargs="+", default=["today", "channels-last", "compile"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    device = resolve_device(args.device)
    data = batches(args.warmup + args.steps, device)
    rows = []
    for group in args.groups:
        torch.manual_seed(0)
        base = build_cnn(group, target_params=20_000, verbose=False).to(device)
        today = None
        for option in args.options:
            try:
                seconds, gap = step_seconds(base, option, data, args.warmup)
            except Exception as error:  # noqa: BLE001 - a benchmark reports what failed and goes on
                print(f"{group:8s} {option:14s} failed: {type(error).__name__}: {str(error).splitlines()[0][:120]}")
                rows.append({"group": group, "option": option, "error": f"{type(error).__name__}: {error}"[:300]})
                continue
            today = seconds if option == "today" else today
            ratio = today / seconds if today else float("nan")
            print(f"{group:8s} {option:14s} {seconds * 1e3:8.1f} ms/step  x{ratio:.2f}  "
                  f"{64 / seconds:7.0f} img/s  max |logit gap| {gap:.1e}")
            rows.append({"group": group, "option": option, "seconds_per_step": seconds, "speedup": ratio,
                         "img_per_s": 64 / seconds, "max_logit_gap": gap})
    print(f"wrote {save('cnn_cpu_options', device, {'rows': rows})}")


if __name__ == "__main__":
    main()
