"""Several training runs sharing one GPU at once: as many worker processes as its free memory holds.

A 400k-parameter steerable CNN at batch 64 leaves an H100 mostly idle: its
training is bound by kernel launches (../shared/notes/stack.md). Worker
processes each have their own CUDA context and launch queue, so the kernels of
several runs overlap on the device. How many fit is read from the device's
free memory and the measured peak of one training step and one evaluation
batch of the largest model. On a CPU, one run already uses every core, so
there the answer is one.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .training import Task, Tensors

CONTEXT_BYTES = 768 * 2**20  # a worker's CUDA context, kernels and allocator slack (about 500-700 MiB on Hopper)
MAX_WORKERS = 8  # beyond this the runs mostly take turns on the device's compute


def workers_that_fit(free_bytes: int, run_bytes: int, *, limit: int = MAX_WORKERS) -> int:
    """How many runs of ``run_bytes`` (each plus a CUDA context) fit in 90% of ``free_bytes``: 1 to ``limit``."""
    if run_bytes <= 0:
        raise ValueError(f"run_bytes must be positive, got {run_bytes!r}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit!r}")
    return max(1, min(limit, int(0.9 * free_bytes) // (run_bytes + CONTEXT_BYTES)))


def peak_run_bytes(model: nn.Module, task: Task, batch: Tensors, eval_batch: Tensors,
                   device: torch.device) -> int:
    """Peak device memory of one Adam training step on ``batch`` and one evaluation of ``eval_batch``."""
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters())
    loss = task.loss(model, tuple(t.to(device) for t in batch))
    loss.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        task.errors(model, tuple(t.to(device) for t in eval_batch))
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del model, optimizer, loss
    torch.cuda.empty_cache()
    return peak


def threads_per_worker(workers: int) -> int:
    """The cores shared out evenly among ``workers`` concurrent runs (at least one each)."""
    return max(1, (os.cpu_count() or 1) // workers)


@contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """Run a block with ``threads`` intra-op threads, then restore the caller's count."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_jobs(fn: Callable[[Any], None], jobs: Sequence[Any], workers: int, *, progress: bool = True,
             desc: str = "runs") -> None:
    """``fn(job)`` for every job, ``workers`` at a time in fresh processes (in this one when ``workers`` is 1).

    Each job saves its own result (the run store), so a failed job loses only
    itself: the others finish, then the first failure is raised.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers!r}")
    bar = tqdm(total=len(jobs), desc=desc, unit="run", disable=not progress)
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            fn(job)
            bar.update()
        bar.close()
        return
    failures = []
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(fn, job) for job in jobs]
        for future in as_completed(futures):
            if (error := future.exception()) is not None:
                failures.append(error)
            bar.update()
    bar.close()
    if failures:
        raise failures[0]
