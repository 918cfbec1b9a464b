"""Shared bits of the benchmark scripts: timing, the device, and where figures are written."""
from __future__ import annotations

import json
import platform
import subprocess
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent / "results"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeat: int = 1) -> float:
    """Seconds per call of ``fn`` (after one warm-up call)."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeat


def gpu_processes() -> int | None:
    """How many processes use the GPUs now (other runs sharing the device skew a rate), or None without nvidia-smi."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return len(out.stdout.split()) if out.returncode == 0 else None


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def save(name: str, device: torch.device, payload: dict) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}-{device.type}.json"
    payload = {"device": device_label(device), "torch": torch.__version__, **payload}
    path.write_text(json.dumps(payload, indent=1))
    print(f"wrote {path}")
    return path
