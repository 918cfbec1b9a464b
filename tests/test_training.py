"""The trainer and the run store: learning happens, runs resume, nothing finished is lost."""
import math

import pandas as pd
import pytest
import torch

from equilib import nbody
from equilib.experiments import nbody_sweep
from equilib.models import build_model
from equilib.store import RunStore
from equilib.training import RegressionTask, TrainConfig, train

STEPS = 1000  # a 1-time-unit horizon: learnable in seconds on a CPU


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    data = nbody.make_dataset(3, n_train=512, n_val=128, n_test=128, steps=STEPS, progress=False,
                              cache_dir=tmp_path_factory.mktemp("cache"))
    return {k: (t.x0.float(), t.v0.float(), t.charges.float(), t.xT.float()) for k, t in data.splits.items()}


def _baseline_mse(split):
    x0, _, _, xT = split
    return ((x0 - xT) ** 2).mean().item()


@pytest.mark.parametrize("name", ["gnn", "egnn"])
def test_training_learns_far_better_than_standing_still(small_data, name):
    cfg = TrainConfig(epochs=40, lr=2e-3, batch_size=64, eval_every=10, device="cpu")
    _, result = train(lambda: build_model(name, 3), RegressionTask(), small_data, cfg, progress=False)
    assert result.status == "finished" and result.epochs_done == 40
    assert result.best_test < 0.25 * _baseline_mse(small_data["test"])
    assert result.best_test <= result.test_at_best_val
    assert [p["epoch"] for p in result.curve] == [10, 20, 30, 40]


def test_same_seed_same_numbers_on_cpu(small_data):
    cfg = TrainConfig(epochs=4, lr=1e-3, batch_size=64, eval_every=2, device="cpu", seed=3)
    runs = [train(lambda: build_model("egnn", 3), RegressionTask(), small_data, cfg, progress=False)[1]
            for _ in range(2)]
    assert runs[0].curve == runs[1].curve


def test_resume_after_interruption_gives_the_same_result(small_data, tmp_path):
    cfg = TrainConfig(epochs=6, lr=1e-3, batch_size=64, eval_every=2, device="cpu", seed=1)
    _, straight = train(lambda: build_model("gnn", 3), RegressionTask(), small_data, cfg, progress=False)

    ckpt = tmp_path / "run.pt"
    calls = {"n": 0}

    class Killed(Exception):
        pass

    class DiesAtEpochFive(RegressionTask):
        def loss(self, model, batch):
            calls["n"] += 1
            if calls["n"] == 4 * 8 + 3:  # 8 batches per epoch: die inside epoch 5
                raise Killed
            return super().loss(model, batch)

    with pytest.raises(Killed):
        train(lambda: build_model("gnn", 3), DiesAtEpochFive(), small_data, cfg, checkpoint=ckpt, progress=False)
    assert ckpt.exists()
    _, resumed = train(lambda: build_model("gnn", 3), RegressionTask(), small_data, cfg, checkpoint=ckpt,
                       progress=False)
    assert resumed.curve == straight.curve
    assert resumed.test_at_best_val == straight.test_at_best_val


def test_a_nan_run_is_recorded_as_diverged(small_data):
    bad = dict(small_data)
    x0, v0, c, xT = small_data["train"]
    xT = xT.clone()
    xT[5, 0, 0] = math.nan
    bad["train"] = (x0, v0, c, xT)
    cfg = TrainConfig(epochs=6, lr=1e-3, batch_size=64, eval_every=1, device="cpu")
    _, result = train(lambda: build_model("egnn", 3), RegressionTask(), bad, cfg, progress=False)
    assert result.status == "diverged" and result.epochs_done == 0 and not result.curve


SWEEP = dict(dims=[2], models=["gnn", "egnn"], seeds=[0], n_trains=[64], epochs=2, eval_every=1, n_val=32,
             n_test=32, steps=200, device="cpu", progress=False)


def test_sweep_records_runs_and_a_second_sweep_trains_nothing(tmp_path, monkeypatch):
    runs = nbody_sweep(results=tmp_path, **SWEEP)
    assert sorted(runs["model"]) == ["egnn", "gnn"]
    assert set(runs["status"]) == {"finished"} and (runs["params"] > 0).all()
    assert pd.read_parquet(tmp_path / "nbody" / "runs").shape[0] == 2  # pandas reads the store in one call
    curves = RunStore(tmp_path, "nbody").curves()
    assert set(curves["run_id"]) == set(runs["run_id"]) and set(curves["epoch"]) == {1, 2}

    import equilib.experiments as ex

    monkeypatch.setattr(ex, "train", lambda *a, **k: pytest.fail("trained a run that the store holds"))
    monkeypatch.setattr(ex, "train_stacked", lambda *a, **k: pytest.fail("trained a run that the store holds"))
    again = nbody_sweep(results=tmp_path, **SWEEP)
    assert again.shape[0] == 2


def test_sweep_with_one_new_seed_trains_only_that_seed(tmp_path):
    nbody_sweep(results=tmp_path, **SWEEP)
    runs = nbody_sweep(results=tmp_path, **{**SWEEP, "seeds": [0, 1]})
    assert sorted(runs["seed"].tolist()) == [0, 0, 1, 1]


@pytest.mark.parametrize("change,match", [
    ({"dims": [2, 0]}, r"dims .* \[0\]"),
    ({"models": ["egnn", "mlp"]}, r"unknown models \['mlp'\]"),
    ({"n_trains": [-5]}, r"n_trains .* \[-5\]"),
    ({"epochs": 0}, "epochs .* got 0"),
])
def test_sweep_rejects_bad_parameters_before_training(tmp_path, change, match):
    with pytest.raises(ValueError, match=match):
        nbody_sweep(results=tmp_path, **{**SWEEP, **change})
    assert not (tmp_path / "nbody").exists()
