"""Blow-ups found in stored curves: a run that diverged is told from one that merely did worse."""
import math

import pandas as pd
import pytest

from equilib.analysis.divergence import BLOWUP_FACTOR, divergence_table, divergences


def _store(losses: dict[str, list[float]], model: str = "egnn"):
    runs = pd.DataFrame([{"run_id": k, "model": model, "dim": 6, "seed": i, "lr": 3e-3, "steps_per_epoch": 79,
                          "best_val_step": 158} for i, k in enumerate(losses)])
    curves = pd.DataFrame([{"run_id": k, "epoch": 2 * (e + 1), "train_loss": v, "val": v, "test": v}
                           for k, values in losses.items() for e, v in enumerate(values)])
    return runs, curves


def test_blowups_are_found_and_told_apart_from_noise_and_recovery():
    runs, curves = _store({
        "noisy": [1.0, 0.5, 1.2, 0.3, 0.9, 0.25],          # rises 2.4x and 3x: noise
        "dead": [1.0, 0.5, 0.4, 1e20, 1e18, 1e17],          # blows up at its 4th evaluation and stays there
        "back": [1.0, 0.5, 0.4, 40.0, 2.0, 0.35],           # 100x, then back below where it was
    })
    found = divergences(runs, curves).set_index("run_id")
    assert not found.loc["noisy", "blew_up"] and found.loc["noisy", "rise"] == pytest.approx(3.0)
    assert found.loc["dead", "blew_up"] and not found.loc["dead", "recovered"]
    assert found.loc["dead", "rise_step"] == 8 * 79 and found.loc["dead", "rise"] == pytest.approx(2.5e20)
    assert found.loc["back", "blew_up"] and found.loc["back", "recovered"]
    table = divergence_table(found.reset_index()).iloc[0]
    assert (table.runs, table.blew_up, table.not_recovered, table.dims) == (3, 2, 1, [6])


def test_the_factor_decides_and_runs_without_training_are_skipped():
    runs, curves = _store({"a": [1.0, 0.5, 4.0], "b": [1.0, 2.0]})
    runs.loc[1, "steps_per_epoch"] = 0  # free flight: nothing trained
    assert divergences(runs, curves)["run_id"].tolist() == ["a"]
    assert divergences(runs, curves, factor=7.0)["blew_up"].tolist() == [True]
    assert divergences(runs, curves)["blew_up"].tolist() == [BLOWUP_FACTOR < 8.0]


@pytest.mark.parametrize("bad", [1.0, 0.5, math.nan])
def test_a_factor_that_is_not_a_rise_is_refused(bad):
    runs, curves = _store({"a": [1.0, 0.5]})
    with pytest.raises(ValueError, match=f"factor must be a number > 1.*{bad}"):
        divergences(runs, curves, factor=bad)


def test_runs_without_the_needed_columns_are_refused():
    runs, curves = _store({"a": [1.0, 0.5]})
    with pytest.raises(ValueError, match="steps_per_epoch"):
        divergences(runs.drop(columns="steps_per_epoch"), curves)
