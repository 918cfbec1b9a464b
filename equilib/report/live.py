"""The book's pages live: Voilà runs each page in a kernel of its own, so its ipywidgets controls redraw charts.

The static book has Altair's own controls; ipywidgets need a kernel. :func:`prepare`
turns each page into an .ipynb that reads the committed run store (papermill's
parameters, as in any run of a page) and :func:`voila_command` serves them on
127.0.0.1 with Voilà, offline: the charts load the book's vendored vega bundles
from the same server, and the Font Awesome links of Voilà's template, which its own
bundle already contains, are dropped (``voila/templates/equilib``).

Two things a Jupyter Book build does that a kernel does not are done here:
MyST-NB's ``{glue:text}`` and ``{glue:md}`` roles in markdown cells are filled in
(:func:`capture_glue`, :func:`markdown`), and the widgets are switched on
(``EQUILIB_WIDGETS=1``) with training off (``EQUILIB_RENDER_ONLY=1``).
"""
from __future__ import annotations

import html
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
from IPython.display import HTML, Markdown, display

from . import PAGES
from .notebooks import to_ipynb
from .render import VEGA_BASE_ENV, VENDORED

TEMPLATE = "equilib"
TEMPLATE_ROOT = Path(__file__).parent / "live_template"  # a Jupyter data dir holding voila/templates/equilib
VENDOR_URL = "/voila/files/_static/vendor"  # where Voilà's file handler serves the copied bundles
NOT_FOR_VOILA = ("jupyterlab-jupytext",)  # JupyterLab extensions that fail to load in Voilà (built for JupyterLab 4.6)
GLUE_ROLE = re.compile(r"\{glue:(text|md)\}`([^`]+)`")
DONE_ATTRIBUTE = "data-equilib-live"  # set on <body> by the last cell: every cell ran (the live test waits for it)
MISSING = "(not glued: {key})"  # what a role shows when its value was never glued; the live test looks for it

ALIAS = "_equilib_live"  # this module's name in a live page's kernel (the pages' own names, e.g. `live`, stay theirs)

_glued: dict[str, Any] = {}
_pending: dict[str, tuple[str, str, str]] = {}  # placeholder id -> (role, key, spec), for roles met before their value


def capture_glue() -> None:
    """Keep every value a page glues, so that :func:`markdown` can fill in the roles that name it.

    The pages call ``myst_nb.glue``; this wraps it (before the page imports it) and
    leaves what it displays unchanged.
    """
    import myst_nb

    original = getattr(myst_nb.glue, "__wrapped__", myst_nb.glue)

    def glue(name: str, variable: Any, display: bool = True) -> None:
        _glued[name] = variable
        return original(name, variable, display)

    glue.__wrapped__ = original  # type: ignore[attr-defined]
    myst_nb.glue = glue
    _glued.clear()
    _pending.clear()


def glued_value(role: str, key: str, spec: str = "", glued: dict[str, Any] | None = None) -> str | None:
    """A glued value as MyST-NB pastes it: ``{glue:text}`` formats its text/plain with ``spec``,
    ``{glue:md}`` takes its text/markdown; None if ``key`` was never glued."""
    from IPython.core.formatters import format_display_data
    from myst_nb.core.variables import format_plain_text

    glued = _glued if glued is None else glued
    if key not in glued:
        return None
    data, _ = format_display_data(glued[key])
    if role == "md":
        return data.get("text/markdown", data["text/plain"])
    return format_plain_text(data["text/plain"], spec or "s")


def _split(role: str, content: str) -> tuple[str, str]:
    key, _, spec = content.rpartition(":") if ":" in content else (content, "", "")  # as MyST-NB splits it
    return key, (spec if role == "text" else "")


def fill_glue(text: str, glued: dict[str, Any] | None = None) -> str:
    """``text`` with each ``{glue:text}`key[:spec]``` and ``{glue:md}`key``` replaced as MyST-NB would,
    and a named placeholder for each value not glued yet (:func:`finish` fills those in)."""
    def replace(match: re.Match) -> str:
        role, content = match.groups()
        key, spec = _split(role, content)
        value = glued_value(role, key, spec, glued)
        if value is not None:
            return value
        ident = f"equilib-glue-{len(_pending)}"
        _pending[ident] = (role, key, spec)
        return f'<span id="{ident}">…</span>'

    return GLUE_ROLE.sub(replace, text)


def markdown(text: str) -> None:
    """Display a page's markdown cell with its glue roles filled in (the live pages' markdown cells)."""
    display(Markdown(fill_glue(text)))


def finish() -> None:
    """Fill in the placeholders of values glued after the text that names them (a page often says what a
    chart shows before the cell that draws it; Jupyter Book resolves its roles after the whole run)."""
    from markdown_it import MarkdownIt

    render = MarkdownIt("commonmark")
    filled = {}
    for ident, (role, key, spec) in _pending.items():
        value = glued_value(role, key, spec)
        if value is None:
            filled[ident] = html.escape(MISSING.format(key=key))
        elif role == "md":
            filled[ident] = render.renderInline(value)
        else:
            filled[ident] = html.escape(value)
    display(HTML("<script>(function (filled) { for (const [id, value] of Object.entries(filled)) {"
                 " const el = document.getElementById(id); if (el) { el.innerHTML = value; } }"
                 f" document.body.setAttribute('{DONE_ATTRIBUTE}', 'done'); }})("
                 + json.dumps(filled).replace("</", "<\\/") + ");</script>"))


def live_notebook(page: str | Path, output: str | Path, parameters: dict[str, Any] | None = None) -> Path:
    """``page`` as an .ipynb for Voilà: parameters injected, and every markdown cell with a glue role
    turned into a code cell that displays it filled in (Voilà shows outputs only)."""
    output = Path(output)
    with tempfile.TemporaryDirectory() as tmp:
        source = to_ipynb(page, Path(tmp) / Path(page).with_suffix(".ipynb").name)
        notebook = nbformat.read(source, as_version=4)
    cells = [nbformat.v4.new_code_cell(f"import equilib.report.live as {ALIAS}\n{ALIAS}.capture_glue()")]
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and GLUE_ROLE.search(cell.source):
            cell = nbformat.v4.new_code_cell(f"{ALIAS}.markdown({cell.source!r})")
        cells.append(cell)
    cells.append(nbformat.v4.new_code_cell(f"{ALIAS}.finish()"))
    notebook.cells = cells
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / output.name
        nbformat.write(notebook, staged)
        logging.getLogger("papermill").setLevel(logging.ERROR)  # it warns on every parameter line with a comment
        pm.execute_notebook(str(staged), str(output), parameters=parameters or {}, prepare_only=True,
                            kernel_name="python3", log_output=False, progress_bar=False)
    return output


def prepare(book: str | Path, dest: str | Path, results: str | Path, vendor: str | Path,
            pages: tuple[str, ...] = PAGES) -> list[Path]:
    """Write the live pages into ``dest/book`` (reading the run store at ``results``) and copy the
    vendored vega bundles into ``dest/_static/vendor``; returns the notebooks written."""
    book, dest, results, vendor = Path(book), Path(dest), Path(results).resolve(), Path(vendor)
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        raise ValueError(f"unknown page(s) {unknown}; the book's pages are {list(PAGES)}")
    missing = [name for name in VENDORED if not (vendor / name).exists()]
    if missing:
        raise ValueError(f"{missing} not in {vendor}: run 'make book-assets' first")
    if not results.is_dir():
        raise ValueError(f"no run store at {results}")
    (dest / "book").mkdir(parents=True, exist_ok=True)
    (dest / "_static" / "vendor").mkdir(parents=True, exist_ok=True)
    for name in VENDORED:
        shutil.copy2(vendor / name, dest / "_static" / "vendor" / name)
    written = []
    for name in pages:
        parameters = {"results": str(results)} if name != "theory" else {}  # the theory page has no store
        written.append(live_notebook(book / f"{name}.md", dest / "book" / f"{name}.ipynb", parameters))
    return written


def voila_command(dest: str | Path, port: int = 8866) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that serve ``dest`` (from :func:`prepare`) on 127.0.0.1:``port``,
    with tracebacks shown (a reader who changes a page wants to see what broke)."""
    if not 1024 <= port <= 65535:
        raise ValueError(f"port must be in 1024..65535, got {port}")
    argv = [sys.executable, "-m", "voila", str(dest), "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}", f"--template={TEMPLATE}",
            "--VoilaConfiguration.file_allowlist=_static/vendor/.*[.]js",
            *(f"--VoilaConfiguration.extension_denylist={name}" for name in NOT_FOR_VOILA),
            "--VoilaConfiguration.show_tracebacks=True"]
    env = dict(os.environ)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(TEMPLATE_ROOT), env.get("JUPYTER_PATH", "")) if p)
    env.update({"EQUILIB_RENDER_ONLY": "1", "EQUILIB_WIDGETS": "1", VEGA_BASE_ENV: VENDOR_URL})
    return argv, env


def page_url(port: int, page: str) -> str:
    """Where Voilà renders one live page."""
    return f"http://127.0.0.1:{port}/voila/render/book/{page}.ipynb"
