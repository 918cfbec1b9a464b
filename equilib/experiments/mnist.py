"""The rotated-MNIST sweep: every (variant, group, size, seed) of the MNIST page, trained only where the store
lacks it, with a step budget that fits each size (:mod:`equilib.training.budget`)."""
from __future__ import annotations

import math
from dataclasses import asdict
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch

from ..base.checks import check_choices, check_ints
from ..base.paths import resolve_device
from ..base.store import RunStore, run_id
from ..models import steerable
from ..models.catalogue import count_parameters
from ..models.groups import GROUPS
from ..tasks import mnist
from ..training.budget import sized_budget
from ..training.executors import Job, Trained, default_threads, gpu_share, peak_run_bytes, run_jobs
from ..training.loop import ClassificationTask, TrainConfig, train
from ..training.stacked import STACK_LIMIT, Member, train_stacked
from .settings import RunSettings


def mnist_run_config(group: str, variant: str, n_train: int, seed: int, train_cfg: TrainConfig, *, n_val: int,
                     n_test: int, target_params: int, data_seed: int, taper_above: int = 0) -> dict:
    """The full configuration of one rotated-MNIST run: what its id is a hash of.

    ``n_test`` is the fixed random subset of test images that the learning
    curve (and the paper's best-test protocol) uses; the run's final number,
    ``test_at_best_val``, is always the whole 10,000-image test set, evaluated
    with the weights of the best validation.
    """
    return {
        "experiment": "mnist", "model": "cnn", "group": group, "variant": variant, "dim": 2, "n_train": n_train,
        "seed": seed, "epochs": train_cfg.epochs, "lr": train_cfg.lr, "batch_size": train_cfg.batch_size,
        "eval_every": train_cfg.eval_every, "schedule": train_cfg.schedule, "warmup": train_cfg.warmup,
        "patience": train_cfg.patience, "budget_steps": train_cfg.epochs * math.ceil(n_train / train_cfg.batch_size),
        "n_val": n_val, "n_test": n_test, "n_test_final": 10_000, "target_params": target_params,
        "data_seed": data_seed, "image_size": mnist.IMAGE_SIZE,
        # only where it is set, so that the ids of runs trained before the setting existed stay what they were
        **({"stop_after": train_cfg.stop_after} if train_cfg.stop_after else {}),
        **({"taper_above": taper_above} if taper_above else {}),
    }


def mnist_sweep(
    variants: Sequence[str] = ("rotated", "fliprot"),
    groups: Sequence[str] = GROUPS,
    n_trains: Sequence[int] = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000),
    seeds: Sequence[int] = (0,),
    *,
    epochs: int = 30,
    lr: float = 5e-5,
    batch_size: int = 64,
    eval_every: int = 1,
    min_steps: int = 0,
    schedule: str = "constant",
    warmup: float = 0.0,
    patience: int = 0,
    stop_after: float = 0.0,
    taper_above: int = 0,
    n_val: int = 10_000,
    n_test: int = 10_000,
    target_params: int | None = None,
    data_seed: int = 0,
    run: RunSettings = RunSettings(),
) -> pd.DataFrame:
    """Train every (variant, group, n_train, seed) the store lacks; return the store's MNIST runs.

    Each run trains for :func:`sized_budget` epochs (passes falling as 1/n above
    ``taper_above`` images) under ``schedule``, stops
    early after ``patience`` evaluations without a better validation error
    (but not before ``stop_after`` of its budget),
    and is then evaluated on the whole test set with the weights of its best
    validation (``test_at_best_val``); its curve uses ``n_test`` test images.

    ``run`` says where the store and the data are, whether to train what the
    store lacks, and where: ``executor="local"`` trains one run at a time here; ``"ray"`` makes each run
    a Ray task that asks for the share of a GPU its measured peak memory needs
    (or, without a GPU, ``threads`` CPUs), at ``address`` or ``$RAY_ADDRESS``,
    else on a local instance (:mod:`equilib.training.executors`); ``"processes"`` trains
    ``workers`` runs at once in a pool on this machine; ``mnist_stack`` seeds of one group, variant and size
    train as one stacked module (:mod:`equilib.training.stacked`). ``threads`` is each
    run's intra-op thread count (``"auto"``: every core, shared among workers). A CPU convolution's
    summation order depends on it, so runs record identical numbers, here or in
    a Ray worker, exactly when their thread counts are equal.
    """
    device, results, cache_dir, force = run.device, run.results, run.cache_dir, run.force
    train_missing, progress = run.train_missing, run.progress
    executor, address, workers, threads = run.executor, run.address, run.workers, run.threads
    data_dir = run.data_dir
    variants = check_choices("variants", variants, mnist.VARIANTS)
    groups = check_choices("groups", groups, GROUPS)
    n_trains = check_ints("n_trains", n_trains, 1)
    too_big = [n for n in n_trains if n > mnist.TRAIN_MAX]
    if too_big:
        raise ValueError(f"n_trains above the {mnist.TRAIN_MAX} training images: {too_big}")
    too_small = [n for n in n_trains if n < batch_size]
    if too_small:
        raise ValueError(f"n_trains below the batch size {batch_size}: {too_small}")
    seeds = check_ints("seeds", seeds, 0)
    check_ints("min_steps", [min_steps], 0)
    threads = default_threads(executor, workers) if threads == "auto" else check_ints("threads", [threads], 1)[0]
    if run.mnist_stack > STACK_LIMIT:
        raise ValueError(f"mnist_stack must be at most {STACK_LIMIT} runs per stack, got {run.mnist_stack}")
    if not 0 < n_val <= 60_000 - mnist.TRAIN_MAX or not 0 < n_test <= 10_000:
        raise ValueError(f"n_val must be in 1..{60_000 - mnist.TRAIN_MAX} and n_test in 1..10000; "
                         f"got n_val={n_val}, n_test={n_test}")
    target = target_params or steerable.DEFAULT_TARGET
    base = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, eval_every=eval_every, device=device,
                       schedule=schedule, warmup=warmup, patience=patience, stop_after=stop_after,
                       restore_best=True)
    store = RunStore(results, "mnist")
    todo, ids = [], []
    for variant, group, n_train, seed in product(variants, groups, n_trains, seeds):
        sized, every = sized_budget(n_train, epochs=epochs, min_steps=min_steps, eval_every=eval_every,
                                    batch_size=batch_size, taper_above=taper_above)
        cfg = TrainConfig(**{**asdict(base), "seed": seed, "epochs": sized, "eval_every": every})
        config = mnist_run_config(group, variant, n_train, seed, cfg, n_val=n_val, n_test=n_test,
                                  target_params=target, data_seed=data_seed, taper_above=taper_above)
        ids.append(run_id(config))
        if train_missing and (force or not store.has(config)):
            todo.append((variant, group, n_train, cfg, config))
    # seed by seed, size by size: a sweep stopped early leaves whole seeds behind, not half of every group
    todo.sort(key=lambda job: (job[3].seed, job[2]))
    jobs = [Job(_mnist_job, dict(variant=variant, group=group, n_train=n_train,
                                 members=[(m[3], m[4], store.checkpoint(m[4])) for m in stack], target=target,
                                 sizes=(max(n_trains), n_val, n_test), data_seed=data_seed, data_dir=data_dir,
                                 cache_dir=cache_dir, progress=progress and executor == "local"),
                configs=[m[4] for m in stack], threads=threads,
                label=f"{group} {variant} N={n_train} seed={','.join(str(m[3].seed) for m in stack)}")
            for stack in _stacks(todo, run.mnist_stack) for variant, group, n_train, _, _ in stack[:1]]
    if executor == "ray" and jobs and resolve_device(device).type == "cuda":
        share = _mnist_gpu_share(jobs, resolve_device(device), batch_size)
        for job in jobs:
            job.gpu = share
    run_jobs(jobs, store, executor=executor, address=address, workers=workers, progress=progress,
             desc="mnist sweep")
    return store.runs_of(ids)


@lru_cache(maxsize=1)
def _mnist_splits(variant: str, sizes: tuple[int, int, int], data_seed: int, data_dir, cache_dir) -> dict:
    """One variant's splits, kept while a process trains its runs (a worker loads them once).

    ``test`` is the curve's fixed random subset; ``test_full`` all 10,000 test images.
    """
    parts = {s: mnist.load_mnist(variant, s, n, seed=data_seed, data_dir=data_dir, cache_dir=cache_dir)
             for s, n in zip(("train", "val", "test"), sizes)}
    parts["test_full"] = mnist.load_mnist(variant, "test", seed=data_seed, data_dir=data_dir, cache_dir=cache_dir)
    return {k: (v.images, v.labels) for k, v in parts.items()}


def _stacks(todo: list, size: int) -> list[list]:
    """The runs to train together: up to ``size`` seeds of one variant, group and size (in ``todo``'s order)."""
    groups: dict[tuple, list] = {}
    for job in todo:
        groups.setdefault(job[:3], []).append(job)
    return [members[i : i + size] for members in groups.values() for i in range(0, len(members), size)]


def _mnist_job(job: dict) -> list[Trained]:
    """Train one rotated-MNIST run, or a stack of them, and return them: a job of :func:`mnist_sweep`,
    here or in a Ray worker."""
    full = _mnist_splits(job["variant"], job["sizes"], job["data_seed"], job["data_dir"], job["cache_dir"])
    tensors = {"train": tuple(t[: job["n_train"]] for t in full["train"]), "val": full["val"], "test": full["test"]}
    task, members = ClassificationTask(), job["members"]
    seeds = ",".join(str(cfg.seed) for cfg, _, _ in members)
    desc = f"{job['group']} {job['variant']} N={job['n_train']} seed={seeds}"
    build = lambda stack=1: steerable.build_cnn(job["group"], target_params=job["target"],  # noqa: E731
                                                verbose=job["progress"] and stack == 1, stack=stack)
    if len(members) == 1:
        (cfg, _, checkpoint), = members
        trained = [train(build, task, tensors, cfg, checkpoint=checkpoint, progress=job["progress"], desc=desc)]
    else:
        trained = train_stacked([Member(build, tensors, cfg, checkpoint) for cfg, _, checkpoint in members], task,
                                stacked=build(len(members)), progress=job["progress"], desc=desc)
    out = []
    for (net, result), (_, config, _) in zip(trained, members):
        summary = result.summary()
        if result.best_val_epoch >= 0:  # the best-validation weights, restored, on the whole test set
            device = next(net.parameters()).device
            summary["test_at_best_val"] = task.metric(net, tuple(t.to(device) for t in full["test_full"]))
            summary["n_test_final"] = full["test_full"][0].shape[0]
        out.append(Trained(config, summary, result.curve, count_parameters(net)))
    return out


def _mnist_gpu_share(jobs: list[Job], device: torch.device, batch_size: int) -> float:
    """Each run's share of the GPU: the measured peak of the sweep's hungriest model, plus its data."""
    task, size = ClassificationTask(), mnist.IMAGE_SIZE
    images = lambda n: (torch.rand(n, 1, size, size), torch.randint(0, 10, (n,)))  # noqa: E731
    target = jobs[0].payload["target"]
    peak = max(peak_run_bytes(steerable.build_cnn(g, target_params=target, verbose=False), task,
                              images(batch_size), images(task.eval_batch), device)
               for g in sorted({job.payload["group"] for job in jobs}))
    data_bytes = sum(jobs[0].payload["sizes"]) * (size * size * 4 + 8)
    members = max(len(job.payload["members"]) for job in jobs)  # a stack holds its members' activations at once
    return gpu_share(members * peak + data_bytes, torch.cuda.get_device_properties(device).total_memory)


def mnist_stopped_too_early(runs: pd.DataFrame, results: str | Path = "results") -> pd.DataFrame:
    """The runs an earlier early-stopping floor (a lower ``stop_after``) ended too soon, beside their retraining.

    One row per such run that ``runs`` (a protocol's runs) has retrained: the
    floor it ran under, where it stopped and its whole-test-set error, then and now.
    """
    cols = ["variant", "group", "n_train", "seed"]
    stored = RunStore(results, "mnist").runs().assign(stop_after=lambda t: t.stop_after.fillna(0.0))
    now = runs.assign(stop_after=runs.stop_after.fillna(0.0))
    paired = stored[stored.patience.gt(0) & stored.stopped_early.eq(True)].merge(now, on=cols,
                                                                                   suffixes=("_before", "_now"))
    same = pd.concat([paired[f"{k}_before"] == paired[f"{k}_now"]
                      for k in ("epochs", "lr", "batch_size", "patience", "schedule", "budget_steps")], axis=1)
    keep = paired[same.all(axis=1) & (paired.stop_after_before < paired.stop_after_now)]
    return pd.DataFrame({
        **{c: keep[c] for c in cols},
        "floor then": [f"{f:.0%}" for f in keep.stop_after_before],
        "stopped then": [f"epoch {d} of {e}" for d, e in zip(keep.epochs_done_before, keep.epochs_before)],
        "error then": keep.test_at_best_val_before,
        "stopped now": [f"epoch {d} of {e}" for d, e in zip(keep.epochs_done_now, keep.epochs_now)],
        "error now": keep.test_at_best_val_now,
    }).sort_values([*cols, "floor then"]).reset_index(drop=True)
