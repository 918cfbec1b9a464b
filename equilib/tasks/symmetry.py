"""Random elements of E(n), for augmenting N-body batches and for measuring how equivariant a model is.

An element ``g = (Q, t)`` acts on positions as ``x -> x Q^T + t`` and on
velocities as ``v -> v Q^T``; charges are invariant. ``Q`` is drawn from the
Haar measure on O(n) (rotations and reflections alike), ``t`` from a normal
of scale ``shift`` per coordinate.
"""
from __future__ import annotations

import torch
from torch import nn

Batch = tuple[torch.Tensor, ...]


def random_orthogonal(batch: int, dim: int, *, generator: torch.Generator,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(batch, dim, dim)`` Haar-random orthogonal matrices (QR of a Gaussian matrix, signs fixed)."""
    q, r = torch.linalg.qr(torch.randn(batch, dim, dim, generator=generator, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    return q.to(dtype)


def random_euclidean(batch: int, dim: int, *, generator: torch.Generator, shift: float = 1.0,
                     dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch`` random elements of E(dim): orthogonal ``(batch, dim, dim)`` and translations ``(batch, 1, dim)``."""
    q = random_orthogonal(batch, dim, generator=generator, dtype=dtype)
    t = shift * torch.randn(batch, 1, dim, generator=generator, dtype=torch.float64).to(dtype)
    return q, t


def act(q: torch.Tensor, t: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """``x Q^T + t`` for each sample of ``x`` ``(batch, N, dim)`` (``t=None`` for velocities)."""
    out = x @ q.transpose(-1, -2)
    return out if t is None else out + t


def augment_nbody(batch: Batch, generator: torch.Generator, shift: float = 1.0, dim: int | None = None) -> Batch:
    """An N-body batch ``(x0, v0, charges, xT)`` moved by a fresh random element of E(n) per sample.

    The target moves with the input, so the task is unchanged for an
    equivariant model; a plain model sees every orientation and position.
    ``dim`` (default: all) is the number of real coordinates when the rest are
    zero padding (a stack across dimensions): only those move, by the same
    random numbers the run would draw alone. Random numbers are drawn on the
    CPU from ``generator`` (reproducible on any device).
    """
    x, v, c, target = batch
    dim = x.shape[-1] if dim is None else dim
    q, t = random_euclidean(x.shape[0], dim, generator=generator, shift=shift, dtype=x.dtype)
    q, t = q.to(x.device), t.to(x.device)

    def move(a: torch.Tensor, shift_by: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([act(q, shift_by, a[..., :dim]), a[..., dim:]], dim=-1)

    return move(x, t), move(v, None), c, move(target, t)


@torch.no_grad()
def equivariance_error(model: nn.Module, data: Batch, *, transforms: int = 4, seed: int = 0,
                       batch: int = 1024) -> float:
    """How far ``model`` is from E(n)-equivariance on ``data``: the mean relative change of its output.

    For random ``g`` (``transforms`` per sample), the mean over samples of
    ``|f(g x, g v, c) - g f(x, v, c)| / |f(x, v, c)|`` (Frobenius norms over
    particles and coordinates). 0 for an exactly equivariant model (the EGNN,
    up to float rounding); clearly positive for a plain GNN, unless training
    taught it the symmetry.
    """
    x, v, c = data[:3]
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    total, count = 0.0, 0
    for s in range(0, x.shape[0], batch):
        xs, vs, cs = x[s : s + batch], v[s : s + batch], c[s : s + batch]
        out = model(xs, vs, cs)
        norm = out.flatten(1).norm(dim=1).clamp_min(1e-12)
        for _ in range(transforms):
            q, t = random_euclidean(xs.shape[0], xs.shape[-1], generator=generator, dtype=xs.dtype)
            q, t = q.to(xs.device), t.to(xs.device)
            moved = model(act(q, t, xs), act(q, None, vs), cs)
            total += float(((moved - act(q, t, out)).flatten(1).norm(dim=1) / norm).sum())
            count += xs.shape[0]
    return total / count
