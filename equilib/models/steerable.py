"""Steerable CNNs for rotated MNIST, one per subgroup of O(2), with matched parameter counts.

Every network has the same shape: six blocks of (convolution, batch norm, ELU),
antialiased average pooling after blocks 2 and 4, an invariant pooling (over the
group, then over space) after block 6, and a two-layer head with 10 logits. The
group decides the convolution: ``trivial`` is a conventional CNN (plain torch);
``C4``, ``C8``, ``D4``, ``D8`` use regular fields (escnn) with pointwise ELU and
group max-pooling; ``SO2`` and ``O2`` use band-limited Fourier fields with
Fourier ELU (escnn's, computed without layout copies: :mod:`.fourier`) and a
1x1 equivariant map to invariant fields.

Inputs are ``(batch, 1, 29, 29)`` (:data:`equilib.tasks.mnist.IMAGE_SIZE`: MNIST padded
to an odd size so rotations by 90 degrees map the grid to itself). Widths are
solved so that each model has ``target_params`` parameters, within 5%.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import sys
from functools import lru_cache

import escnn.group._numerical as numerical
import torch
from escnn import gspaces
from escnn import nn as enn
from torch import nn

from ..base.cache import atomic_write
from ..base.paths import cache_dir
from ..tasks.mnist import IMAGE_SIZE
from .catalogue import count_parameters
from .fourier import FourierELU
from .groups import GROUP_ORDER, GROUPS

RELATIVE_WIDTHS = (2, 3, 4, 4, 6, 8)  # channels per block, times the width scale
KERNELS = (7, 5, 5, 5, 5, 5)
HEAD = 64
FOURIER_BAND = 3  # highest frequency of the SO(2)/O(2) features
FOURIER_SAMPLES = 16  # group elements at which Fourier ELU applies the non-linearity
DEFAULT_TARGET = 400_000
TOLERANCE = 0.05


def _check_group(group: str) -> None:
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}; choose one of {GROUPS}")


@lru_cache(maxsize=None)
def _gspace(group: str):
    # With scikit-learn >= 1.6 installed, escnn's randomized SVD fails on np.matrix when it
    # builds D_N and O(2) bases; without it escnn falls back to scipy's SVD.
    numerical.randomized_svd = None
    if group in ("C4", "C8"):
        return gspaces.rot2dOnR2(N=int(group[1:]))
    if group in ("D4", "D8"):
        return gspaces.flipRot2dOnR2(N=int(group[1:]))
    if group == "SO2":
        return gspaces.rot2dOnR2(N=-1, maximum_frequency=2 * FOURIER_BAND + 2)
    return gspaces.flipRot2dOnR2(N=-1, maximum_frequency=2 * FOURIER_BAND + 2)


class PlainCNN(nn.Module):
    """The conventional CNN: the same blocks with ordinary convolutions."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for k, (c, kernel) in enumerate(zip(channels, KERNELS)):
            layers += [nn.Conv2d(c_in, c, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c), nn.ELU()]
            if k in (1, 3):
                layers.append(nn.AvgPool2d(3, stride=2, padding=1))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(c_in, HEAD), nn.BatchNorm1d(HEAD), nn.ELU(), nn.Linear(HEAD, 10))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images).mean((-2, -1)))


class SteerableCNN(nn.Module):
    """An escnn network equivariant to ``group`` up to the invariant pooling; its logits are invariant."""

    def __init__(self, group: str, fields: tuple[int, ...]) -> None:
        super().__init__()
        gs = _gspace(group)
        self.group = group
        self.input_type = enn.FieldType(gs, [gs.trivial_repr])
        continuous = group in ("SO2", "O2")
        blocks: list[nn.Module] = [enn.MaskModule(self.input_type, IMAGE_SIZE, margin=1)]
        in_type = self.input_type
        for k, (n, kernel) in enumerate(zip(fields, KERNELS)):
            if continuous:
                act = FourierELU(gs, n, irreps=gs.fibergroup.bl_irreps(FOURIER_BAND), N=FOURIER_SAMPLES,
                                     inplace=True)
                out_type, norm = act.in_type, enn.IIDBatchNorm2d(act.in_type)
            else:
                out_type = enn.FieldType(gs, n * [gs.regular_repr])
                act, norm = enn.ELU(out_type, inplace=True), enn.InnerBatchNorm(out_type)
            blocks += [enn.R2Conv(in_type, out_type, kernel_size=kernel, padding=kernel // 2, bias=False), norm, act]
            if k in (1, 3):
                blocks.append(enn.PointwiseAvgPoolAntialiased2D(out_type, sigma=0.66, stride=2))
            in_type = out_type
        if continuous:
            invariant = enn.FieldType(gs, fields[-1] * [gs.trivial_repr])
            blocks.append(enn.R2Conv(in_type, invariant, kernel_size=1, bias=False))
        else:
            blocks.append(enn.GroupPooling(in_type))
        self.features = enn.SequentialModule(*blocks)
        width = self.features.out_type.size
        self.head = nn.Sequential(nn.Linear(width, HEAD), nn.BatchNorm1d(HEAD), nn.ELU(), nn.Linear(HEAD, 10))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.features(enn.GeometricTensor(images, self.input_type)).tensor
        return self.head(x.mean((-2, -1)))


def _widths(group: str, scale: float) -> tuple[int, ...]:
    """Channels (plain CNN) or fields per block for a width scale; regular fields carry |G| channels each."""
    order = GROUP_ORDER[group] if math.isfinite(GROUP_ORDER[group]) else 16
    per_field = 1.0 if group == "trivial" else math.sqrt(order)
    return tuple(max(1, round(scale * r / per_field)) for r in RELATIVE_WIDTHS)


def _construct(group: str, widths: tuple[int, ...]) -> nn.Module:
    if group == "trivial":
        return PlainCNN(widths)
    with contextlib.redirect_stdout(io.StringIO()):  # a cold O(2) build prints debug lines
        return SteerableCNN(group, widths)


ARCHITECTURE_VERSION = 1  # bump when the blocks change: it invalidates the solved widths on disk


@lru_cache(maxsize=None)
def solve_widths(group: str, target_params: int = DEFAULT_TARGET) -> tuple[tuple[int, ...], int]:
    """The per-block widths whose parameter count is within 5% of ``target_params``, and that count.

    Solving builds the model a few times; the answer is kept in the cache
    directory (``cnn-widths.json``) so that later processes build once.
    """
    _check_group(group)
    if not isinstance(target_params, int) or target_params < 5_000:
        raise ValueError(f"target_params must be an integer >= 5000, got {target_params!r}")
    path = cache_dir() / "cnn-widths.json"
    key = f"{group}-{target_params}-v{ARCHITECTURE_VERSION}"
    known = json.loads(path.read_text()) if path.exists() else {}
    if key in known:
        widths, count = known[key]
        return tuple(widths), count
    with torch.random.fork_rng(devices=[]):  # trial builds must not move the caller's seeded stream
        widths, count = _solve(group, target_params)
    known = json.loads(path.read_text()) if path.exists() else {}
    known[key] = [list(widths), count]
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(known, indent=1, sort_keys=True)))
    return widths, count


def _solve(group: str, target_params: int) -> tuple[tuple[int, ...], int]:
    scale, best = 8.0, None
    for _ in range(30):
        widths = _widths(group, scale)
        count = count_parameters(_construct(group, widths))
        if best is None or abs(count - target_params) < abs(best[1] - target_params):
            best = (widths, count)
        if abs(count - target_params) <= TOLERANCE * target_params:
            return widths, count
        # parameters grow about quadratically with the width
        scale *= math.sqrt(target_params / count) ** (1.0 if abs(count / target_params - 1) > 0.5 else 0.8)
    raise ValueError(f"could not match {target_params} parameters for {group} within {TOLERANCE:.0%}; "
                     f"closest: {best[1]} with widths {best[0]}")


def build_cnn(group: str, *, target_params: int = DEFAULT_TARGET, verbose: bool = True) -> nn.Module:
    """The rotated-MNIST classifier for ``group`` with ``target_params`` parameters (within 5%).

    Takes images ``(batch, 1, 29, 29)``, returns logits ``(batch, 10)``. The first
    escnn build of a group computes its steerable bases (seconds to half a minute;
    escnn caches them on disk for later builds).
    """
    _check_group(group)
    if verbose and group != "trivial":
        print(f"building the {group} steerable CNN (escnn; the first build of a group can take ~30 s)",
              file=sys.stderr, flush=True)
    widths, _ = solve_widths(group, target_params)
    model = _construct(group, widths)
    model.group = group
    model.widths = widths
    return model


def parameter_table(groups: tuple[str, ...] = GROUPS, target_params: int = DEFAULT_TARGET) -> list[dict]:
    """One row per group: widths, parameters and their deviation from the target."""
    rows = []
    for g in groups:
        widths, count = solve_widths(g, target_params)
        rows.append({"group": g, "order": GROUP_ORDER[g], "widths": json.dumps(list(widths)), "params": count,
                     "deviation": count / target_params - 1})
    return rows
