"""The trainer and the run store: learning happens, runs resume, nothing finished is lost."""
import math
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from equilib.base.store import RunStore
from equilib.experiments import nbody as nbody_experiment
from equilib.experiments.nbody import nbody_sweep
from equilib.experiments.settings import RunSettings
from equilib.models.catalogue import build_model
from equilib.tasks import nbody
from equilib.training.loop import RegressionTask, TrainConfig, train

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
        train(lambda: build_model("gnn", 3), DiesAtEpochFive(), small_data, cfg, checkpoint=ckpt, checkpoint_every=0,
              progress=False)
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
             n_test=32, steps=200)


def _here(results) -> RunSettings:
    return RunSettings(results=results, device="cpu", progress=False)


def test_sweep_records_runs_and_a_second_sweep_trains_nothing(tmp_path, monkeypatch):
    runs = nbody_sweep(**SWEEP, run=_here(tmp_path))
    assert sorted(runs["model"]) == ["egnn", "gnn"]
    assert set(runs["status"]) == {"finished"} and (runs["params"] > 0).all()
    assert pd.read_parquet(tmp_path / "nbody" / "runs").shape[0] == 2  # pandas reads the store in one call
    curves = RunStore(tmp_path, "nbody").curves()
    assert set(curves["run_id"]) == set(runs["run_id"]) and set(curves["epoch"]) == {1, 2}

    monkeypatch.setattr(nbody_experiment, "train", lambda *a, **k: pytest.fail("trained a run that the store holds"))
    monkeypatch.setattr(nbody_experiment, "train_stacked", lambda *a, **k: pytest.fail("trained a run that the store holds"))
    again = nbody_sweep(**SWEEP, run=_here(tmp_path))
    assert again.shape[0] == 2


def test_sweep_with_one_new_seed_trains_only_that_seed(tmp_path):
    nbody_sweep(**SWEEP, run=_here(tmp_path))
    runs = nbody_sweep(**{**SWEEP, "seeds": [0, 1]}, run=_here(tmp_path))
    assert sorted(runs["seed"].tolist()) == [0, 0, 1, 1]


@pytest.mark.parametrize("change,match", [
    ({"dims": [2, 0]}, r"dims .* \[0\]"),
    ({"models": ["egnn", "mlp"]}, r"unknown models \['mlp'\]"),
    ({"n_trains": [-5]}, r"n_trains .* \[-5\]"),
    ({"epochs": 0}, "epochs .* got 0"),
])
def test_sweep_rejects_bad_parameters_before_training(tmp_path, change, match):
    with pytest.raises(ValueError, match=match):
        nbody_sweep(**{**SWEEP, **change}, run=_here(tmp_path))
    assert not (tmp_path / "nbody").exists()


def test_cosine_schedule_warms_up_then_decays_to_zero():
    cfg = TrainConfig(lr=1e-3, schedule="cosine", warmup=0.1)
    rates = [cfg.lr_at(step, 100) for step in range(100)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)  # linear warm-up over 10 steps
    assert rates[10] == pytest.approx(1e-3) and rates[55] == pytest.approx(5e-4)  # half-way down the cosine
    assert rates[-1] < 1e-6 and all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert TrainConfig(lr=3e-4).lr_at(77, 100) == 3e-4  # the paper's constant rate


def test_early_stopping_stops_after_patience_evaluations_without_a_new_best(small_data):
    class ValidationTurnsUpAtEpochSix(RegressionTask):
        """Validation MSE 5, 4, 3 (epoch 6), then worse and worse: the run must stop at epoch 6 + 3 * 2."""

        calls = 0

        def metric(self, model, data):
            self.calls += 1  # the trainer evaluates validation, then test
            if self.calls % 2 == 0:
                return super().metric(model, data)
            return float(abs((self.calls + 1) // 2 - 3) + 3)

    cfg = TrainConfig(epochs=40, lr=1e-3, batch_size=64, eval_every=2, device="cpu", patience=3)
    _, result = train(lambda: build_model("gnn", 3), ValidationTurnsUpAtEpochSix(), small_data, cfg, progress=False)
    assert result.stopped_early and result.status == "finished"
    assert result.best_val_epoch == 6 and result.epochs_done == 12
    summary = result.summary()
    assert summary["stop_step"] == result.epochs_done * 8 and summary["best_val_step"] == result.best_val_epoch * 8
    assert summary["best_at_last_eval"] is False


def test_early_stopping_waits_for_stop_after_of_the_budget(small_data):
    """The same validation curve as above, with stop_after=0.5 of 40 epochs: no stop before epoch 20.

    Patience ran out at epoch 12, so the run stops at the first evaluation at or after half the budget
    (epoch 20), and still hands back the best validation of epoch 6.
    """
    class ValidationTurnsUpAtEpochSix(RegressionTask):
        calls = 0

        def metric(self, model, data):
            self.calls += 1
            if self.calls % 2 == 0:
                return super().metric(model, data)
            return float(abs((self.calls + 1) // 2 - 3) + 3)

    cfg = TrainConfig(epochs=40, lr=1e-3, batch_size=64, eval_every=2, device="cpu", patience=3, stop_after=0.5)
    _, result = train(lambda: build_model("gnn", 3), ValidationTurnsUpAtEpochSix(), small_data, cfg, progress=False)
    assert result.stopped_early and result.best_val_epoch == 6 and result.epochs_done == 20
    assert not cfg.may_stop_at(19) and cfg.may_stop_at(20)


def test_rekey_files_a_run_under_a_new_configuration_with_every_number_kept(tmp_path):
    store = RunStore(tmp_path, "toy")
    config = {"experiment": "toy", "model": "gnn", "group": "", "variant": "", "dim": 3, "n_train": 10, "seed": 0,
              "epochs": 4, "lr": 1e-3, "batch_size": 2, "eval_every": 1, "patience": 2}
    old = store.record(config, {"status": "finished", "test_at_best_val": 0.25, "epochs_done": 4},
                       [{"epoch": e, "train_loss": 1.0 / e, "val": 0.5, "test": 0.5} for e in (1, 2, 3, 4)])
    before = store.runs().iloc[0]
    new = store.rekey(old, {**config, "stop_after": 0.5})
    assert new != old and store.has({**config, "stop_after": 0.5}) and not store.has(config)
    after = store.runs()
    assert len(after) == 1 and after.run_id[0] == new and after.stop_after[0] == 0.5
    assert after.test_at_best_val[0] == 0.25 and after.created[0] == before.created
    assert '"stop_after": 0.5' in after.config[0]
    curves = store.curves()
    assert list(curves.run_id.unique()) == [new] and len(curves) == 4
    with pytest.raises(KeyError, match=f"no recorded run '{old}'"):
        store.rekey(old, config)


def test_a_scheduled_augmented_run_killed_midway_resumes_to_the_same_result(small_data, tmp_path):
    cfg = TrainConfig(epochs=6, lr=2e-3, batch_size=64, eval_every=2, device="cpu", seed=2, schedule="cosine",
                      warmup=0.2, patience=5, augment=True)
    _, straight = train(lambda: build_model("egnn", 3), RegressionTask(), small_data, cfg, progress=False)
    ckpt, calls = tmp_path / "run.pt", {"n": 0}

    class DiesInEpochFive(RegressionTask):
        def loss(self, model, batch):
            calls["n"] += 1
            if calls["n"] == 4 * 8 + 3:
                raise KeyboardInterrupt
            return super().loss(model, batch)

    with pytest.raises(KeyboardInterrupt):
        train(lambda: build_model("egnn", 3), DiesInEpochFive(), small_data, cfg, checkpoint=ckpt, checkpoint_every=0,
              progress=False)
    _, resumed = train(lambda: build_model("egnn", 3), RegressionTask(), small_data, cfg, checkpoint=ckpt,
                       progress=False)
    assert resumed.curve == straight.curve


@pytest.mark.parametrize("change,match", [
    ({"schedule": "linear"}, r"unknown schedule 'linear'; choose one of \('constant', 'cosine'\)"),
    ({"warmup": 1.5}, r"warmup must be a fraction of the budget in \[0, 1\), got 1.5"),
    ({"patience": -1}, r"patience must be an integer >= 0 .*got -1"),
    ({"stop_after": 1.0}, r"stop_after must be a fraction of the budget in \[0, 1\), got 1.0"),
])
def test_bad_schedules_are_named(change, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**change)


def test_sweep_records_the_protocol_each_seed_with_its_own_data(tmp_path):
    runs = nbody_sweep(**{**SWEEP, "models": ["gnn", "resgnn", "freeflight"], "seeds": [0, 1], "schedule": "cosine",
                          "warmup": 0.1, "patience": 4, "batch_size": 32}, run=_here(tmp_path))
    trained = runs[runs.model != "freeflight"]
    assert set(trained["schedule"]) == {"cosine"} and set(trained["patience"]) == {4}
    assert (runs["data_seed"] == runs["seed"]).all()
    assert set(trained["budget_steps"]) == {4} and set(trained["stop_step"]) <= {2, 4}  # 64/32 = 2 steps an epoch
    flight = runs[runs.model == "freeflight"].set_index("seed")
    assert flight.loc[0, "test_at_best_val"] != flight.loc[1, "test_at_best_val"]  # two test sets, not one
    assert (flight["params"] == 0).all() and (flight["epochs_done"] == 0).all()
    # the free-flight row is exactly x0 + T dt v0 against the seed's own test targets
    data = nbody.make_dataset(2, n_train=64, n_val=32, n_test=32, steps=200, seed=1, progress=False)
    test = data["test"]
    expected = ((test.x0 + 200 * 1e-3 * test.v0 - test.xT) ** 2).mean().item()
    assert flight.loc[1, "test_at_best_val"] == pytest.approx(expected, rel=1e-5)


def test_residual_gnn_is_free_flight_plus_the_plain_gnn():
    torch.manual_seed(0)
    plain = build_model("gnn", 3)
    residual = build_model("resgnn", 3, horizon=2.5)
    residual.load_state_dict(plain.state_dict())
    x, v, c = torch.randn(4, 5, 3), torch.randn(4, 5, 3), torch.randn(4, 5).sign()
    assert torch.equal(residual(x, v, c), x + 2.5 * v + plain(x, v, c))
    with pytest.raises(ValueError, match="horizon must be positive, got 0"):
        build_model("resgnn", 3, horizon=0)


def test_restore_best_hands_back_the_weights_of_the_best_validation(small_data):
    task = RegressionTask()
    cfg = TrainConfig(epochs=8, lr=3e-2, batch_size=64, eval_every=1, device="cpu", seed=6, restore_best=True)
    model, result = train(lambda: build_model("gnn", 3), task, small_data, cfg, progress=False)
    assert result.best_val_epoch < result.curve[-1]["epoch"], "the rate should make the last epoch not the best"
    assert task.metric(model, small_data["val"]) == pytest.approx(result.best_val, rel=1e-6)
    assert task.metric(model, small_data["test"]) == pytest.approx(result.test_at_best_val, rel=1e-6)
    last, _ = train(lambda: build_model("gnn", 3), task, small_data,
                    TrainConfig(**{**cfg.__dict__, "restore_best": False}), progress=False)
    assert task.metric(last, small_data["val"]) == pytest.approx(result.curve[-1]["val"], rel=1e-6)


def test_a_taper_holds_the_step_budget_above_its_size_and_changes_nothing_below():
    from equilib.training.budget import sized_budget
    kw = dict(epochs=25, min_steps=1000, eval_every=1, batch_size=64)
    assert [sized_budget(n, **kw)[0] for n in (1000, 10_000, 50_000)] == [63, 25, 25]
    tapered = [sized_budget(n, **kw, taper_above=10_000)[0] for n in (1000, 10_000, 20_000, 50_000)]
    assert tapered == [63, 25, 13, 5]  # 1k still takes the step floor; above 10k the passes fall as 1/n
    assert sized_budget(50_000, **{**kw, "epochs": 50}, taper_above=10_000)[0] == 10  # twice the budget
    with pytest.raises(ValueError, match=r"taper_above must be integers >= 0; bad value\(s\): \[-1\]"):
        sized_budget(20_000, **kw, taper_above=-1)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_a_clip_norm_that_is_not_a_finite_number_from_zero_is_refused(bad):
    with pytest.raises(ValueError, match=rf"clip_norm must be a finite number >= 0.*{bad}"):
        TrainConfig(clip_norm=bad)


def test_a_clip_above_every_gradient_changes_nothing(small_data):
    cfg = TrainConfig(epochs=2, lr=1e-3, batch_size=64, eval_every=1, device="cpu", seed=2)
    norms = []
    plain = train(lambda: build_model("gnn", 3), RegressionTask(), small_data, cfg, progress=False,
                  on_step=lambda step, net, loss: norms.append(
                      torch.stack([p.grad.norm() for p in net.parameters()]).norm().item()))[1]
    loose = train(lambda: build_model("gnn", 3), RegressionTask(), small_data,
                  TrainConfig(**{**cfg.__dict__, "clip_norm": 10 * max(norms)}), progress=False)[1]
    assert len(norms) == 2 * math.ceil(512 / 64)  # every step was seen
    assert loose.curve == plain.curve


def test_cpu_time_counts_the_work_and_not_a_pause(small_data):
    cfg = TrainConfig(epochs=2, lr=1e-3, batch_size=64, eval_every=1, device="cpu", seed=2)
    result = train(lambda: build_model("gnn", 3), RegressionTask(), small_data, cfg, progress=False,
                   on_step=lambda step, net, loss: time.sleep(0.1))[1]  # 16 steps: 1.6 s asleep, like a SIGSTOP
    assert result.cpu_time > 0
    assert result.wall_time - result.cpu_time > 1.0  # the sleep is in the wall time only
    assert result.summary()["cpu_time"] == result.cpu_time  # and it reaches the store's row


def test_only_a_set_clip_enters_a_run_config():
    cfg = TrainConfig(epochs=3, lr=1e-3)
    kwargs = dict(n_val=10, n_test=10, physics=nbody.Physics(dim=3), hidden=64, layers=4)
    plain = nbody_experiment.nbody_run_config("egnn", 3, 100, 0, cfg, **kwargs)
    clipped = nbody_experiment.nbody_run_config("egnn", 3, 100, 0, TrainConfig(epochs=3, lr=1e-3, clip_norm=1.0),
                                                **kwargs)
    assert "clip_norm" not in plain and clipped["clip_norm"] == 1.0  # stored runs keep their ids


def test_a_sweep_clips_the_models_it_is_told_to_and_records_it(tmp_path):
    common = dict(dims=[2], models=["gnn", "egnn"], seeds=[0], n_trains=[64], epochs=2, eval_every=1, n_val=32,
                  n_test=32, steps=200, lr=1e-3)
    run = RunSettings(device="cpu", progress=False, cache_dir=tmp_path / "cache", results=tmp_path / "store")
    runs = nbody_sweep(clip_norm={"egnn": 0.01}, run=run, **common).set_index("model")
    assert runs.loc["egnn", "clip_norm"] == 0.01 and pd.isna(runs.loc["gnn", "clip_norm"])
    unclipped = nbody_sweep(run=run, **common).set_index("model")  # a different protocol: new runs beside them
    assert unclipped.loc["gnn", "run_id"] == runs.loc["gnn", "run_id"]
    assert unclipped.loc["egnn", "run_id"] != runs.loc["egnn", "run_id"]
    assert unclipped.loc["egnn", "best_val"] != pytest.approx(runs.loc["egnn", "best_val"], rel=1e-6)
    with pytest.raises(ValueError, match=r"unknown clip_norm models \['cnn'\]"):
        nbody_sweep(clip_norm={"cnn": 1.0}, run=run, **common)


@pytest.mark.parametrize("clip, message", [({"cnn": 1.0}, r"unknown clip_norm models \['cnn'\]"),
                                           ({"egnn": -1.0}, "clip_norm must be a finite number >= 0.*-1.0"),
                                           (math.nan, "clip_norm must be a finite number >= 0.*nan")])
def test_a_preset_refuses_a_bad_clip_before_any_work(clip, message):
    from equilib.experiments.presets import resolve

    with pytest.raises(ValueError, match=message):
        resolve("nbody", "smoke", clip_norm=clip)
    assert resolve("nbody", "smoke", clip_norm={"egnn": 1.0})["clip_norm"] == {"egnn": 1.0}


_FAULTS = """
import resource, sys, torch
from equilib.training.loop import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.ones(64, 160, 29, 29)  # 34 MB: above glibc's largest mmap threshold (32 MB)
    del x
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(min(faults() for _ in range(8)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_training_process_reuses_the_pages_a_large_step_freed():
    """Without keep_freed_memory every 34 MB tensor faults its 8,400 pages in anew; with it, a later one reuses them."""
    pages = 64 * 160 * 29 * 29 * 4 // 4096
    faults = {mode: int(subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("default", "kept")}
    assert faults["default"] > pages // 2, faults
    assert faults["kept"] < pages // 20, faults
