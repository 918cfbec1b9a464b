"""How charts reach a reader: Vega-Lite specs the static book renders with its own vendored JavaScript,
and ipywidgets controls that redraw a chart in a live kernel."""
from __future__ import annotations

import json
import os
from typing import Any, Callable

import altair as alt
import ipywidgets as widgets
from IPython.display import display


BOOK_RENDERER = "equilib"
CDN = "https://cdn.jsdelivr.net/npm"
_EMBED_HTML = """<div class="equilib-chart"></div>
<script type="text/javascript">
(function (spec, options) {
  const target = document.currentScript.previousElementSibling;
  const fail = (error) => {
    target.innerHTML = '<div class="error" style="color:red;">' + error.message + '</div>';
    throw error;
  };
  const draw = () => vegaEmbed(target, spec, options).catch(fail);
  if (typeof vegaEmbed === "function") { draw(); return; }
  // Not in the built book (which serves these itself): load them, in order, from the public CDN.
  const urls = %(urls)s;
  const load = (url) => new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = url;
    script.onload = resolve;
    script.onerror = () => reject(new Error("could not load " + url));
    document.head.appendChild(script);
  });
  urls.reduce((chain, url) => chain.then(() => load(url)), Promise.resolve()).then(draw, fail);
})(%(spec)s, %(options)s);
</script>"""


def _book_renderer(spec: dict, **metadata: Any) -> dict:
    """Vega-Lite JSON for Jupyter frontends, and HTML that draws with the page's own vega-embed.

    The built book serves vega, vega-lite and vega-embed from its ``_static``
    folder (``make book`` copies them from the pinned npm packages) and loads
    them on every page, so a chart needs no network when viewed. Elsewhere (a
    notebook viewer showing the HTML) the script loads the same versions from
    the CDN, as Altair's own renderer does.
    """
    urls = [f"{CDN}/vega@{alt.VEGA_VERSION}", f"{CDN}/vega-lite@{alt.VEGALITE_VERSION}",
            f"{CDN}/vega-embed@{alt.VEGAEMBED_VERSION}"]
    options = {"mode": "vega-lite", "actions": {"export": True, "source": False, "compiled": False, "editor": False}}
    html = _EMBED_HTML % {"urls": json.dumps(urls), "spec": json.dumps(spec).replace("</", "<\\/"),
                          "options": json.dumps(options)}
    return {f"application/vnd.vegalite.v{alt.SCHEMA_VERSION.split('.')[0].lstrip('v')}+json": spec,
            "text/html": html}


alt.renderers.register(BOOK_RENDERER, _book_renderer)


def use_book_renderer() -> None:
    """Draw charts with :func:`_book_renderer` (the book's pages call this first)."""
    alt.renderers.enable(BOOK_RENDERER)


LIVE_FRONTEND_ENV = ("JPY_SESSION_NAME", "VSCODE_PID")  # set for kernels that a Jupyter server or VS Code starts


def explore(chart: Callable[..., alt.TopLevelMixin], **controls: Any):
    """ipywidgets controls (one per keyword: a list gives a dropdown, a (lo, hi, step) tuple a slider)
    that redraw ``chart(**values)`` live.

    Only under a live frontend: executed headless (papermill, the book build), an
    ``interactive`` widget's output capture can deadlock ipykernel 7 (seen twice
    here), and there is nobody to move the controls anyway; the static book uses
    the Altair controls. ``EQUILIB_WIDGETS=1`` forces the widgets on.
    """
    if os.environ.get("EQUILIB_WIDGETS") != "1" and not any(os.environ.get(k) for k in LIVE_FRONTEND_ENV):
        return "(ipywidgets controls appear here when the notebook runs in Jupyter)"
    return widgets.interactive(lambda **kw: display(chart(**kw)), **controls)
