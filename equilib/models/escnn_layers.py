"""Two escnn layers computed without their layout copies: drop-in subclasses, the same maths and state dicts.

- **Fourier ELU.** escnn samples a band-limited field at ``N`` group elements with
  ``einsum('bcf...,gf->bcg...')``, which permutes the feature map so that the
  frequency axis is last, multiplies, and permutes back, twice per call and again
  in the backward pass. With the spatial axes flattened, the same products are a
  broadcast ``matmul`` of the (group samples x frequencies) matrix on the left of
  each field, on contiguous memory. On a 2-core CPU it trains the SO(2) and O(2)
  CNNs about 1.2-1.3x faster (``benchmarks/fourier_elu.py``).
- **Group pooling.** escnn's writes each field type's maxima into a preallocated
  float32 output, whatever the input's dtype, so a network in float64 silently
  drops to float32 at its invariant pooling. Our feature maps hold one regular
  field type, so the pooling is one max over each field's channels, in the
  input's dtype, without the copy.
- **Label indexes.** escnn's ``indexes_from_labels`` (inner batch norm, group
  pooling) checks each label's channels once per field that carries it, so its
  cost grows as fields x channels: 47 of the 51 s that a stack of 32 C8 CNNs at
  400,000 parameters took to build. :func:`indexes_from_labels` checks each label
  once and returns the same dictionary; :func:`install_fast_indexes` puts it where
  escnn's modules look it up (each imported it by name).
"""
from __future__ import annotations

import sys
from collections import defaultdict

from escnn import nn as enn
from escnn.nn.modules.utils import check_consecutive_numbers

_INDEX_USERS = ("escnn.nn.modules.utils", "escnn.nn.modules.batchnormalization.inner",
                "escnn.nn.modules.invariantmaps.gpool", "escnn.nn.modules.invariantmaps.norm",
                "escnn.nn.modules.invariantmaps.induced_norm", "escnn.nn.modules.disentangle_module")


def indexes_from_labels(in_type: enn.FieldType, labels: list[str]) -> dict[str, tuple[bool, list[int], list[int]]]:
    """escnn's ``indexes_from_labels``, each label's channels checked once: {label: (contiguous, fields, channels)}."""
    if len(labels) != len(in_type):
        raise ValueError(f"{len(labels)} labels for a field type of {len(in_type)} fields")
    channels: dict[str, list[int]] = defaultdict(list)
    fields: dict[str, list[int]] = defaultdict(list)
    position = 0
    for c, (label, rep) in enumerate(zip(labels, in_type.representations)):
        channels[label].extend(range(position, position + rep.size))
        fields[label].append(c)
        position += rep.size
    return {label: (check_consecutive_numbers(channels[label]), fields[label], channels[label])
            for label in dict.fromkeys(labels)}


def install_fast_indexes() -> None:
    """Make every escnn module that builds label indexes use :func:`indexes_from_labels`."""
    for name in _INDEX_USERS:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "indexes_from_labels"):
            module.indexes_from_labels = indexes_from_labels


install_fast_indexes()


class FourierELU(enn.FourierELU):
    """:class:`escnn.nn.FourierELU` with the sampling and its inverse as contiguous batched matmuls."""

    def forward(self, input: enn.GeometricTensor) -> enn.GeometricTensor:
        assert input.type == self.in_type
        shape = input.tensor.shape
        fields = input.tensor.reshape(shape[0], len(self.in_type), self.rho.size, -1)
        samples = self._function(self.A @ fields)  # (batch, fields, group samples, pixels)
        out = (self.Ainv @ samples).reshape(shape[0], self.out_type.size, *shape[2:])
        return enn.GeometricTensor(out, self.out_type, input.coords)


class GroupPooling(enn.GroupPooling):
    """:class:`escnn.nn.GroupPooling` over fields of one size, in the input's dtype, as one ``max``."""

    def __init__(self, in_type: enn.FieldType) -> None:
        sizes = sorted({r.size for r in in_type.representations})
        if len(sizes) != 1:
            raise ValueError(f"GroupPooling here pools fields of one size; {in_type} has sizes {sizes}")
        super().__init__(in_type)
        self.field_size = sizes[0]

    def forward(self, input: enn.GeometricTensor) -> enn.GeometricTensor:
        assert input.type == self.in_type
        x = input.tensor
        out = x.reshape(x.shape[0], -1, self.field_size, *x.shape[2:]).max(2).values  # escnn's max, same ties
        return enn.GeometricTensor(out, self.out_type, input.coords)
