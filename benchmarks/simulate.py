"""N-body simulator speed and energy behaviour.

Reports trajectory-steps per second per dimension, the projected time to
generate the paper's data (12,000 trajectories x 10,000 steps for n = 2, 3, 4,
6, 8), the ratio to a reference-style simulator (NRI's loop: one trajectory at a
time in numpy) timed in the same process, and the relative energy error over
10,000 steps with and without the harmonic-core force cap.

    python benchmarks/simulate.py [--device cuda] [--full]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from common import save, sync, timed
from equilib.base.paths import resolve_device
from equilib.tasks import nbody

PAPER_TRAJECTORIES = 12_000
PAPER_STEPS = 10_000


def reference_numpy(x, v, c, steps, dt=1e-3, p=3, cap=100.0):
    """NRI-style: one trajectory, numpy arrays, pairwise matrices each step."""
    for _ in range(steps):
        diff = x[:, None, :] - x[None, :, :]
        r = np.sqrt((diff**2).sum(-1))
        np.fill_diagonal(r, 1.0)
        mag = np.minimum(r ** (1 - p), cap)
        coef = (c[:, None] * c[None, :]) * mag / r
        np.fill_diagonal(coef, 0.0)
        f = (coef[..., None] * diff).sum(1)
        v = v + dt * f
        x = x + dt * v
    return x, v


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=400, help="steps timed per dimension (then projected)")
    parser.add_argument("--full", action="store_true", help="also generate the full paper data (minutes)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = {}
    print(f"device: {device}")
    # reference: one trajectory at a time in numpy, timed here
    x, v, c = (t[0].numpy() for t in nbody.initial_state(1, 3, seed=0))
    ref_steps = 2000
    start = time.perf_counter()
    reference_numpy(x, v, c, ref_steps)
    ref_rate = ref_steps / (time.perf_counter() - start)
    print(f"reference (numpy, one trajectory): {ref_rate:,.0f} traj-steps/s -> "
          f"{PAPER_STEPS / ref_rate:.2f} s per 10,000-step trajectory")
    total = 0.0
    for dim in nbody.PAPER_DIMS:
        x, v, c = (t.to(device) for t in nbody.initial_state(PAPER_TRAJECTORIES, dim, seed=0))
        chunk = PAPER_TRAJECTORIES if device.type == "cuda" else 4096

        def run():
            for s in range(0, PAPER_TRAJECTORIES, chunk):
                nbody.simulate(x[s:s + chunk], v[s:s + chunk], c[s:s + chunk], steps=args.steps)

        seconds = timed(run, device)
        rate = PAPER_TRAJECTORIES * args.steps / seconds
        projected = PAPER_TRAJECTORIES * PAPER_STEPS / rate
        total += projected
        rows[dim] = {"traj_steps_per_s": rate, "projected_paper_seconds": projected, "ratio_to_reference": rate / ref_rate}
        print(f"n={dim}: {rate:,.0f} traj-steps/s ({rate / ref_rate:,.0f}x the reference); "
              f"paper data for this n: {projected:.1f} s")
    print(f"projected paper data, all five dimensions: {total:.1f} s "
          f"(reference: {len(nbody.PAPER_DIMS) * PAPER_TRAJECTORIES * PAPER_STEPS / ref_rate / 3600:.1f} h)")
    energy = {}
    for dim in nbody.PAPER_DIMS:
        x, v, c = (t.to(device) for t in nbody.initial_state(256, dim, seed=1))
        out = {}
        for label, cap in (("capped", 100.0), ("uncapped", None)):
            e0 = nbody.energy(x, v, c, max_force=cap)
            xT, vT = nbody.simulate(x, v, c, steps=PAPER_STEPS, max_force=cap)
            rel = ((nbody.energy(xT, vT, c, max_force=cap) - e0).abs() / e0.abs().clamp_min(1e-3)).cpu()
            rel = torch.nan_to_num(rel, nan=float("inf"))
            out[label] = {"median": rel.median().item(), "p90": rel.quantile(0.9).item(),
                          "share_above_1pct": (rel > 0.01).float().mean().item()}
        energy[dim] = out
        print(f"n={dim}: relative energy error over 10,000 steps, median / p90 / share > 1%: "
              f"capped {out['capped']['median']:.1e} / {out['capped']['p90']:.1e} / {out['capped']['share_above_1pct']:.0%}; "
              f"uncapped {out['uncapped']['median']:.1e} / {out['uncapped']['p90']:.1e} / "
              f"{out['uncapped']['share_above_1pct']:.0%}")
    full = None
    if args.full:
        start = time.perf_counter()
        for dim in nbody.PAPER_DIMS:
            nbody.make_dataset(dim, n_train=10_000, n_val=2_000, n_test=2_000, device=device,
                               cache_dir="/tmp/equilib-bench-cache", progress=False)
        sync(device)
        full = time.perf_counter() - start
        print(f"full paper data (10,000 train + 2,000 val + 2,000 test per n) generated in {full:.1f} s")
    save("simulate", device, {"reference_traj_steps_per_s": ref_rate, "dims": rows, "projected_total_s": total,
                              "energy": energy, "full_generation_s": full})


if __name__ == "__main__":
    main()
