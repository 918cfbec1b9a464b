"""E(n) transforms: Haar-random group elements, augmentation, and the learned-equivariance measure."""
import pytest
import torch

from equilib.experiments.nbody import nbody_member
from equilib.models.catalogue import build_model
from equilib.tasks import nbody
from equilib.tasks.symmetry import act, augment_nbody, equivariance_error, random_euclidean, random_orthogonal
from equilib.training.loop import RegressionTask, TrainConfig, train
from equilib.training.stacked import train_stacked


def _batch(n=32, dim=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 5, dim, generator=g), torch.randn(n, 5, dim, generator=g),
            torch.randn(n, 5, generator=g).sign(), torch.randn(n, 5, dim, generator=g))


def test_random_orthogonal_matrices_cover_rotations_and_reflections():
    q = random_orthogonal(2000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64).expand(2000, 3, 3)
    torch.testing.assert_close(q @ q.transpose(1, 2), eye)
    det = torch.linalg.det(q)
    assert 0.45 < (det > 0).double().mean() < 0.55  # Haar on O(3): half of them reflect
    assert q[:, 0, 0].mean().abs() < 0.05  # no preferred direction


def test_augmentation_moves_input_and_target_together_and_leaves_padding_alone():
    x, v, c, t = _batch()
    ax, av, ac, at = augment_nbody((x, v, c, t), torch.Generator().manual_seed(1))
    assert torch.equal(ac, c)
    # the same transform on input and target: relative geometry and speeds are kept
    torch.testing.assert_close(torch.cdist(ax, at), torch.cdist(x, t), atol=1e-5, rtol=0)
    torch.testing.assert_close(av.norm(dim=-1), v.norm(dim=-1), atol=1e-5, rtol=0)
    padded = tuple(torch.nn.functional.pad(a, (0, 2)) if a.ndim == 3 else a for a in (x, v, c, t))
    moved = augment_nbody(padded, torch.Generator().manual_seed(1), dim=3)
    for a, b in zip(moved, (ax, av, ac, at)):
        if a.ndim == 3:
            assert torch.equal(a[..., 3:], torch.zeros_like(a[..., 3:]))
            torch.testing.assert_close(a[..., :3], b)


def test_equivariance_error_is_zero_for_the_egnn_and_clearly_positive_for_a_plain_gnn():
    torch.manual_seed(0)
    data = _batch(64, 3)
    assert equivariance_error(build_model("egnn", 3), data) < 1e-5
    assert equivariance_error(build_model("gnn", 3), data) > 0.1
    # the measure sees exactly what a transform does: a model that ignores its input is not equivariant
    q, t = random_euclidean(4, 3, generator=torch.Generator().manual_seed(2))
    assert act(q, None, torch.zeros(4, 5, 3)).abs().max() == 0


def test_augmented_training_stacked_and_alone_gives_the_same_runs_across_padded_dimensions():
    data = {}
    for dim in (2, 3):
        d = nbody.make_dataset(dim, n_train=128, n_val=32, n_test=32, steps=200, progress=False)
        data[dim] = {k: (t.x0.float(), t.v0.float(), t.charges.float(), t.xT.float()) for k, t in d.splits.items()}
    configs = [TrainConfig(epochs=3, lr=1e-3, batch_size=32, eval_every=1, device="cpu", seed=s, augment=True)
               for s in (0, 1)]
    alone = {(dim, c.seed): train(lambda dim=dim: build_model("gnn", dim), RegressionTask(), data[dim], c,
                                  progress=False)[1] for dim in (2, 3) for c in configs}
    pad = lambda split: tuple(torch.nn.functional.pad(a, (0, 1)) if a.ndim == 3 else a for a in split)  # noqa: E731
    members = [nbody_member("gnn", dim, 3, {k: pad(v) if dim == 2 else v for k, v in data[dim].items()}, c)
               for dim in (2, 3) for c in configs]
    stacked = train_stacked(members, RegressionTask(), progress=False, template=build_model("gnn", 3))
    for (dim, seed), (_, b) in zip([(d, c.seed) for d in (2, 3) for c in configs], stacked):
        a = alone[dim, seed]
        assert [p["val"] for p in b.curve] == pytest.approx([p["val"] for p in a.curve], rel=1e-5)
    plain = train(lambda: build_model("gnn", 3), RegressionTask(), data[3],
                  TrainConfig(epochs=3, lr=1e-3, batch_size=32, eval_every=1, device="cpu"), progress=False)[1]
    assert plain.curve[-1]["val"] != alone[3, 0].curve[-1]["val"]  # augmentation did change the training
