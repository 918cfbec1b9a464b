"""MNIST, rotated MNIST and flip-rotated MNIST for the paper's second experiment.

Every image, train and test, gets its own fixed random angle, uniform in
[0, 2 pi), drawn from a seed; in the flip-rotated variant it is also mirrored
with probability 1/2 (a boolean mask: the known bug of drawing 0/1 integers and
using them as an index flips only images 0 and 1). Images are padded from 28 to
29 pixels so that there is a centre pixel and a rotation by 90 degrees maps the
grid onto itself, rotated about that centre with bicubic interpolation, and
masked to the inscribed disc, for every variant alike: the corners that a
rotation would cut off can never leak the orientation. Models take 29 x 29.

Splits: a fixed permutation of the 60,000 training images gives 50,000 for
training (subsets are its first ``n``, so they are nested) and 10,000 for
validation; the 10,000 test images are the test set, in a fixed random order
too, so that a subset of it (for learning curves) is a random one.
"""
from __future__ import annotations

import gzip
import hashlib
import math
import struct
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ..base.cache import atomic_write, cached_tensors
from ..base.paths import cache_dir as default_cache_dir
from ..base.paths import data_dir as default_data_dir

IMAGE_SIZE = 29
VARIANTS = ("plain", "rotated", "fliprot")
VARIANT_LABELS = {"rotated": "rotated MNIST", "fliprot": "flip-rotated MNIST", "plain": "MNIST"}
SPLITS = ("train", "val", "test")
TRAIN_MAX = 50_000
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def ensure_mnist(data_dir: str | Path | None = None, *, download: bool = True) -> Path:
    """The folder holding the four MNIST files, downloading (and md5-checking) any that are missing."""
    folder = default_data_dir(data_dir) / "mnist"
    missing = [name for name in MNIST_FILES if not (folder / name).exists()]
    errors = []
    if missing and download:
        for name in list(missing):
            for mirror in MIRRORS:
                try:
                    with urllib.request.urlopen(mirror + name, timeout=30) as response:
                        blob = response.read()
                except OSError as exc:
                    errors.append(f"{mirror}{name}: {exc}")
                    continue
                if hashlib.md5(blob).hexdigest() != MNIST_FILES[name]:
                    errors.append(f"{mirror}{name}: md5 mismatch")
                    continue
                atomic_write(folder / name, lambda tmp: tmp.write_bytes(blob))
                missing.remove(name)
                break
    if missing:
        hint = f" (download attempts: {'; '.join(errors[:2])})" if errors else ""
        raise FileNotFoundError(
            f"MNIST files missing from {folder}: {', '.join(missing)}. Put the original files there "
            f"(md5 sums in equilib.tasks.mnist.MNIST_FILES), or set EQUILIB_DATA_DIR / data_dir to the folder that "
            f"holds mnist/{hint}.")
    bad = [name for name in MNIST_FILES if _md5(folder / name) != MNIST_FILES[name]]
    if bad:
        raise ValueError(f"MNIST files in {folder} fail their md5 check: {bad}")
    return folder


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST file format: big-endian magic, sizes, then uint8 data)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic {magic:#x})")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def disc_mask(size: int = IMAGE_SIZE) -> torch.Tensor:
    """1 inside the disc inscribed in the image, 0 in the corners."""
    c = (size - 1) / 2
    yy, xx = torch.meshgrid(torch.arange(size) - c, torch.arange(size) - c, indexing="ij")
    return ((xx**2 + yy**2) <= (size / 2) ** 2).float()


def rotate(images: torch.Tensor, angles: torch.Tensor, flips: torch.Tensor | None = None) -> torch.Tensor:
    """Mirror (left-right, where ``flips``) then rotate counter-clockwise by ``angles`` about the centre pixel.

    ``images`` is ``(B, 1, S, S)`` with odd ``S``; bicubic interpolation, clamped to [0, 1].
    """
    if flips is not None:
        images = torch.where(flips.view(-1, 1, 1, 1), images.flip(-1), images)
    cos, sin = torch.cos(angles), torch.sin(angles)
    # grid_sample maps output coordinates to input ones: the inverse rotation (y axis points down)
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], -1),
                         torch.stack([sin, cos, torch.zeros_like(cos)], -1)], 1).to(images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bicubic", padding_mode="zeros", align_corners=False)
    return out.clamp(0, 1)


def _prepare(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return F.pad(x, (0, 1, 0, 1))  # 28 -> 29: a centre pixel at (14, 14)


def _variant_tensors(variant: str, seed: int, folder: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    gen = torch.Generator().manual_seed(seed)
    mask = disc_mask()
    for part, prefix in (("train", "train"), ("test", "t10k")):
        images = _prepare(read_idx(folder / f"{prefix}-images-idx3-ubyte.gz"))
        labels = torch.from_numpy(read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))
        n = images.shape[0]
        angles = torch.rand(n, generator=gen, dtype=torch.float64) * (2 * math.pi)
        flips = torch.rand(n, generator=gen) < 0.5
        if variant == "plain":
            angles, flips = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.bool)
        elif variant == "rotated":
            flips = torch.zeros(n, dtype=torch.bool)
        if variant != "plain":
            images = torch.cat([rotate(images[s : s + 4096], angles[s : s + 4096].float(), flips[s : s + 4096])
                                for s in range(0, n, 4096)])
        images = images * mask
        out[f"{part}_images"] = (images * 255).round().to(torch.uint8)
        out[f"{part}_labels"], out[f"{part}_angles"], out[f"{part}_flips"] = labels, angles, flips
    out["order"] = torch.randperm(60_000, generator=torch.Generator().manual_seed(seed + 1))
    return out


@dataclass
class MNISTSplit:
    """Images ``(n, 1, 29, 29)`` in [0, 1], labels, and each image's angle (radians) and mirror flag."""

    images: torch.Tensor
    labels: torch.Tensor
    angles: torch.Tensor
    flips: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]


def load_mnist(variant: str, split: str, size: int | None = None, *, seed: int = 0,
               data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> MNISTSplit:
    """One split of one variant (``plain``, ``rotated``, ``fliprot``); ``size`` takes its first images.

    Every split is in a fixed random order, so ``size=n`` is a random subset and
    subsets are nested: the first ``n`` of one permutation, the same for every
    ``n`` (the whole test set is the same set in any order). The transformed set
    is cached.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    limit = {"train": TRAIN_MAX, "val": 60_000 - TRAIN_MAX, "test": 10_000}[split]
    if size is not None and (not isinstance(size, (int, np.integer)) or not 0 < size <= limit):
        raise ValueError(f"size for the {split} split must be an integer in 1..{limit}, got {size!r}")
    folder = ensure_mnist(data_dir)
    params = {"variant": variant, "seed": seed, "size": IMAGE_SIZE, "interp": "bicubic", "version": 1}
    t, _ = cached_tensors("mnist", params, lambda: _variant_tensors(variant, seed, folder),
                          default_cache_dir(cache_dir))
    if split == "test":  # a fixed random order: MNIST's first test images are its cleaner half
        idx = torch.randperm(10_000, generator=torch.Generator().manual_seed(seed + 2))
        prefix = "test"
    else:
        order = t["order"]
        idx = order[:TRAIN_MAX] if split == "train" else order[TRAIN_MAX:]
        prefix = "train"
    idx = idx[: size or limit]
    return MNISTSplit(t[f"{prefix}_images"][idx].float() / 255.0, t[f"{prefix}_labels"][idx],
                      t[f"{prefix}_angles"][idx], t[f"{prefix}_flips"][idx])

