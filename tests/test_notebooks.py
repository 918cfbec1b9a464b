"""The book's notebooks run end to end with papermill at the smoke preset."""
import json
import re

import pandas as pd
import papermill as pm
import pytest

from equilib.experiments import presets
from equilib.report.notebooks import run_notebook
from equilib.tasks import theory

from conftest import ROOT
from test_mnist import needs_mnist

pytestmark = pytest.mark.slow


def _chart_params(executed) -> set[str]:
    """Names of the Altair parameters in every chart the notebook displayed."""
    nb = json.loads(executed.read_text())
    names = set()
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            html = "".join(out.get("data", {}).get("text/html", ""))
            names |= set(re.findall(r'"name": "([A-Za-z_][A-Za-z0-9_]*)"', html))
    return names


def _glued(executed) -> dict:
    nb = json.loads(executed.read_text())
    found = {}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            key = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if key:
                found[key] = next(v for k, v in out["data"].items() if k.endswith("text/plain"))
    return found


def test_theory_notebook(tmp_path):
    out = run_notebook(ROOT / "book" / "theory.md", tmp_path / "theory.ipynb", {"preset": "smoke"}, progress=False)
    assert {"pair", "n_pick"} <= _chart_params(out)
    glued = _glued(out)
    smoke = theory.gap_study(4, [10, 40], repetitions=200, seed=0)  # the smoke preset's settings
    assert int(glued["n_settings"]) == len(smoke) == 16  # every pair of the catalogue at both sizes
    assert float(glued["share_inside"].strip("'%")) >= 75  # the formula inside the simulation's intervals


def test_nbody_notebook_trains_records_and_draws(tmp_path):
    results = tmp_path / "results"
    out = run_notebook(ROOT / "book" / "nbody.md", tmp_path / "nbody.ipynb",
                       {"preset": "smoke", "results": str(results), "train": True}, progress=False)
    runs = pd.read_parquet(results / "nbody" / "runs")
    grid, pilot, budget_check = 2 * 4 * 2, 2 * 3, 2 * 2 * 2  # dims x models x seeds; rates x models; ...
    assert len(runs) == grid + pilot + budget_check and set(runs.dim) == {2, 3}
    assert set(runs.model) == {"gnn", "egnn", "resgnn", "freeflight"}
    assert len(list((results / "nbody" / "tables").glob("physics-*.parquet"))) == 2
    assert {"protocol", "curve_dim"} <= _chart_params(out)
    glued = _glued(out)
    assert "smoke preset" in glued["nb_protocol"] and "Every run of the protocol is in the store" in glued["nb_missing"]
    # rendering only (a book build) trains nothing and says what is missing
    render = run_notebook(ROOT / "book" / "nbody.md", tmp_path / "render.ipynb",
                          {"preset": "smoke", "results": str(tmp_path / "empty"), "train": False}, progress=False)
    assert not (tmp_path / "empty" / "nbody" / "runs").exists()
    assert "0 of the 16 runs are in the store" in _glued(render)["nb_protocol"]
    # a second execution finds everything in the store and trains nothing
    before = {p.name: p.stat().st_mtime_ns for p in (results / "nbody" / "runs").iterdir()}
    run_notebook(ROOT / "book" / "nbody.md", tmp_path / "again.ipynb",
                 {"preset": "smoke", "results": str(results), "train": True}, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in (results / "nbody" / "runs").iterdir()} == before


@needs_mnist
def test_mnist_notebook_trains_records_and_draws(tmp_path):
    results = tmp_path / "results"
    out = run_notebook(ROOT / "book" / "mnist.md", tmp_path / "mnist.ipynb",
                       {"preset": "smoke", "results": str(results)}, progress=False)
    runs = pd.read_parquet(results / "mnist" / "runs")
    assert len(runs) == 2 * 2 * 2 and set(runs.group) == {"trivial", "C4"}
    assert {"variant", "protocol", "n_min", "n_max"} <= _chart_params(out)


# Each page hands its parameters to presets.resolve in its first code cell, before anything is loaded or trained.
BAD_PARAMETERS = [
    ("nbody", {"dims": [2, 0]}, "dims must be integers >= 1"),
    ("nbody", {"preset": "huge"}, "unknown preset 'huge'; choose one of"),
    ("nbody", {"models": ["egnn", "mlp"]}, r"unknown models \['mlp'\]; choose from"),
    ("nbody", {"budget_steps": 0}, r"budget_steps must be integers >= 1; bad value\(s\): \[0\]"),
    ("nbody", {"schedule": "step"}, r"unknown schedule 'step'; choose one of"),
    ("mnist", {"groups": ["C5"]}, r"unknown groups \['C5'\]; choose from"),
    ("mnist", {"n_trains": [60000]}, r"training size\(s\) \[60000\] exceed the 50000"),
    ("mnist", {"schedule": "linear"}, r"unknown schedule 'linear'; choose one of"),
    ("mnist", {"key_seeds": [-1]}, r"key_seeds must be integers >= 0"),
    ("beyond", {"breaking": [{"kind": "box", "value": -1}]}, r"a box needs a positive value, got -1"),
    ("beyond", {"breaking": [{"kind": "wind"}]}, r"unknown breaking kind in \{'kind': 'wind'\}"),
]


@pytest.mark.parametrize("experiment,params,message", BAD_PARAMETERS)
def test_the_pages_bad_parameters_are_named_by_the_presets(experiment, params, message):
    params = dict(params)
    with pytest.raises(ValueError, match=message):
        presets.resolve(experiment, params.pop("preset", "smoke"), **params)


# and a page stops there: one bad value per page through a real kernel (a kernel costs about 10 s)
@pytest.mark.parametrize("experiment,params,message", [BAD_PARAMETERS[0], BAD_PARAMETERS[6], BAD_PARAMETERS[9]])
def test_bad_parameters_stop_the_notebook_before_training(tmp_path, experiment, params, message):
    results = tmp_path / "results"
    with pytest.raises(pm.PapermillExecutionError, match=message):
        run_notebook(ROOT / "book" / f"{experiment}.md", tmp_path / "bad.ipynb",
                     {"preset": "smoke", "results": str(results), **params}, progress=False)
    assert not results.exists()


def test_beyond_notebook_trains_records_and_draws(tmp_path):
    results = tmp_path / "results"
    # 20 redraws behind each power sentence, not the book's 200: the sentences are the same functions' (tested
    # in test_beyond), and at 200 they took 29 of this page's 50 s, twice over
    out = run_notebook(ROOT / "book" / "beyond.md", tmp_path / "beyond.ipynb",
                       {"preset": "smoke", "results": str(results), "train": True, "power_repeats": 20},
                       progress=False)
    runs = pd.read_parquet(results / "nbody" / "runs")
    trained = runs[runs.model != "freeflight"]
    assert len(trained) and trained["equivariance_error"].notna().all()  # measured on every trained run
    assert {"pick_dim", "pick_model"} <= _chart_params(out)
    assert "runs of the smoke preset in the store" in _glued(out)["by_store"]
    glued = _glued(out)
    assert "not yet measured" not in glued["by_augmentation_longer"]
    assert "Still improving at their last evaluation" in glued["by_augmentation_longer_evidence"]
    # without a longer budget the page says so, and trains nothing new
    again = run_notebook(ROOT / "book" / "beyond.md", tmp_path / "again.ipynb",
                         {"preset": "smoke", "results": str(results), "train": True, "studies": ["augmentation"],
                          "augment_longer": [], "power_repeats": 20}, progress=False)
    assert "none in this protocol" in _glued(again)["by_longer"]
    assert len(pd.read_parquet(results / "nbody" / "runs")) == len(runs)
