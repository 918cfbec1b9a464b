"""The linear theory: characters, the Reynolds projection, and equation (1) by simulation."""
import numpy as np
import pytest
import torch

from equilib.tasks import theory

PAIRS = theory.catalogue(4) | theory.catalogue(3) | theory.catalogue(6)


@pytest.mark.parametrize("label", sorted(PAIRS))
def test_character_inner_product_counts_equivariant_maps(label):
    v, w = PAIRS[label]
    assert theory.character_inner(v, w) == pytest.approx(theory.equivariant_dimension(v, w), abs=1e-9)


def test_known_dimensions():
    rot4, dih4 = theory.cyclic_rotation(4), theory.dihedral_rotation(4)
    assert theory.equivariant_dimension(rot4, rot4) == 2  # a rotation-scaling: a I + b J
    assert theory.equivariant_dimension(dih4, dih4) == 1  # only multiples of the identity
    s4 = theory.symmetric_permutation(4)
    assert theory.equivariant_dimension(s4, s4) == 2  # a I + b 11^T
    assert theory.equivariant_dimension(s4, theory.trivial(s4)) == 1  # the sum


def test_representations_are_homomorphisms_of_the_stated_order():
    for rep in (theory.dihedral_rotation(5), theory.dihedral_permutation(5), theory.symmetric_permutation(4)):
        mats = rep.matrices
        products = np.einsum("aij,bjk->abik", mats, mats).reshape(-1, rep.dim, rep.dim)
        # the set is closed under products and every matrix is orthogonal
        for p in products[:: max(1, len(products) // 50)]:
            assert np.min(np.abs(mats - p).sum((1, 2))) < 1e-9
        assert np.allclose(np.einsum("gji,gjk->gik", mats, mats), np.eye(rep.dim))
        assert len({m.round(9).tobytes() for m in mats}) == rep.order  # faithful listing, no repeats


@pytest.mark.parametrize("label", sorted(theory.catalogue(4)))
def test_group_average_is_equivariant_and_a_projection(label):
    v, w = PAIRS[label]
    a = torch.randn(3, w.dim, v.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    q = theory.reynolds(a, v, w)
    for rv, rw in zip(v.matrices, w.matrices):
        assert torch.allclose(q @ torch.as_tensor(rv), torch.as_tensor(rw) @ q, atol=1e-10)
    assert torch.allclose(theory.reynolds(q, v, w), q, atol=1e-12)
    assert not torch.allclose(q, a)  # it really did something


@pytest.mark.parametrize("label,n", [("C4 on R^2 -> R^2", 12), ("S4 permutations -> same", 30),
                                     ("D4 on the 4-gon -> same", 15), ("C4: R^2 + 2 invariants -> R^2", 40)])
def test_monte_carlo_gap_matches_equation_one(label, n):
    v, w = PAIRS[label]
    # A 99.9% interval: a correct formula fails this one time in a thousand draws.
    est = theory.simulate_gap(v, w, n, sigma=1.7, sigma_eps=0.6, repetitions=4000, seed=1, level=0.999)
    assert est.low <= est.predicted <= est.high
    assert est.high - est.low < 0.25 * est.predicted  # and the interval is tight enough to mean something


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="n > dim V \\+ 1 = 3, got n = 3"):
        theory.predicted_gap(theory.cyclic_rotation(4), theory.cyclic_rotation(4), 3)
    with pytest.raises(ValueError, match="same group; got C4 and D4"):
        theory.character_inner(theory.cyclic_rotation(4), theory.dihedral_rotation(4))
    with pytest.raises(ValueError, match="got 0"):
        theory.cyclic_rotation(0)


def test_the_gap_study_covers_every_pair_at_every_size_the_formula_allows():
    study = theory.gap_study(4, [4, 10, 40], repetitions=400, seed=1)
    pairs = theory.catalogue(4)
    expected = [(label, n) for label, (v, _) in pairs.items() for n in (4, 10, 40) if n > v.dim + 1]
    assert list(zip(study.pair, study.n)) == expected  # n = 4 is kept for the plane, dropped for R^4
    assert set(study.pair) == set(pairs) and (study.removed == study.dim_V * study.dim_W - study.equivariant).all()
    assert study.predicted.tolist() == pytest.approx(
        [theory.predicted_gap(*pairs[p], n) for p, n in zip(study.pair, study.n)])
    inside = ((study.low <= study.predicted) & (study.predicted <= study.high)).mean()
    assert inside >= 0.75  # honest 95% intervals hold the formula in about 95% of the settings
