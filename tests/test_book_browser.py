"""The built book in a real browser: headless chromium, the book served on 127.0.0.1, every other address blocked.

Run after ``make book`` (``make test-book``); screenshots land in ``_build/browser/``.
On every page: each chart renders, each bound control changes its chart, the
console stays free of errors, no maths is left as raw TeX, no output shows a
progress bar or a warning, nothing is wider than the text column, and nothing
is fetched from anywhere but the book itself.
"""
from __future__ import annotations

import functools
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import ROOT, loopback_only

pytestmark = pytest.mark.browser

BUILD = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "browser"
PAGES = ["book/intro.html", "book/answer.html", "book/theory.html", "book/nbody.html", "book/mnist.html",
         "book/beyond.html"]
NOISE = re.compile(r"\d+%\||it/s\]|s/it\]|Warning|warn\(|Traceback|Error:")
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$|\\frac|\\mathrm")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    if not (BUILD / "book" / "intro.html").exists():
        pytest.fail(f"no built book in {BUILD}: run 'make book' first")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(BUILD)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class Visit:
    """One page loaded in a fresh context, with what it logged, fetched and was refused."""

    def __init__(self, browser, url: str) -> None:
        self.errors: list[str] = []
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))
        self.page.route("**/*", loopback_only(self.blocked))
        self.page.goto(url, wait_until="load")
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('.equilib-chart')].every("
            "c => c.querySelector('svg, canvas, .error'))", timeout=20_000)
        self.page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
        self.page.wait_for_timeout(300)

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def visits(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in PAGES:
        visit = Visit(browser, f"{server}/{name}")
        visit.page.screenshot(path=str(SHOTS / f"{name.split('/')[-1].removesuffix('.html')}.png"), full_page=True)
        out[name] = visit
    yield out
    for visit in out.values():
        visit.close()


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_nothing_from_the_network_and_logs_no_error(visits, name):
    v = visits[name]
    assert not v.blocked, f"{name} asked the network for {v.blocked}"
    assert not v.failed, f"{name} failed to load {v.failed}"
    assert not v.errors, f"{name} logged {v.errors}"


@pytest.mark.parametrize("name", PAGES)
def test_every_chart_renders(visits, name):
    page = visits[name].page
    charts = page.query_selector_all(".equilib-chart")
    for k, chart in enumerate(charts):
        assert not chart.query_selector(".error"), f"chart {k} on {name}: {chart.inner_text()[:200]}"
        drawn = chart.query_selector("svg, canvas")
        box = drawn.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 100, f"chart {k} on {name} is empty: {box}"
        assert drawn.query_selector_all("path, text") or drawn.evaluate("c => c.tagName") == "CANVAS"


def _controls(chart) -> list:
    return chart.query_selector_all(".vega-bindings select, .vega-bindings input")


def _picture(chart) -> str:
    return chart.query_selector("svg, canvas").evaluate("c => c.tagName === 'CANVAS' ? c.toDataURL() : c.outerHTML")


@pytest.mark.parametrize("name", PAGES)
def test_every_bound_control_changes_its_chart(visits, name):
    page = visits[name].page
    moved = 0
    for k, chart in enumerate(page.query_selector_all(".equilib-chart")):
        radios_done: set[str] = set()
        for control in _controls(chart):
            kind = control.evaluate("e => e.tagName === 'SELECT' ? 'select' : e.type")
            if kind == "radio":
                group = control.get_attribute("name")
                if group in radios_done or control.is_checked():
                    continue
                radios_done.add(group)
            before = _picture(chart)
            if kind == "select":
                options = control.evaluate("e => [...e.options].map(o => o.value)")
                current = control.evaluate("e => e.value")
                others = [o for o in options if o != current]
                assert others, f"a select with one option on chart {k} of {name}"
                control.select_option(others[0])
            elif kind == "radio":
                control.check()
            elif kind == "range":
                control.evaluate("e => { e.value = e.min; e.dispatchEvent(new Event('input', {bubbles: true})); }")
            elif kind == "checkbox":
                control.click()
            page.wait_for_timeout(250)
            assert _picture(chart) != before, f"{kind} control {control.evaluate('e => e.name')} on chart {k} " \
                                              f"of {name} did not change its chart"
            moved += 1
    charts_with_controls = [c for c in page.query_selector_all(".equilib-chart") if _controls(c)]
    assert moved >= len(charts_with_controls)


@pytest.mark.parametrize("name", PAGES)
def test_no_raw_tex_no_progress_bars_no_warnings(visits, name):
    page = visits[name].page
    text = page.inner_text("article")
    raw = RAW_TEX.findall(text)
    assert not raw, f"raw TeX on {name}: {raw[:5]}"
    for output in page.query_selector_all(".cell_output"):
        noise = NOISE.findall(output.inner_text())
        assert not noise, f"{name} shows {noise[:3]} in an output: {output.inner_text()[:200]}"
    if page.query_selector(".math"):
        assert page.query_selector("mjx-container"), f"MathJax typeset nothing on {name}"


@pytest.mark.parametrize("name", PAGES)
def test_nothing_is_wider_than_the_text_column(visits, name):
    page = visits[name].page
    column = page.evaluate("() => document.querySelector('article').getBoundingClientRect().width")
    wide = page.evaluate("""(column) => [...document.querySelectorAll(
            '.cell_output, .cell_output table, .equilib-chart svg, .equilib-chart canvas, .equilib-chart .vega-bindings')]
        .map(e => ({tag: e.tagName + '.' + e.className, width: Math.max(e.getBoundingClientRect().width, e.scrollWidth)}))
        .filter(e => e.width > column + 1)""", column)
    assert not wide, f"wider than the {column:.0f} px column on {name}: {wide}"
    # input cells too: the parameters cell's comments wrap instead of scrolling out of sight
    hidden = page.evaluate("""() => [...document.querySelectorAll('.cell_input pre')]
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText.split('\\n')[0])""")
    assert not hidden, f"input cells that scroll sideways on {name}: {hidden}"


@pytest.mark.parametrize("name", PAGES)
def test_glued_values_read_as_the_text_around_them(visits, name):
    # MyST-NB sets glued values in bold; ours are whole sentences from the store, so equilib.css undoes that
    heavy = visits[name].page.evaluate("""() => [...document.querySelectorAll('p span.pasted-text')]
        .filter(e => getComputedStyle(e).fontWeight !== getComputedStyle(e.parentElement).fontWeight)
        .map(e => e.innerText.slice(0, 60))""")
    assert not heavy, f"glued text in another weight than its paragraph on {name}: {heavy[:3]}"


def _visible_search_controls(page) -> int:
    return page.evaluate("""() => [...document.querySelectorAll('.search-button-field, .search-button__button')]
        .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden').length""")


@pytest.mark.parametrize("name", PAGES)
def test_one_search_field_on_a_wide_screen_and_one_on_a_phone(visits, browser, server, name):
    # the theme's top bar repeats the sidebar's search on a desktop; equilib.css hides the bar there only
    assert _visible_search_controls(visits[name].page) == 1, f"{name}: search shown more or less than once"
    assert not visits[name].page.evaluate("() => document.querySelector('header.bd-header').getClientRects().length")
    phone = browser.new_context(viewport={"width": 400, "height": 800})
    try:
        page = phone.new_page()
        page.route("**/*", loopback_only([]))
        page.goto(f"{server}/{name}", wait_until="load")
        assert _visible_search_controls(page) >= 1, f"{name}: no search on a 400 px screen"
    finally:
        phone.close()


@pytest.mark.parametrize("name", PAGES)
def test_the_header_offers_the_page_source_and_its_notebook(visits, name):
    """The download menu links the page's MyST source and the page as an .ipynb; both are served, and the
    notebook is one (nbformat 4, its code cells the page's, the parameters cell tagged for papermill)."""
    page = visits[name].page
    links = page.evaluate("() => [...document.querySelectorAll('.dropdown-download-buttons a')]"
                          ".map(a => a.href).filter(h => !h.startsWith('javascript'))")
    suffixes = {link.rsplit(".", 1)[-1] for link in links}
    assert {"md", "ipynb"} <= suffixes, f"{name} offers {links}"
    for link in links:
        got = page.evaluate("async (url) => { const r = await fetch(url); return [r.status, await r.text()]; }", link)
        assert got[0] == 200, f"{link}: HTTP {got[0]}"
        if link.endswith(".ipynb"):
            import json

            notebook = json.loads(got[1])
            assert notebook["nbformat"] == 4 and any(c["cell_type"] == "code" for c in notebook["cells"])
            tags = [c.get("metadata", {}).get("tags", []) for c in notebook["cells"]]
            assert any("parameters" in t for t in tags), f"{link}: no parameters cell"


def test_make_publish_puts_the_whole_book_on_gh_pages(tmp_path, browser):
    """``make publish`` on a throwaway clone: the gh-pages branch holds the book, and served from that branch
    alone, every page loads every asset it asks for, with no error."""
    import io
    import subprocess
    import tarfile

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    for key, value in (("user.name", "equilib test"), ("user.email", "test@equilib.invalid")):
        subprocess.run(["git", "-C", str(clone), "config", key, value], check=True)
    made = subprocess.run(["make", "-C", str(clone), "publish", f"BIN={ROOT / '.venv' / 'bin'}", f"HTML={BUILD}"],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    files = subprocess.run(["git", "-C", str(clone), "ls-tree", "-r", "--name-only", "gh-pages"], check=True,
                           capture_output=True, text=True).stdout.split()
    assert {"index.html", ".nojekyll", *PAGES} <= set(files)
    assert any(f.startswith("_static/vendor/") for f in files)  # the JavaScript travels with the book
    site = tmp_path / "site"
    archive = subprocess.run(["git", "-C", str(clone), "archive", "gh-pages"], check=True, capture_output=True).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(site, filter="data")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        for name in PAGES:
            visit = Visit(browser, f"http://127.0.0.1:{httpd.server_address[1]}/{name}")
            assert not visit.failed and not visit.errors and not visit.blocked, (name, visit.failed, visit.errors)
            visit.close()
    finally:
        httpd.shutdown()
