"""Blow-ups found in stored curves: a run that diverged is told from one that merely did worse."""
import math

import pandas as pd
import pytest

from equilib.analysis.divergence import BLOWUP_FACTOR, divergences


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


def test_the_onset_is_the_first_step_far_above_the_median_before_it():
    from equilib.analysis.divergence import onset

    norms = [1.0, 2.0, 0.5, 1.5, 30.0, 1.0, 500.0, 1e6]
    trace = pd.DataFrame({"step": range(len(norms)), "lr": 1e-3, "loss": [0.1] * 6 + [50.0, 1e9],
                          "grad_norm": norms, "shift": [4.0] * 6 + [800.0, 1e12]})
    found = onset(trace)
    assert found["step"] == 6 and found["shift"] == 800.0 and found["typical_shift"] == 4.0
    assert found["typical_grad_norm"] == pytest.approx(1.25)  # the median of the six steps before it
    assert onset(trace, factor=20.0)["step"] == 4
    assert onset(trace.iloc[:6], factor=100.0) is None


def test_the_page_says_which_models_blew_up_and_which_did_not():
    from equilib.report.pages import divergence_text

    runs, curves = _store({"dead": [1.0, 0.5, 1e20], "back": [1.0, 40.0, 0.4, 0.3]})
    plain_runs, plain_curves = _store({"p": [1.0, 0.5, 0.6]}, model="gnn")
    found = divergences(pd.concat([runs, plain_runs]), pd.concat([curves, plain_curves]))
    text = divergence_text(found)
    assert text.startswith("Blew up: 2 of the 2 EGNN runs (at n = 6, between steps 316 and 474; 1 of them never")
    assert text.endswith("against none of the 1 GNN runs.")
    assert divergence_text(found[found.model == "gnn"]) == "Blew up: no run; against none of the 1 GNN runs."


def test_clipping_is_compared_on_the_pilots_own_seeds_and_paired():
    from equilib.analysis.claims import clip_comparison

    def runs(mses, clip, prefix):
        return pd.DataFrame([{"run_id": f"{prefix}{dim}-{seed}", "model": "egnn", "dim": dim, "seed": seed,
                              "status": "finished", "test_at_best_val": mse, "clip_norm": clip}
                             for (dim, seed), mse in mses.items()])

    grid = runs({(6, 0): 0.03, (6, 1): 0.09, (6, 2): 0.03, (6, 9): 5.0, (8, 0): 0.002}, float("nan"), "g")
    pilot = runs({(6, 0): 0.015, (6, 1): 0.03, (6, 2): 0.03}, 5.0, "p")
    found = pd.DataFrame({"run_id": ["g6-1", "p6-0"], "blew_up": [True, False]})
    table = clip_comparison(grid, pilot, found).set_index("dim")
    assert list(table.index) == [6]  # n = 8 was not piloted
    row = table.loc[6]
    assert (row.before_seeds, row.after_seeds, row.before_blew_up, row.after_blew_up) == (3, 3, 1, 0)
    assert row.before_spread == pytest.approx(3.0) and row.after_spread == pytest.approx(2.0)  # seed 9 is not paired
    assert row.ratio == pytest.approx((0.5 * (1 / 3) * 1.0) ** (1 / 3))
    assert row.low < row.ratio < row.high and row.clip_norm == 5.0
    assert clip_comparison(grid, pilot.iloc[0:0], found).empty


def test_the_page_words_the_replays_and_the_pilot():
    from equilib.analysis.claims import clip_comparison
    from equilib.report.pages import clip_comparison_table, clip_text, onset_text, replays_text

    steady = pd.DataFrame({"step": range(20), "lr": 1e-3, "loss": [0.5] * 18 + [0.1, 0.1], "grad_norm": 1.0,
                           "shift": 4.0})
    wrecked = steady.assign(loss=[0.5] * 10 + [1e27] * 10, grad_norm=[1.0] * 10 + [math.inf] * 10,
                            shift=[4.0] * 10 + [3e15] * 10)
    text = replays_text({"none": wrecked, "norm 1": steady})
    assert "none: training loss 1e+27 over its last tenth, largest update 3e+15, largest gradient norm beyond" in text
    assert "norm 1: training loss 0.1 over its last tenth, largest update 4, largest gradient norm 1 before clipping" \
        in text
    assert onset_text(None).startswith("No step of this replay stands out")
    said = onset_text({"step": 622, "grad_norm": 8.9e5, "typical_grad_norm": 0.83, "loss": 1.3e4, "typical_loss": 0.18,
                       "shift": 4935.0, "typical_shift": 4.0})
    assert "Up to step 621" in said and "reaches 4,935" in said and "8.9e+05" in said
    assert clip_text(pd.DataFrame()).startswith("The clipping pilot has no finished run")
    grid = pd.DataFrame([{"run_id": f"g{s}", "model": "egnn", "dim": 6, "seed": s, "status": "finished",
                          "test_at_best_val": v} for s, v in enumerate([0.03, 0.09, 0.03])])
    pilot = grid.assign(run_id=lambda d: "p" + d.seed.astype(str), test_at_best_val=[0.03, 0.03, 0.03], clip_norm=1.0)
    table = clip_comparison(grid, pilot, pd.DataFrame({"run_id": ["g1"], "blew_up": [True]}))
    assert clip_text(table).startswith("At n = 6 (3 seeds), 1 of 3 runs blew up before, 0 after; spread over seeds "
                                       "3.00x before, 1.00x after; test MSE after / before 0.69")
    assert "blew up, before" in clip_comparison_table(table).to_html()
