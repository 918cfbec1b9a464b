"""Count the parameters of the two published rotated-MNIST models the MNIST page stands our models beside.

Neither source states its model's size, so both are built here in escnn, layer for layer as published, and
counted (the figures are kept in ``equilib.analysis.claims.PUBLISHED_ROTATED_MNIST``):

- escnn's own example (``examples/model.ipynb``): C8, six blocks of 24-96 regular fields;
- Weiler and Cesa (2019), the final MNIST-rot model ``E2SFCNN`` with ``--N 16 --flip --restrict 5 --fixparams``
  (``QUVA-Lab/e2cnn_experiments``, ``mnist_final.sh``): D16 regular fields, restricted to C16 at the fifth
  convolution, widths divided by sqrt(|D16| / 16), band-limited filters (frequency cut-off 0.8 pi, sigma 0.6).

Building the bases takes a minute or two on a CPU; nothing is trained.
"""
from __future__ import annotations

import math

import torch
from escnn import gspaces
from escnn import nn as enn


def trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def escnn_c8_example() -> int:
    space = gspaces.rot2dOnR2(N=8)
    fields = [24, 48, 48, 96, 96, 64]
    kernels, paddings = [7, 5, 5, 5, 5, 5], [1, 2, 2, 2, 2, 1]
    kind = enn.FieldType(space, [space.trivial_repr])
    total = 0
    for width, k, pad in zip(fields, kernels, paddings):
        out = enn.FieldType(space, width * [space.regular_repr])
        total += trainable(enn.R2Conv(kind, out, kernel_size=k, padding=pad, bias=False))
        total += trainable(enn.InnerBatchNorm(out))
        kind = out
    invariant = fields[-1]  # group pooling: one channel per regular field
    head = torch.nn.Sequential(torch.nn.Linear(invariant, 64), torch.nn.BatchNorm1d(64), torch.nn.ELU(),
                               torch.nn.Linear(64, 10))
    return total + trainable(head)


def weiler_cesa_d16_c16() -> int:
    space = gspaces.flipRot2dOnR2(N=16)
    fields = [24, 32, 36, 36, 64, 96]
    kernels = [9, 7, 7, 7, 7, 5]
    kind = enn.FieldType(space, [space.trivial_repr])
    total = 0
    for layer, (width, k) in enumerate(zip(fields, kernels), start=1):
        here = kind.gspace
        width = int(width / math.sqrt(here.fibergroup.order() / 16))  # --fixparams
        out = enn.FieldType(here, width * [here.regular_repr])
        conv = enn.R2Conv(kind, out, k, padding=0, frequencies_cutoff=0.8 * math.pi, sigma=0.6, maximum_offset=0)
        total += trainable(conv)
        out_type = conv.out_type
        if layer == 5:  # --restrict 5: from D16 to C16 after the fifth convolution
            restricted = enn.RestrictionModule(out_type, (None, 16))
            out_type = enn.DisentangleModule(restricted.out_type).out_type
        total += trainable(enn.InnerBatchNorm(out_type))
        kind = out_type
    c = enn.GroupPooling(kind).out_type.size
    head = torch.nn.Sequential(torch.nn.Linear(c, 96), torch.nn.BatchNorm1d(96), torch.nn.Linear(96, 96),
                               torch.nn.BatchNorm1d(96), torch.nn.Linear(96, 10))
    return total + trainable(head)


if __name__ == "__main__":
    print(f"escnn C8 example: {escnn_c8_example():,} parameters")
    print(f"Weiler and Cesa (2019) D16|5 C16: {weiler_cesa_d16_c16():,} parameters")
