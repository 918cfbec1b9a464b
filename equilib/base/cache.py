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
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch


def params_key(params: dict[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable parameter dict (key order does not matter)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


TEMP_SUFFIX = ".tmp"


def _writer_tag() -> str:
    """Who writes a temporary file: host and process, so a later sweep can tell a dead writer's leftovers."""
    return f"{socket.gethostname()}~{os.getpid()}~"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``.

    A writer killed outright (SIGKILL, as Ray stops a cancelled worker) cannot
    clean up; its temporary file names its host and process, so
    :func:`remove_stale_temps` can remove it once that process is gone.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_writer_tag()}", suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs (a zombie, dead but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):  # no procfs (macOS) or gone meanwhile
        return True
    return state not in ("Z", "X")


def remove_stale_temps(folder: Path, *, wait: float = 10.0, legacy_age: float = 3600.0) -> list[Path]:
    """Remove the temporary files under ``folder`` whose writer on this host has died; return them.

    A writer still alive is given ``wait`` seconds to finish or die (a killed
    worker may take a moment to go). Files of other hosts are left alone;
    temporary files in the old format (no writer tag) count as stale once
    older than ``legacy_age`` seconds.
    """
    folder = Path(folder)
    if not folder.exists():
        return []
    host, deadline, removed = socket.gethostname(), time.monotonic() + wait, []
    for tmp in sorted(folder.rglob(f".*{TEMP_SUFFIX}")):
        parts = tmp.name.split("~")
        if len(parts) >= 3 and parts[-2].isdigit():
            if not "~".join(parts[:-2]).endswith("." + host):
                continue
            pid = int(parts[-2])
            if pid == os.getpid():
                continue
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                continue
        else:
            try:
                if time.time() - tmp.stat().st_mtime < legacy_age:
                    continue
            except FileNotFoundError:
                continue
        try:
            tmp.unlink()
            removed.append(tmp)
        except FileNotFoundError:  # its writer renamed or removed it meanwhile
            pass
    return removed


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
