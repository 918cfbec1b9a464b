"""Concurrent runs: how many fit, and worker processes that record what one process records."""
import pandas as pd
import pytest
import torch

from equilib.concurrency import CONTEXT_BYTES, intra_op_threads, run_jobs, workers_that_fit
from equilib.experiments import mnist_sweep
from test_mnist import needs_mnist

GIB = 2**30


def test_workers_follow_free_memory_within_their_limits():
    run = 2 * GIB
    assert workers_that_fit(10 * GIB, run, limit=100) == int(0.9 * 10 * GIB) // (run + CONTEXT_BYTES)
    assert workers_that_fit(10 * GIB, run, limit=100) == 3
    assert workers_that_fit(80 * GIB, run, limit=8) == 8
    assert workers_that_fit(1 * GIB, run, limit=8) == 1  # never fewer than one: a run that does not fit fails loudly
    with pytest.raises(ValueError, match="run_bytes must be positive, got 0"):
        workers_that_fit(GIB, 0)
    with pytest.raises(ValueError, match="limit must be >= 1, got 0"):
        workers_that_fit(GIB, GIB, limit=0)


def _write_or_fail(job):
    path, fail = job
    if fail:
        raise RuntimeError(f"job {path.name} failed")
    path.write_text("done")


def test_a_failed_job_costs_only_itself(tmp_path):
    jobs = [(tmp_path / f"{k}.txt", k == 1) for k in range(4)]
    with pytest.raises(RuntimeError, match="job 1.txt failed"):
        run_jobs(_write_or_fail, jobs, workers=2, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.txt", "2.txt", "3.txt"]
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        run_jobs(_write_or_fail, jobs, workers=0)


@needs_mnist
def test_concurrent_mnist_runs_record_what_sequential_runs_record(tmp_path):
    # A CPU convolution's summation order depends on the intra-op thread count (1 and 2 threads differ at
    # 1e-7 in the loss, and at 64 images that moved an error rate by 2/64 on a fresh machine), so both
    # paths train each run on one thread: then they must record exactly the same numbers.
    sweep = dict(variants=["rotated"], groups=["trivial", "C4"], n_trains=[64, 128], epochs=2, lr=3e-3,
                 n_val=64, n_test=64, target_params=20_000, device="cpu", progress=False, threads=1)
    one = mnist_sweep(results=tmp_path / "one", workers=1, **sweep).sort_values("run_id").reset_index(drop=True)
    two = mnist_sweep(results=tmp_path / "two", workers=2, **sweep).sort_values("run_id").reset_index(drop=True)
    assert len(one) == 4 and list(one["run_id"]) == list(two["run_id"])
    for column in ("best_val", "final_test", "test_at_best_val", "best_val_epoch"):
        assert two[column].tolist() == one[column].tolist(), column
    curves = [pd.read_parquet(tmp_path / name / "mnist" / "curves").sort_values(["run_id", "epoch"])
              for name in ("one", "two")]
    assert curves[1]["train_loss"].tolist() == curves[0]["train_loss"].tolist()
    with pytest.raises(ValueError, match=r"workers must be integers >= 1; bad value\(s\): \['many'\]"):
        mnist_sweep(results=tmp_path / "bad", workers="many", **sweep)
    with pytest.raises(ValueError, match=r"threads must be integers >= 1; bad value\(s\): \[0\]"):
        mnist_sweep(results=tmp_path / "bad", **{**sweep, "threads": 0})


def test_intra_op_threads_restores_the_callers_count():
    before = torch.get_num_threads()
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
