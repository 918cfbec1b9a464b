"""Where a sweep's trainings run: here, one at a time (``local``), in a pool of worker processes on this
machine (``processes``), or as Ray tasks on any number of GPUs and nodes (``ray``).

A sweep hands over :class:`Job` s. Each job trains one run (or one stack of
runs) and *returns* what it trained; the driver, this process, is the only
writer of the run store, and records each result the moment it arrives. So a
killed driver or a lost worker loses no finished run, and rerunning the sweep
trains only what the store lacks (a run interrupted mid-way resumes from the
checkpoint its job names). A job that raises is recorded as failed, with its
error, and the others finish; the sweep then raises :class:`SweepFailures`.

With Ray, a training task asks for the share of a GPU that its measured peak
memory needs (:func:`gpu_share`), so Ray's scheduler packs as many small models
onto each GPU of every node as fit; on machines without a GPU it asks for the
CPU threads it trains with. Ray's own address convention applies: ``address``
or ``$RAY_ADDRESS`` (``"auto"`` for a running cluster); with neither, a local
instance sized to this machine is started and stopped with the sweep.

``processes`` needs nothing beyond the standard library: ``workers`` spawned
processes take the jobs in order, each training on its own ``threads``. On one
GPU, small launch-bound models (every model here) train several at once this
way; on a CPU, ``workers`` times ``threads`` should not exceed the cores.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import signal
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from ..base.store import RunStore
from .loop import Task, Tensors

EXECUTORS = ("local", "processes", "ray")
CONTEXT_BYTES = 768 * 2**20  # a CUDA context, kernels and allocator slack (about 500-700 MiB on Hopper)


@dataclass
class Trained:
    """One finished run as a job returns it: what :meth:`RunStore.record` writes."""

    config: dict
    summary: dict
    curve: list[dict]
    params: int


@dataclass
class Job:
    """One unit of work: ``fn(payload)`` trains and returns the :class:`Trained` runs of ``configs``.

    ``threads`` is the intra-op thread count it trains with (on a CPU, the
    cores it asks Ray for); ``gpu`` the share of one GPU it asks Ray for.
    """

    fn: Callable[[Any], list[Trained]]
    payload: Any
    configs: list[dict]
    label: str
    threads: int = 1
    gpu: float = 0.0


class SweepFailures(RuntimeError):
    """Some jobs of a sweep raised; everything else was recorded. ``failures`` maps labels to errors."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = failures
        first = next(iter(failures.values())).strip().splitlines()[-1]
        super().__init__(f"{len(failures)} job(s) failed and were recorded as failed "
                         f"({', '.join(failures)}); the first: {first}")


def check_executor(executor: str) -> str:
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; choose one of {EXECUTORS}")
    return executor


def default_threads(executor: str = "local", workers: int | None = None) -> int:
    """A training's intra-op threads when nothing says otherwise: every core, shared among ``processes`` workers."""
    cores = max(1, os.cpu_count() or 1)
    return max(1, cores // check_workers(workers)) if executor == "processes" else cores


def check_workers(workers: int | None) -> int:
    """The ``processes`` executor's pool size: ``workers``, or one per core."""
    if workers is None:
        return max(1, os.cpu_count() or 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1 (or None: one per core), got {workers!r}")
    return workers


@contextmanager
def intra_op_threads(threads: int) -> Iterator[None]:
    """Run a block with ``threads`` intra-op threads, then restore the caller's count."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def gpu_share(run_bytes: int, total_bytes: int, *, granularity: int = 100) -> float:
    """The fraction of a GPU of ``total_bytes`` that a run of ``run_bytes`` (plus a CUDA context) needs.

    Rounded up to 1/``granularity`` and capped at 1, so Ray can pack
    ``floor(1 / share)`` such runs onto one device.
    """
    if run_bytes <= 0 or total_bytes <= 0:
        raise ValueError(f"run_bytes and total_bytes must be positive, got {run_bytes!r} and {total_bytes!r}")
    return min(1.0, math.ceil(granularity * (run_bytes + CONTEXT_BYTES) / (0.9 * total_bytes)) / granularity)


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


def execute(fn: Callable[[Any], list[Trained]], payload: Any, threads: int) -> list[Trained]:
    """The body of every job, here or in a Ray worker: train with ``threads`` intra-op threads."""
    with intra_op_threads(threads):
        return fn(payload)


def run_jobs(jobs: Sequence[Job], store: RunStore, *, executor: str = "local", address: str | None = None,
             workers: int | None = None, progress: bool = True, desc: str = "sweep") -> None:
    """Run ``jobs`` and record every result in ``store`` as it arrives; raise :class:`SweepFailures` at the end
    if any job raised (those are recorded as failed, the rest as usual)."""
    check_executor(executor)
    workers = check_workers(workers)
    store.tidy()  # leftovers of a sweep killed before
    bar = tqdm(total=sum(len(j.configs) for j in jobs), desc=desc, unit="run", disable=not progress)
    failures: dict[str, str] = {}

    def record(job: Job, outcome: list[Trained] | BaseException) -> None:
        if isinstance(outcome, BaseException):
            error = "".join(traceback.format_exception(outcome)) or repr(outcome)
            failures[job.label] = error
            for config in job.configs:
                store.record_failure(config, error)
        else:
            for run in outcome:
                store.record(run.config, run.summary, run.curve, params=run.params)
        bar.update(len(job.configs))

    try:
        if executor == "local":
            for job in jobs:
                try:
                    outcome = execute(job.fn, job.payload, job.threads)
                except Exception as exc:  # a failed run costs only itself
                    outcome = exc
                record(job, outcome)
        elif executor == "processes" and jobs:
            _run_in_processes(jobs, record, workers)
        elif jobs:
            _run_on_ray(jobs, record, address)
    finally:
        bar.close()
        store.tidy()  # a worker killed mid-write (an interrupt, SIGTERM, Ray's forced cancel) leaves its temp file
    if failures:
        raise SweepFailures(failures)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the driver, so it cancels its tasks and stops Ray as Ctrl-C does."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_in_processes(jobs: Sequence[Job], record: Callable[[Job, Any], None], workers: int) -> None:
    """``workers`` spawned processes (CUDA needs spawn, not fork) take the jobs in their order.

    A job that raises is recorded with its own error; a worker that dies
    (out of memory, a signal) fails its job and those still queued, which a
    rerun trains. On an interrupt or SIGTERM the workers are killed at once.
    """
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"))
    try:
        with _sigterm_as_interrupt():
            pending = {pool.submit(execute, job.fn, job.payload, job.threads): job for job in jobs}
            for future in as_completed(pending):
                try:
                    outcome = future.result()
                except Exception as exc:  # the job's own error, or BrokenProcessPool for a lost worker
                    outcome = exc
                record(pending[future], outcome)
    finally:
        processes = list(getattr(pool, "_processes", {}).values())  # no public way to stop running workers
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.kill()


def ray_init_args(address: str | None) -> dict:
    """``ray.init`` arguments: an existing cluster's address, else a local instance sized to this machine."""
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        return {"address": address, "log_to_driver": False}
    return {"num_cpus": os.cpu_count() or 1, "num_gpus": torch.cuda.device_count(), "include_dashboard": False,
            "log_to_driver": False, "configure_logging": False}


def _run_on_ray(jobs: Sequence[Job], record: Callable[[Job, Any], None], address: str | None) -> None:
    import ray  # an optional dependency (pip install equilib[ray]): imported only when asked for
    from ray.exceptions import RayError, RayTaskError

    started = not ray.is_initialized()
    if started:
        ray.init(**ray_init_args(address))
    remote = ray.remote(execute)
    pending: dict[Any, Job] = {}
    try:
        with _sigterm_as_interrupt():
            for job in jobs:
                options = {"num_gpus": job.gpu, "num_cpus": 1 if job.gpu else job.threads, "max_retries": 2}
                pending[remote.options(**options).remote(job.fn, job.payload, job.threads)] = job
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done[0])
                try:
                    outcome = ray.get(done[0])
                except RayTaskError as exc:  # the job raised: its own error, not Ray's wrapper
                    outcome = exc.as_instanceof_cause()
                except RayError as exc:  # a lost worker or node, after Ray's retries
                    outcome = exc
                record(job, outcome)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            _shut_down_local_ray(ray)


def _shut_down_local_ray(ray, *, timeout: float = 20.0) -> None:
    """Stop the Ray instance this driver started, and return only once its processes are gone.

    ``ray.shutdown`` returns while cancelled workers are still dying; one killed
    a moment later, half-way through writing a checkpoint, left its temporary
    file behind after the driver had tidied the store (1 run in 10 of the
    SIGTERM test). So the driver waits for every process it started (the Ray
    services and their workers) and kills what outlives ``timeout``; then
    :meth:`RunStore.tidy` can remove whatever a killed writer left.
    """
    import psutil  # with ray: an optional dependency

    def running(process: psutil.Process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    started = psutil.Process().children(recursive=True)
    ray.shutdown()
    deadline = time.monotonic() + timeout
    while any(running(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in filter(running, started):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def spread_stacks(groups: list[list], workers: int) -> list[list]:
    """Split the largest stacks in two until every worker has one (or every stack is a single run).

    One stack of every run would leave all workers but one idle; a run trains
    the same in any stack, so splitting changes no number, only where it trains.
    """
    groups = [list(g) for g in groups]
    while len(groups) < workers and max((len(g) for g in groups), default=1) > 1:
        largest = max(range(len(groups)), key=lambda i: len(groups[i]))
        g = groups.pop(largest)
        groups[largest:largest] = [g[: (len(g) + 1) // 2], g[(len(g) + 1) // 2 :]]
    return groups
