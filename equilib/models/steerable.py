"""Steerable CNNs for rotated MNIST, one per subgroup of O(2), with matched parameter counts.

Every network has the same shape: six blocks of (convolution, batch norm, ELU),
antialiased average pooling after blocks 2 and 4, an invariant pooling (over the
group, then over space) after block 6, and a two-layer head with 10 logits. The
group decides the convolution: ``trivial`` is a conventional CNN (plain torch);
``C4``, ``C8``, ``D4``, ``D8`` use regular fields (escnn) with pointwise ELU and
group max-pooling; ``SO2`` and ``O2`` use band-limited Fourier fields with
Fourier ELU and a 1x1 equivariant map to invariant fields. The Fourier ELU and
the group pooling are escnn's, computed without its layout copies
(:mod:`.escnn_layers`).

Inputs are ``(batch, 1, 29, 29)`` (:data:`equilib.tasks.mnist.IMAGE_SIZE`: MNIST padded
to an odd size so rotations by 90 degrees map the grid to itself). Widths are
solved so that each model has ``target_params`` parameters, within 5%.

A network built with ``stack=K`` is K such networks in one module, for the
stacked trainer (:mod:`equilib.training.stacked`): every layer that acts field
by field (batch norm, non-linearity, pooling, masking) is the same layer over
K times the fields, member after member along the channels, and each
convolution is block diagonal (a grouped convolution of the K members' own
filters, each expanded from its own basis coefficients). Every parameter and
statistic of the stack, reshaped to ``(K, *shape)``, is the K members' own
(:func:`equilib.training.stacked.stack_layout`), so the stack computes exactly what its members
compute alone; it takes ``(K, batch, 1, 29, 29)`` and gives ``(K, batch, 10)``.
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
from torch.nn import functional as F

from ..base.cache import atomic_write
from ..base.paths import cache_dir
from ..tasks.mnist import IMAGE_SIZE
from .catalogue import count_parameters
from .escnn_layers import FourierELU, GroupPooling
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


class StackedLinear(nn.Module):
    """K linear maps, each on its own member's features: ``(batch, K * in) -> (batch, K * out)``.

    ``weight`` is ``(K, out, in)`` and ``bias`` ``(K, out)``: the members' ``nn.Linear``
    tensors stacked. A stack's tensors are always loaded from its members, so they start at zero.
    """

    def __init__(self, stack: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.stack, self.in_features, self.out_features = stack, in_features, out_features
        self.weight = nn.Parameter(torch.zeros(stack, out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(stack, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        per_member = x.reshape(b, self.stack, self.in_features).transpose(0, 1)  # (K, batch, in)
        out = torch.baddbmm(self.bias.unsqueeze(1), per_member, self.weight.transpose(1, 2))
        return out.transpose(0, 1).reshape(b, self.stack * self.out_features)


def _grouped_conv(x: torch.Tensor, filters: torch.Tensor, stack: int, padding: int) -> torch.Tensor:
    """K members' convolutions on their own channels: one grouped convolution on a GPU, K calls on a CPU.

    oneDNN's grouped kernels are up to 1.7x slower on a CPU than the same
    convolutions one at a time (``benchmarks/train_mnist_stacked.py``); cuDNN's are
    the point of stacking on a GPU.
    """
    if stack == 1:
        return F.conv2d(x, filters, padding=padding)
    if x.is_cuda:
        return F.conv2d(x, filters, padding=padding, groups=stack)
    return torch.cat([F.conv2d(xk, fk, padding=padding)
                      for xk, fk in zip(x.chunk(stack, 1), filters.chunk(stack, 0))], 1)


class StackedConv2d(nn.Conv2d):
    """K members' bias-free ``nn.Conv2d``; ``weight`` is theirs concatenated, ``(K * out, in, k, k)``."""

    def __init__(self, stack: int, in_channels: int, out_channels: int, kernel: int) -> None:
        super().__init__(stack * in_channels, stack * out_channels, kernel, padding=kernel // 2, bias=False,
                         groups=stack)
        nn.init.zeros_(self.weight)
        self.stack = stack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _grouped_conv(x, self.weight, self.stack, self.padding[0])


class StackedR2Conv(enn.EquivariantModule):
    """K members' bias-free ``R2Conv`` between the same field types, each filter expanded from its own coefficients.

    ``weights`` is ``(K, basis dimension)``. The expansion is escnn's, with the K
    members' coefficients in one product with the shared sampled basis.
    """

    def __init__(self, stack: int, member: enn.R2Conv, in_type: enn.FieldType, out_type: enn.FieldType) -> None:
        super().__init__()
        expansion = member.basisexpansion
        if expansion._n_pairs != 1 or member.bias is not None:
            raise ValueError("a stacked R2Conv needs one input and one output field type and no bias")
        self.stack, self.in_type, self.out_type = stack, in_type, out_type
        self.member_in, self.member_out = member.in_type.size, member.out_type.size
        self.kernel_size, self.padding = member.kernel_size, member.padding
        self.io_pair = expansion._representations_pairs[0]
        self._basisexpansion = expansion
        self.weights = nn.Parameter(torch.zeros(stack, expansion.dimension()))

    def filters(self) -> torch.Tensor:
        """The K expanded filters, concatenated along the output channels: ``(K * out, in, k, k)``."""
        expansion = self._basisexpansion
        block = getattr(expansion, f"block_expansion_{expansion._escape_pair(self.io_pair)}")
        n_out, n_in = expansion._out_count[self.io_pair[1]], expansion._in_count[self.io_pair[0]]
        basis = block(self.weights.reshape(-1, block.dimension()))  # (K * n_out * n_in, o, i, S)
        basis = basis.reshape(self.stack, n_out, n_in, *basis.shape[1:]).transpose(2, 3)
        return basis.reshape(self.stack * self.member_out, self.member_in, self.kernel_size, self.kernel_size)

    def forward(self, input: enn.GeometricTensor) -> enn.GeometricTensor:
        assert input.type == self.in_type
        out = _grouped_conv(input.tensor, self.filters(), self.stack, self.padding)
        return enn.GeometricTensor(out, self.out_type, input.coords)

    def evaluate_output_shape(self, input_shape: tuple) -> tuple:
        return (input_shape[0], self.out_type.size, *input_shape[2:])


def _head(width: int, stack: int) -> nn.Sequential:
    if stack == 1:
        return nn.Sequential(nn.Linear(width, HEAD), nn.BatchNorm1d(HEAD), nn.ELU(), nn.Linear(HEAD, 10))
    return nn.Sequential(StackedLinear(stack, width, HEAD), nn.BatchNorm1d(stack * HEAD), nn.ELU(),
                         StackedLinear(stack, HEAD, 10))


def _stacked_images(images: torch.Tensor, stack: int) -> torch.Tensor:
    """``(K, batch, 1, H, W)`` as ``(batch, K, H, W)``: member k's images on channel k."""
    if images.ndim != 5 or images.shape[0] != stack or images.shape[2] != 1:
        raise ValueError(f"a stack of {stack} CNNs takes images (K={stack}, batch, 1, H, W), "
                         f"got {tuple(images.shape)}")
    return images.squeeze(2).transpose(0, 1).contiguous()


class PlainCNN(nn.Module):
    """The conventional CNN: the same blocks with ordinary convolutions."""

    def __init__(self, channels: tuple[int, ...], stack: int = 1) -> None:
        super().__init__()
        self.stack = stack
        layers: list[nn.Module] = []
        c_in = 1
        for k, (c, kernel) in enumerate(zip(channels, KERNELS)):
            conv = (nn.Conv2d(c_in, c, kernel, padding=kernel // 2, bias=False) if stack == 1
                    else StackedConv2d(stack, c_in, c, kernel))
            layers += [conv, nn.BatchNorm2d(stack * c), nn.ELU()]
            if k in (1, 3):
                layers.append(nn.AvgPool2d(3, stride=2, padding=1))
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = _head(c_in, stack)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.stack == 1:
            return self.head(self.features(images).mean((-2, -1)))
        out = self.head(self.features(_stacked_images(images, self.stack)).mean((-2, -1)))
        return out.reshape(out.shape[0], self.stack, 10).transpose(0, 1)


class SteerableCNN(nn.Module):
    """An escnn network equivariant to ``group`` up to the invariant pooling; its logits are invariant."""

    def __init__(self, group: str, fields: tuple[int, ...], stack: int = 1) -> None:
        super().__init__()
        gs = _gspace(group)
        self.group, self.stack = group, stack
        self.input_type = enn.FieldType(gs, stack * [gs.trivial_repr])
        continuous = group in ("SO2", "O2")

        def conv(in_type: enn.FieldType, out_type: enn.FieldType, kernel: int) -> nn.Module:
            # recompute=True: the sampled basis is this network's own. escnn otherwise hands every R2Conv of the
            # same basis, in every network of the process, one shared module, so ``.double()`` or ``.to(device)``
            # on one network would convert the filters of all the others.
            if stack == 1:
                return enn.R2Conv(in_type, out_type, kernel_size=kernel, padding=kernel // 2, bias=False,
                                  recompute=True)
            member = enn.R2Conv(*(enn.FieldType(gs, t.representations[: len(t) // stack]) for t in (in_type, out_type)),
                                kernel_size=kernel, padding=kernel // 2, bias=False, recompute=True)
            return StackedR2Conv(stack, member, in_type, out_type)

        blocks: list[nn.Module] = [enn.MaskModule(self.input_type, IMAGE_SIZE, margin=1)]
        in_type = self.input_type
        for k, (n, kernel) in enumerate(zip(fields, KERNELS)):
            if continuous:
                act = FourierELU(gs, stack * n, irreps=gs.fibergroup.bl_irreps(FOURIER_BAND), N=FOURIER_SAMPLES,
                                 inplace=True)
                out_type, norm = act.in_type, enn.IIDBatchNorm2d(act.in_type)
            else:
                out_type = enn.FieldType(gs, stack * n * [gs.regular_repr])
                act, norm = enn.ELU(out_type, inplace=True), enn.InnerBatchNorm(out_type)
            blocks += [conv(in_type, out_type, kernel), norm, act]
            if k in (1, 3):
                blocks.append(enn.PointwiseAvgPoolAntialiased2D(out_type, sigma=0.66, stride=2))
            in_type = out_type
        if continuous:
            blocks.append(conv(in_type, enn.FieldType(gs, stack * fields[-1] * [gs.trivial_repr]), 1))
        else:
            blocks.append(GroupPooling(in_type))
        self.features = enn.SequentialModule(*blocks)
        self.head = _head(self.features.out_type.size // stack, stack)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.stack == 1:
            x = self.features(enn.GeometricTensor(images, self.input_type)).tensor
            return self.head(x.mean((-2, -1)))
        x = self.features(enn.GeometricTensor(_stacked_images(images, self.stack), self.input_type)).tensor
        out = self.head(x.mean((-2, -1)))
        return out.reshape(out.shape[0], self.stack, 10).transpose(0, 1)


def _widths(group: str, scale: float) -> tuple[int, ...]:
    """Channels (plain CNN) or fields per block for a width scale; regular fields carry |G| channels each."""
    order = GROUP_ORDER[group] if math.isfinite(GROUP_ORDER[group]) else 16
    per_field = 1.0 if group == "trivial" else math.sqrt(order)
    return tuple(max(1, round(scale * r / per_field)) for r in RELATIVE_WIDTHS)


def _construct(group: str, widths: tuple[int, ...], stack: int = 1) -> nn.Module:
    if group == "trivial":
        return PlainCNN(widths, stack)
    with contextlib.redirect_stdout(io.StringIO()):  # a cold O(2) build prints debug lines
        return SteerableCNN(group, widths, stack)


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


def build_cnn(group: str, *, target_params: int = DEFAULT_TARGET, verbose: bool = True, stack: int = 1) -> nn.Module:
    """The rotated-MNIST classifier for ``group`` with ``target_params`` parameters (within 5%).

    Takes images ``(batch, 1, 29, 29)``, returns logits ``(batch, 10)``. The first
    escnn build of a group computes its steerable bases (seconds to half a minute;
    escnn caches them on disk for later builds). ``stack=K`` builds K of them as
    one module (the module docstring), to be loaded with its members' tensors.
    """
    _check_group(group)
    if not isinstance(stack, int) or isinstance(stack, bool) or stack < 1:
        raise ValueError(f"stack must be an integer >= 1 (models per stack), got {stack!r}")
    if verbose and group != "trivial":
        print(f"building the {group} steerable CNN (escnn; the first build of a group can take ~30 s)",
              file=sys.stderr, flush=True)
    widths, _ = solve_widths(group, target_params)
    model = _construct(group, widths, stack)
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
