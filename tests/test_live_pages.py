"""The live pages in a real browser against a real kernel: ``python -m equilib live`` (``make live``) serves
them with Voilà on 127.0.0.1, headless chromium opens each page with ipywidgets controls, every other address
blocked.

On each page: its cells run to the end with no error in any output or in the console, no glue role is left
unfilled, every ``render.explore`` control set appears with its chart drawn, and changing one control of each
redraws that chart with different content. Screenshots (each page's top, each control set after its move) land in
``_build/live-browser/``. Run with
``make test-live`` (minutes: every page runs in a kernel).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, loopback_only
from equilib.report import live, render

pytestmark = pytest.mark.live

WIDGET_PAGES = ["theory", "nbody", "mnist", "beyond"]  # the pages that call render.explore (the intro has none)
SHOTS = ROOT / "_build" / "live-browser"
EXPLORE = f".{render.EXPLORE_CLASS}"  # one render.explore: its controls, then the Output with its chart
FAILED = "[data-mime-type='application/vnd.jupyter.stderr'], [data-mime-type='application/vnd.jupyter.error']"
EXECUTION_TIMEOUT_MS = 300_000  # one page's cells on a 2-core CPU, reading the store: about a minute


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python -m equilib live`` itself, on a free port, writing its notebooks to a temporary folder."""
    port = _free_port()
    dest = tmp_path_factory.mktemp("live")
    log = open(dest / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "equilib", "live", "--port", str(port), "--dest", str(dest),
                             "--pages", *WIDGET_PAGES], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                log.close()
                pytest.fail(f"the live server did not start: {(dest / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield port
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    log.close()


def _picture(interact) -> str | None:
    drawn = interact.query_selector(".vega-embed svg, .vega-embed canvas")
    if drawn is None:
        return None
    return drawn.evaluate("c => c.tagName === 'CANVAS' ? c.toDataURL() : c.outerHTML")


def _move(control) -> str:
    """Change one ipywidgets control to another value; returns what it was."""
    select = control.query_selector("select")
    if select:
        options = select.evaluate("e => [...e.options].map(o => o.value)")
        current = select.evaluate("e => e.value")
        others = [o for o in options if o != current]
        assert others, f"a dropdown with one option: {options}"
        select.select_option(others[0])
        return f"dropdown {current!r} -> {others[0]!r}"
    handle = control.query_selector(".noUi-handle, input[type=range]")
    if handle:
        handle.focus()
        handle.press("ArrowRight")
        return "slider one step right"
    raise AssertionError(f"a control this test cannot move: {control.inner_html()[:300]}")


@pytest.mark.parametrize("name", WIDGET_PAGES)
def test_every_widget_redraws_its_chart_live(server, browser, name):
    errors: list[str] = []
    blocked: list[str] = []
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/*", loopback_only(blocked))
    try:
        page.goto(live.page_url(server, name), wait_until="commit", timeout=EXECUTION_TIMEOUT_MS)
        # live.finish(), the last cell, marks the page once every cell has run and every glue role is filled;
        # an error stops the run before it
        page.wait_for_selector(f"body[{live.DONE_ATTRIBUTE}], {FAILED}", state="attached",
                               timeout=EXECUTION_TIMEOUT_MS)
        # the widgets are drawn once the page connects to its kernel, after the cells' outputs
        page.wait_for_selector(EXPLORE, timeout=60_000)
        interacts = page.query_selector_all(EXPLORE)
        page.wait_for_function(f"() => [...document.querySelectorAll('{EXPLORE}')].every("
                               "w => w.querySelector('.vega-embed svg, .vega-embed canvas'))", timeout=60_000)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))

        text = page.inner_text("body")
        assert "not glued" not in text and "{glue" not in text, f"{name} left a glue role unfilled"
        outputs = page.query_selector_all(FAILED)
        assert not outputs, f"{name} wrote to stderr or raised: {[o.inner_text()[:300] for o in outputs]}"

        for k, interact in enumerate(interacts):
            controls = interact.query_selector_all(":scope > .widget-dropdown, :scope > .widget-slider")
            assert controls, f"control set {k} on {name} shows no control"
            before = _picture(interact)
            moved = _move(controls[0])
            deadline = time.time() + 60
            while _picture(interact) in (before, None) and time.time() < deadline:
                page.wait_for_timeout(250)
            assert _picture(interact) != before, f"{moved} did not redraw chart {k} on {name}"
            failed = interact.query_selector_all(f"{FAILED}, .error")
            assert not failed, f"{moved} on chart {k} of {name}: {[f.inner_text()[:300] for f in failed]}"
            interact.screenshot(path=str(SHOTS / f"{name}-controls-{k}.png"))  # after the move
        assert not blocked, f"{name} asked the network for {blocked}"
        assert not errors, f"{name} logged {errors}"
    finally:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}-last.png"))
        context.close()
