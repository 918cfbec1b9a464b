"""Where a page's runs train and are kept, and whether to train at all: one object for every sweep of a page."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..base.checks import check_ints
from ..training.executors import check_executor, check_workers


@dataclass(frozen=True)
class RunSettings:
    """The settings a page, the CLI and every sweep behind them share; checked when made, before any work.

    ``results`` is the run store; ``train_missing=False`` only looks runs up
    (a book build); ``force`` retrains what the store holds; ``executor``,
    ``address``, ``workers`` and ``threads`` say where the trainings run
    (:mod:`equilib.training.executors`); ``data_dir`` is MNIST's (N-body data
    are simulated into ``cache_dir``). ``mnist_stack`` is how many rotated-MNIST runs
    (seeds of one group, variant and size) train as one stacked module
    (:mod:`equilib.training.stacked`): 1, one at a time, suits a CPU, where a
    stack gains nothing (0.9-1.2x, ``benchmarks/train_mnist_stacked.py``); a GPU
    wants 32 or more. N-body sweeps stack by their own rule.
    """

    results: str | Path = "results"
    device: str = "auto"
    cache_dir: str | Path | None = None
    data_dir: str | Path | None = None
    train_missing: bool = True
    progress: bool = True
    force: bool = False
    executor: str = "local"
    address: str | None = None
    workers: int | None = None
    threads: int | str = "auto"
    mnist_stack: int = 1

    def __post_init__(self) -> None:
        check_ints("mnist_stack", [self.mnist_stack], 1)
        check_executor(self.executor)
        check_workers(self.workers)
        if self.threads != "auto":
            check_ints("threads", [self.threads], 1)
