"""Beyond the paper: the studies' settings, their verdict rules on known truths, and a smoke run end to end."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from equilib.analysis import beyond, intervals, rules
from equilib.cli import main
from equilib.experiments import beyond as beyond_runs, presets
from equilib.experiments.presets import resolve
from equilib.experiments.settings import RunSettings


@pytest.mark.parametrize("breaking,match", [
    ([{"kind": "wall", "value": 5}], r"unknown breaking kind in \{'kind': 'wall', 'value': 5\}; choose one of"),
    ([{"kind": "box", "value": -5}], r"a box needs a positive value, got -5"),
    ([{"kind": "clip"}], r"a clip needs a positive value, got None"),
    ([], r"breaking must be a non-empty list of settings"),
])
def test_bad_dial_settings_are_named_before_any_compute(breaking, match):
    with pytest.raises(ValueError, match=match):
        resolve("beyond", "smoke", breaking=breaking)


def test_other_bad_parameters_are_named():
    with pytest.raises(ValueError, match=r"unknown studies \['weather'\]"):
        resolve("beyond", "smoke", studies=["weather"])
    with pytest.raises(ValueError, match=r"horizons must be integers >= 1; bad value\(s\): \[0\]"):
        resolve("beyond", "smoke", horizons=[0, 1000])
    with pytest.raises(ValueError, match=r"augment_longer must be integers >= 2; bad value\(s\): \[1\]"):
        resolve("beyond", "smoke", augment_longer=[1])
    assert resolve("beyond", "smoke", augment_longer=[])["augment_longer"] == []
    with pytest.raises(ValueError, match=r"confirm seeds must be new: \[1\] are already the breaking study's"):
        resolve("beyond", "smoke", confirm={"breaking": [{"kind": "box", "value": 5}], "dims": [3], "seeds": [1, 7]})
    with pytest.raises(ValueError, match="confirm needs at least one breaking setting other than none"):
        resolve("beyond", "smoke", confirm={"breaking": [{"kind": "none"}], "dims": [3], "seeds": [7]})
    with pytest.raises(ValueError, match="confirm must be a dict with keys breaking, dims and seeds"):
        resolve("beyond", "smoke", confirm={"breaking": [{"kind": "box", "value": 5}]})
    with pytest.raises(ValueError, match=r"a box needs a positive value, got -5"):
        resolve("beyond", "smoke", confirm={"breaking": [{"kind": "box", "value": -5}], "dims": [3], "seeds": [7]})
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        resolve("beyond", "smoke", base="huge")


def _difference(rng, true_log_ratio, seeds=3, noise=0.3):
    a = rng.normal(true_log_ratio, noise, seeds)
    b = rng.normal(0.0, noise, seeds)
    return intervals.welch_difference(a, b)


def test_change_and_equivalence_rules_keep_their_error_rates_when_nothing_moves():
    rng = np.random.default_rng(0)
    trials = 2000
    changes = [rules.change_verdict(intervals.difference_of(_difference(rng, 0.2), _difference(rng, 0.2)))
               for _ in range(trials)]
    assert changes.count("grew") / trials <= 0.05 and changes.count("shrank") / trials <= 0.05
    equal = [rules.equivalence_verdict(_difference(rng, 0.0)) for _ in range(trials)]
    assert (equal.count("above") + equal.count("below")) / trials <= 0.05
    # and with a real move and little noise, they see it
    assert rules.change_verdict(intervals.difference_of(_difference(rng, -1.0, noise=0.05),
                                                    _difference(rng, 0.5, noise=0.05))) == "shrank"
    assert rules.equivalence_verdict(_difference(rng, 0.0, seeds=5, noise=0.01)) == "equal"
    assert rules.change_verdict(intervals.difference_of(_difference(rng, 1.0, seeds=2), _difference(rng, 0))) \
        == "inconclusive"  # two seeds never decide


def _runs(ratio_of_setting, seeds=(0, 1, 2), dims=(2, 3), study="breaking", noise=0.02, rng=None):
    """Synthetic runs: the EGNN's MSE is 1, every other model's its given ratio (a number, or a dict by model)."""
    rng = rng or np.random.default_rng(1)
    rows = []
    for setting, ratio in ratio_of_setting.items():
        ratios = ratio if isinstance(ratio, dict) else {"gnn": ratio}
        horizon = int(setting.split("= ")[1].replace(",", "")) if setting.startswith("T = ") else 10_000
        for dim in dims:
            for seed in seeds:
                for model, mse in (("egnn", 1.0), *ratios.items()):
                    rows.append({"study": study, "setting": setting, "dim": dim, "seed": seed, "model": model,
                                 "status": "finished", "horizon": horizon,
                                 "test_at_best_val": mse * np.exp(rng.normal(0, noise))})
    return pd.DataFrame(rows)


def _augmentation_runs(gnn, aug, longer=None, dims=(2, 3, 4, 6, 8), **kw):
    """Synthetic augmentation runs as the study stores them: the GNN and EGNN under "plain", the augmented
    GNN (MSE ratio ``aug``) under "augmented", and with ``longer`` under the 2x-steps setting too."""
    settings = {"augmented": aug, **({beyond_runs.longer_label(2): longer} if longer is not None else {})}
    frames = [_runs({"plain": {"gnn": gnn}}, dims=dims, study="augmentation", **kw)]
    for setting, ratio in settings.items():
        runs = _runs({setting: {"gnn+aug": ratio}}, dims=dims, study="augmentation", **kw)
        frames.append(runs[runs.model != "egnn"])
    return pd.concat(frames, ignore_index=True)


def test_breaking_verdicts_on_known_truths():
    table = beyond.breaking_table(_runs({"no breaking": 2.0, "box 5": 2.0, "box 2": 0.5, "clip 10": 4.0}))
    verdicts = table.dropna(subset=["verdict"]).groupby("setting")["verdict"].agg(set).to_dict()
    assert verdicts == {"box 5": {"inconclusive"}, "box 2": {"reversed"}, "clip 10": {"grew"}}
    assert list(table.setting.unique()) == ["no breaking", "box 5", "box 2", "clip 10"]  # the dial's order
    unbroken = table[table.setting == "no breaking"]
    assert unbroken["ratio"].between(1.9, 2.1).all() and unbroken["verdict"].isna().all()


def test_the_tables_rows_never_claim_a_move_that_the_question_does_not():
    rng = np.random.default_rng(5)
    for _ in range(60):  # a middling move: the 95% level alone would often claim it, Bonferroni more rarely
        settings = {"no breaking": 2.0, "box 5": 2.0, "box 2": 1.2, "clip 100": 2.0, "clip 10": 3.3}
        table = beyond.breaking_table(_runs(settings, noise=0.3, rng=rng))
        said = beyond.breaking_verdict(table)
        moved = {(r.setting, r.dim): r.verdict for r in table.itertuples() if r.verdict not in (None, "inconclusive")}
        for (setting, dim), word in moved.items():
            assert f"{setting} at n = {dim}" in said["evidence"], (word, said)
        assert (said["verdict"] == "inconclusive") == (not moved)
        assert ("reversed" in moved.values()) <= (said["verdict"] in ("reversed", "both"))


def test_the_question_verdicts_claim_a_move_at_most_5_percent_of_the_time_when_nothing_moves():
    rng = np.random.default_rng(2)
    trials = 300
    settings = {"no breaking": 2.0, "box 5": 2.0, "box 2": 2.0, "clip 100": 2.0, "clip 10": 2.0}
    said = [beyond.breaking_verdict(beyond.breaking_table(_runs(settings, noise=0.3, rng=rng)))["verdict"]
            for _ in range(trials)]
    assert said.count("inconclusive") / trials >= 0.95
    horizons = {"T = 1,000": 2.0, "T = 3,000": 2.0, "T = 10,000": 2.0}
    said = [beyond.horizon_verdict(beyond.horizon_table(_runs(horizons, dims=(2, 4, 8), study="horizon", noise=0.3,
                                                              rng=rng)))["verdict"] for _ in range(trials)]
    assert said.count("inconclusive") / trials >= 0.95
    said = [beyond.augmentation_verdict(beyond.augmentation_table(_augmentation_runs(2.0, 1.0, noise=0.3, rng=rng)))
            ["verdict"] for _ in range(trials)]
    assert said.count("open") / trials <= 0.05


def test_closed_is_reachable_and_holds_its_size_at_the_margin():
    rng = np.random.default_rng(7)
    equal = [beyond.augmentation_verdict(beyond.augmentation_table(_augmentation_runs(2.0, 1.0, seeds=range(5),
                                                                                      noise=0.03, rng=rng)))["verdict"]
             for _ in range(200)]
    assert equal.count("closed") / 200 >= 0.8  # every n must pass, each at 95%: no Bonferroni penalty on "all"
    edge = [beyond.augmentation_verdict(beyond.augmentation_table(_augmentation_runs(2.0, 1.1, seeds=range(5),
                                                                                     noise=0.03, rng=rng)))["verdict"]
            for _ in range(200)]
    assert edge.count("closed") / 200 <= 0.05  # right at the 10% margin: rarely called closed


def test_the_question_verdicts_on_known_truths():
    table = beyond.breaking_table(_runs({"no breaking": 2.0, "box 5": 2.0, "box 2": 0.5, "clip 10": 4.0}))
    points = {(r.setting, r.dim): r.verdict for r in table.itertuples() if r.setting != "no breaking"}
    assert points == {("box 5", 2): "inconclusive", ("box 5", 3): "inconclusive", ("box 2", 2): "reversed",
                      ("box 2", 3): "reversed", ("clip 10", 2): "grew", ("clip 10", 3): "grew"}
    assert beyond.breaking_verdict(table)["verdict"] == "both"
    two = beyond.breaking_table(_runs({"no breaking": 2.0, "box 2": 0.5}))
    assert set(two.loc[two.setting == "box 2", "verdict"]) == {"reversed"}
    assert beyond.breaking_verdict(two)["verdict"] == "reversed"
    # each row's interval is the question's: Bonferroni over its two points, 97.5% each
    row = two[two.setting == "box 2"].iloc[0]
    unbroken = two[(two.setting == "no breaking") & (two.dim == row.dim)].iloc[0]
    lo, hi = intervals.difference_of(row.difference, unbroken.difference).interval(0.975)
    assert (row.change_low, row.change_high) == pytest.approx((np.exp(lo), np.exp(hi)))
    horizon = beyond.horizon_table(_runs({"T = 1,000": 1.2, "T = 3,000": 2.0, "T = 10,000": 4.0}, dims=(2, 4, 8),
                                         study="horizon"))
    assert list(horizon.setting.unique()) == ["T = 1,000", "T = 3,000", "T = 10,000"]  # by horizon, not by name
    assert set(horizon.loc[horizon.setting != "T = 1,000", "verdict"]) == {"grew"}
    assert beyond.horizon_verdict(horizon)["verdict"] == "grew"
    for aug, noise, word in ((1.0, 0.01, "closed"), (2.0, 0.01, "open"), (0.5, 0.01, "overtaken"),
                             (1.0, 0.5, "inconclusive")):
        runs = _augmentation_runs(2.0, aug, longer=1.0, seeds=range(5), noise=noise)
        table = beyond.augmentation_table(runs)
        assert beyond.augmentation_verdict(table)["verdict"] == word, (aug, noise)
        assert set(table["verdict"]) == {word}  # each n's row judged at the verdict's own level
        assert table["ratio"].between(1.5, 2.7).all()  # the plain GNN / EGNN beside it
    # the longer budget is judged on its own runs, against the same EGNN runs, never mixed with the equal-steps ones
    runs = _augmentation_runs(2.0, 2.0, longer=1.0, seeds=range(5), noise=0.01)
    assert beyond.augmentation_verdict(beyond.augmentation_table(runs))["verdict"] == "open"
    assert beyond.augmentation_verdict(beyond.augmentation_table(runs, factor=2))["verdict"] == "closed"
    assert beyond.augmentation_table(runs, factor=3).empty
    # the confirmation: its own study, its own family (one point: judged at 95%), never mixed with the first look
    runs = pd.concat([_runs({"no breaking": 2.0, "box 5": 2.0}),
                      _runs({"no breaking": 2.0, "box 5": 0.5}, dims=(3,), seeds=(3, 4, 5), study="confirm")])
    confirm = beyond.breaking_table(runs, "confirm")
    assert set(confirm.dim) == {3} and beyond.breaking_verdict(confirm)["verdict"] == "reversed"
    assert "(95% intervals" in beyond.breaking_verdict(confirm)["evidence"]
    assert beyond.breaking_verdict(beyond.breaking_table(runs))["verdict"] == "inconclusive"
    only_unbroken = beyond.breaking_table(_runs({"no breaking": 2.0}))  # the grid's runs, before any breaking run
    assert only_unbroken["verdict"].isna().all() and beyond.breaking_verdict(only_unbroken)["verdict"] == \
        "not yet measured"
    for empty in (beyond.breaking_verdict, beyond.horizon_verdict, beyond.augmentation_verdict):
        assert empty(pd.DataFrame())["verdict"] == "not yet measured"


def _equivariance_runs(error, seeds=(3, 4, 5), dims=(2, 4, 8), sizes=(1000, 3000, 10_000), noise=0.02, rng=None):
    """Synthetic equivariance-study runs: ``error(model, dim, n_train)`` is each point's true error."""
    rng = rng or np.random.default_rng(3)
    rows = [{"study": "equivariance", "status": "finished", "model": model, "dim": dim, "n_train": n, "seed": seed,
             "equivariance_error": error(model, dim, n) * np.exp(rng.normal(0, noise))}
            for model in ("gnn", "gnn+aug") for dim in dims for n in sizes for seed in seeds]
    return pd.DataFrame(rows)


def test_against_free_flight_names_the_points_where_a_model_learned_nothing_beyond_it():
    horizons = ("T = 1,000", "T = 3,000", "T = 10,000")  # "T = 10,000" sorts before "T = 3,000" as text
    runs = pd.concat([  # free flight 4x the EGNN's MSE; the GNN 2x below it, except at n = 8 where it equals it
        _runs({t: {"gnn": 2.0, "freeflight": 4.0} for t in horizons}, dims=(2, 4), study="horizon"),
        _runs({t: {"gnn": 4.0, "freeflight": 4.0} for t in horizons}, dims=(8,), study="horizon")])
    said = beyond.against_free_flight(runs)
    assert said == ("better than free flight beyond doubt (99.44% intervals, Bonferroni over the points): "
                    "the GNN at 6 of 9 points (not at T = 1,000 at n = 8, T = 3,000 at n = 8, T = 10,000 at n = 8); "
                    "the EGNN at 9 of 9 points")
    table = beyond.horizon_table(runs)
    assert np.allclose(table.groupby("dim")["gnn_ff_ratio"].mean(), [0.5, 0.5, 1.0], rtol=0.05)
    assert (table["egnn_ff_high"] < 1).all() and (table["gnn_ff_low"] < table["gnn_ff_ratio"]).all()
    assert beyond.against_free_flight(runs[runs.model != "freeflight"]) == "no free-flight comparison in the store yet"


def test_the_equivariance_table_summarises_on_the_log_scale_and_stays_positive():
    truth = lambda model, dim, n: 0.3 if model == "gnn" else 0.1  # noqa: E731
    table = beyond.equivariance_table(_equivariance_runs(truth, seeds=(3, 4), noise=1.0))  # 2 wild seeds
    assert (table["low"] > 0).all() and (table["low"] <= table["error"]).all() and (table["error"] <= table["high"]).all()
    table = beyond.equivariance_table(_equivariance_runs(truth, seeds=range(200), noise=0.3))
    # the geometric mean recovers the median error; an arithmetic mean would sit ~4.5% above it
    assert np.allclose(table.groupby("model")["error"].mean(), [0.3, 0.1], rtol=0.04)
    assert (table["seeds"] == 200).all()


def test_the_equivariance_verdicts_on_known_truths_and_when_nothing_moves():
    def learns(model, dim, n):  # augmentation halves the error; ten times the data halves it too
        return 0.2 * (0.5 if model == "gnn+aug" else 1.0) * (n / 1000) ** -0.3

    said = beyond.equivariance_verdict(_equivariance_runs(learns))
    assert said["augmentation"]["verdict"] == "shrank" and said["data"]["verdict"] == "shrank"
    assert "lower beyond doubt for 1,000 trajectories at n = 2" in said["augmentation"]["evidence"]
    assert "the augmented GNN at n = 8" in said["data"]["evidence"]
    said = beyond.equivariance_verdict(_equivariance_runs(lambda m, d, n: 0.2 * (3.0 if m == "gnn+aug" else 1.0)))
    assert said["augmentation"]["verdict"] == "grew" and said["data"]["verdict"] == "inconclusive"
    rng = np.random.default_rng(4)
    trials = 300
    said = [beyond.equivariance_verdict(_equivariance_runs(lambda m, d, n: 0.2, noise=0.3, rng=rng))
            for _ in range(trials)]
    for question in ("augmentation", "data"):
        assert [s[question]["verdict"] for s in said].count("inconclusive") / trials >= 0.95
    thin = beyond.equivariance_verdict(_equivariance_runs(learns, seeds=(3, 4)))
    assert thin["augmentation"]["verdict"] == "inconclusive"  # two seeds never decide
    one_size = beyond.equivariance_verdict(_equivariance_runs(learns, sizes=(10_000,)))
    assert one_size["data"] == {"verdict": "not yet measured", "evidence": "only one training-set size in the store "
                                                          "so far (10,000 trajectories)"}
    assert beyond.equivariance_verdict(_equivariance_runs(learns).head(0))["data"]["verdict"] == "not yet measured"


def test_still_improving_counts_each_models_unconverged_runs_once():
    rows = [{"study": "augmentation", "model": model, "run_id": f"{model}{i}", "status": "finished",
             "epochs_done": 10, "best_val_epoch": 10 if improving else 4, "best_at_last_eval": improving}
            for model, flags in (("gnn+aug", (True, True, False)), ("egnn", (False, False, False)))
            for i, improving in enumerate(flags)]
    runs = pd.DataFrame(rows)
    runs = pd.concat([runs, runs.iloc[:1]])  # a run listed twice (shared by two settings) counts once
    said = beyond.still_improving(runs, "augmentation")
    assert said == ("still improving at their last evaluation: 2 of 3 augmented GNN runs (67%), "
                    "0 of 3 EGNN runs (0%)")
    assert beyond.still_improving(runs, "horizon") == "no trained runs of this study in the store yet"


@pytest.mark.slow
def test_the_smoke_studies_train_label_and_tabulate(tmp_path):
    protocol = resolve("beyond", "smoke")
    run = RunSettings(results=tmp_path, device="cpu", progress=False, threads=1)
    runs = beyond_runs.run_beyond(protocol, run)
    assert set(runs.study) == {*presets.STUDIES, "confirm"}
    assert set(runs.loc[runs.study == "breaking", "setting"]) == {"no breaking", "box 1", "clip 3"}
    confirm = runs[runs.study == "confirm"]
    assert set(confirm.setting) == {"no breaking", "box 1"} and set(confirm.seed) == {2, 3}
    assert len(beyond.breaking_table(runs, "confirm")) == 2
    assert "gnn+aug" in set(runs.model)
    equivariance = beyond.equivariance_table(runs)
    errors = equivariance.groupby("model")["error"].max()
    assert set(errors.index) == {"gnn", "gnn+aug"} and errors["gnn"] > 0.01 and errors["gnn+aug"] > 0
    assert runs.loc[runs.model == "egnn", "equivariance_error"].max() < 1e-4  # measured on every trained run
    assert set(equivariance.n_train) == {32, 64}
    steps = runs[runs.study == "equivariance"].groupby("n_train")[["budget_steps", "eval_every"]].first()
    assert steps.loc[32, "budget_steps"] == steps.loc[64, "budget_steps"]  # the same step budget at every size
    assert {"verdict", "change"} <= set(beyond.breaking_table(runs).columns)
    assert set(beyond.horizon_table(runs).setting) == {"T = 100", "T = 200"}
    assert "mse_freeflight" in beyond.horizon_table(runs).columns
    assert set(beyond.augmentation_table(runs).verdict) <= {"closed", "open", "overtaken", "inconclusive"}
    longer = runs[runs.setting == beyond_runs.longer_label(2)]
    budget = runs.loc[(runs.study == "augmentation") & (runs.setting == "plain") & (runs.model == "gnn"), "budget_steps"]
    assert set(longer.model) == {"gnn+aug"} and (longer.budget_steps >= 2 * budget.max()).all()
    assert len(beyond.augmentation_table(runs, factor=2)) == 1  # the smoke preset's one dimension
    assert beyond.equivariance_verdict(runs)["data"]["verdict"] == "inconclusive"  # two seeds never decide
    events = beyond_runs.breaking_events(protocol, run)
    events = events.set_index("setting")
    assert events.loc["box 1", "hit_wall"] > 0.5 and events.loc["clip 3", "clipped"] > 0.2
    assert events.loc["no breaking", ["hit_wall", "clipped"]].sum() == 0
    # a second call trains nothing: every run is in the store
    again = beyond_runs.run_beyond(protocol, replace(run, train_missing=False))
    assert len(again) == len(runs)


def test_the_command_line_names_a_bad_study_and_exits_2(capsys):
    assert main(["beyond", "--preset", "smoke", "--studies", "weather"]) == 2
    assert "unknown studies ['weather']" in capsys.readouterr().err


@pytest.fixture(scope="module")
def breaking_cells() -> pd.DataFrame:
    """The committed breaking study's own noise: mean and SD of each model's log test MSE per setting and n."""
    from conftest import ROOT
    from equilib.analysis import power

    runs = beyond_runs.run_beyond(resolve("beyond", "cpu"), RunSettings(results=ROOT / "results",
                                                                        train_missing=False, progress=False))
    study = runs[(runs.study == "breaking") & runs.model.isin(["gnn", "egnn"])]
    return power.log_cells(study, by=("setting", "dim"))


def _walls_truth(cells: pd.DataFrame, changes: dict) -> pd.DataFrame:
    from equilib.analysis import power

    return power.with_changes(cells, "gnn", "egnn", changes, at="setting", reference=beyond_runs.UNBROKEN)


def _family(kind: str):
    def judge(drawn: pd.DataFrame) -> str:
        return beyond.breaking_verdict(beyond.breaking_table(drawn.assign(study="breaking")))["kinds"][kind]["verdict"]
    return judge


def test_each_breaking_family_holds_its_size_and_the_walls_find_the_effect_of_interest(breaking_cells):
    from equilib.analysis import power

    seeds = len(resolve("beyond", "cpu")["seeds"])
    still = _walls_truth(breaking_cells, {})
    for kind in ("box", "clip"):  # nothing moved: a family claims a move at most 5% of the time
        rates = power.answer_rates(_family(kind), still, seeds, repeats=600, by=("setting", "dim"), seed=1)
        assert rates["inconclusive"] >= 0.95, (kind, rates)
    effect = _walls_truth(breaking_cells, {("box 5", 3): beyond.BREAKING_OF_INTEREST})
    found = power.answer_rates(_family("box"), effect, seeds, repeats=300, by=("setting", "dim"), seed=3)
    assert found.get("reversed", 0.0) + found.get("shrank", 0.0) >= 0.8, found


def test_augmentation_power_redraws_a_tie_and_counts_the_seeds_it_needs():
    precise = _augmentation_runs(2.0, 1.3, seeds=range(3), noise=0.01)  # the tie is set by the redraw, not here
    rates = beyond.augmentation_power(precise, repeats=40)
    assert rates["seeds"] == 3 and rates["tie"] >= 0.8 and rates["needed"] == 3
    noisy = _augmentation_runs(2.0, 1.0, seeds=range(3), noise=0.6)
    rates = beyond.augmentation_power(noisy, repeats=20, seeds_tried=(3, 5))
    assert rates["tie"] <= 0.2 and rates["needed"] is None  # a spread far wider than the 10% margin


def test_horizon_power_finds_a_large_move_in_precise_data_and_holds_its_size():
    runs = _runs({"T = 1,000": 2.0, "T = 10,000": 2.0}, study="horizon", noise=0.02)
    rates = beyond.horizon_power(runs, repeats=40)
    assert rates["seeds"] == 3 and rates["none"] <= 0.1 and rates["of_interest"] >= 0.8
    assert rates["point"][0] == "T = 10,000"
