"""The linear case, where the benefit of equivariance has an exact answer (Elesedy & Zaidi, 2021).

For inputs ``X ~ N(0, sigma^2 I)`` on ``V = R^d``, targets ``Y = A* X + eps`` on
``W = R^k`` with ``A*`` G-equivariant and ``eps ~ N(0, sigma_eps^2 I)``, and ``n``
samples, the least-squares estimate ``A_n`` and its G-average ``Q(A_n)`` differ in
expected test risk by

    sigma_eps^2 * (d k - <chi_V, chi_W>) / (n - d - 1),

where ``<chi_V, chi_W>`` is the dimension of the space of equivariant linear maps.
Groups here are finite and given by their matrices: a :class:`Rep` holds one
orthogonal matrix per group element, in a fixed order shared by every
representation of the same group, so that two of them can be paired.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import permutations

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class Rep:
    """An orthogonal representation of a finite group: ``matrices[g]`` acts on R^dim."""

    group: str
    name: str
    matrices: np.ndarray  # (|G|, dim, dim)

    @property
    def dim(self) -> int:
        return self.matrices.shape[1]

    @property
    def order(self) -> int:
        return self.matrices.shape[0]

    def character(self) -> np.ndarray:
        return np.trace(self.matrices, axis1=1, axis2=2)

    def __repr__(self) -> str:
        return f"Rep({self.group} on R^{self.dim}: {self.name})"


def _rotation(theta: float) -> np.ndarray:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def _check_order(m: int) -> None:
    if not isinstance(m, int) or m < 1:
        raise ValueError(f"the group order parameter must be an integer >= 1, got {m!r}")


def cyclic_rotation(m: int, frequency: int = 1) -> Rep:
    """C_m acting on the plane by rotations through ``frequency * 2 pi k / m``."""
    _check_order(m)
    mats = np.stack([_rotation(2 * math.pi * frequency * k / m) for k in range(m)])
    return Rep(f"C{m}", f"rotation (frequency {frequency})", mats)


def cyclic_permutation(m: int) -> Rep:
    """C_m cyclically shifting the coordinates of R^m (its regular representation)."""
    _check_order(m)
    eye = np.eye(m)
    return Rep(f"C{m}", "cyclic shift", np.stack([np.roll(eye, k, axis=0) for k in range(m)]))


def _dihedral(m: int, rotation_of, reflection) -> np.ndarray:
    # element order: r^0..r^{m-1}, then r^0 s .. r^{m-1} s
    rots = [rotation_of(k) for k in range(m)]
    return np.stack(rots + [r @ reflection for r in rots])


def dihedral_rotation(m: int) -> Rep:
    """D_m acting on the plane: rotations by 2 pi k / m and reflections across lines through 0."""
    _check_order(m)
    mats = _dihedral(m, lambda k: _rotation(2 * math.pi * k / m), np.diag([1.0, -1.0]))
    return Rep(f"D{m}", "rotations and reflections of the plane", mats)


def dihedral_permutation(m: int) -> Rep:
    """D_m permuting the m vertices of a regular m-gon (coordinates of R^m)."""
    _check_order(m)
    eye = np.eye(m)
    flip = eye[[(-i) % m for i in range(m)]]
    mats = _dihedral(m, lambda k: np.roll(eye, k, axis=0), flip)
    return Rep(f"D{m}", "permutations of the m-gon's vertices", mats)


def symmetric_permutation(d: int) -> Rep:
    """The symmetric group S_d permuting the coordinates of R^d (d! elements)."""
    _check_order(d)
    if d > 6:
        raise ValueError(f"S_d with d = {d} has {math.factorial(d)} elements; use d <= 6")
    eye = np.eye(d)
    return Rep(f"S{d}", "coordinate permutations", np.stack([eye[list(p)] for p in permutations(range(d))]))


def trivial(like: Rep, dim: int = 1) -> Rep:
    """The trivial representation of ``like``'s group on R^dim (invariant outputs)."""
    return Rep(like.group, f"trivial on R^{dim}", np.broadcast_to(np.eye(dim), (like.order, dim, dim)).copy())


def direct_sum(*reps: Rep) -> Rep:
    """Block-diagonal sum of representations of one group."""
    if len({(r.group, r.order) for r in reps}) != 1:
        raise ValueError(f"direct_sum needs representations of one group, got {[r.group for r in reps]}")
    total = sum(r.dim for r in reps)
    out = np.zeros((reps[0].order, total, total))
    at = 0
    for r in reps:
        out[:, at : at + r.dim, at : at + r.dim] = r.matrices
        at += r.dim
    return Rep(reps[0].group, " + ".join(r.name for r in reps), out)


def _pair(v: Rep, w: Rep) -> None:
    if v.group != w.group or v.order != w.order:
        raise ValueError(f"V and W must represent the same group; got {v.group} and {w.group}")


def character_inner(v: Rep, w: Rep) -> float:
    """``<chi_V, chi_W> = (1/|G|) sum_g chi_V(g) chi_W(g)``: the dimension of Hom_G(V, W)."""
    _pair(v, w)
    return float(np.mean(v.character() * w.character()))


def equivariant_dimension(v: Rep, w: Rep) -> int:
    """Dimension of {A : A rho_V(g) = rho_W(g) A for all g}, from the null space of the constraints."""
    _pair(v, w)
    eye_v, eye_w = np.eye(v.dim), np.eye(w.dim)
    # vec(A rho_V) = (rho_V^T kron I) vec(A), vec(rho_W A) = (I kron rho_W) vec(A)  (column-major vec)
    constraints = np.concatenate([np.kron(rv.T, eye_w) - np.kron(eye_v, rw) for rv, rw in zip(v.matrices, w.matrices)])
    return int(v.dim * w.dim - np.linalg.matrix_rank(constraints, tol=1e-8))


def reynolds(a: torch.Tensor | np.ndarray, v: Rep, w: Rep) -> torch.Tensor:
    """The G-average ``Q(A) = (1/|G|) sum_g rho_W(g)^T A rho_V(g)`` of maps ``A: V -> W`` (batched on the left)."""
    _pair(v, w)
    a = torch.as_tensor(a, dtype=torch.float64)
    rv = torch.as_tensor(v.matrices, dtype=a.dtype)
    rw = torch.as_tensor(w.matrices, dtype=a.dtype)
    return torch.einsum("gji,...jk,gkl->...il", rw, a, rv) / v.order


def predicted_gap(v: Rep, w: Rep, n: int, sigma_eps: float = 1.0) -> float:
    """Equation (1) of the paper: the expected test-risk gap between least squares and its G-average."""
    if n <= v.dim + 1:
        raise ValueError(f"the formula needs n > dim V + 1 = {v.dim + 1}, got n = {n}")
    return sigma_eps**2 * (v.dim * w.dim - character_inner(v, w)) / (n - v.dim - 1)


@dataclass(frozen=True)
class GapEstimate:
    mean: float
    low: float
    high: float
    predicted: float
    repetitions: int


def simulate_gap(v: Rep, w: Rep, n: int, *, sigma: float = 1.0, sigma_eps: float = 1.0, repetitions: int = 2000,
                 seed: int = 0, level: float = 0.95) -> GapEstimate:
    """Monte-Carlo estimate of the gap with a normal-approximation confidence interval.

    Each repetition draws a fresh equivariant target ``A*``, ``n`` samples, fits
    least squares, and measures the exact risk difference
    ``sigma^2 (|A_n - A*|_F^2 - |Q(A_n) - A*|_F^2)`` (the noise term cancels).
    """
    predicted = predicted_gap(v, w, n, sigma_eps)
    if repetitions < 2:
        raise ValueError(f"repetitions must be >= 2, got {repetitions}")
    g = torch.Generator().manual_seed(seed)
    kw = dict(generator=g, dtype=torch.float64)
    target = reynolds(torch.randn(repetitions, w.dim, v.dim, **kw), v, w)
    x = sigma * torch.randn(repetitions, n, v.dim, **kw)
    y = x @ target.transpose(1, 2) + sigma_eps * torch.randn(repetitions, n, w.dim, **kw)
    fit = torch.linalg.lstsq(x, y).solution.transpose(1, 2)  # (R, k, d)
    err = (fit - target).pow(2).sum((1, 2)) - (reynolds(fit, v, w) - target).pow(2).sum((1, 2))
    gaps = sigma**2 * err
    mean, se = gaps.mean().item(), gaps.std().item() / math.sqrt(repetitions)
    z = _normal_quantile(0.5 + level / 2)
    return GapEstimate(mean, mean - z * se, mean + z * se, predicted, repetitions)


def _normal_quantile(p: float) -> float:
    return float(torch.special.ndtri(torch.tensor(p, dtype=torch.float64)))


def catalogue(order: int = 4) -> dict[str, tuple[Rep, Rep]]:
    """The (V, W) pairs the theory page offers, by label."""
    rot, dih = cyclic_rotation(order), dihedral_rotation(order)
    cperm, dperm = cyclic_permutation(order), dihedral_permutation(order)
    s = symmetric_permutation(min(order, 5))
    return {
        f"C{order} on R^2 -> R^2": (rot, rot),
        f"D{order} on R^2 -> R^2": (dih, dih),
        f"C{order} on R^2 -> invariant": (rot, trivial(rot)),
        f"C{order} shifts on R^{order} -> R^{order}": (cperm, cperm),
        f"D{order} on the {order}-gon -> same": (dperm, dperm),
        f"S{s.dim} permutations -> same": (s, s),
        f"S{s.dim} permutations -> invariant": (s, trivial(s)),
        f"C{order}: R^2 + 2 invariants -> R^2": (direct_sum(rot, trivial(rot, 2)), rot),
    }


def gap_study(order: int, sample_sizes: list[int], *, repetitions: int, sigma_eps: float = 1.0,
              seed: int = 0) -> pd.DataFrame:
    """The formula against simulation for every pair of :func:`catalogue` at every sample size it allows.

    One row per (pair, n): the group, the dimensions, the equivariant maps
    ``<chi_V, chi_W>``, the maps the average removes, and the simulated gap
    (mean and 95% interval) beside the predicted one. Sizes with ``n <= dim V + 1``
    are skipped (the formula needs more samples than that); each size's
    repetitions use seed ``seed + n``.
    """
    rows = []
    for label, (v, w) in catalogue(order).items():
        chi = round(character_inner(v, w))
        for n in sample_sizes:
            if n <= v.dim + 1:
                continue
            est = simulate_gap(v, w, n, sigma_eps=sigma_eps, repetitions=repetitions, seed=seed + n)
            rows.append({"pair": label, "group": v.group, "dim_V": v.dim, "dim_W": w.dim, "equivariant": chi,
                         "removed": v.dim * w.dim - chi, "n": n, "measured": est.mean, "low": est.low,
                         "high": est.high, "predicted": est.predicted})
    return pd.DataFrame(rows)
