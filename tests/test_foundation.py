"""The package, its CLI, its settings and the book's configuration."""
import re
import subprocess
import sys

import pytest
import yaml

import equilib
from equilib.base import paths
from equilib.cli import main

from conftest import ROOT


def test_the_package_reports_the_version_its_metadata_declares():
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert equilib.__version__ == declared
    out = subprocess.run([sys.executable, "-m", "equilib", "info"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith(f"equilib {declared}\n")


def test_runs_record_the_commit_they_ran_and_a_copy_without_git_is_told_it(monkeypatch):
    from equilib.base.store import CODE_VERSION_ENV, code_version

    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    monkeypatch.delenv(CODE_VERSION_ENV, raising=False)
    assert code_version().startswith(f"{equilib.__version__}+{sha.strip()}")
    monkeypatch.setenv(CODE_VERSION_ENV, "0.2.0+abc1234")  # a tree sent to a GPU machine has no .git
    assert code_version() == "0.2.0+abc1234"


BOOK_ONLY = ("altair", "vl_convert", "papermill", "jupytext", "nbformat", "nbclient", "myst_nb", "ipywidgets",
             "IPython", "voila")


def test_the_training_commands_run_without_the_books_packages(tmp_path):
    """A GPU node or a cluster needs the training stack, not the book's: with every book-only package unimportable,
    the CLI still parses, and a training command runs (an MNIST parameter count, an N-body sweep's bad value)."""
    blocker = ("import sys\n"
               f"class Block:\n    def find_spec(self, name, path=None, target=None):\n"
               f"        if name.split('.')[0] in {BOOK_ONLY!r}: raise ImportError('blocked: ' + name)\n"
               "sys.meta_path.insert(0, Block())\n"
               "import runpy; sys.argv[0] = 'equilib'; runpy.run_module('equilib', run_name='__main__')\n")
    run = lambda *argv: subprocess.run([sys.executable, "-c", blocker, *argv], capture_output=True, text=True,  # noqa
                                       cwd=ROOT)
    out = run("cnn-params", "--groups", "C4", "--target-params", "20000")
    assert out.returncode == 0 and "C4" in out.stdout, out.stderr[-2000:]
    bad = run("nbody-sweep", "--dims", "0", "--results", str(tmp_path))
    assert bad.returncode == 2 and "dims" in bad.stderr and "blocked" not in bad.stderr
    assert "ImportError: blocked" in run("figures", "--out", str(tmp_path)).stderr  # the book's commands need them


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "equilib", "--help"], capture_output=True, text=True, check=True)
    for command in ("info", "nbody-data", "nbody-sweep"):
        assert command in out.stdout


def test_cli_reports_bad_values_without_traceback(capsys, tmp_path):
    code = main(["nbody-sweep", "--dims", "0", "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "dims" in err and "[0]" in err and "Traceback" not in err


def test_data_and_cache_directories_follow_argument_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "d"))
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "c"))
    assert paths.data_dir() == tmp_path / "d"
    assert paths.cache_dir() == tmp_path / "c"
    assert paths.data_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv(paths.DATA_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.data_dir() == tmp_path / "xdg" / "equilib" / "data"


def test_device_resolution_rejects_unknown_devices():
    assert paths.resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="'tpu7'"):
        paths.resolve_device("tpu7")


def test_book_configuration_is_valid():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert config["execute"]["execute_notebooks"] in {"force", "cache", "auto"}
    assert toc["format"] == "jb-book"
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}])
                             for c in part["chapters"]]
    for f in files:
        assert any((ROOT / f"{f}{ext}").exists() for ext in (".md", ".ipynb", ".py")), f"{f} in _toc.yml is missing"
    from sphinx_external_toc.parsing import parse_toc_yaml

    parse_toc_yaml(ROOT / "_toc.yml")  # raises on a malformed table of contents


def test_nothing_generated_is_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    bad = [f for f in tracked if f.startswith(("_build/", ".venv/")) or "__pycache__" in f or f.endswith(".ipynb")]
    assert not bad


def test_no_module_defines_a_name_twice():
    """A second ``def`` of a name silently replaces the first for every caller (a helper once shadowed
    ``nbody_physics``, and only a page build found it)."""
    import ast
    from collections import Counter

    twice = {}
    for path in sorted((ROOT / "equilib").rglob("*.py")):
        tree = ast.parse(path.read_text())
        names = Counter(node.name for node in tree.body
                        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
        dup = sorted(name for name, count in names.items() if count > 1)
        if dup:
            twice[str(path.relative_to(ROOT))] = dup
    assert not twice, f"defined twice: {twice}"
