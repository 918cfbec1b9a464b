"""What a preset's full protocol costs on GPUs: per-run seconds from measured throughputs, wall time for k GPUs.

The projection is deliberately simple and says what it assumes. Each run's
GPU time comes from a measured training throughput (``benchmarks/train_mnist.py``
writes one per group, one model at a time; ``benchmarks/train_mnist_stacked.py``
one per group and stack size; without a file, the H100 reference figures of
``../shared/notes/stack.md``). Runs are independent jobs, so k GPUs need
``max(total / k, longest run)``. From one-at-a-time figures, runs packed onto
one GPU are counted as taking turns on it, an upper bound on wall time; from
stacked figures each run is charged its share of its stack's pass, which is
what the sweep's ``--stack`` trains.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..training.budget import sized_budget
from . import presets
from .beyond import run_beyond
from .nbody import nbody_convergence, nbody_lr_pilot
from .protocol import run_protocol
from .settings import RunSettings

# Training images per second at batch 64 on one H100, tutorial-style models of about 2M parameters
# (stack.md). C4 and D4 were not measured there: they are set to the figures of the groups of the same
# order (C4 between the plain CNN and C8 by the regular-field count, D4 as C8), and marked as estimates.
H100_REFERENCE = {"trivial": 20_200, "C4": 8_100, "D4": 4_070, "C8": 4_070, "D8": 2_090, "SO2": 2_200, "O2": 1_530}
H100_ESTIMATED = ("C4", "D4")
EVAL_SPEEDUP = 3.0  # evaluation images per training image's time (forward only, larger batches): assumed
# N-body on one H100 (stack.md): one EGNN step is 10.8 ms of mostly launches; stacked, 0.15 ms per model-step
NBODY_STEP_SECONDS = 10.8e-3
NBODY_MODEL_STEP_SECONDS = 0.15e-3


def mnist_throughputs(measured: str | Path | Sequence[str | Path] | None = None, target_params: int | None = None
                      ) -> tuple[dict[str, float], str]:
    """Training images per second per group on one GPU, and where the figures come from.

    ``measured`` is a file a benchmark wrote on the GPU in question:
    ``train_mnist.py`` (one model at a time) or ``train_mnist_stacked.py``
    (K models in one pass; each group's best stack counts, since the sweep's
    ``--stack`` can train that many at once). Without one, the H100 reference
    figures. A stacked file records its models' size; ``target_params`` must
    match it, because a throughput does not carry over between sizes. Several
    stacked files (benchmarks stopped at deadlines, each reaching some groups)
    count as one, if they were measured on one device at one size.
    """
    if measured is None:
        return dict(H100_REFERENCE), "H100 reference figures of stack.md (C4, D4 estimated), not measured here"
    paths = [measured] if isinstance(measured, (str, Path)) else list(measured)
    if not paths:
        raise ValueError("no measured files given")
    files = [json.loads(Path(m).read_text()) for m in paths]
    payload, measured = files[0], ", ".join(str(m) for m in paths)
    if len(files) > 1:
        for key, what in (("device", "devices"), ("target_params", "model sizes")):
            if len({str(f.get(key)) for f in files}) > 1:
                raise ValueError(f"measured files of different {what} {sorted({str(f.get(key)) for f in files})} "
                                 "cannot be combined; give one")
        if any("rows" not in f for f in files):
            raise ValueError("only train_mnist_stacked files can be combined")
        payload = {**payload, "rows": [row for f in files for row in f["rows"]]}
    if "groups" in payload:
        return {g: row["img_per_s"] for g, row in payload["groups"].items()}, f"measured on {payload['device']}"
    if "rows" not in payload:
        raise ValueError(f"{measured} is neither a train_mnist nor a train_mnist_stacked benchmark file "
                         "(it has no 'groups' or 'rows')")
    if target_params is not None and payload.get("target_params") != target_params:
        raise ValueError(f"{measured} measured models of {payload.get('target_params')} parameters; the preset "
                         f"trains {target_params} (run benchmarks/train_mnist_stacked.py --target {target_params})")
    best: dict[str, dict] = {}
    for row in payload["rows"]:
        if not (row.get("stacked_img_s") or 0) > 0:  # a span too short to time (written before the check)
            continue
        if row["group"] not in best or row["stacked_img_s"] > best[row["group"]]["stacked_img_s"]:
            best[row["group"]] = row
    stacks = ", ".join(f"{g} K={row['K']}" for g, row in best.items())
    rates = {g: row["stacked_img_s"] for g, row in best.items()}
    source = f"measured on {payload['device']}, stacked ({stacks}; all models of a stack share the GPU)"
    unmeasured = [g for g in H100_REFERENCE if g not in rates]
    if unmeasured:  # a benchmark stopped at a deadline: the rest one model at a time, from the reference
        rates |= {g: H100_REFERENCE[g] for g in unmeasured}
        source += f"; {', '.join(unmeasured)}: H100 reference figures of stack.md, one model at a time"
    return rates, source


def mnist_run_seconds(protocol: dict, rates: dict[str, float]) -> pd.DataFrame:
    """One row per run of an MNIST protocol with its projected GPU seconds: the whole budget (train, and the
    evaluations it schedules), so an upper bound where early stopping (``patience``) ends runs sooner."""
    missing = sorted(set(protocol["groups"]) - set(rates))
    if missing:
        raise ValueError(f"no throughput for group(s) {missing}; have {sorted(rates)}")
    runs = {(v, g, s) for v in protocol["variants"] for g in protocol["groups"] for s in protocol["seeds"]}
    runs |= {(v, g, s) for v, groups in protocol.get("key_groups", {}).items() if v in protocol["variants"]
             for g in groups for s in protocol.get("key_seeds", [])}
    rows = []
    for variant, group, _ in sorted(runs):
        for n in protocol["n_trains"]:
            epochs, every = sized_budget(n, epochs=protocol["epochs"], min_steps=protocol.get("min_steps", 0),
                                         eval_every=protocol["eval_every"], batch_size=protocol["batch_size"])
            evaluation = (protocol["n_val"] + protocol["n_test"]) / (EVAL_SPEEDUP * rates[group])
            rows.append({"experiment": "mnist", "job": f"{group} {variant} N={n}",
                         "seconds": epochs * n / rates[group] + (epochs // every) * evaluation})
    return pd.DataFrame(rows)


def nbody_run_seconds(protocol: dict) -> pd.DataFrame:
    """One row per stack of an N-body protocol (one per trained model) with its projected GPU seconds."""
    members = len(protocol["dims"]) * len(protocol["seeds"])
    step = max(NBODY_STEP_SECONDS, members * NBODY_MODEL_STEP_SECONDS)  # launch-bound until the stack fills it
    return pd.DataFrame([{"experiment": "nbody", "job": f"{m} x{members}", "seconds": protocol["budget_steps"] * step}
                         for m in protocol["models"] if m != "freeflight"])


def project(gpus: list[int], *, preset: str = "paper", measured: str | Path | Sequence[str | Path] | None = None
            ) -> tuple[pd.DataFrame, str]:
    """Projected wall hours of a preset's N-body and MNIST protocols on each number of GPUs, and the source."""
    check_gpus(gpus)
    mnist = presets.resolve("mnist", preset)
    rates, source = mnist_throughputs(measured, mnist.get("target_params"))
    jobs = pd.concat([nbody_run_seconds(presets.resolve("nbody", preset)), mnist_run_seconds(mnist, rates)])
    rows = []
    for experiment, g in [*jobs.groupby("experiment"), ("both", jobs)]:
        total, longest = g["seconds"].sum(), g["seconds"].max()
        row = {"experiment": experiment, "runs or stacks": len(g), "GPU-hours": total / 3600}
        row.update({f"{k} GPU{'s' if k > 1 else ''} (h)": max(total / k, longest) / 3600 for k in gpus})
        rows.append(row)
    return pd.DataFrame(rows), source


# What each page trains, as (page, what, experiment, preset): the stores the book renders
STORED = (("N-body", "exploratory grid, rate pilot, budget check", "nbody", "cpu"),
          ("N-body", "confirmatory grid", "nbody", "confirm"),
          ("N-body", "the EGNN paper's task", "nbody", "egnn-paper"),
          ("rotated MNIST", "every group; key groups x 3 seeds", "mnist", "cpu"),
          ("rotated MNIST", "key groups at 20,000 and 50,000 images", "mnist", "large"),
          ("rotated MNIST", "budget check at 50,000 images", "mnist", "large-budget"),
          ("the answer", "capacity: 5x the parameters", "mnist", "capacity"),
          ("the answer", "capacity: 20x the parameters (GPU)", "mnist", "capacity-400k"),
          ("beyond the paper", "breaking, augmentation, horizon, equivariance", "beyond", "cpu"))


def measured_costs(results: str | Path = "results", stored: tuple[tuple[str, str, str, str], ...] = STORED
                   ) -> pd.DataFrame:
    """What the committed store cost to train, per page and preset, from each run's own ``wall_time``.

    One row per :data:`STORED` entry and device: the runs it holds there
    (trained ones; free flight costs nothing), the training hours (a stacked
    run's share of its stack's time; the seconds a paused sweep sat still count
    too, so these are upper bounds), the median minutes per run, and the CPU
    hours of the runs that recorded them (``cpu_time``, which pauses do not
    add to; older runs did not record it). A run counts once, under the first
    entry that holds it: the beyond page counts only the runs the N-body grid
    does not already hold.
    """
    look = RunSettings(results=results, train_missing=False, progress=False)
    seen: set[str] = set()
    rows = []
    for page, what, experiment, preset in stored:
        protocol = presets.resolve(experiment, preset)
        if experiment == "beyond":
            runs = run_beyond(protocol, look).drop_duplicates("run_id")
        else:
            runs = run_protocol(experiment, protocol, look)
            if experiment == "nbody" and protocol["lr"] == "pilot":
                runs = pd.concat([runs, nbody_lr_pilot(protocol, look), nbody_convergence(protocol, look)])
        runs = runs[~runs["run_id"].isin(seen) & runs["wall_time"].gt(0)].drop_duplicates("run_id")
        seen |= set(runs["run_id"])
        for device, on in runs.groupby("device") if len(runs) else [("–", runs)]:
            timed = on["cpu_time"].dropna()
            rows.append({"page": page, "what": what, "preset": preset, "device": device, "runs": len(on),
                         "hours": on["wall_time"].sum() / 3600,
                         "minutes per run": on["wall_time"].median() / 60 if len(on) else float("nan"),
                         "CPU hours": timed.sum() / 3600 if len(timed) else float("nan"),
                         "runs CPU-timed": len(timed)})
    return pd.DataFrame(rows)


def check_gpus(gpus: list[int]) -> list[int]:
    bad = [k for k in gpus if not isinstance(k, int) or k < 1]
    if bad or not gpus:
        raise ValueError(f"GPU counts must be integers >= 1; bad value(s): {bad or 'none given'}")
    return gpus
