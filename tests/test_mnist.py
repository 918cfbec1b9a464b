"""Rotated MNIST data and the steerable CNN zoo."""
import math
import os
import re

from pathlib import Path

import pandas as pd
import pytest
import torch
from escnn import nn as enn

from equilib.base.store import RunStore, run_id
from equilib.experiments.mnist import mnist_run_config, mnist_stopped_too_early, mnist_sweep
from equilib.experiments import presets
from equilib.experiments.settings import RunSettings
from equilib.models import steerable
from equilib.models.catalogue import count_parameters
from equilib.models.escnn_layers import FourierELU, GroupPooling
from equilib.models.steerable import build_cnn
from equilib.tasks import mnist
from equilib.training.loop import ClassificationTask, TrainConfig, train

HAS_MNIST = all((mnist.default_data_dir() / "mnist" / f).exists() for f in mnist.MNIST_FILES)
needs_mnist = pytest.mark.skipif(not HAS_MNIST, reason="MNIST not in $EQUILIB_DATA_DIR/mnist (CI sets it)")


@pytest.fixture(scope="module")
def fliprot():
    return mnist.load_mnist("fliprot", "train", 3000)


@needs_mnist
def test_angles_are_reproducible_distinct_and_uniform(fliprot):
    again = mnist.load_mnist("fliprot", "train", 3000)
    assert torch.equal(again.angles, fliprot.angles) and torch.equal(again.images, fliprot.images)
    assert fliprot.angles.unique().numel() == 3000
    assert 0 <= fliprot.angles.min() and fliprot.angles.max() < 2 * math.pi
    assert abs(fliprot.angles.mean().item() - math.pi) < 0.15
    other = mnist.load_mnist("fliprot", "train", 3000, seed=1, cache_dir=os.environ["EQUILIB_CACHE_DIR"])
    assert not torch.equal(other.angles, fliprot.angles)


@needs_mnist
def test_about_half_of_the_fliprot_images_are_mirrored(fliprot):
    share = fliprot.flips.float().mean().item()
    assert 0.45 < share < 0.55  # a boolean mask, not the 0/1-as-index bug (which mirrors two images)
    assert not mnist.load_mnist("rotated", "train", 1000).flips.any()


@needs_mnist
@pytest.mark.parametrize("variant", ["rotated", "fliprot"])
def test_rotating_back_recovers_the_digit_and_labels_are_untouched(variant):
    plain = mnist.load_mnist("plain", "train", 500)
    moved = mnist.load_mnist(variant, "train", 500)
    assert torch.equal(plain.labels, moved.labels)
    back = mnist.rotate(moved.images, -moved.angles.float())
    back = torch.where(moved.flips.view(-1, 1, 1, 1), back.flip(-1), back)
    inner = mnist.disc_mask(mnist.IMAGE_SIZE - 6).new_zeros(mnist.IMAGE_SIZE, mnist.IMAGE_SIZE)
    inner[3:-3, 3:-3] = mnist.disc_mask(mnist.IMAGE_SIZE - 6)  # away from the rim
    err = ((back - plain.images).abs() * inner).sum() / (plain.images * inner).sum()
    assert err < 0.15
    shuffled = ((back - plain.images.roll(1, 0)).abs() * inner).sum() / (plain.images * inner).sum()
    assert shuffled > 4 * err  # and it is a real match, not an accident of blur


def test_rotation_by_90_degrees_is_exact_on_the_29_pixel_grid():
    img = torch.rand(3, 1, mnist.IMAGE_SIZE, mnist.IMAGE_SIZE)
    turned = mnist.rotate(img, torch.full((3,), math.pi / 2))
    assert torch.allclose(turned, torch.rot90(img, 1, (-2, -1)).clamp(0, 1), atol=1e-5)


@needs_mnist
def test_training_subsets_are_nested_and_splits_disjoint():
    small, big = mnist.load_mnist("rotated", "train", 100), mnist.load_mnist("rotated", "train", 2000)
    assert torch.equal(small.images, big.images[:100]) and torch.equal(small.angles, big.angles[:100])
    val = mnist.load_mnist("rotated", "val", 2000)
    assert val.images.shape == (2000, 1, 29, 29)
    flat = lambda s: {bytes(x) for x in (s.images * 255).round().to(torch.uint8).flatten(1).numpy()}
    assert not flat(big) & flat(val)
    assert mnist.load_mnist("rotated", "test").images.shape[0] == 10_000


@needs_mnist
def test_a_test_subset_is_random_and_the_whole_test_set_is_all_of_it():
    """Curves use a subset of the test set; MNIST's first test images are not a random sample of it."""
    full, part = mnist.load_mnist("rotated", "test"), mnist.load_mnist("rotated", "test", 1000)
    assert torch.equal(part.images, full.images[:1000])
    original = torch.from_numpy(mnist.read_idx(mnist.ensure_mnist() / "t10k-labels-idx1-ubyte.gz").astype("int64"))
    assert torch.equal(full.labels.sort().values, original.sort().values)  # all of MNIST's test set
    assert (part.labels != original[:1000]).float().mean() > 0.5  # and not its first 1000 images


@needs_mnist
def test_a_mnist_sweep_reports_the_whole_test_set_at_the_best_validation(tmp_path):
    runs = mnist_sweep(["rotated"], ["trivial"], [128], [0], epochs=3, min_steps=16, eval_every=1, lr=3e-3,
                       batch_size=32, n_val=64, n_test=64, target_params=8000, schedule="cosine", warmup=0.1,
                       patience=2, run=RunSettings(results=tmp_path, device="cpu", progress=False, threads=1))
    row = runs.iloc[0]
    assert row["epochs"] == 4 and row["budget_steps"] == 16  # the step floor: 4 epochs of 4 steps
    assert row["n_test_final"] == 10_000 and row["schedule"] == "cosine" and row["patience"] == 2
    curve = RunStore(tmp_path, "mnist").curves()
    assert len(curve) == row["epochs_done"] and row["best_val"] == curve["val"].min()
    assert 0 < row["test_at_best_val"] < 1 and row["test_at_best_val"] * 10_000 == round(row["test_at_best_val"] * 10_000)


@needs_mnist
def test_a_stacked_mnist_sweep_records_the_runs_of_one_at_a_time(tmp_path):
    """Two seeds as one stacked module: the same run ids, the same training, each its own whole-test-set number."""
    kw = dict(epochs=3, eval_every=1, lr=3e-3, batch_size=32, n_val=128, n_test=128, target_params=8000)
    alone = mnist_sweep(["rotated"], ["C4"], [128], [0, 1], **kw,
                        run=RunSettings(results=tmp_path / "a", device="cpu", progress=False, threads=1))
    stacked = mnist_sweep(["rotated"], ["C4"], [128], [0, 1], **kw, run=RunSettings(
        results=tmp_path / "b", device="cpu", progress=False, threads=1, mnist_stack=2))
    assert sorted(alone.run_id) == sorted(stacked.run_id)
    a, b = (t.set_index("run_id").sort_index() for t in (alone, stacked))
    assert (b.epochs_done == a.epochs_done).all() and (b.n_test_final == 10_000).all()
    curves = [RunStore(tmp_path / d, "mnist").curves().sort_values(["run_id", "epoch"]) for d in "ab"]
    assert curves[1].train_loss.to_numpy() == pytest.approx(curves[0].train_loss.to_numpy(), rel=1e-4)
    assert (b.test_at_best_val - a.test_at_best_val).abs().max() <= 0.01  # eval-mode rounding: see test_stacking
    assert a.test_at_best_val.nunique() == 2


@pytest.mark.parametrize("kwargs,match", [
    ({"n_trains": [16]}, r"below the batch size 64: \[16\]"),
    ({"n_trains": [50_001]}, r"above the 50000 training images: \[50001\]"),
    ({"run": RunSettings(mnist_stack=129)}, "at most 128 runs per stack, got 129"),
])
def test_bad_sweeps_are_refused_before_any_work(tmp_path, kwargs, match):
    run = kwargs.pop("run", RunSettings(results=tmp_path))
    with pytest.raises(ValueError, match=match):
        mnist_sweep(["rotated"], ["C4"], **{"n_trains": [1000], **kwargs}, batch_size=64, run=run)
    with pytest.raises(ValueError, match=r"mnist_stack must be integers >= 1; bad value\(s\): \[0\]"):
        RunSettings(mnist_stack=0)


@needs_mnist
def test_corners_carry_nothing():
    x = mnist.load_mnist("plain", "train", 200).images
    assert (x * (1 - mnist.disc_mask())).abs().max() == 0


@pytest.mark.parametrize("kwargs,match", [
    ({"variant": "mirrored", "split": "train"}, "unknown variant 'mirrored'"),
    ({"variant": "rotated", "split": "dev"}, "unknown split 'dev'"),
    ({"variant": "rotated", "split": "train", "size": 50_001}, "1..50000, got 50001"),
    ({"variant": "rotated", "split": "train", "size": 0}, "got 0"),
])
def test_bad_parameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mnist.load_mnist(**kwargs)


def test_missing_files_say_which_and_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz.*EQUILIB_DATA_DIR"):
        mnist.ensure_mnist(tmp_path, download=False)


# ---------------------------------------------------------------- models

TARGET = 20_000


def _calibrated(model):
    """Let batch norm see real activations first: at initialisation its running statistics (0 and 1) shrink
    every signal, and the logits of an untrained network in eval mode barely depend on the input at all."""
    g = torch.Generator().manual_seed(5)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(16, 1, 29, 29, generator=g) * mnist.disc_mask())
    return model.eval()


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {g: _calibrated(build_cnn(g, target_params=TARGET, verbose=False)) for g in steerable.GROUPS}


def test_parameter_counts_are_matched_within_five_percent(models):
    for g, m in models.items():
        assert abs(count_parameters(m) / TARGET - 1) <= 0.05, g
    table = steerable.parameter_table(target_params=TARGET)
    assert [r["group"] for r in table] == list(steerable.GROUPS)
    assert all(abs(r["deviation"]) <= 0.05 for r in table)


def _logits(model, x):
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("group", ["C4", "D4", "C8", "D8", "SO2", "O2"])
def test_equivariant_models_are_invariant_to_their_exact_grid_symmetries(models, group):
    x = torch.rand(4, 1, 29, 29, generator=torch.Generator().manual_seed(1)) * mnist.disc_mask()
    y = _logits(models[group], x)
    for k in (1, 2, 3):
        assert torch.allclose(_logits(models[group], torch.rot90(x, k, (-2, -1))), y, atol=1e-4, rtol=1e-4)
    if group in ("D4", "D8", "O2"):
        assert torch.allclose(_logits(models[group], x.flip(-1)), y, atol=1e-4, rtol=1e-4)
        assert torch.allclose(_logits(models[group], x.flip(-2)), y, atol=1e-4, rtol=1e-4)


ESCNN_ORIGINALS = {FourierELU: enn.FourierELU, GroupPooling: enn.GroupPooling}


@pytest.mark.parametrize("group", ["C4", "D8", "SO2", "O2"])
def test_our_escnn_layers_match_escnn_with_the_same_weights(models, group):
    """The copy-free Fourier ELU and group pooling are escnn's: same outputs and same gradients, to float
    rounding; and unlike escnn's pooling, ours keeps a float64 network in float64."""
    fast, reference = (build_cnn(group, target_params=TARGET, verbose=False).eval() for _ in range(2))
    for model in (fast, reference):  # the trained-looking weights of the fixture (an eval-mode state dict)
        model.load_state_dict(models[group].state_dict())
        model.train()
    ours = [m for m in fast.modules() if type(m) in ESCNN_ORIGINALS]
    assert ours, f"{group} uses none of the copy-free layers"
    for m in reference.modules():
        if type(m) in ESCNN_ORIGINALS:
            m.__class__ = ESCNN_ORIGINALS[type(m)]
    x = torch.rand(8, 1, 29, 29, generator=torch.Generator().manual_seed(3)) * mnist.disc_mask()
    outs, grads = [], []
    for model in (fast, reference):
        y = model(x)
        y.square().sum().backward()
        outs.append(y.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert torch.allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-4 * grads[1].abs().max().item())
    assert fast.double()(x.double()).dtype == torch.float64


def test_group_pooling_refuses_fields_of_two_sizes():
    gs = steerable._gspace("C4")
    mixed = enn.FieldType(gs, [gs.regular_repr, gs.trivial_repr])
    with pytest.raises(ValueError, match=r"pools fields of one size; .* has sizes \[1, 4\]"):
        GroupPooling(mixed)


def test_label_indexes_are_escnns_with_each_label_checked_once():
    """The linear ``indexes_from_labels`` returns escnn's own dictionary (same keys in the same order, same
    contiguity flags, fields and channels) for labels that are contiguous, interleaved and of mixed field sizes,
    and it is the one escnn's batch norm and group pooling call."""
    import escnn.nn.modules.batchnormalization.inner as inner
    import escnn.nn.modules.invariantmaps.gpool as gpool
    from escnn.nn.modules import utils as escnn_utils
    from equilib.models import escnn_layers

    original = escnn_utils.__dict__.get("indexes_from_labels")
    assert original is escnn_layers.indexes_from_labels  # installed: escnn's own is reached through its source
    namespace = {}
    exec(compile(Path(escnn_utils.__file__).read_text(), escnn_utils.__file__, "exec"), namespace)
    reference = namespace["indexes_from_labels"]
    gs = steerable._gspace("C4")
    reps = [gs.regular_repr, gs.trivial_repr, gs.regular_repr, gs.irrep(1), gs.regular_repr, gs.trivial_repr]
    ftype = enn.FieldType(gs, reps)
    for labels in (["a"] * 6, ["a", "b", "a", "c", "a", "b"], ["x", "x", "y", "y", "z", "z"],
                   ["a", "b", "c", "d", "e", "f"]):
        ours, theirs = escnn_layers.indexes_from_labels(ftype, labels), reference(ftype, labels)
        assert list(ours) == list(theirs) and ours == theirs, labels
    assert escnn_layers.indexes_from_labels(enn.FieldType(gs, reps[:3]), ["a", "b", "a"]) == {
        "a": (False, [0, 2], [0, 1, 2, 3, 5, 6, 7, 8]), "b": (True, [1], [4])}
    for module in (inner, gpool):
        assert module.indexes_from_labels is escnn_layers.indexes_from_labels
    with pytest.raises(ValueError, match="2 labels for a field type of 6 fields"):
        escnn_layers.indexes_from_labels(ftype, ["a", "b"])


@pytest.mark.parametrize("stack", [1, 2])
def test_two_networks_share_no_module_so_converting_one_leaves_the_other(stack):
    """escnn caches one sampled-basis module per basis and hands it to every R2Conv that asks: a network moved
    to float64 (or to a GPU) would drag every other network's filters with it. Ours own their bases."""
    a, b = (build_cnn("C4", target_params=8000, verbose=False, stack=stack).eval() for _ in range(2))
    assert not {id(m) for m in a.modules()} & {id(m) for m in b.modules()}
    x = torch.rand(stack, 2, 1, 29, 29) if stack > 1 else torch.rand(2, 1, 29, 29)
    before = a(x)
    b.double()
    torch.testing.assert_close(a(x), before)  # still float32, still the same network
    assert b(x.double()).dtype == torch.float64


def _asymmetric_strokes():
    """A few off-centre strokes, like a digit: no rotation or mirror maps them onto themselves."""
    x = torch.zeros(4, 1, 29, 29)
    x[:, :, 6:9, 8:20] = 1.0
    x[:, :, 9:22, 17:20] = 1.0
    x[:, :, 14:16, 10:17] = 0.7
    return x * torch.linspace(0.5, 1.0, 4).view(4, 1, 1, 1)


def test_plain_cnn_is_not_invariant_and_C4_does_not_see_mirrors(models):
    x = _asymmetric_strokes()
    other = torch.roll(x, shifts=(5, -4), dims=(-2, -1)) * mnist.disc_mask()  # a different image, same strokes

    def rel(model, moved):
        """How far a transformation moves the logits, against how far a different image moves them."""
        base = _logits(model, x)
        return ((_logits(model, moved) - base).abs().max() / (_logits(model, other) - base).abs().max()).item()

    assert rel(models["trivial"], torch.rot90(x, 1, (-2, -1))) > 0.1
    assert rel(models["C4"], x.flip(-1)) > 0.1
    assert rel(models["C4"], torch.rot90(x, 1, (-2, -1))) < 1e-3  # the same yardstick sees C4's invariance


def test_factory_rejects_unknown_groups():
    with pytest.raises(ValueError, match=r"unknown group 'C5'.*'trivial', 'C4'"):
        build_cnn("C5")


@needs_mnist
@pytest.mark.parametrize("group", ["trivial", "C4"])
def test_short_training_learns_far_below_chance(group, tmp_path):
    splits = {s: mnist.load_mnist("rotated", s, n) for s, n in (("train", 2000), ("val", 500), ("test", 1000))}
    tensors = {k: (v.images, v.labels) for k, v in splits.items()}
    cfg = TrainConfig(epochs=3, lr=3e-3, batch_size=64, eval_every=1, device="cpu")
    _, result = train(lambda: build_cnn(group, target_params=TARGET, verbose=False), ClassificationTask(), tensors,
                      cfg, progress=False)
    assert result.test_at_best_val < 0.6  # chance is 0.9


def test_a_seed_fixes_the_initial_weights_whether_widths_are_solved_or_cached(tmp_path, monkeypatch):
    """Solving the widths builds trial models; it must not move the seeded stream the real model is built from."""
    monkeypatch.setenv("EQUILIB_CACHE_DIR", str(tmp_path))
    steerable.solve_widths.cache_clear()
    weights = []
    for _ in range(2):  # the first build solves (cold cache), the second reads cnn-widths.json
        torch.manual_seed(0)
        weights.append(torch.cat([p.detach().flatten() for p in build_cnn("trivial", target_params=TARGET,
                                                                          verbose=False).parameters()]))
        steerable.solve_widths.cache_clear()
    assert (tmp_path / "cnn-widths.json").exists()
    assert torch.equal(weights[0], weights[1])


def test_a_steerable_run_killed_midway_resumes_and_restores_its_best_weights(tmp_path):
    """escnn adds buffers in eval mode; checkpoints and the best weights must still load into a fresh model."""
    g = torch.Generator().manual_seed(0)
    split = lambda n: (torch.rand(n, 1, 29, 29, generator=g) * mnist.disc_mask(),  # noqa: E731
                       torch.randint(0, 10, (n,), generator=g))
    tensors = {"train": split(64), "val": split(32), "test": split(32)}
    cfg = TrainConfig(epochs=4, lr=1e-2, batch_size=32, eval_every=1, device="cpu", seed=1, restore_best=True)
    build = lambda: build_cnn("C4", target_params=8000, verbose=False)  # noqa: E731
    task = ClassificationTask()
    model, straight = train(build, task, tensors, cfg, progress=False)
    assert task.metric(model, tensors["val"]) == straight.best_val
    ckpt, calls = tmp_path / "run.pt", {"n": 0}

    class DiesInEpochThree(ClassificationTask):
        def loss(self, model, batch):
            calls["n"] += 1
            if calls["n"] == 2 * 2 + 1:
                raise KeyboardInterrupt
            return super().loss(model, batch)

    with pytest.raises(KeyboardInterrupt):
        train(build, DiesInEpochThree(), tensors, cfg, checkpoint=ckpt, checkpoint_every=0,
              progress=False)
    saved = torch.load(ckpt, weights_only=False)
    assert not [k for k in saved["model"] if k.endswith(".filter") or "_basisexpansion." in k]  # derived: left out
    assert set(saved["model"]) >= {name for name, _ in build().named_parameters()}
    model, resumed = train(build, task, tensors, cfg, checkpoint=ckpt, progress=False)
    assert resumed.curve == straight.curve
    assert task.metric(model, tensors["val"]) == straight.best_val


def test_a_checkpoint_leaves_out_what_the_model_derives_and_nothing_else(tmp_path):
    """A C8 CNN of 100,000 parameters: its state dict is 26x its parameters (escnn's sampled bases and expanded
    filters), its checkpoint not; loading one takes the derived tensors from the fresh model, and refuses a state
    that lacks a parameter or a running statistic, as a strict load would."""
    from equilib.training.loop import RunResult, load_state, save_checkpoint

    model = build_cnn("C8", target_params=100_000, verbose=False).eval()
    optimizer = torch.optim.Adam(model.parameters())
    path = tmp_path / "c8.pt"
    save_checkpoint(path, TrainConfig(), model.state_dict(), optimizer.state_dict(), torch.Generator(), RunResult(),
                    best=model.state_dict())
    full = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert path.stat().st_size < full / 5, (path.stat().st_size, full)
    saved = torch.load(path, weights_only=False)["model"]
    fresh = build_cnn("C8", target_params=100_000, verbose=False).eval()
    load_state(fresh, saved)
    fresh.train().eval()
    x = torch.rand(4, 1, 29, 29, generator=torch.Generator().manual_seed(0)) * mnist.disc_mask()
    assert torch.allclose(fresh(x), model(x), atol=1e-5)
    weight = next(name for name, _ in model.named_parameters())
    with pytest.raises(RuntimeError, match=re.escape(weight)):
        load_state(fresh, {k: v for k, v in saved.items() if k != weight})
    statistic = next(k for k in saved if k.endswith("running_var"))
    with pytest.raises(RuntimeError, match=re.escape(statistic)):
        load_state(fresh, {k: v for k, v in saved.items() if k != statistic})


def test_stop_after_enters_a_run_id_only_where_it_is_set():
    """Runs trained before stop_after existed keep their ids; a protocol that sets it gets new ones."""
    kwargs = dict(n_val=2000, n_test=2000, target_params=20_000, data_seed=0)
    plain = mnist_run_config("SO2", "rotated", 1000, 0, TrainConfig(epochs=25, patience=5), **kwargs)
    zero = mnist_run_config("SO2", "rotated", 1000, 0, TrainConfig(epochs=25, patience=5, stop_after=0.0), **kwargs)
    half = mnist_run_config("SO2", "rotated", 1000, 0, TrainConfig(epochs=25, patience=5, stop_after=0.5), **kwargs)
    assert "stop_after" not in plain and run_id(plain) == run_id(zero)
    assert half["stop_after"] == 0.5 and run_id(half) != run_id(plain)
    tapered = mnist_run_config("SO2", "rotated", 1000, 0, TrainConfig(epochs=25, patience=5), **kwargs,
                               taper_above=10_000)
    assert "taper_above" not in plain and tapered["taper_above"] == 10_000 and run_id(tapered) != run_id(plain)


def test_runs_stopped_too_early_are_paired_with_their_retraining(tmp_path):
    store = RunStore(tmp_path, "mnist")
    base = {"experiment": "mnist", "model": "cnn", "group": "SO2", "variant": "rotated", "dim": 2, "n_train": 5000,
            "seed": 2, "epochs": 25, "lr": 2e-3, "batch_size": 64, "eval_every": 1, "patience": 5,
            "schedule": "cosine", "budget_steps": 1975}
    store.record(base, {"status": "finished", "epochs_done": 8, "stopped_early": True, "test_at_best_val": 0.166}, [])
    store.record({**base, "stop_after": 0.5}, {"status": "finished", "epochs_done": 21, "stopped_early": True,
                                               "test_at_best_val": 0.045}, [])
    store.record({**base, "lr": 1e-3}, {"status": "finished", "epochs_done": 8, "stopped_early": True,
                                        "test_at_best_val": 0.2}, [])  # another protocol: not its counterpart
    table = mnist_stopped_too_early(store.runs().query("stop_after == 0.5"), tmp_path)
    assert table.to_dict("records") == [{"variant": "rotated", "group": "SO2", "n_train": 5000, "seed": 2,
                                         "floor then": "0%", "stopped then": "epoch 8 of 25", "error then": 0.166,
                                         "stopped now": "epoch 21 of 25", "error now": 0.045}]


def test_part_of_a_protocol_holds_its_runs_and_nothing_else(tmp_path):
    from equilib.experiments import presets
    from equilib.experiments.protocol import protocol_size, run_protocol
    from equilib.experiments.settings import RunSettings

    whole = presets.resolve("mnist", "large")
    part = presets.restrict(whole, variants=["rotated"], seeds=[0])
    assert part["variants"] == ["rotated"] and part["key_groups"] == {"rotated": presets.KEY_GROUPS["rotated"]}
    assert part["seeds"] == part["key_seeds"] == [0]
    assert protocol_size("mnist", part) == 4 * 2  # the key groups at 20k and 50k
    pieces = [presets.restrict(whole, variants=[v], seeds=[s]) for v in whole["variants"] for s in whole["seeds"]]
    assert sum(protocol_size("mnist", p) for p in pieces) == protocol_size("mnist", whole) == 48
    with pytest.raises(ValueError, match=r"seeds \[7\] are not in the large preset"):
        presets.restrict(whole, seeds=[0, 7])
    with pytest.raises(ValueError, match=r"variants \['mirrored'\]"):
        presets.restrict(whole, variants=["mirrored"])
    assert protocol_size("mnist", presets.restrict(whole, groups=["C8"])) == 3 * 2  # rotated's key group only
    check = presets.resolve("mnist", "large-budget")
    split = [presets.restrict(check, groups=[g], seeds=[s]) for g in check["groups"] for s in check["seeds"]]
    assert [protocol_size("mnist", p) for p in split] == [2] * 10  # one run at the budget, one at twice it
    at_2x = presets.restrict(check, groups=["SO2"], seeds=[4], budget_factors=[2])
    assert at_2x["budget_factors"] == [2] and protocol_size("mnist", at_2x) == 1
    with pytest.raises(ValueError, match=r"budget factors \[3\] are not in the large-budget preset; it has \[1, 2\]"):
        presets.restrict(check, budget_factors=[2, 3])
    with pytest.raises(ValueError, match=r"groups \['C4'\] are not in the large-budget preset"):
        presets.restrict(check, groups=["SO2", "C4"])
    nothing = presets.restrict(whole, variants=["fliprot"], groups=["C8"])  # C8 is a key group of rotated only
    assert protocol_size("mnist", nothing) == 0
    assert run_protocol("mnist", nothing, RunSettings(results=tmp_path, train_missing=False)).empty


def test_the_protocol_command_refuses_a_seed_outside_its_preset(tmp_path, capsys):
    from equilib.cli import main

    assert main(["mnist-protocol", "--preset", "large", "--seeds", "9", "--results", str(tmp_path)]) == 2
    assert "seeds [9] are not in the large preset" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def _runs_of(cells: list[tuple], status: str = "finished") -> pd.DataFrame:
    return pd.DataFrame([{"variant": v, "group": g, "seed": s, "n_train": n, "budget_factor": float(f),
                          "status": status, "test_at_best_val": 0.0123456} for v, g, s, n, f in cells])


def test_protocol_progress_counts_each_declared_cell_and_only_its_finished_runs():
    from equilib.experiments.protocol import protocol_progress

    check = presets.resolve("mnist", "large-budget")  # plain and SO(2), seeds 0-4, 50,000 images, budgets 1x and 2x
    runs = pd.concat([_runs_of([("rotated", "SO2", s, 50_000, 2) for s in (0, 1, 2)]),
                      _runs_of([("rotated", "SO2", 3, 50_000, 2)], status="failed"),
                      _runs_of([("rotated", "SO2", 7, 50_000, 2), ("rotated", "C8", 0, 50_000, 2)])])  # not declared
    table = protocol_progress("mnist", check, runs)
    assert list(table.columns) == ["variant", "group", "n_train", "budget_factor", "declared", "finished"]
    assert table["declared"].tolist() == [5, 5, 5, 5] and table["finished"].sum() == 3
    at = table.set_index(["group", "budget_factor"])["finished"]
    assert at[("SO2", 2)] == 3 and at[("SO2", 1)] == 0 and at[("trivial", 2)] == 0
    large = presets.resolve("mnist", "large")  # no budget factors: no such column
    table = protocol_progress("mnist", large, _runs_of([("fliprot", "O2", 1, 20_000, 1)]))
    assert "budget_factor" not in table and table["declared"].sum() == 48 and table["finished"].sum() == 1
    assert table.loc[(table["group"] == "O2") & (table["n_train"] == 20_000), "finished"].item() == 1
    assert protocol_progress("mnist", large, pd.DataFrame())["finished"].sum() == 0  # an empty store
    grid = presets.resolve("nbody", "confirm-clipped")  # N-body: per dimension and model
    nbody = pd.DataFrame([{"dim": 8, "model": "egnn", "seed": s, "status": "finished"} for s in grid["seeds"][:2]])
    table = protocol_progress("nbody", grid, nbody).set_index(["dim", "model"])
    assert table.loc[(8, "egnn"), "finished"] == 2 and table["finished"].sum() == 2
    assert (table["declared"] == len(grid["seeds"])).all() and len(table) == len(grid["dims"]) * len(grid["models"])
    with pytest.raises(ValueError, match="unknown experiment 'qm9'"):
        protocol_progress("qm9", large, pd.DataFrame())


def test_the_protocol_command_says_how_much_is_in_and_prints_no_error(tmp_path, capsys, monkeypatch):
    from equilib import cli

    monkeypatch.setattr(cli, "run_protocol", lambda experiment, protocol, run: _runs_of(
        [("rotated", "C8", s, 10_000, 1) for s in (0, 1)] + [("rotated", "C8", 0, 1000, 1)]))
    assert cli.main(["mnist-protocol", "--preset", "capacity", "--groups", "C8", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3 of the 20 runs asked for here (capacity preset)" in out and "0.0123" not in out and "0.012" not in out


def test_the_nbody_budget_check_command_counts_its_runs_and_prints_no_error(tmp_path, capsys, monkeypatch):
    from equilib import cli

    checked = pd.DataFrame([{"budget_factor": f, "dim": 2, "model": m, "seed": s, "status": status,
                             "test_at_best_val": 0.0123456}
                            for f in (0.5, 1.0, 2.0) for m in ("gnn", "egnn") for s in (0, 1)
                            for status in (["finished", "failed"] if (f, m, s) == (2.0, "egnn", 1) else ["finished"])])
    monkeypatch.setattr(cli, "nbody_convergence", lambda protocol, run: checked)
    assert cli.main(["nbody-protocol", "--preset", "smoke", "--parts", "convergence",
                     "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "The budget check: 12 finished runs" in out and "0.012" not in out
