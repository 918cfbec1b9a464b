"""The N-body sweep: the grid of runs behind the N-body page, trained only where the store lacks them.

Everything is validated before the first run starts, so a typo in a sweep
fails in a second with a message naming the bad value, not after an hour. The
protocol-level helpers at the end (rate pilot, budget check, physics
diagnostics) take a resolved ``nbody`` preset.
"""
from __future__ import annotations

import math
from dataclasses import asdict
from functools import partial
from itertools import product
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
from torch.nn import functional as F

from ..base.checks import check_choices, check_ints
from ..base.paths import resolve_device
from ..base.store import RunStore, run_id
from ..models.catalogue import GRAPH_MODELS, NBODY_MODELS, build_model, count_parameters
from ..models.graph import free_flight
from ..tasks import nbody
from ..tasks.symmetry import equivariance_error
from ..training.budget import epochs_for_budget
from ..training.executors import (Job, Trained, check_workers, default_threads, gpu_share, intra_op_threads,
                                  peak_run_bytes, run_jobs, spread_stacks)
from ..training.loop import RegressionTask, RunResult, TrainConfig, load_checkpoint, train
from ..training.stacked import STACK_LIMIT, Member, train_stacked
from .presets import resolve
from .settings import RunSettings

EQUIVARIANCE_SAMPLES = 1000  # test trajectories on which each trained model's equivariance error is measured


def nbody_run_config(model: str, dim: int, n_train: int, seed: int, train_cfg: TrainConfig, *, n_val: int,
                     n_test: int, physics: nbody.Physics, hidden: int, layers: int) -> dict:
    """The full configuration of one N-body run: what its id is a hash of.

    Each seed draws its own training, validation and test trajectories
    (``data_seed`` is the seed), so intervals over seeds cover the data's
    variance as well as the initialisation's; the EGNN paper's data are one
    draw (``data_seed`` 0), so there they cover the initialisation's alone.
    """
    return {
        "experiment": "nbody", "model": model, "group": "", "variant": "", "dim": dim, "n_train": n_train,
        "seed": seed, "epochs": train_cfg.epochs, "lr": train_cfg.lr, "batch_size": train_cfg.batch_size,
        "eval_every": train_cfg.eval_every, "schedule": train_cfg.schedule, "warmup": train_cfg.warmup,
        "patience": train_cfg.patience, "budget_steps": train_cfg.epochs * math.ceil(n_train / train_cfg.batch_size),
        "n_val": n_val, "n_test": n_test, "hidden": hidden, "layers": layers,
        "physics": {k: v for k, v in physics.key().items() if k != "dim"},
        "data_seed": physics.data_seed(seed),
        **({"augment": True} if train_cfg.augment else {}),  # absent when off: older runs keep their ids
        **({"stop_after": train_cfg.stop_after} if train_cfg.stop_after else {}),  # likewise
        **({"clip_norm": train_cfg.clip_norm} if train_cfg.clip_norm else {}),  # likewise
    }


def nbody_sweep(
    dims: Sequence[int] = nbody.PAPER_DIMS,
    models: Sequence[str] = ("gnn", "egnn"),
    seeds: Sequence[int] = (0, 1, 2),
    n_trains: Sequence[int] = (10_000,),
    *,
    epochs: int = 10_000,
    lr: float | dict[str, float] = 5e-4,
    batch_size: int = 128,
    eval_every: int = 10,
    schedule: str = "constant",
    warmup: float = 0.0,
    patience: int = 0,
    stop_after: float = 0.0,
    augment: bool = False,
    clip_norm: float | dict[str, float] = 0.0,
    n_val: int = 2_000,
    n_test: int = 2_000,
    hidden: int = 64,
    layers: int = 4,
    stack: bool = True,
    run: RunSettings = RunSettings(),
    **physics,
) -> pd.DataFrame:
    """Train every (dim, model, seed, n_train) the store lacks; return the store's N-body runs.

    ``models`` are from :data:`NBODY_MODELS`; ``"freeflight"`` is recorded
    without training. ``lr`` may be one rate or one per trained model (the EGNN
    reference uses 5e-4, its GNN 1e-3; the paper says 5e-4 for both).
    ``schedule``, ``warmup``, ``patience``, ``stop_after``, ``augment`` (a
    random element of E(n) per training sample) and ``clip_norm`` are :class:`TrainConfig`'s;
    ``clip_norm``, like ``lr``, may be one per model (a model not named is not clipped).
    ``physics`` goes to :class:`equilib.tasks.nbody.Physics`. ``stack`` trains the
    runs that can share a stack at once (:mod:`equilib.training.stacked`): measured
    1.05-1.65x faster than one at a time even on a 2-core CPU
    (``benchmarks/train_stacked.py``), so it is the default. ``run`` says where
    the store is, whether to train what it lacks, and where each stack trains
    (:mod:`equilib.training.executors`).
    """
    device, results, cache_dir, force = run.device, run.results, run.cache_dir, run.force
    train_missing, progress = run.train_missing, run.progress
    executor, address, workers, threads = run.executor, run.address, run.workers, run.threads
    threads = default_threads(executor, workers) if threads == "auto" else check_ints("threads", [threads], 1)[0]
    dims = check_ints("dims", dims, 1)
    models = check_choices("models", models, NBODY_MODELS)
    seeds = check_ints("seeds", seeds, 0)
    n_trains = check_ints("n_trains", n_trains, 1)
    trained = [m for m in models if m != "freeflight"]
    rates = lr if isinstance(lr, dict) else {m: lr for m in trained}
    if rates:  # free flight alone trains nothing and needs no rate
        check_choices("lr models", rates, sorted(GRAPH_MODELS))
    for m in trained:
        if m not in rates:
            raise ValueError(f"lr has no rate for model {m!r}; give one rate or one per model")
    clips = clip_norm if isinstance(clip_norm, dict) else {m: clip_norm for m in trained}
    if clips:  # likewise
        check_choices("clip_norm models", list(clips), sorted(GRAPH_MODELS))
    train_cfgs = {m: TrainConfig(epochs=epochs, lr=rates.get(m, min(rates.values(), default=5e-4)),
                                 batch_size=batch_size, eval_every=eval_every, device=device, schedule=schedule,
                                 warmup=warmup, patience=patience, stop_after=stop_after, augment=augment,
                                 clip_norm=clips.get(m, 0.0))
                  for m in models}
    physics_by_dim = {d: nbody.Physics(dim=d, **physics) for d in dims}
    horizon = next(iter(physics_by_dim.values())).horizon
    store = RunStore(results, "nbody")
    todo, ids = [], []
    for dim, model, seed, n_train in product(dims, models, seeds, n_trains):
        cfg = TrainConfig(**{**asdict(train_cfgs[model]), "seed": seed})
        config = nbody_run_config(model, dim, n_train, seed, cfg, n_val=n_val, n_test=n_test,
                                  physics=physics_by_dim[dim], hidden=hidden, layers=layers)
        ids.append(run_id(config))
        if train_missing and (force or not store.has(config)):
            todo.append((dim, model, seed, n_train, cfg, config))
    data_args = dict(n_trains=n_trains, n_val=n_val, n_test=n_test, cache_dir=cache_dir, physics=physics)
    data = _NBodySplits(**data_args, progress=progress)
    # Free flight is computed here, by the driver, which also simulates its data: on the same threads as a job, so
    # that a sweep given one thread beside another process does not oversubscribe the cores (measured: torch's
    # default, every core, beside a one-thread training slowed the simulation 20x on a 2-core CPU).
    with intra_op_threads(threads):
        for dim, model, seed, n_train, cfg, config in [job for job in todo if job[1] == "freeflight"]:
            result = free_flight_result(data.get(dim, n_train, seed), horizon)
            store.record(config, result.summary(), result.curve, params=0)
    todo = [job for job in todo if job[1] != "freeflight"]
    model_args = dict(hidden=hidden, layers=layers, horizon=horizon)
    groups = _stack_groups(todo, store, partial(build_model, **model_args)) if stack else [[job] for job in todo]
    if executor == "processes":
        groups = spread_stacks(groups, check_workers(workers))
    inner_progress = progress and executor == "local"
    jobs = [Job(_nbody_job, dict(group=[j + (store.checkpoint(j[5]),) for j in group], data=data_args,
                                 model=model_args, progress=inner_progress),
                configs=[j[5] for j in group], threads=threads,
                label=f"{group[0][1]} x{len(group)} n={sorted({j[0] for j in group})} N={group[0][3]}")
            for group in groups]
    if executor == "ray" and jobs and resolve_device(device).type == "cuda":
        for job in jobs:
            job.gpu = _nbody_gpu_share(job.payload, batch_size, resolve_device(device))
    run_jobs(jobs, store, executor=executor, address=address, workers=workers, progress=progress,
             desc="n-body sweep")
    return store.runs_of(ids)


def _nbody_job(payload: dict) -> list[Trained]:
    """Train one stack (or one run) of an N-body sweep and return its runs: a job of :func:`nbody_sweep`."""
    data = _NBodySplits(**payload["data"], progress=payload["progress"])
    build = partial(build_model, **payload["model"])
    group, progress = payload["group"], payload["progress"]
    if len(group) == 1:
        dim, model, seed, n_train, cfg, _, checkpoint = group[0]
        desc = f"{model} n={dim} seed={seed} N={n_train}"
        trained_runs = [train(partial(build, model, dim), RegressionTask(), data.get(dim, n_train, seed), cfg,
                              checkpoint=checkpoint, progress=progress, desc=desc)]
    else:
        top, model = max(job[0] for job in group), group[0][1]
        members = [nbody_member(model, dim, top, data.get(dim, n_train, seed, pad_to=top), cfg, checkpoint, build=build)
                   for dim, model, seed, n_train, cfg, _, checkpoint in group]
        trained_runs = train_stacked(members, RegressionTask(), progress=progress, template=build(model, top),
                                     desc=f"{model} x{len(group)} n={sorted({j[0] for j in group})} N={group[0][3]}")
    out = []
    for (dim, _, seed, n_train, _, config, _), (net, result) in zip(group, trained_runs):
        test = data.get(dim, n_train, seed)["test"]  # unpadded: the model as it would be used alone
        summary = {**result.summary(), "equivariance_error": equivariance_error(
            net.cpu(), tuple(t[:EQUIVARIANCE_SAMPLES] for t in test[:3]), transforms=2)}
        out.append(Trained(config, summary, result.curve, count_parameters(net)))
    return out


def _nbody_gpu_share(payload: dict, batch_size: int, device: torch.device) -> float:
    """A stack's share of the GPU: the measured peak of one member's step and evaluation, times its members."""
    group = payload["group"]
    top, model = max(job[0] for job in group), group[0][1]
    n_particles = payload["data"]["physics"].get("n_particles", 5)
    sample = lambda n: (torch.randn(n, n_particles, top), torch.randn(n, n_particles, top),  # noqa: E731
                        torch.ones(n, n_particles), torch.randn(n, n_particles, top))
    task = RegressionTask()
    peak = peak_run_bytes(build_model(model, top, **payload["model"]), task, sample(batch_size),
                          sample(task.eval_batch), device)
    return gpu_share(peak * len(group), torch.cuda.get_device_properties(device).total_memory)


def free_flight_result(splits: dict[str, tuple], horizon: float) -> RunResult:
    """The free-flight baseline as a run: its validation and test MSE, nothing trained."""
    def mse(split: str) -> float:
        x, v, _, target = splits[split]
        return float(F.mse_loss(free_flight(x, v, horizon), target))

    result = RunResult(device="cpu", steps_per_epoch=0)
    result.observe(0, math.nan, mse("val"), mse("test"))
    result.curve = []
    result.status = "finished"
    return result


PHYSICS_SAMPLES = 1000  # test trajectories per dimension behind the physics diagnostics


def nbody_physics(dims: Sequence[int], *, results: str | Path = "results", cache_dir: str | Path | None = None,
                  train_missing: bool = True, **physics) -> pd.DataFrame:
    """Per dimension: core radius, share of trajectories entering the core, energy drift, wall and clip events.

    From :func:`equilib.tasks.nbody.physics_report` on the first ``PHYSICS_SAMPLES``
    test trajectories of seed 0, kept in the run store (a few minutes to
    compute on a CPU, so the book reads them instead). With
    ``train_missing=False`` the dimensions not yet stored are left out.
    """
    store, rows = RunStore(results, "nbody"), []
    for dim in check_ints("dims", dims, 1):
        phys = nbody.Physics(dim=dim, **physics)
        params = {"physics": phys.key(), "n": PHYSICS_SAMPLES, "seed": 0, "split": "test"}
        compute = (lambda phys=phys: pd.DataFrame([nbody.physics_report(phys, PHYSICS_SAMPLES, cache_dir=cache_dir)]))
        row = store.table("physics", params, compute if train_missing else None)
        if row is not None:
            rows.append(row)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def nbody_member(model: str, dim: int, top: int, data: dict, cfg: TrainConfig, checkpoint: Path | None = None, *,
                 build: Callable[..., torch.nn.Module] = build_model) -> Member:
    """One N-body run as a member of a stack in R^top; ``data`` are its splits, zero-padded to ``top``.

    ``build(model, dim)`` builds the network (default: :func:`build_model` with its defaults).
    """
    make = partial(build, model, dim)
    member = Member(make, data, cfg, checkpoint, pad_ratio=top / dim)
    net = make()  # only for its shapes: the stack builds each member under its own seed
    if dim < top and hasattr(net, "widen"):
        member.widen, member.narrow = partial(net.widen, dim=top), net.narrow
    return member


class _NBodySplits:
    """Each (dimension, seed)'s data, simulated or read from the cache once, handed out as shared tensors.

    Runs that read the same data get the very same tensors, so a stack holds
    them once. Data are simulated on the CPU whatever the training device:
    after 10,000 chaotic steps a GPU's rounding gives other trajectories, and
    the cache key must mean the same data everywhere.
    """

    def __init__(self, n_trains, n_val, n_test, cache_dir, progress, physics) -> None:
        self.args = dict(n_train=max(n_trains), n_val=n_val, n_test=n_test, cache_dir=cache_dir, progress=progress,
                         **physics)
        self.memo: dict[tuple[int, int, int, int], dict[str, tuple]] = {}

    def get(self, dim: int, n_train: int, seed: int, pad_to: int | None = None) -> dict[str, tuple]:
        """``(x0, v0, charges, xT)`` per split; coordinates zero-padded to ``pad_to`` dimensions if given."""
        key = (dim, n_train, seed, pad_to or dim)
        if key not in self.memo:
            full = nbody.make_dataset(dim, seed=seed, **self.args)
            splits = {"train": full["train"].head(n_train), "val": full["val"], "test": full["test"]}
            pad = (0, (pad_to or dim) - dim)
            self.memo[key] = {k: (F.pad(t.x0, pad), F.pad(t.v0, pad), t.charges, F.pad(t.xT, pad))
                              for k, t in ((k, s.to("cpu")) for k, s in splits.items())}
        return self.memo[key]


def _stack_groups(todo: list, store: RunStore, build: Callable[..., torch.nn.Module]) -> list[list]:
    """Runs that can share a stack: one model with one parameter shape, protocol, size and resume epoch.

    The EGNN's parameters do not depend on the dimension (padded coordinates
    change none of its outputs), so its runs for every dimension share a stack.
    The GNN's input and output layers do, but :meth:`GNN.widen` pads them
    exactly, so its runs share one stack too.
    """
    shapes: dict[tuple[str, int], tuple] = {}
    groups: dict[tuple, list] = {}
    for job in todo:
        dim, model, seed, n_train, cfg, config = job
        if (model, dim) not in shapes:
            net = build(model, dim)
            shapes[model, dim] = ("any dimension",) if hasattr(net, "widen") else \
                tuple((k, tuple(p.shape)) for k, p in net.named_parameters())
        state = load_checkpoint(store.checkpoint(config), cfg, torch.device("cpu"))
        protocol = tuple((k, v) for k, v in asdict(cfg).items() if k != "seed")
        key = (model, n_train, protocol, shapes[model, dim], state["result"].epochs_done if state else 0)
        groups.setdefault(key, []).append(job)
    return [g[i : i + STACK_LIMIT] for g in groups.values() for i in range(0, len(g), STACK_LIMIT)]



def nbody_task(protocol: dict) -> dict:
    """An N-body protocol's task: the horizon and any physics beyond the default (walls, clipping, the law)."""
    return dict(steps=protocol["steps"], **protocol["physics"])


def nbody_training(protocol: dict, budget_steps: int, lr: float | dict | None = None) -> dict:
    """An N-body protocol's settings for ``nbody_sweep``: training (its step budget turned into epochs) and task."""
    return dict(epochs=epochs_for_budget(budget_steps, protocol["n_train"], protocol["batch_size"]),
                lr=protocol["lr"] if lr is None else lr, batch_size=protocol["batch_size"],
                eval_every=protocol["eval_every"], schedule=protocol["schedule"], warmup=protocol["warmup"],
                patience=protocol["patience"], stop_after=protocol["stop_after"],
                clip_norm=protocol["clip_norm"], n_val=protocol["n_val"],
                n_test=protocol["n_test"], **nbody_task(protocol))


def nbody_convergence(protocol: dict, run: RunSettings = RunSettings()) -> pd.DataFrame:
    """The budget check: GNN and EGNN at each ``convergence`` factor times the budget, on its dims and seeds.

    Returns those runs and the main protocol's runs at the same (dim, seed), with
    a ``budget_factor`` column (1 for the main protocol's).
    """
    conv = protocol["convergence"]
    rates, frames = nbody_rates(protocol, run), []
    if not conv["dims"] or rates is None:
        return RunStore(run.results, "nbody").runs().head(0).assign(budget_factor=1.0)
    for factor in [1.0, *conv["factors"]]:
        budget = max(1, round(protocol["budget_steps"] * factor))
        runs = nbody_sweep(conv["dims"], ["gnn", "egnn"], conv["seeds"] if factor != 1.0 else protocol["seeds"],
                           [protocol["n_train"]], **nbody_training(protocol, budget, rates), run=run)
        frames.append(runs.assign(budget_factor=factor))
    return pd.concat(frames, ignore_index=True)


def nbody_lr_pilot(protocol: dict, run: RunSettings = RunSettings()) -> pd.DataFrame:
    """The peak-rate pilot: every trained model at each ``pilot`` rate, on a seed (and data) of its own.

    Returns its runs; :func:`nbody_rates` picks from them.
    """
    pilot = protocol["pilot"]
    trained = [m for m in protocol["models"] if m != "freeflight"]
    budget = max(1, round(protocol["budget_steps"] * pilot["budget_factor"]))
    if not pilot["lrs"]:
        raise ValueError("lr='pilot' needs pilot rates to try (pilot['lrs'] is empty)")
    frames = [nbody_sweep([pilot["dim"]], trained, [pilot["seed"]], [protocol["n_train"]],
                          **nbody_training(protocol, budget, lr=rate), run=run)
              for rate in pilot["lrs"]]
    return pd.concat(frames, ignore_index=True)


def nbody_rates(protocol: dict, run: RunSettings = RunSettings()) -> float | dict[str, float] | None:
    """The protocol's peak rates: as given, or (``lr="pilot"``) each model's pilot rate of lowest best validation MSE.

    The pilot's seed draws its own data, so the choice never sees the grid's
    validation or test trajectories. ``None`` when only looking up
    (``train_missing=False``) and the pilot is not complete in the store.
    """
    if protocol["lr"] != "pilot":
        return protocol["lr"]
    runs = nbody_lr_pilot(protocol, run)
    finished = runs[runs["status"] == "finished"]
    trained = [m for m in protocol["models"] if m != "freeflight"]
    if len(runs) < len(trained) * len(protocol["pilot"]["lrs"]):
        return None  # only looking up, and the pilot is still under way
    lost = sorted(set(trained) - set(finished["model"]))
    if lost:
        raise ValueError(f"every pilot rate diverged for model(s) {lost}; "
                         f"try lower rates than {protocol['pilot']['lrs']}")
    best = finished.loc[finished.groupby("model")["best_val"].idxmin()]
    return {row.model: float(row.lr) for row in best.itertuples()}


STEP_TRACE_COLUMNS = ("step", "lr", "loss", "grad_norm", "shift")


def nbody_step_trace(protocol: dict, model: str, dim: int, seed: int, steps: int, *, clip_norm: float = 0.0,
                     run: RunSettings = RunSettings()) -> pd.DataFrame | None:
    """The first ``steps`` optimiser steps of one of ``protocol``'s runs, step by step: why a run diverged.

    A grid's curves are evaluated every few epochs, so they show that a run
    blew up, not how. This replays the run alone (its seed, data, rate and
    schedule; ``clip_norm`` may differ) and records each step's rate, loss,
    gradient norm (before clipping) and, for the EGNN, the largest coordinate
    update any layer made in the batch. Kept in the store as a table, so the
    book reads it instead of training (``None`` when it is not there and
    ``run.train_missing`` is false).
    """
    rates = protocol["lr"]
    lr = rates[model] if isinstance(rates, dict) else rates
    if not isinstance(lr, float):
        raise ValueError(f"the trace needs the protocol's rate for {model!r}, got lr={rates!r} (run its pilot first)")
    check_ints("steps", [steps], 1)
    settings = nbody_training(protocol, protocol["budget_steps"], lr=lr)
    params = {"preset": protocol["preset"], "model": model, "dim": dim, "seed": seed, "steps": steps,
              "clip_norm": clip_norm, "lr": lr}
    named = resolve("nbody", protocol["preset"])  # a protocol changed from its named preset is another replay
    changed = {k: v for k, v in protocol.items() if k not in ("lr", "clip_norm") and named.get(k) != v}
    if changed:
        params["changed"] = changed

    def compute() -> pd.DataFrame:
        threads = default_threads("local", 1) if run.threads == "auto" else run.threads
        with intra_op_threads(threads):
            return _step_trace(model, dim, seed, protocol["n_train"], steps, settings, nbody_task(protocol),
                               clip_norm, run)

    return RunStore(run.results, "nbody").table("step-trace", params, compute if run.train_missing else None)


def _step_trace(model: str, dim: int, seed: int, n_train: int, steps: int, settings: dict, physics: dict,
                clip_norm: float, run: RunSettings) -> pd.DataFrame:
    cfg = TrainConfig(epochs=settings["epochs"], lr=settings["lr"], batch_size=settings["batch_size"],
                      eval_every=settings["epochs"], seed=seed, device=run.device, schedule=settings["schedule"],
                      warmup=settings["warmup"], clip_norm=clip_norm)
    data = _NBodySplits([n_train], settings["n_val"], settings["n_test"], run.cache_dir, run.progress, physics)
    splits = data.get(dim, n_train, seed)
    total_steps = cfg.epochs * math.ceil(n_train / cfg.batch_size)
    rows: list[dict] = []
    shifts: list[float] = []

    def record_shift(layer, inputs, output) -> None:
        shifts.append(float((output[1] - inputs[1]).detach().norm(dim=-1).max()))

    class Enough(Exception):
        pass

    def on_step(step: int, net: torch.nn.Module, loss: torch.Tensor) -> None:
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        norm = float(torch.stack([g.pow(2).sum() for g in grads]).sum().sqrt())
        rows.append({"step": step, "lr": cfg.lr_at(step, total_steps),
                     "loss": float(loss), "grad_norm": norm, "shift": max(shifts, default=math.nan)})
        shifts.clear()
        if step + 1 >= steps or not math.isfinite(float(loss)):
            raise Enough

    def build() -> torch.nn.Module:
        net = build_model(model, dim, horizon=nbody.Physics(dim=dim, **physics).horizon)
        for layer in getattr(net, "layers", []):
            if hasattr(layer, "phi_x"):
                layer.register_forward_hook(record_shift)
        return net

    try:
        train(build, RegressionTask(), splits, cfg, progress=run.progress, desc=f"trace {model} n={dim} seed={seed}",
              on_step=on_step)
    except Enough:
        pass
    return pd.DataFrame(rows, columns=list(STEP_TRACE_COLUMNS))
