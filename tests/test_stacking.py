"""Stacked training: K runs at once give the runs one-at-a-time training gives, and resume like them."""
import math
import warnings
from dataclasses import replace

import pytest
import torch
from torch._dynamo.exc import TorchRuntimeError

from equilib.experiments.nbody import nbody_member, nbody_sweep
from equilib.experiments.settings import RunSettings
from equilib.models.catalogue import build_model
from equilib.tasks import nbody
from equilib.training.loop import RegressionTask, TrainConfig, train
from equilib.training.stacked import Member, train_stacked


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    data = nbody.make_dataset(3, n_train=256, n_val=64, n_test=64, steps=500, progress=False,
                              cache_dir=tmp_path_factory.mktemp("cache"))
    return {k: (t.x0.float(), t.v0.float(), t.charges.float(), t.xT.float()) for k, t in data.splits.items()}


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # a GPU machine checks its own path too


def _configs(seeds, **kw):
    base = dict(epochs=4, lr=1e-3, batch_size=64, eval_every=2, device="cpu")
    return [TrainConfig(**{**base, **kw, "seed": s}) for s in seeds]


def _assert_same_curves(a, b, rel=1e-5):
    assert [p["epoch"] for p in a.curve] == [p["epoch"] for p in b.curve]
    for p, q in zip(a.curve, b.curve):
        for key in ("train_loss", "val", "test"):
            assert q[key] == pytest.approx(p[key], rel=rel), (p["epoch"], key)
    assert (a.status, a.epochs_done, a.best_val_epoch) == (b.status, b.epochs_done, b.best_val_epoch)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["gnn", "egnn"])
def test_a_stack_gives_the_runs_trained_one_at_a_time(small_data, name, device):
    configs = _configs([0, 1, 2], device=device)
    single = [train(lambda: build_model(name, 3), RegressionTask(), small_data, c, progress=False) for c in configs]
    stacked = train_stacked([Member(lambda: build_model(name, 3), small_data, c) for c in configs], RegressionTask(),
                            progress=False)
    for (net_a, a), (net_b, b) in zip(single, stacked):
        _assert_same_curves(a, b, rel=1e-5 if device == "cpu" else 1e-4)  # a GPU's scatter-add sums in any order
        for (k, p), (_, q) in zip(net_a.state_dict().items(), net_b.state_dict().items()):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-6, msg=k)
    assert len({round(r.final_test, 9) for _, r in stacked}) == 3  # the seeds did make different runs


@pytest.mark.parametrize("name", ["gnn", "resgnn"])
def test_a_stack_with_a_schedule_and_early_stopping_gives_the_same_runs(small_data, name):
    configs = _configs([0, 1, 2, 3], epochs=10, eval_every=1, lr=1e-2, schedule="cosine", warmup=0.2, patience=1)
    build = lambda: build_model(name, 3, horizon=0.5)  # noqa: E731
    single = [train(build, RegressionTask(), small_data, c, progress=False) for c in configs]
    stacked = train_stacked([Member(build, small_data, c) for c in configs], RegressionTask(), progress=False)
    for (net_a, a), (net_b, b) in zip(single, stacked):
        _assert_same_curves(a, b)
        assert a.stopped_early == b.stopped_early
        for (k, p), (_, q) in zip(net_a.state_dict().items(), net_b.state_dict().items()):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-6, msg=k)  # a stopped member keeps its weights
    stops = {r.epochs_done for _, r in single}
    assert any(r.stopped_early for _, r in single) and len(stops) > 1  # members stopped at different epochs


def test_a_stack_clips_each_member_as_it_would_be_clipped_alone(small_data):
    configs = _configs([0, 1, 2], clip_norm=0.5)
    norms = []
    single = [train(lambda: build_model("egnn", 3), RegressionTask(), small_data, c, progress=False,
                    on_step=lambda step, net, loss: norms.append(
                        float(torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None]).norm())))
              for c in configs]
    unclipped = train(lambda: build_model("egnn", 3), RegressionTask(), small_data, replace(configs[0], clip_norm=0.0),
                      progress=False)[1]
    assert min(norms) < 0.5 < max(norms)  # the clip acted on some steps and not on others
    assert unclipped.curve[-1]["train_loss"] != pytest.approx(single[0][1].curve[-1]["train_loss"], rel=1e-3)
    stacked = train_stacked([Member(lambda: build_model("egnn", 3), small_data, c) for c in configs],
                            RegressionTask(), progress=False)
    for (net_a, a), (net_b, b) in zip(single, stacked):
        _assert_same_curves(a, b)
        for (k, p), (_, q) in zip(net_a.state_dict().items(), net_b.state_dict().items()):
            torch.testing.assert_close(q, p, rtol=1e-4, atol=1e-6, msg=k)


@pytest.mark.parametrize("device", DEVICES)
def test_a_compiled_stack_gives_the_same_runs(small_data, device):
    """On a GPU this compiles with CUDA graphs (mode="reduce-overhead")."""
    configs = _configs([0, 1], epochs=2, device=device)
    single = [train(lambda: build_model("egnn", 3), RegressionTask(), small_data, c, progress=False)[1]
              for c in configs]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="torch.compile failed")  # the fallback must not hide a failure
        stacked = train_stacked([Member(lambda: build_model("egnn", 3), small_data, c) for c in configs],
                                RegressionTask(), progress=False, compiled=True)
    for a, (_, b) in zip(single, stacked):
        _assert_same_curves(a, b, rel=1e-5 if device == "cpu" else 1e-4)
    with pytest.raises(ValueError, match="compiled must be True, False or 'auto', got 'yes'"):
        train_stacked([Member(lambda: build_model("egnn", 3), small_data, configs[0])], RegressionTask(),
                      compiled="yes")


def test_a_failed_compile_warns_and_trains_uncompiled(small_data, monkeypatch):
    def broken_compile(fn, **kwargs):
        def fails(*args):
            raise TorchRuntimeError("no compiler here")
        return fails

    configs = _configs([0, 1], epochs=2)
    members = [Member(lambda: build_model("gnn", 3), small_data, c) for c in configs]
    plain = train_stacked(members, RegressionTask(), progress=False, compiled=False)
    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(UserWarning, match="torch.compile failed .*no compiler here.*training uncompiled"):
        fallback = train_stacked(members, RegressionTask(), progress=False, compiled=True)
    for (_, a), (_, b) in zip(plain, fallback):
        assert a.curve == b.curve


def test_sweep_stacks_padded_dimensions_and_records_the_same_runs(tmp_path):
    common = dict(dims=[2, 3], models=["gnn", "egnn"], seeds=[0, 1], n_trains=[64], epochs=3, eval_every=1,
                  n_val=32, n_test=32, steps=200)
    run = RunSettings(device="cpu", progress=False, cache_dir=tmp_path / "cache")
    one = nbody_sweep(stack=False, run=replace(run, results=tmp_path / "one"), **common)
    many = nbody_sweep(stack=True, run=replace(run, results=tmp_path / "many"), **common)
    one, many = (r.sort_values("run_id").reset_index(drop=True) for r in (one, many))
    assert list(one["run_id"]) == list(many["run_id"]) and len(one) == 8
    for col in ("best_test", "test_at_best_val", "final_test", "best_val"):
        assert many[col].to_numpy() == pytest.approx(one[col].to_numpy(), rel=1e-5), col
    assert list(many["params"]) == list(one["params"])
    assert not list((tmp_path / "many" / "nbody" / "checkpoints").glob("*.pt"))


def test_padding_changes_nothing_for_the_egnn(small_data):
    pad = (0, 5)
    padded = {k: (torch.nn.functional.pad(x, pad), torch.nn.functional.pad(v, pad), c,
                  torch.nn.functional.pad(t, pad)) for k, (x, v, c, t) in small_data.items()}
    configs = _configs([0, 1])
    single = [train(lambda: build_model("egnn", 3), RegressionTask(), small_data, c, progress=False)[1]
              for c in configs]
    stacked = train_stacked([Member(lambda: build_model("egnn", 3), padded, c, pad_ratio=8 / 3) for c in configs],
                            RegressionTask(), template=build_model("egnn", 8), progress=False)
    for a, (_, b) in zip(single, stacked):
        _assert_same_curves(a, b)


class Killed(Exception):
    pass


def _dies_after(calls: int):
    count = {"n": 0}

    class Dies(RegressionTask):
        def loss(self, model, batch):
            count["n"] += 1  # traced once per stacked step
            if count["n"] == calls:
                raise Killed
            return super().loss(model, batch)

    return Dies()


@pytest.mark.parametrize("name", ["egnn", "gnn"])
def test_a_stack_resumes_where_it_was_killed(small_data, tmp_path, name):
    """R^2 and R^3 runs in one stack (the GNN widened): killed, resumed as a stack, or resumed alone."""
    flat = {k: (x[..., :2], v[..., :2], c, t[..., :2]) for k, (x, v, c, t) in small_data.items()}
    pad = lambda t: torch.nn.functional.pad(t, (0, 1))  # noqa: E731
    data = {2: {k: (pad(x), pad(v), c, pad(t)) for k, (x, v, c, t) in flat.items()}, 3: small_data}
    configs = _configs([0, 1], epochs=6)

    def members(checkpoints):
        return [nbody_member(name, d, 3, data[d], c, tmp_path / f"{d}-{c.seed}.pt" if checkpoints else None)
                for d in (2, 3) for c in configs]

    straight = train_stacked(members(False), RegressionTask(), template=build_model(name, 3), progress=False)
    with pytest.raises(Killed):  # 4 steps per epoch: dies inside epoch 5, after the epoch-4 checkpoint
        train_stacked(members(True), _dies_after(4 * 4 + 2), template=build_model(name, 3), progress=False,
                      checkpoint_every=0)
    assert len(list(tmp_path.glob("*.pt"))) == 4
    resumed = train_stacked(members(True), RegressionTask(), template=build_model(name, 3), progress=False,
                            checkpoint_every=0)
    for (_, a), (_, b) in zip(straight, resumed):
        _assert_same_curves(a, b, rel=1e-6)
    # a stacked checkpoint is a one-at-a-time checkpoint: the R^2 run resumes alone, on unpadded data
    for path in tmp_path.glob("*.pt"):
        path.unlink()
    with pytest.raises(Killed):
        train_stacked(members(True), _dies_after(4 * 4 + 2), template=build_model(name, 3), progress=False,
                      checkpoint_every=0)
    net, alone = train(lambda: build_model(name, 2), RegressionTask(), flat, configs[1],
                       checkpoint=tmp_path / "2-1.pt", progress=False)
    _assert_same_curves(straight[1][1], alone, rel=1e-5)
    assert [t.shape for t in net.state_dict().values()] == [t.shape for t in straight[1][0].state_dict().values()]


def test_a_diverged_member_leaves_the_others_alone(small_data):
    x0, v0, c, xT = small_data["train"]
    xT = xT.clone()
    xT[5, 0, 0] = math.nan
    bad = {**small_data, "train": (x0, v0, c, xT)}
    configs = _configs([0, 1], eval_every=1)
    build = lambda: build_model("gnn", 3)  # noqa: E731
    good = train(build, RegressionTask(), small_data, configs[1], progress=False)[1]
    (_, broken), (_, fine) = train_stacked([Member(build, bad, configs[0]), Member(build, small_data, configs[1])],
                                           RegressionTask(), progress=False)
    assert broken.status == "diverged" and broken.epochs_done == 0 and not broken.curve
    _assert_same_curves(good, fine)


def test_stacks_refuse_members_that_cannot_share_one(small_data, tmp_path):
    build = lambda: build_model("gnn", 3)  # noqa: E731
    a, b = _configs([0]) + _configs([1], lr=2e-3)
    with pytest.raises(ValueError, match=r"differ only in seed; they differ in \['lr'\]"):
        train_stacked([Member(build, small_data, a), Member(build, small_data, b)], RegressionTask())
    with pytest.raises(ValueError, match="same parameter names and shapes"):
        train_stacked([Member(build, small_data, a), Member(lambda: build_model("gnn", 2), small_data, a)],
                      RegressionTask())
    with pytest.raises(ValueError, match="pad_ratio must be a finite number >= 1, got 0.5"):
        train_stacked([Member(build, small_data, a, pad_ratio=0.5)], RegressionTask())
    first = Member(build, small_data, _configs([0], epochs=4)[0], checkpoint=tmp_path / "a.pt")
    with pytest.raises(Killed):
        train_stacked([first], _dies_after(4 * 3 + 1), progress=False, checkpoint_every=0)
    fresh = Member(build, small_data, _configs([1], epochs=4)[0])
    with pytest.raises(ValueError, match=r"resume from the same epoch; their checkpoints are at epochs \[0, 2\]"):
        train_stacked([first, fresh], RegressionTask())


# ---- stacks of CNNs: one module that is K escnn (or plain) networks -------------------------------------------

CNN_TARGET = 8000


def _cnn(group: str, stack: int = 1):
    """A small rotated-MNIST CNN in float64, the precision of these comparisons.

    A stack sums in another order than its members alone (the head is one
    batched matrix product), and training at a high rate is chaotic: in float32
    that rounding grew to 5e-3 of the loss by the fourth epoch, and a bias before
    a batch norm, whose gradient is zero up to rounding, was walked by Adam (which
    divides by the gradient's size) in directions the rounding picked. In float64
    the rounding is 1e-16 and such a gradient falls far below Adam's epsilon, so
    stack and members must agree to tight tolerances at every epoch: a wrong
    member, a shared optimizer state or mixed data would be off by orders more.
    """
    from equilib.models.steerable import build_cnn
    return build_cnn(group, target_params=CNN_TARGET, verbose=False, stack=stack).double()


def _image_splits(seed: int = 0) -> dict:
    from equilib.tasks import mnist
    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(10, 1, 29, 29, generator=g)  # a learnable task: a class is a template, plus noise

    def split(n):
        labels = torch.randint(0, 10, (n,), generator=g)
        images = (templates[labels] + 0.3 * torch.randn(n, 1, 29, 29, generator=g)) * mnist.disc_mask()
        return images.double(), labels

    return {"train": split(256), "val": split(64), "test": split(64)}


@pytest.mark.parametrize("group", ["trivial", "C4", "D4", "C8", "D8", "SO2", "O2"])
def test_a_stack_of_cnns_computes_what_its_members_compute_alone(group):
    """Outputs, gradients and batch-norm statistics of a stack of 3, in training and evaluation mode."""
    from torch.func import functional_call
    from torch.nn import functional as F

    from equilib.models.steerable import build_cnn
    from equilib.training.stacked import stack_layout

    K = 3
    members = []
    for k in range(K):
        torch.manual_seed(k)
        members.append(_cnn(group))
    stack = _cnn(group, K)
    layout = stack_layout(stack, members[0], K)
    trainable = {n for n, p in members[0].named_parameters() if p.requires_grad}
    assert trainable <= set(layout)
    held = {n: torch.stack([m.state_dict()[n] for m in members]) for n in layout}
    for n in trainable:
        held[n].requires_grad_()
    g = torch.Generator().manual_seed(9)
    x, y = torch.randn(K, 16, 1, 29, 29, generator=g, dtype=torch.float64), torch.randint(0, 10, (K, 16), generator=g)
    for training in (True, False):
        stack.train(training)
        for m in members:
            m.train(training)
        args = {n: t if n.endswith("num_batches_tracked") else t.reshape(layout[n]) for n, t in held.items()}
        out = functional_call(stack, args, (x,))
        assert out.shape == (K, 16, 10)
        for n in trainable:
            held[n].grad = None
        F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="sum").backward()
        for k, m in enumerate(members):
            m.zero_grad()
            alone = m(x[k])
            torch.testing.assert_close(out[k], alone, rtol=1e-9, atol=1e-10)
            F.cross_entropy(alone, y[k], reduction="sum").backward()
            scale = max(p.grad.abs().max().item() for n, p in m.named_parameters() if n in trainable)
            for n, p in m.named_parameters():
                if n in trainable:  # to the scale of the gradient (a bias before batch norm has a zero one)
                    torch.testing.assert_close(held[n].grad[k], p.grad, rtol=1e-7, atol=1e-9 * scale,
                                               msg=lambda m, n=n: f"{n}: {m}")
            for n, b in m.named_buffers():
                if n in layout:  # the running statistics moved as the member's own did
                    torch.testing.assert_close(held[n][k], b, msg=lambda m, n=n: f"{n}: {m}")
        assert not torch.allclose(out[0], out[1])  # the members are different networks


def _assert_same_cnn_runs(a, b):
    """The same curve (float64: see :func:`_cnn`): training loss to 1e-7, the same error rates, the same stop."""
    assert [p["epoch"] for p in a.curve] == [p["epoch"] for p in b.curve]
    for p, q in zip(a.curve, b.curve):
        assert q["train_loss"] == pytest.approx(p["train_loss"], rel=1e-7), p["epoch"]
        for key in ("val", "test"):
            assert q[key] == pytest.approx(p[key], abs=1e-12), (p["epoch"], key)
    assert (a.status, a.epochs_done) == (b.status, b.epochs_done)


def _cnn_members(group, configs, data, checkpoints=None):
    build = lambda: _cnn(group)  # noqa: E731
    return build, [Member(build, data, c, checkpoints / f"{c.seed}.pt" if checkpoints else None) for c in configs]


@pytest.mark.parametrize("group", ["trivial", "C4"])
def test_a_stack_of_cnns_trains_the_runs_trained_one_at_a_time(group):
    from equilib.training.loop import ClassificationTask

    data, task = _image_splits(), ClassificationTask()
    configs = [TrainConfig(epochs=4, lr=1e-2, batch_size=32, eval_every=1, device="cpu", seed=s, restore_best=True)
               for s in (0, 1)]
    build, members = _cnn_members(group, configs, data)
    single = [train(build, task, data, c, progress=False) for c in configs]
    stacked = train_stacked(members, task, progress=False, stacked=_cnn(group, 2))
    for (net_a, a), (net_b, b) in zip(single, stacked):
        _assert_same_cnn_runs(a, b)
        # the weights of the best validation come back, in eval mode with escnn's filters derived from them
        assert task.metric(net_b, data["val"]) == pytest.approx(b.best_val)
        assert net_b.state_dict().keys() == net_a.state_dict().keys()
    assert stacked[0][1].curve != stacked[1][1].curve
    assert all(r.curve[-1]["train_loss"] < 0.8 * r.curve[0]["train_loss"] for _, r in stacked)  # it learned


def test_a_stack_of_cnns_resumes_alone_and_as_a_stack(tmp_path):
    from equilib.training.loop import ClassificationTask

    data = _image_splits(1)
    configs = [TrainConfig(epochs=4, lr=1e-2, batch_size=32, eval_every=1, device="cpu", seed=s, restore_best=True)
               for s in (3, 4)]
    build, members = _cnn_members("C4", configs, data, tmp_path)
    stack = lambda: _cnn("C4", 2)  # noqa: E731
    straight = train_stacked(_cnn_members("C4", configs, data)[1], ClassificationTask(), progress=False,
                             stacked=stack())
    calls = {"n": 0}

    class DiesInEpochThree(ClassificationTask):
        def loss(self, model, batch):
            calls["n"] += 1  # once per stacked step, 8 steps an epoch
            if calls["n"] == 8 * 2 + 3:
                raise Killed
            return super().loss(model, batch)

    with pytest.raises(Killed):
        train_stacked(members, DiesInEpochThree(), progress=False, stacked=stack(), checkpoint_every=0)
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["3.pt", "4.pt"]
    net, alone = train(build, ClassificationTask(), data, configs[1], checkpoint=tmp_path / "4.pt", progress=False)
    _assert_same_cnn_runs(straight[1][1], alone)
    assert ClassificationTask().metric(net, data["val"]) == pytest.approx(alone.best_val)  # its best, restored
    resumed = train_stacked(members, ClassificationTask(), progress=False, stacked=stack(), checkpoint_every=0)
    _assert_same_cnn_runs(straight[0][1], resumed[0][1])


def test_cnn_stacks_refuse_what_cannot_be_one():
    from equilib.models.steerable import build_cnn
    from equilib.training.loop import ClassificationTask

    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match=rf"stack must be an integer >= 1.*got {bad!r}"):
            build_cnn("C4", target_params=CNN_TARGET, verbose=False, stack=bad)
    stack = build_cnn("trivial", target_params=CNN_TARGET, verbose=False, stack=3)
    with pytest.raises(ValueError, match=r"takes images \(K=3, batch, 1, H, W\), got \(2, 8, 1, 29, 29\)"):
        stack(torch.zeros(2, 8, 1, 29, 29))
    data = _image_splits()
    configs = _configs([0, 1])
    _, members = _cnn_members("C4", configs, data)
    with pytest.raises(ValueError, match="no place for the member parameters"):  # built for 3, given 2
        train_stacked(members, ClassificationTask(), progress=False,
                      stacked=build_cnn("C4", target_params=CNN_TARGET, verbose=False, stack=3))
    _, c8 = _cnn_members("C8", configs, data)
    with pytest.raises(ValueError, match="same parameter names and shapes"):  # two groups in one stack
        train_stacked([members[0], c8[1]], ClassificationTask(), progress=False,
                      stacked=build_cnn("C4", target_params=CNN_TARGET, verbose=False, stack=2))
