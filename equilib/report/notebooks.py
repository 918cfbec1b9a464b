"""Run a book page as a papermill notebook.

The pages are MyST-markdown notebooks (jupytext), which Jupyter Book executes
directly; papermill reads only .ipynb, so :func:`run_notebook` converts the page
first (the .ipynb is generated, never committed) and then executes it with the
given parameters.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import jupytext
import papermill as pm


def to_ipynb(page: str | Path, output: str | Path) -> Path:
    """Convert a jupytext page to an .ipynb (the ``parameters`` tag survives)."""
    page, output = Path(page), Path(output)
    if not page.exists():
        raise ValueError(f"no notebook page at {page}")
    jupytext.write(jupytext.read(page), output)
    return output


def run_notebook(page: str | Path, output: str | Path | None = None, parameters: dict[str, Any] | None = None,
                 *, cwd: str | Path | None = None, progress: bool = True) -> Path:
    """Execute ``page`` with papermill and ``parameters``; returns the executed notebook's path."""
    page = Path(page)
    output = Path(output) if output else page.with_suffix(".executed.ipynb")
    with tempfile.TemporaryDirectory() as tmp:
        source = to_ipynb(page, Path(tmp) / f"{page.stem}.ipynb")
        pm.execute_notebook(str(source), str(output), parameters=parameters or {}, cwd=str(cwd or page.parent),
                            progress_bar=progress, kernel_name="python3")
    return output
