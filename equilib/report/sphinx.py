"""Sphinx glue for the built book (listed in ``_config.yml`` under ``sphinx.extra_extensions``).

Jupyter Book 1.x registers some page scripts twice: sphinx-thebe's inline
``const THEBE_JS_URL = ...`` then throws "Identifier 'THEBE_JS_URL' has
already been declared" on every page, and MathJax is loaded twice. Keeping the
first of each script (same file, same inline body) fixes both.

The header's download menu offers a page's source (.md) and, for the notebook
pages, the same page as an .ipynb (written beside the sources), which runs in
Jupyter from a clone's ``book/`` folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def _script_key(script: Any) -> tuple[str, str]:
    attributes = getattr(script, "attributes", {}) or {}
    return str(getattr(script, "filename", script) or ""), str(attributes.get("body", ""))


def drop_duplicate_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Keep the first of every script a page would load or run twice."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for script in context.get("script_files", []):
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def offer_notebook(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Write a notebook page as ``_sources/<page>.ipynb`` and name it where sphinx-book-theme's download
    menu looks (``ipynb_source``); it runs before the theme builds that menu."""
    from .notebooks import to_ipynb

    if doctree is None or pagename not in app.env.all_docs:
        return
    source = Path(app.env.doc2path(pagename))
    if source.suffix != ".md" or "jupytext" not in source.read_text()[:400]:
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    to_ipynb(source, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def setup(app: Any) -> dict:
    app.connect("html-page-context", offer_notebook, priority=400)  # before the theme's header buttons (500)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
