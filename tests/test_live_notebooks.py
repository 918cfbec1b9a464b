"""The live pages' pieces, without a server: glue roles filled in as MyST-NB fills them, the pages written as
notebooks that read a given store, and bad input refused before anything is written (the pages themselves
run in a browser in test_live_pages.py)."""
import nbformat
import pytest
from IPython.display import Markdown

from equilib.report import live
from equilib.report.render import VENDORED

from conftest import ROOT


def test_glue_roles_are_filled_as_myst_nb_fills_them():
    glued = {"share": 0.9512, "n": 12, "label": "C8 / SO(2)", "verdict": Markdown("*supported*")}
    text = ("{glue:text}`share:.1%` of {glue:text}`n` settings; {glue:text}`label`; "
            "{glue:md}`verdict`; {glue:text}`n:d`")
    assert live.fill_glue(text, glued) == "95.1% of 12 settings; C8 / SO(2); *supported*; 12"


def test_a_role_met_before_its_value_is_filled_in_at_the_end():
    live.capture_glue()  # a fresh page
    import myst_nb

    text = live.fill_glue("the ratio is {glue:text}`later:.2f`")
    assert "equilib-glue-0" in text and "…" in text
    myst_nb.glue("later", 1.234, display=False)
    assert live.glued_value("text", "later", ".2f") == "1.23"
    assert live.glued_value("text", "never") is None


def test_live_notebook_reads_the_given_store_and_fills_its_text(tmp_path):
    out = live.live_notebook(ROOT / "book" / "nbody.md", tmp_path / "nbody.ipynb", {"results": "/some/store"})
    nb = nbformat.read(out, as_version=4)
    sources = [c.source for c in nb.cells]
    assert sources[0].endswith(f"{live.ALIAS}.capture_glue()") and sources[-1] == f"{live.ALIAS}.finish()"
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "results = \"/some/store\"" in injected[0].source  # papermill's parameters, after the page's
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    assert markdown and not any("{glue:" in c.source for c in markdown)  # every glued text became a code cell
    assert any(s.startswith(f"{live.ALIAS}.markdown(") for s in sources)


def test_prepare_refuses_bad_input_before_writing(tmp_path):
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    with pytest.raises(ValueError, match=r"unknown page\(s\) \['appendix'\]; the book's pages are"):
        live.prepare(ROOT / "book", tmp_path / "out", ROOT / "results", vendor, pages=("nbody", "appendix"))
    with pytest.raises(ValueError, match="not in .*vendor: run 'make book-assets' first"):
        live.prepare(ROOT / "book", tmp_path / "out", ROOT / "results", vendor, pages=("nbody",))
    for name in VENDORED:
        (vendor / name).write_text("// a bundle")
    with pytest.raises(ValueError, match="no run store at"):
        live.prepare(ROOT / "book", tmp_path / "out", tmp_path / "nowhere", vendor, pages=("nbody",))
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="port must be in 1024..65535, got 80"):
        live.voila_command(tmp_path / "out", 80)


def test_voila_serves_loopback_only_with_widgets_on_and_training_off(tmp_path):
    argv, env = live.voila_command(tmp_path, 8877)
    assert "--Voila.ip=127.0.0.1" in argv and "--port=8877" in argv and f"--template={live.TEMPLATE}" in argv
    assert env["EQUILIB_WIDGETS"] == "1" and env["EQUILIB_RENDER_ONLY"] == "1"
    assert (live.TEMPLATE_ROOT / "voila" / "templates" / live.TEMPLATE / "index.html.j2").exists()
    assert str(live.TEMPLATE_ROOT) in env["JUPYTER_PATH"].split(":")
