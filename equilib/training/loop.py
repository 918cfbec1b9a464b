"""One training loop for both experiments.

A :class:`Task` says how to compute the loss on a batch and the metric on a
split (lower is better: MSE for N-body, error rate for MNIST). :func:`train`
keeps every split on the device, shuffles with its own seeded generator,
evaluates every ``eval_every`` epochs, records both summary protocols (the
paper's best test metric, and the test metric at the best validation epoch),
checkpoints atomically so that a killed run resumes where it stopped, and
stops a run whose loss stops being finite instead of crashing its sweep.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..base.cache import atomic_write
from ..base.paths import resolve_device
from ..tasks.symmetry import augment_nbody

Tensors = tuple[torch.Tensor, ...]


SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; the defaults are the paper's N-body protocol (constant rate, fixed epochs).

    ``epochs`` is the budget. ``schedule="cosine"`` warms the rate up linearly
    over the first ``warmup`` fraction of the budget's steps, then decays it to
    zero along a half cosine at the budget's end. ``patience`` stops a run
    after that many evaluations without a new best validation metric (0: never
    early), so a run that has started to overfit stops paying for it; it may
    fire only once ``stop_after`` of the budget's epochs have passed, because
    under a cosine schedule the validation error of the high-rate phase is
    noisy and a stall there says nothing about where the run would end.
    ``augment`` passes every training batch through the task's ``augment``
    (a fresh random symmetry transform per sample, drawn from the run's own
    generator). ``restore_best`` hands back the weights of the best validation
    evaluation instead of the last ones, so that a final evaluation (MNIST's
    full test set) is made at the selected point. ``clip_norm`` (0: off)
    scales a step's gradient down to that norm when it is longer, as
    ``torch.nn.utils.clip_grad_norm_`` does: the EGNN's unbounded coordinate
    update can turn one large step into a divergence (see ``analysis.training``).
    """

    epochs: int = 10_000
    lr: float = 5e-4
    batch_size: int = 128
    eval_every: int = 10
    seed: int = 0
    device: str = "auto"
    schedule: str = "constant"
    warmup: float = 0.0
    patience: int = 0
    stop_after: float = 0.0
    augment: bool = False
    restore_best: bool = False
    clip_norm: float = 0.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be a fraction of the budget in [0, 1), got {self.warmup!r}")
        if not isinstance(self.patience, int) or self.patience < 0:
            raise ValueError(f"patience must be an integer >= 0 (0: no early stopping), got {self.patience!r}")
        if not 0 <= self.stop_after < 1:
            raise ValueError(f"stop_after must be a fraction of the budget in [0, 1), got {self.stop_after!r}")
        if not (self.clip_norm >= 0 and math.isfinite(self.clip_norm)):
            raise ValueError(f"clip_norm must be a finite number >= 0 (0: no clipping), got {self.clip_norm!r}")

    def lr_at(self, step: int, total_steps: int) -> float:
        """The learning rate for optimiser step ``step`` (from 0) of a budget of ``total_steps``."""
        if self.schedule == "constant":
            return self.lr
        warm = int(self.warmup * total_steps)
        if step < warm:
            return self.lr * (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total_steps - warm))
        return self.lr * 0.5 * (1.0 + math.cos(math.pi * progress))

    def should_stop(self, result: "RunResult") -> bool:
        """Early stopping: past ``stop_after`` of the budget, ``patience`` evaluations without a new best."""
        return (self.patience > 0 and self.may_stop_at(result.epochs_done)
                and result.epochs_done - result.best_val_epoch >= self.patience * self.eval_every)

    def may_stop_at(self, epoch: int) -> bool:
        """Whether ``stop_after`` lets early stopping fire after ``epoch`` epochs."""
        return epoch >= self.stop_after * self.epochs


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Let this process reuse the memory a training step frees instead of handing it back to the kernel.

    glibc serves every allocation above its mmap threshold (at most 32 MB) with a
    fresh mapping and unmaps it on free, so a step whose activations are larger
    (a stack of 8 CNNs: 80 MB tensors) touches every page of them anew, each step:
    160,000 page faults and 0.4 s of a 2.9 s step on this project's CPU
    (``benchmarks/train_mnist_stacked.py``). With mappings off and the heap never
    trimmed, the second step reuses the first one's pages. The process keeps its
    peak memory until it exits, which a training process does anyway. Returns
    whether the setting took (glibc only; elsewhere nothing changes).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):  # not glibc: no mallopt
        return False


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class Task(Protocol):
    """What the trainer needs to know about a learning problem.

    The metric is a mean over examples (or target elements): ``errors`` gives its
    numerator on one batch as a tensor and ``count`` its denominator, so that the
    stacked trainer can evaluate many models at once with ``torch.func.vmap``.
    """

    eval_batch: int

    def loss(self, model: nn.Module, batch: Tensors) -> torch.Tensor: ...

    def errors(self, model: nn.Module, batch: Tensors) -> torch.Tensor: ...

    def count(self, batch: Tensors) -> int: ...

    def metric(self, model: nn.Module, data: Tensors) -> float: ...


class MeanMetric:
    """``metric``: the summed ``errors`` of every evaluation batch over their summed ``count``."""

    eval_batch = 1024

    @torch.no_grad()
    def metric(self, model: nn.Module, data: Tensors) -> float:
        total, count = 0.0, 0
        for s in range(0, data[0].shape[0], self.eval_batch):
            batch = tuple(t[s : s + self.eval_batch] for t in data)
            total += self.errors(model, batch).item()
            count += self.count(batch)
        return total / count


class RegressionTask(MeanMetric):
    """N-body: inputs ``(x0, v0, charges)``, target final positions; loss and metric are the MSE."""

    eval_batch = 4096

    def augment(self, batch: Tensors, generator: torch.Generator, pad_ratio: float = 1.0) -> Tensors:
        """The batch moved by a random element of E(n) per sample (``TrainConfig.augment``).

        ``pad_ratio`` > 1 marks coordinates zero-padded for a stack: only the real ones move.
        """
        return augment_nbody(batch, generator, dim=round(batch[0].shape[-1] / pad_ratio))

    def loss(self, model: nn.Module, batch: Tensors) -> torch.Tensor:
        x, v, c, target = batch
        return F.mse_loss(model(x, v, c), target)

    def errors(self, model: nn.Module, batch: Tensors) -> torch.Tensor:
        x, v, c, target = batch
        return F.mse_loss(model(x, v, c), target, reduction="sum")

    def count(self, batch: Tensors) -> int:
        return batch[-1].numel()


class ClassificationTask(MeanMetric):
    """Images: inputs ``(images,)``, target labels; loss is cross-entropy, metric the error rate."""

    eval_batch = 1024

    def loss(self, model: nn.Module, batch: Tensors) -> torch.Tensor:
        images, labels = batch
        return F.cross_entropy(model(images), labels)

    def errors(self, model: nn.Module, batch: Tensors) -> torch.Tensor:
        images, labels = batch
        return (model(images).argmax(-1) != labels).sum()

    def count(self, batch: Tensors) -> int:
        return batch[-1].shape[0]


@dataclass
class RunResult:
    """What a run leaves behind: both summary protocols, the learning curve, and how it ended."""

    status: str = "running"  # "finished" or "diverged"
    epochs_done: int = 0
    best_test: float = math.inf
    best_test_epoch: int = -1
    best_val: float = math.inf
    best_val_epoch: int = -1
    test_at_best_val: float = math.inf
    final_test: float = math.inf
    curve: list[dict] = field(default_factory=list)
    wall_time: float = 0.0
    cpu_time: float = 0.0  # this process's CPU seconds (every thread): unlike wall_time, a paused sweep adds none
    device: str = ""
    steps_per_epoch: int = 0
    stopped_early: bool = False

    def observe(self, epoch: int, train_loss: float, val: float, test: float) -> None:
        self.curve.append({"epoch": epoch, "train_loss": train_loss, "val": val, "test": test})
        self.final_test = test
        if test < self.best_test:
            self.best_test, self.best_test_epoch = test, epoch
        if val < self.best_val:
            self.best_val, self.best_val_epoch, self.test_at_best_val = val, epoch, test

    def summary(self) -> dict:
        """Everything but the curve, with the epochs also counted in optimiser steps."""
        out = {k: v for k, v in asdict(self).items() if k != "curve"}
        out["stop_step"] = self.epochs_done * self.steps_per_epoch
        out["best_val_step"] = max(self.best_val_epoch, 0) * self.steps_per_epoch
        last_eval = self.curve[-1]["epoch"] if self.curve else -1
        out["best_at_last_eval"] = bool(self.curve) and self.best_val_epoch == last_eval
        return out


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return "cpu"


def check_splits(data: dict[str, Tensors]) -> None:
    """Training data must hold the three splits the trainers read."""
    missing = {"train", "val", "test"} - set(data)
    if missing:
        raise ValueError(f"data needs the splits train, val and test; missing {sorted(missing)}")


def augment_generator(config: TrainConfig) -> torch.Generator:
    """The run's own stream of augmentation transforms (independent of its shuffling)."""
    return torch.Generator().manual_seed(config.seed + 2)


# Tensors a model rebuilds from its parameters and its architecture: escnn's expanded filters and biases and its
# sampled bases. They are 26x the parameters of a 100k-parameter C8 CNN (10 MB against 0.39 MB), so a checkpoint
# leaves them out and :func:`load_state` takes them from the freshly built model.
_DERIVED = re.compile(r"(^|\.)(filter|expanded_bias)$|(^|\.)_basisexpansion\.")


def _without_derived(state: dict | None) -> dict | None:
    return None if state is None else {k: v for k, v in state.items() if not _DERIVED.search(k)}


def load_state(model: nn.Module, state: dict) -> None:
    """``model.load_state_dict(state)`` for a state that may lack the derived tensors a checkpoint leaves out;
    any other missing or unexpected key is an error, as in a strict load. Call it in eval mode and re-enter eval
    mode from training afterwards (``model.train().eval()``), so that escnn derives its filters again."""
    own = model.state_dict()
    missing = {k: v for k, v in own.items() if k not in state}
    parameters = {name for name, _ in model.named_parameters()}
    if any(not _DERIVED.search(k) or k in parameters for k in missing):
        model.load_state_dict(state)  # strict: names what is missing
    model.load_state_dict({**missing, **state})


def save_checkpoint(path: Path, config: TrainConfig, model_state: dict, optimizer_state: dict,
                    shuffle: torch.Generator, result: RunResult, augment: torch.Generator | None = None,
                    best: dict | None = None) -> None:
    """One run's full training state, written atomically (the one format both trainers read and write), without
    the tensors the model derives (:func:`load_state` restores them)."""
    state = {"config": asdict(config), "model": _without_derived(model_state), "optimizer": optimizer_state,
             "shuffle": shuffle.get_state(), "result": result,
             "augment": augment.get_state() if augment is not None else None, "best": _without_derived(best)}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path | None, config: TrainConfig, device: torch.device) -> dict | None:
    """The state saved by :func:`save_checkpoint` for exactly this configuration, else ``None``."""
    if path is None or not path.exists():
        return None
    state = torch.load(path, map_location=device, weights_only=False)
    saved = {**asdict(TrainConfig()), **state["config"]}  # settings added since it was saved take their defaults
    return state if saved == asdict(config) else None


def train(
    build: Callable[[], nn.Module],
    task: Task,
    data: dict[str, Tensors],
    config: TrainConfig,
    *,
    checkpoint: Path | None = None,
    checkpoint_every: float = 60.0,
    progress: bool = True,
    desc: str = "train",
    on_step: Callable[[int, nn.Module, torch.Tensor], None] | None = None,
) -> tuple[nn.Module, RunResult]:
    """Train ``build()`` (built under ``config.seed``) on ``data['train']``, watching ``val`` and ``test``.

    ``checkpoint`` is written at evaluation epochs, at most every
    ``checkpoint_every`` seconds (as the stacked trainer does): a killed run
    loses at most that much work, and a run is rarely caught writing one.
    ``on_step(step, model, loss)`` sees every step after its backward pass,
    before any clipping and before the optimiser moves: for diagnostics (gradient norms),
    at the price of a host sync per step.
    """
    check_splits(data)
    device = resolve_device(config.device)
    if device.type == "cpu":
        keep_freed_memory()
    torch.manual_seed(config.seed)
    model = build().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    shuffle = torch.Generator().manual_seed(config.seed + 1)
    augment = augment_generator(config) if config.augment else None
    splits = {k: tuple(t.to(device) for t in v) for k, v in data.items()}
    result = RunResult(device=_device_name(device))
    best: dict | None = None  # the weights of the best validation, kept when they are to be restored
    state = load_checkpoint(checkpoint, config, device)
    if state is not None:
        best = state.get("best")
        model.eval()  # state dicts are taken and loaded in eval mode, where escnn's keys do not depend on history
        load_state(model, state["model"])
        optimizer.load_state_dict(state["optimizer"])
        shuffle.set_state(state["shuffle"])
        if augment is not None:
            augment.set_state(state["augment"])
        result = state["result"]
        result.device = _device_name(device)
    n_train = splits["train"][0].shape[0]
    result.steps_per_epoch = math.ceil(n_train / config.batch_size)
    total_steps = config.epochs * result.steps_per_epoch
    step = result.epochs_done * result.steps_per_epoch
    start = time.perf_counter() - result.wall_time
    cpu_start = time.process_time() - result.cpu_time
    last_save = time.perf_counter()
    bar = tqdm(total=config.epochs, initial=result.epochs_done, desc=desc, unit="epoch", disable=not progress,
               leave=False)
    last_loss = math.nan
    for epoch in range(result.epochs_done + 1, config.epochs + 1):
        model.train()
        order = torch.randperm(n_train, generator=shuffle).to(device)
        total = torch.zeros((), device=device)
        for s in range(0, n_train, config.batch_size):
            idx = order[s : s + config.batch_size]
            batch = tuple(t[idx] for t in splits["train"])
            loss = task.loss(model, batch if augment is None else task.augment(batch, augment))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if on_step is not None:
                on_step(step, model, loss.detach())
            if config.clip_norm:
                nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            set_lr(optimizer, config.lr_at(step, total_steps))
            optimizer.step()
            step += 1
            total += loss.detach() * idx.numel()
        if epoch % config.eval_every and epoch != config.epochs:
            continue
        last_loss = total.item() / n_train  # the only host sync of an epoch, and only on evaluation epochs
        if not math.isfinite(last_loss):
            result.status = "diverged"
            break
        model.eval()
        val, test = task.metric(model, splits["val"]), task.metric(model, splits["test"])
        result.observe(epoch, last_loss, val, test)
        if config.restore_best and result.best_val_epoch == epoch:
            best = {k: v.detach().clone() for k, v in model.state_dict().items()}
        result.epochs_done = epoch
        result.wall_time = time.perf_counter() - start
        result.cpu_time = time.process_time() - cpu_start
        bar.update(epoch - bar.n)
        bar.set_postfix(loss=f"{last_loss:.3g}", val=f"{val:.3g}")  # no test error: nothing read while it trains
        if config.should_stop(result):
            result.stopped_early = True
            break
        if checkpoint is not None and epoch != config.epochs and time.perf_counter() - last_save >= checkpoint_every:
            save_checkpoint(checkpoint, config, model.state_dict(), optimizer.state_dict(), shuffle, result, augment,
                            best)
            last_save = time.perf_counter()
    bar.close()
    if result.status == "running":
        result.status = "finished"
    result.wall_time = time.perf_counter() - start
    result.cpu_time = time.process_time() - cpu_start
    model.eval()
    if best is not None:
        load_state(model, best)
        model.train().eval()  # escnn caches filters on entering eval mode: derive them from the loaded weights
    return model, result
