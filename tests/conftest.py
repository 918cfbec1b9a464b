import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's (make system-deps); playwright downloads none


@pytest.fixture(scope="module")
def browser():
    """Headless chromium for the browser tests (the built book, the live pages)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # the resolver rule is a second wall behind each page's route filter: no name resolves but loopback
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        yield b
        b.close()


def loopback_only(blocked: list[str]):
    """A playwright route handler that lets 127.0.0.1 through and aborts (and records in ``blocked``) the rest."""
    def route(r) -> None:
        url = urlparse(r.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname != "127.0.0.1":
            blocked.append(r.request.url)
            r.abort()
        else:
            r.continue_()
    return route


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Generated data goes to a per-session temporary cache, never the user's."""
    monkeypatch.setenv("EQUILIB_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("EQUILIB_RENDER_ONLY", raising=False)  # a book build's setting must not leak into tests
    torch.set_num_threads(_THREADS)


# Under pytest-xdist (make test: one worker per core) each worker, and every kernel or driver it starts, gets a
# core of its own: two torch processes that each spin two threads on two cores slow each other many times over.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_THREADS = max(1, min(2, os.cpu_count() or 1) // _WORKERS)
if _WORKERS > 1:
    os.environ["OMP_NUM_THREADS"] = str(_THREADS)


def random_orthogonal(n: int, *, reflect: bool, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r))
    if (torch.det(q) > 0) == reflect:
        q[:, 0] = -q[:, 0]
    return q
