"""Sphinx glue for the built book (listed in ``_config.yml`` under ``sphinx.extra_extensions``).

Jupyter Book 1.x registers some page scripts twice: sphinx-thebe's inline
``const THEBE_JS_URL = ...`` then throws "Identifier 'THEBE_JS_URL' has
already been declared" on every page, and MathJax is loaded twice. Keeping the
first of each script (same file, same inline body) fixes both.
"""
from __future__ import annotations

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


def setup(app: Any) -> dict:
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
