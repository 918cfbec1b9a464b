"""Executors: local and Ray runs record the same rows, a failed job costs only itself, a killed driver loses nothing."""
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pandas as pd
import pytest
import torch

from equilib.base.store import RunStore
from equilib.experiments.mnist import mnist_sweep
from equilib.experiments.nbody import nbody_sweep
from equilib.experiments.settings import RunSettings
from equilib.training.executors import (CONTEXT_BYTES, Job, SweepFailures, Trained, gpu_share, intra_op_threads,
                                        run_jobs, spread_stacks)

from conftest import ROOT
from test_mnist import needs_mnist

GIB = 2**30
# Under pytest-xdist, every test that starts Ray (or shares the MNIST baseline) runs in one worker, one at a time:
# one local Ray instance on the machine, as in a serial run (make test: --dist loadgroup)
ON_ONE_WORKER = pytest.mark.xdist_group("ray")


def test_gpu_share_packs_runs_by_measured_memory():
    assert gpu_share(2 * GIB, 80 * GIB) == pytest.approx(math.ceil(100 * (2 * GIB + CONTEXT_BYTES) / (72 * GIB)) / 100)
    assert gpu_share(2 * GIB, 80 * GIB) == 0.04  # 25 such runs share one H100
    assert gpu_share(100 * GIB, 80 * GIB) == 1.0  # never more than a whole device
    with pytest.raises(ValueError, match="must be positive, got 0 and"):
        gpu_share(0, GIB)


def _config(k: int) -> dict:
    return {"experiment": "toy", "model": "m", "group": "", "variant": "", "dim": 1, "n_train": k, "seed": 0,
            "epochs": 1, "lr": 1.0, "batch_size": 1, "eval_every": 1}


def _toy(payload):
    k, fail = payload
    if fail:
        raise RuntimeError(f"job {k} failed")
    return [Trained(_config(k), {"status": "finished", "best_val": float(k)}, [], params=torch.get_num_threads())]


def _toy_jobs(fail_at=1):
    return [Job(_toy, (k, k == fail_at), [_config(k)], label=f"toy {k}", threads=1) for k in range(4)]


def test_a_failed_job_is_recorded_as_failed_and_the_rest_finish(tmp_path):
    store = RunStore(tmp_path, "toy")
    with pytest.raises(SweepFailures, match=r"1 job\(s\) failed .*toy 1.*RuntimeError: job 1 failed"):
        run_jobs(_toy_jobs(), store, progress=False)
    assert sorted(store.runs()["n_train"]) == [0, 2, 3]
    assert (store.runs()["params"] == 1).all()  # each job trained with the thread count it asked for
    failed = store.failures()
    assert list(failed["run_id"]) == [store.checkpoint(_config(1)).stem] and "job 1 failed" in failed["error"][0]
    run_jobs(_toy_jobs(fail_at=None), store, progress=False)  # a rerun makes good the failure
    assert sorted(store.runs()["n_train"]) == [0, 1, 2, 3] and store.failures().empty
    with pytest.raises(ValueError, match=r"unknown executor 'dask'; choose one of \('local', 'processes', 'ray'\)"):
        run_jobs(_toy_jobs(), store, executor="dask")
    with pytest.raises(ValueError, match=r"workers must be an integer >= 1 \(or None: one per core\), got 0"):
        run_jobs(_toy_jobs(), store, executor="processes", workers=0)


def test_in_a_process_pool_a_failed_job_is_recorded_and_the_rest_finish(tmp_path):
    store = RunStore(tmp_path, "toy")
    with pytest.raises(SweepFailures, match="RuntimeError: job 1 failed"):
        run_jobs(_toy_jobs(), store, executor="processes", workers=2, progress=False)
    assert sorted(store.runs()["n_train"]) == [0, 2, 3] and len(store.failures()) == 1
    assert (store.runs()["params"] == 1).all()  # the worker trained with the job's thread count


def test_a_bad_pool_size_is_refused_before_any_work(tmp_path):
    # the settings are checked when made, so no sweep (not even free flight, recorded before any job) can start
    with pytest.raises(ValueError, match=r"workers must be an integer >= 1 \(or None: one per core\), got -2"):
        RunSettings(results=tmp_path / "bad", executor="processes", workers=-2, threads=1)
    assert not (tmp_path / "bad").exists()


def _dies(payload):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_that_dies_fails_its_jobs_and_the_sweep_returns(tmp_path):
    store = RunStore(tmp_path, "toy")
    jobs = [Job(_dies, None, [_config(0)], label="dies"), *_toy_jobs(fail_at=None)[1:]]
    with pytest.raises(SweepFailures, match="dies"):
        run_jobs(jobs, store, executor="processes", workers=1, progress=False)
    failed = store.failures()
    assert store.checkpoint(_config(0)).stem in set(failed["run_id"])  # recorded as failed: a rerun trains it
    assert failed["error"].str.contains("BrokenProcessPool|terminated abruptly").all()
    assert len(store.runs()) + len(failed) == 4  # every job is accounted for, none left hanging


def test_intra_op_threads_restores_the_callers_count():
    before = torch.get_num_threads()
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance (2 CPUs) for the module: the sweeps find it running and leave it running."""
    ray = pytest.importorskip("ray")
    # the workers must import this module's toy job (equilib itself is installed in the environment)
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT / "tests")}})
    yield ray
    ray.shutdown()


@ON_ONE_WORKER
@pytest.mark.slow
def test_on_ray_a_failed_task_is_recorded_and_the_rest_finish(tmp_path, ray_instance):
    store = RunStore(tmp_path, "toy")
    with pytest.raises(SweepFailures, match="RuntimeError: job 1 failed"):
        run_jobs(_toy_jobs(), store, executor="ray", progress=False)
    assert sorted(store.runs()["n_train"]) == [0, 2, 3] and len(store.failures()) == 1


def _same_rows(a: pd.DataFrame, b: pd.DataFrame, columns) -> None:
    a, b = a.sort_values("run_id").reset_index(drop=True), b.sort_values("run_id").reset_index(drop=True)
    assert list(a["run_id"]) == list(b["run_id"])
    for column in columns:
        assert a[column].tolist() == b[column].tolist(), column


@ON_ONE_WORKER
@pytest.mark.slow
def test_an_nbody_smoke_sweep_on_ray_records_what_the_local_executor_records(tmp_path, ray_instance):
    sweep = dict(dims=[2, 3], models=["gnn", "egnn", "freeflight"], seeds=[0, 1], n_trains=[64], epochs=3,
                 eval_every=1, n_val=32, n_test=32, steps=200, schedule="cosine", warmup=0.1, patience=2)
    here = RunSettings(device="cpu", progress=False, threads=1)
    local = nbody_sweep(**sweep, run=replace(here, results=tmp_path / "local"))
    on_ray = nbody_sweep(**sweep, run=replace(here, results=tmp_path / "ray", executor="ray"))
    assert len(local) == 12
    _same_rows(local, on_ray, ["best_val", "test_at_best_val", "best_test", "stop_step", "params", "status"])


# A CPU convolution's summation order depends on the intra-op thread count (1 and 2 threads differ at 1e-7 in
# the loss, and at 64 images that moved an error rate by 2/64 on a fresh machine), so every path trains each run
# on one thread: then they must record exactly the same numbers.
MNIST_SWEEP = dict(variants=["rotated"], groups=["trivial", "C4"], n_trains=[64, 128], epochs=2, lr=3e-3,
                   n_val=64, n_test=64, target_params=20_000)
ONE_THREAD = RunSettings(device="cpu", progress=False, threads=1)


@pytest.fixture(scope="module")
def mnist_local(tmp_path_factory):
    """The small MNIST sweep trained here, one run at a time: what every other executor must record."""
    results = tmp_path_factory.mktemp("mnist-local")
    cache = tmp_path_factory.getbasetemp() / "cache"  # the session's cache (set up before the autouse fixture)
    runs = mnist_sweep(**MNIST_SWEEP, run=replace(ONE_THREAD, results=results, cache_dir=cache))
    assert len(runs) == 4
    return runs, RunStore(results, "mnist").curves().sort_values(["run_id", "epoch"])


@ON_ONE_WORKER
@needs_mnist
@pytest.mark.slow
def test_mnist_runs_on_ray_record_what_local_runs_record(tmp_path, ray_instance, mnist_local):
    local, local_curves = mnist_local
    on_ray = mnist_sweep(**MNIST_SWEEP, run=replace(ONE_THREAD, results=tmp_path / "ray", executor="ray"))
    _same_rows(local, on_ray, ["best_val", "final_test", "test_at_best_val", "best_val_epoch"])
    curves = RunStore(tmp_path / "ray", "mnist").curves().sort_values(["run_id", "epoch"])
    assert curves["train_loss"].tolist() == local_curves["train_loss"].tolist()


@ON_ONE_WORKER
@needs_mnist
@pytest.mark.slow
def test_mnist_runs_in_a_process_pool_record_what_local_runs_record(tmp_path, mnist_local):
    local, _ = mnist_local
    pooled = mnist_sweep(**MNIST_SWEEP, run=replace(ONE_THREAD, results=tmp_path / "pool", executor="processes",
                                                     workers=2))
    _same_rows(local, pooled, ["best_val", "final_test", "test_at_best_val", "best_val_epoch", "stop_step"])


_KILLED_WRITER = """
import sys, time
from pathlib import Path
from equilib.base.cache import atomic_write
def write(tmp):
    tmp.write_text("half")
    print("writing", flush=True)
    time.sleep(60)
atomic_write(Path(sys.argv[1]), write)
"""


def test_a_writer_killed_mid_write_leaves_a_temp_file_that_the_next_sweep_removes(tmp_path):
    store = RunStore(tmp_path, "toy")
    target = store.checkpoint(_config(0))
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(target)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    assert writer.stdout.readline().strip() == "writing"
    (live,) = store.checkpoints_dir.glob("*.tmp")
    assert store.tidy(wait=0) == []  # its writer still runs: not stale
    assert live.exists()
    writer.kill()  # SIGKILL: no finally clause runs
    writer.wait()
    assert live.exists()  # what made the Ray test flaky
    other = store.checkpoints_dir / f".{target.name}.elsewhere~1~x.tmp"  # another host's writer: not ours to judge
    other.write_text("")
    run_jobs([Job(_toy, (1, False), [_config(1)], "ok")], store, progress=False)
    assert not live.exists() and other.exists()
    assert not target.exists() and len(store.runs()) == 1  # a half-written file never became a result


@ON_ONE_WORKER
@pytest.mark.slow
def test_sigterm_to_a_ray_driver_leaves_the_store_consistent_and_a_rerun_finishes(tmp_path):
    pytest.importorskip("ray")
    results = tmp_path / "results"
    command = [sys.executable, "-m", "equilib", "nbody-sweep", "--dims", "2", "3", "--models", "gnn", "egnn",
               "--seeds", "0", "1", "--n-train", "256", "--n-val", "32", "--n-test", "32", "--steps", "200",
               "--epochs", "40", "--eval-every", "1", "--no-stack", "--executor", "ray", "--threads", "1",
               "--results", str(results), "--cache-dir", str(tmp_path / "cache")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_ADDRESS": ""}
    log = tmp_path / "driver.log"
    with log.open("wb") as out:
        driver = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    runs_dir = results / "nbody" / "runs"
    deadline = time.time() + 240
    while (time.time() < deadline and driver.poll() is None
           and not (runs_dir.exists() and any(runs_dir.glob("*.parquet")))):
        time.sleep(0.5)
    said = log.read_text(errors="replace")[-2000:]
    assert driver.poll() is None, f"the driver ended early ({driver.returncode}):\n{said}"
    assert runs_dir.exists() and any(runs_dir.glob("*.parquet")), f"no run finished in time:\n{said}"
    driver.send_signal(signal.SIGTERM)
    assert driver.wait(timeout=60) != 0
    store = RunStore(results, "nbody")
    first = store.runs()  # every file reads: nothing half-written
    assert 1 <= len(first) < 8
    assert not list((results / "nbody").rglob("*.tmp"))
    # the rerun needs no cluster: the run ids do not depend on the executor, so it trains only what is missing
    rerun = [*command[:command.index("--executor")], "--executor", "local",
             *command[command.index("--executor") + 2:]]
    subprocess.run(rerun, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=600)
    again = store.runs()
    assert len(again) == 8 and set(first["run_id"]) <= set(again["run_id"])
    kept = again.set_index("run_id").loc[first["run_id"], "created"]
    assert kept.tolist() == first.set_index("run_id")["created"].tolist()  # finished runs were not retrained


def test_stacks_are_split_until_every_worker_has_one():
    runs = list(range(15))
    halves = spread_stacks([runs], 2)
    assert [len(g) for g in halves] == [8, 7] and sum(halves, []) == runs  # no run lost, none twice, order kept
    assert spread_stacks([[0], [1, 2]], 4) == [[0], [1], [2]]  # never below one run per stack
    assert spread_stacks([[0, 1], [2], [3]], 2) == [[0, 1], [2], [3]]  # enough stacks already: unchanged
    assert spread_stacks([], 2) == []


def test_run_settings_name_a_bad_executor_or_pool_before_any_work():
    with pytest.raises(ValueError, match="unknown executor 'slurm'; choose one of"):
        RunSettings(executor="slurm")
    with pytest.raises(ValueError, match="workers must be an integer >= 1 .* got 0"):
        RunSettings(workers=0)
    with pytest.raises(ValueError, match=r"threads must be integers >= 1; bad value\(s\): \[0\]"):
        RunSettings(threads=0)


def test_the_driver_simulates_and_flies_free_on_the_sweeps_threads(tmp_path, monkeypatch):
    """Free flight and its data are computed by the driver, not in a job: they too keep to ``threads``, or a
    one-thread sweep beside another process oversubscribes the cores (20x slower, measured on 2 cores)."""
    import equilib.experiments.nbody as sweep_module
    from equilib.tasks import nbody as nbody_task

    seen = []

    def recording(fn):
        def wrapped(*args, **kwargs):
            seen.append((fn.__name__, torch.get_num_threads()))
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(nbody_task, "simulate_split", recording(nbody_task.simulate_split))
    monkeypatch.setattr(sweep_module, "free_flight_result", recording(sweep_module.free_flight_result))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runs = nbody_sweep([2], ["freeflight"], [0], [16], n_val=8, n_test=8, steps=50,
                           run=RunSettings(results=tmp_path / "results", cache_dir=tmp_path / "cache", threads=1,
                                           progress=False))
        assert torch.get_num_threads() == 2  # the caller's count is back
    finally:
        torch.set_num_threads(before)
    assert len(runs) == 1
    assert {name for name, _ in seen} == {"simulate_split", "free_flight_result"}
    assert {threads for _, threads in seen} == {1}
