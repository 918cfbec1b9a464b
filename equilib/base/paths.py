"""Where equilib reads inputs, caches generated data and picks its device.

Two locations, because they have different lifetimes: the *data directory*
holds inputs that come from outside (the MNIST IDX files, under ``mnist/``) and
may be read-only; the *cache directory* holds data sets that equilib generates
itself (simulated trajectories, rotated images) and must be writable.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

DATA_ENV = "EQUILIB_DATA_DIR"
CACHE_ENV = "EQUILIB_CACHE_DIR"
RENDER_ONLY_ENV = "EQUILIB_RENDER_ONLY"


def render_only() -> bool:
    """True when notebooks should draw from the run store and train nothing (``make book`` sets it).

    A book build must not start hours of training because a background sweep
    has not finished yet: the pages then show the runs that are stored and say
    which are missing.
    """
    return os.environ.get(RENDER_ONLY_ENV, "") not in ("", "0")


def _user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "equilib"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The input data directory: argument, else ``$EQUILIB_DATA_DIR``, else ``~/.cache/equilib/data``."""
    if path is not None and str(path) != "":
        return Path(path).expanduser()
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else _user_cache_root() / "data"


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The generated-data cache: argument, else ``$EQUILIB_CACHE_DIR``, else ``~/.cache/equilib/cache``."""
    if path is not None and str(path) != "":
        return Path(path).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else _user_cache_root() / "cache"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` means CUDA when present, CPU otherwise; anything else must name a usable device."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:k]'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but CUDA is not available here; use 'auto' or 'cpu'")
    return dev
