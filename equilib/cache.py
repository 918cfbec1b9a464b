"""Content-addressed, atomic on-disk cache for generated tensors.

A data set is stored under a name made from a hash of every parameter that
changes its content, so a changed parameter can never load stale data. Files
are written to a temporary name and renamed into place: a generation that is
killed half-way leaves nothing that a later run would mistake for a result.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch


def params_key(params: dict[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable parameter dict (key order does not matter)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def cached_tensors(
    kind: str,
    params: dict[str, Any],
    build: Callable[[], dict[str, torch.Tensor]],
    directory: Path,
) -> tuple[dict[str, torch.Tensor], Path]:
    """Load the tensors for ``params`` from ``directory``, building and saving them on a miss."""
    path = Path(directory) / kind / f"{kind}-{params_key(params)}.pt"
    if path.exists():
        blob = torch.load(path, map_location="cpu", weights_only=True)
        return blob["tensors"], path
    tensors = build()
    blob = {"params": json.dumps(params, sort_keys=True, default=str), "tensors": tensors}
    atomic_write(path, lambda tmp: torch.save(blob, tmp))
    return tensors, path
