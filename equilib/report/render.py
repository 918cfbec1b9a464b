"""How charts reach a reader: Vega-Lite specs the static book renders with its own vendored JavaScript,
and ipywidgets controls that redraw a chart in a live kernel."""
from __future__ import annotations

import json
import os
from typing import Any, Callable

import altair as alt
import ipywidgets as widgets


BOOK_RENDERER = "equilib"
CDN = "https://cdn.jsdelivr.net/npm"
VEGA_BASE_ENV = "EQUILIB_VEGA_BASE"  # a URL folder serving the book's vendored vega bundles (the live pages set it)
VENDORED = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")  # the files `make book-assets` copies
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
  // Not in the built book (which serves these itself): load them, in order, from the live server or the CDN.
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
    them on every page, so a chart needs no network when viewed. The live pages
    (``python -m equilib live``) serve the same files and name their folder in
    ``EQUILIB_VEGA_BASE``. Elsewhere (a notebook viewer showing the HTML) the
    script loads the same versions from the CDN, as Altair's own renderer does.
    """
    base = os.environ.get(VEGA_BASE_ENV)
    if base:
        urls = [f"{base.rstrip('/')}/{name}" for name in VENDORED]
    else:
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


EXPLORE_CLASS = "equilib-explore"  # the CSS class of a control set and its chart (the live test finds them by it)


def _control(name: str, spec: Any) -> widgets.ValueWidget:
    if isinstance(spec, list) and spec:
        return widgets.Dropdown(options=spec, value=spec[0], description=name)
    if isinstance(spec, tuple) and len(spec) == 3:
        lo, hi, step = spec
        kind = widgets.IntSlider if all(isinstance(v, int) for v in spec) else widgets.FloatSlider
        return kind(min=lo, max=hi, step=step, value=lo, description=name, continuous_update=False)
    raise ValueError(f"control {name!r}: expected a non-empty list (a dropdown) or a (lo, hi, step) tuple "
                     f"(a slider), got {spec!r}")


def explore(chart: Callable[..., alt.TopLevelMixin], **controls: Any) -> widgets.VBox | str:
    """ipywidgets controls (one per keyword: a list gives a dropdown, a (lo, hi, step) tuple a slider)
    that redraw ``chart(**values)`` live, under a live frontend (Jupyter, VS Code, ``make live``).

    The chart's display data are set on an ``Output`` widget's ``outputs`` directly:
    ``ipywidgets.interactive`` captures the display into its ``Output`` while the cell
    runs, and that capture hung Voilà's executor and a headless ipykernel 7 (papermill)
    when a cell made more than one, or made one without displaying it. Executed
    headless (papermill, the book build) there is nobody to move the controls and the
    static book uses the Altair controls, so this returns a line of text;
    ``EQUILIB_WIDGETS=1`` forces the widgets on.
    """
    inputs = {name: _control(name, spec) for name, spec in controls.items()}  # bad specs fail headless too
    if os.environ.get("EQUILIB_WIDGETS") != "1" and not any(os.environ.get(k) for k in LIVE_FRONTEND_ENV):
        return "(ipywidgets controls appear here when the notebook runs in Jupyter)"
    from IPython.core.formatters import format_display_data

    out = widgets.Output()

    def redraw(_: Any = None) -> None:
        data, metadata = format_display_data(chart(**{name: w.value for name, w in inputs.items()}))
        out.outputs = ({"output_type": "display_data", "data": data, "metadata": metadata},)

    for control in inputs.values():
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([*inputs.values(), out])
    box.add_class(EXPLORE_CLASS)
    return box
