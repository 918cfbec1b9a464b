"""GNN and EGNN: symmetry properties and the factory."""
import pytest
import torch

from equilib.models.catalogue import build_model, count_parameters

from conftest import random_orthogonal


def _inputs(dim, batch=6, n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n, dim, generator=g)
    v = torch.randn(batch, n, dim, generator=g)
    c = torch.where(torch.rand(batch, n, generator=g) < 0.5, 1.0, -1.0)
    return x, v, c


def _train_a_little(model, dim):
    """Move the weights off their initialisation so that the tests see a generic network."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, v, c = _inputs(dim, seed=99)
    for _ in range(3):
        opt.zero_grad()
        (model(x, v, c) - x.flip(1)).pow(2).mean().backward()
        opt.step()
    return model.eval()


@pytest.mark.parametrize("dim", [2, 3, 5, 8])
def test_egnn_is_E_n_equivariant(dim):
    torch.manual_seed(dim)
    model = _train_a_little(build_model("egnn", dim), dim)
    x, v, c = _inputs(dim, seed=dim)
    g = torch.Generator().manual_seed(dim)
    q = random_orthogonal(dim, reflect=True, generator=g, dtype=torch.float32)
    t = torch.randn(dim, generator=g) * 2
    with torch.no_grad():
        y = model(x, v, c)
        y2 = model(x @ q.T + t, v @ q.T, c)
    assert torch.allclose(y2, y @ q.T + t, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("dim", [2, 3, 5])
def test_gnn_is_measurably_not_equivariant(dim):
    torch.manual_seed(dim)
    model = _train_a_little(build_model("gnn", dim), dim)
    x, v, c = _inputs(dim, seed=dim)
    q = random_orthogonal(dim, reflect=False, generator=torch.Generator().manual_seed(dim), dtype=torch.float32)
    with torch.no_grad():
        err = (model(x @ q.T, v @ q.T, c) - model(x, v, c) @ q.T).abs().max()
    assert err > 1e-2


@pytest.mark.parametrize("name", ["gnn", "egnn"])
def test_both_models_are_permutation_equivariant(name):
    torch.manual_seed(0)
    model = _train_a_little(build_model(name, 3), 3)
    x, v, c = _inputs(3)
    perm = torch.tensor([3, 0, 4, 1, 2])
    with torch.no_grad():
        assert torch.allclose(model(x[:, perm], v[:, perm], c[:, perm]), model(x, v, c)[:, perm], atol=1e-6)


@pytest.mark.parametrize("name", ["gnn", "egnn"])
def test_models_run_on_any_number_of_particles_and_do_not_touch_inputs(name):
    model = build_model(name, 4)
    x, v, c = _inputs(4, batch=3, n=9)
    x0 = x.clone()
    out = model(x, v, c)
    assert out.shape == (3, 9, 4) and torch.equal(x, x0)
    assert model(*_inputs(4, batch=2, n=3)).shape == (2, 3, 4)


def test_factory_rejects_bad_names_and_reports_parameters():
    with pytest.raises(ValueError, match="unknown model 'transformer'.*egnn.*gnn"):
        build_model("transformer", 3)
    with pytest.raises(ValueError, match="dim .* got 0"):
        build_model("egnn", 0)
    # EGNN parameters do not depend on n; the GNN's input and output layers do
    assert count_parameters(build_model("egnn", 2)) == count_parameters(build_model("egnn", 8))
    assert count_parameters(build_model("gnn", 8)) > count_parameters(build_model("gnn", 2))
    assert count_parameters(build_model("egnn", 3, hidden=32)) < count_parameters(build_model("egnn", 3))


def test_wrong_input_shapes_are_named():
    model = build_model("egnn", 3)
    x, v, c = _inputs(2)
    with pytest.raises(ValueError, match=r"\(batch, N, 3\)"):
        model(x, v, c)


@pytest.mark.parametrize("name", ["gnn", "egnn"])
def test_zero_padded_coordinates_change_nothing_once_the_gnn_is_widened(name):
    """What lets models of several dimensions share a stack: padded inputs, padded (zero) outputs, same values."""
    torch.manual_seed(0)
    small = _train_a_little(build_model(name, 3), 3)
    wide = build_model(name, 8)
    state = small.widen(small.state_dict(), 8) if name == "gnn" else small.state_dict()
    wide.load_state_dict(state)
    x, v, c = _inputs(3)
    pad = lambda t: torch.nn.functional.pad(t, (0, 5))  # noqa: E731
    out = wide.eval()(pad(x), pad(v), c)
    torch.testing.assert_close(out[..., :3], small(x, v, c), rtol=1e-5, atol=1e-6)
    assert torch.equal(out[..., 3:], torch.zeros_like(out[..., 3:]))  # exactly zero: no gradient reaches them
    if name == "gnn":
        back = small.narrow(state)
        assert all(torch.equal(back[k], t) for k, t in small.state_dict().items())
        with pytest.raises(ValueError, match="can only widen to dim >= 3, got 2"):
            small.widen(small.state_dict(), 2)
