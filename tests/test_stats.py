"""The statistics module: intervals and verdict rules, checked on synthetic data whose truth is known."""
import math

import numpy as np
import pandas as pd
import pytest

from equilib.analysis import intervals, power, rules
from equilib.experiments.presets import resolve
from equilib.experiments.protocol import run_protocol
from equilib.experiments.settings import RunSettings

from conftest import ROOT

DIMS = (2, 3, 4, 6, 8)


def synthetic_runs(rng: np.random.Generator, log_ratio_at, seeds: int = 3, sigma: float = 0.4,
                   unconverged: float = 0.0) -> pd.DataFrame:
    """N-body-like runs: the GNN's log MSE exceeds the EGNN's by ``log_ratio_at(dim)``, seed noise ``sigma``."""
    rows = []
    for dim in DIMS:
        base = -0.5 * dim  # the task gets easier with n, as in the real data
        for model, shift in (("gnn", log_ratio_at(dim)), ("egnn", 0.0)):
            for seed in range(seeds):
                mse = math.exp(base + shift + sigma * rng.standard_normal())
                rows.append({"dim": dim, "model": model, "seed": seed, "status": "finished",
                             "test_at_best_val": mse, "epochs_done": 10, "best_val_epoch": 5,
                             "best_at_last_eval": bool(rng.random() < unconverged)})
    return pd.DataFrame(rows)


def verdicts(log_ratio_at, reps: int = 600, **kw) -> pd.Series:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(reps):
        runs = synthetic_runs(rng, log_ratio_at, **kw)
        table = intervals.ratio_table(runs, "gnn", "egnn")
        out.append(rules.growth_verdict(table, unconverged=intervals.unconverged_share(runs))["verdict"])
    return pd.Series(out).value_counts(normalize=True)


def test_no_growth_is_called_supported_at_most_5_percent_of_the_time():
    for constant in (0.0, math.log(2.0)):  # equal models, and an EGNN twice as good at every n
        shares = verdicts(lambda d: constant)
        assert shares.get("supported", 0.0) <= 0.05, shares


def test_real_growth_is_found_and_a_shrinking_ratio_is_not_supported():
    grows = verdicts(lambda d: 0.3 * d, reps=200, seeds=5)
    assert grows.get("supported", 0.0) >= 0.9, grows
    shrinks = verdicts(lambda d: -0.3 * d, reps=200, seeds=5)
    assert shrinks.get("not supported", 0.0) >= 0.9, shrinks


def test_a_flat_ratio_measured_precisely_is_not_supported_rather_than_inconclusive():
    shares = verdicts(lambda d: 0.5, reps=200, seeds=5, sigma=0.02)
    assert shares.get("not supported", 0.0) >= 0.9, shares


def _growth(runs: pd.DataFrame) -> str:
    return rules.growth_verdict(intervals.ratio_table(runs, "gnn", "egnn"))["verdict"]


@pytest.fixture(scope="module")
def nbody_cells() -> pd.DataFrame:
    """The committed N-body grid's own noise: mean and SD of each model's log test MSE at each n."""
    runs = run_protocol("nbody", resolve("nbody", "cpu"), RunSettings(results=ROOT / "results", train_missing=False,
                                                                      progress=False))
    return power.log_cells(runs[runs.model.isin(["gnn", "egnn"])])


def _rise(cells: pd.DataFrame, factor: float) -> pd.DataFrame:
    """The store's noise, with GNN / EGNN rising log-linearly by ``factor`` from the smallest n to the largest."""
    return power.with_rise(cells, "gnn", "egnn", factor)


@pytest.mark.parametrize("seeds", [3, 5])
def test_the_growth_rule_holds_its_size_with_the_stores_own_noise(nbody_cells, seeds):
    flat = power.answer_rates(_growth, _rise(nbody_cells, 1.0), seeds, repeats=400)
    assert flat["supported"] <= 0.05, flat


def test_the_growth_rule_finds_a_fourfold_rise_with_the_presets_seeds(nbody_cells):
    seeds = len(resolve("nbody", "cpu")["seeds"])
    rates = power.answer_rates(_growth, _rise(nbody_cells, rules.GROWTH_OF_INTEREST), seeds, repeats=400)
    assert rates["supported"] >= 0.8, rates


def test_each_answer_of_the_growth_rule_can_occur(nbody_cells):
    precise = nbody_cells.assign(sd=0.01)
    truths = {"supported": _rise(nbody_cells, 4.0), "not supported": _rise(nbody_cells, 0.25)}
    for answer, cells in {**truths, "flat, precisely": _rise(precise, 1.0), "inconclusive": _rise(nbody_cells, 1.0)}.items():
        rates = power.answer_rates(_growth, cells, 5, repeats=50)
        assert max(rates, key=rates.get) == answer.replace("flat, precisely", "not supported"), (answer, rates)


def test_too_few_seeds_or_unconverged_runs_make_it_inconclusive():
    rng = np.random.default_rng(1)
    runs = synthetic_runs(rng, lambda d: 0.3 * d, seeds=2, sigma=0.01)
    v = rules.growth_verdict(intervals.ratio_table(runs, "gnn", "egnn"))
    assert v["verdict"] == "inconclusive" and v["why"] == "thin" and v["thin"] == list(DIMS)
    runs = synthetic_runs(rng, lambda d: 0.3 * d, seeds=3, sigma=0.01, unconverged=0.6)
    share = intervals.unconverged_share(runs)
    assert share > rules.MAX_UNCONVERGED
    v = rules.growth_verdict(intervals.ratio_table(runs, "gnn", "egnn"), unconverged=share)
    assert v["verdict"] == "inconclusive" and v["why"] == "unconverged" and v["unconverged"] == share
    v = rules.growth_verdict(intervals.ratio_table(runs.head(0), "gnn", "egnn"))
    assert v["verdict"] == "not yet measured"


def test_log_ratio_interval_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(2000):
        a = np.exp(math.log(3.0) + 0.5 * rng.standard_normal(3))
        b = np.exp(0.3 * rng.standard_normal(4))
        _, lo, hi = intervals.log_ratio_ci(a, b)
        hits += lo <= 3.0 <= hi
    assert 0.93 <= hits / 2000 <= 0.985


def test_log_ratio_of_known_values():
    r, lo, hi = intervals.log_ratio_ci(np.array([2.0, 8.0]), np.array([1.0, 1.0, 1.0]))
    assert r == pytest.approx(4.0)  # geometric mean of 2 and 8 over 1
    assert lo < 4.0 < hi
    r, lo, hi = intervals.log_ratio_ci(np.array([2.0]), np.array([1.0, 1.0]))
    assert r == pytest.approx(2.0) and math.isnan(lo) and math.isnan(hi)


def test_the_trend_interval_is_the_contrast_of_the_points_errors_and_ignores_misfit():
    x = np.array(DIMS, float)
    exact = intervals.trend(x, 0.1 * x, np.zeros(5))
    assert exact.slope == pytest.approx(0.1) and exact.high - exact.low == pytest.approx(0.0, abs=1e-12)
    noisy = intervals.trend(x, 0.1 * x, np.full(5, 0.5))
    assert noisy.low < 0.1 < noisy.high and noisy.high - noisy.low > 0.1
    # a convex rise measured precisely: the slope's interval is as narrow as its points' errors make it
    convex, se = np.exp(0.5 * x), np.full(5, 0.01)
    fit = intervals.trend(x, convex, se, dof=np.full(5, 8.0))
    xc = x - x.mean()
    half = intervals.sps.t.ppf(0.975, 8.0) * math.sqrt(((xc / (xc * xc).sum()) ** 2 * se**2).sum())
    assert (fit.low, fit.high) == pytest.approx((fit.slope - half, fit.slope + half))
    assert fit.low > 0
    assert math.isnan(intervals.trend(x[:2], x[:2], np.zeros(2)).slope)


def _budget_cells(sd: float, change: dict[int, float]) -> pd.DataFrame:
    """GNN and EGNN at n = 2, 4, 8, at the budget and at twice it; the ratio moves by ``change[n]`` at 2B."""
    rows = [{"dim": d, "budget_factor": f, "model": m, "sd": sd,
             "mean": -0.5 * d + (math.log(change[d]) if (m == "gnn" and f == 2.0) else 0.0)}
            for d in (2, 4, 8) for f in (1.0, 2.0) for m in ("gnn", "egnn")]
    return pd.DataFrame(rows)


def _budget_answers(cells: pd.DataFrame, seeds: int, repeats: int = 400) -> dict[str, float]:
    judge = lambda runs: rules.budget_verdict(rules.budget_check(runs))["verdict"]  # noqa: E731
    return power.answer_rates(judge, cells, seeds, repeats=repeats, by=("dim", "budget_factor"),
                              answers=("supported", "not supported", "inconclusive"))


def test_budget_rule_size_power_and_every_answer():
    at_margin = {2: 1.0, 4: 1.0, 8: rules.BUDGET_MARGIN}  # one change exactly at the margin, the rest nil
    for seeds in (3, 10, 40):
        assert _budget_answers(_budget_cells(0.1, at_margin), seeds)["supported"] <= 0.05
    # power at the effect it exists to find (no change), at the spread of a stop_after run (SD of log MSE 0.1)
    assert _budget_answers(_budget_cells(0.1, {2: 1.0, 4: 1.0, 8: 1.0}), 12)["supported"] >= 0.8
    assert _budget_answers(_budget_cells(0.1, {2: 1.0, 4: 1.0, 8: 2.0}), 5)["not supported"] >= 0.8
    assert _budget_answers(_budget_cells(0.1, {2: 1.0, 4: 1.0, 8: 1.0}), 2)["inconclusive"] == 1.0  # too few


def test_budget_check_measures_the_change_from_b_to_2b():
    rng = np.random.default_rng(3)
    frames = []
    for factor, shift in ((0.5, 1.0), (1.0, 0.5), (2.0, 0.5)):
        runs = synthetic_runs(rng, lambda d: shift, sigma=0.05)
        frames.append(runs.assign(budget_factor=factor))
    table = rules.budget_check(pd.concat(frames))
    assert list(table["dim"]) == list(DIMS)
    assert table["ratio x0.5"].iloc[0] == pytest.approx(math.e, rel=0.2)
    assert table["change"].to_numpy() == pytest.approx(1.0, abs=0.1)
    assert rules.budget_verdict(table)["verdict"] == "supported"
    frames[1] = synthetic_runs(rng, lambda d: 1.5, sigma=0.05).assign(budget_factor=1.0)
    moved = rules.budget_check(pd.concat(frames))
    assert moved["change"].to_numpy() == pytest.approx(math.exp(-1.0), rel=0.1)
    assert rules.budget_verdict(moved) | {"verdict": "not supported", "beyond": len(DIMS)} == rules.budget_verdict(moved)
    with pytest.raises(ValueError, match="margin must be a factor > 1, got 0.9"):
        rules.budget_verdict(moved, margin=0.9)


GROUPS = ("trivial", "C4", "C8", "SO2")
SIZES = (1000, 2000, 5000, 10000)


def synthetic_mnist(rng, factor, slope=lambda g: -0.5, seeds=3, sigma=0.15, variant="rotated"):
    """Error = 0.1 * factor(group) * (n/1000)^slope(group), log-normal seed noise ``sigma``."""
    return pd.DataFrame([{"variant": variant, "group": g, "n_train": n, "seed": s, "status": "finished",
                          "epochs_done": 10, "best_val_epoch": 5, "best_at_last_eval": False,
                          "test_at_best_val": 0.1 * factor(g) * (n / 1000) ** slope(g) * math.exp(sigma * rng.normal())}
                         for g in GROUPS for n in SIZES for s in range(seeds)])


def mnist_verdicts(factor, rule, reps=300, **kw) -> pd.Series:
    rng = np.random.default_rng(5)
    return pd.Series([rule(synthetic_mnist(rng, factor, **kw))["verdict"] for _ in range(reps)]).value_counts(
        normalize=True)


RULES = {
    "SO2 beats plain": lambda r: rules.beats_reference_verdict(r, "rotated", "SO2"),
}


@pytest.fixture(scope="module")
def mnist_cells() -> pd.DataFrame:
    """The committed rotated-MNIST key cells' own noise: mean and SD of the log test error per group and size."""
    from equilib.analysis import claims

    runs = run_protocol("mnist", resolve("mnist", "cpu"), RunSettings(results=ROOT / "results", train_missing=False,
                                                                      progress=False))
    cells = power.log_cells(claims.key_runs(runs), by=("variant", "group", "n_train"))
    return cells[cells.variant == "rotated"].reset_index(drop=True)


def _c8_against_so2(cells: pd.DataFrame, ratio: float) -> pd.DataFrame:
    """The store's cells with C8's error set to ``ratio`` times SO(2)'s at every size (the others as measured)."""
    out = cells.copy()
    so2 = out[out.group == "SO2"].set_index("n_train")["mean"]
    c8 = out.group == "C8"
    out.loc[c8, "mean"] = [so2[n] + math.log(ratio) for n in out.loc[c8, "n_train"]]
    return out


def _best(runs: pd.DataFrame) -> str:
    return rules.lowest_group_verdict(runs, "rotated", "SO2")["verdict"]


BY_CELL = ("variant", "group", "n_train")


def test_best_group_rule_holds_its_size_with_the_stores_noise(mnist_cells):
    # C8 better than SO(2) by exactly the margin: "SO(2) is the best" must come out at most 5% of the time
    edge = _c8_against_so2(mnist_cells, 1 - rules.LOWEST_MARGIN)
    for seeds in (3, 10):
        rates = power.answer_rates(_best, edge, seeds, repeats=300, by=BY_CELL)
        assert rates.get("supported", 0.0) <= 0.05, (seeds, rates)


def test_best_group_rule_finds_a_tie_and_each_answer_can_occur(mnist_cells):
    # an exact tie at every size (the store's own C8 / SO(2) is 1.007 at 10,000 images) with the store's spread:
    # the preset's 3 key seeds cannot show it within 10%; 10 can (the page says so, from the same draws)
    tie = _c8_against_so2(mnist_cells, 1.0)
    assert power.answer_rates(_best, tie, 10, repeats=200, by=BY_CELL)["supported"] >= 0.8
    beaten = _c8_against_so2(mnist_cells, 0.7)
    assert power.answer_rates(_best, beaten, 3, repeats=100, by=BY_CELL)["not supported"] >= 0.8
    assert power.answer_rates(_best, tie, 2, repeats=20, by=BY_CELL) == {"inconclusive": 1.0}  # too few seeds
    with pytest.raises(ValueError, match="margin must be a fraction in \\(0, 1\\), got 0"):
        rules.lowest_group_verdict(synthetic_mnist(np.random.default_rng(0), lambda g: 1.0), "rotated", "SO2",
                                   margin=0)


@pytest.mark.parametrize("name", list(RULES))
def test_group_rules_on_equal_groups_say_neither_yes_nor_no_more_than_5_percent(name):
    shares = mnist_verdicts(lambda g: 1.0, RULES[name])
    assert shares.get("supported", 0.0) <= 0.05 and shares.get("not supported", 0.0) <= 0.05, shares


def test_group_rules_find_a_real_winner_and_a_real_loser():
    lowest = lambda r: rules.lowest_group_verdict(r, "rotated", "SO2")  # noqa: E731
    best = mnist_verdicts(lambda g: {"trivial": 3.0, "C4": 2.0, "C8": 1.6, "SO2": 1.0}[g], lowest, 50, sigma=0.08)
    assert best.get("supported", 0.0) >= 0.8, best
    other = mnist_verdicts(lambda g: {"trivial": 3.0, "C4": 2.0, "C8": 0.6, "SO2": 1.0}[g], lowest, 50, sigma=0.08)
    assert other.get("not supported", 0.0) >= 0.8, other
    helps = mnist_verdicts(lambda g: 1.0 if g == "SO2" else 2.0, RULES["SO2 beats plain"], 50)
    assert helps.get("supported", 0.0) >= 0.8, helps
    thin = rules.lowest_group_verdict(synthetic_mnist(np.random.default_rng(0), lambda g: 1.0, seeds=2),
                                      "rotated", "SO2")
    assert thin["verdict"] == "inconclusive" and thin["why"] == "thin" and thin["thin"][0][3] == 2


def test_slope_rule_tells_equal_from_different_slopes():
    rule = lambda r: rules.similar_slopes_verdict(r, ["rotated"])  # noqa: E731
    equal = mnist_verdicts(lambda g: 1.0, rule, 200)
    assert equal.get("not supported", 0.0) <= 0.05, equal
    # a real difference inside the margin (0.05 of 0.1) is "similar": it never counts against the claim
    inside = mnist_verdicts(lambda g: 1.0, rule, 200, slope=lambda g: -0.55 if g == "C8" else -0.5, seeds=6)
    assert inside.get("not supported", 0.0) <= 0.05, inside
    # a difference right at the margin is called similar at most 5% of the time
    edge = mnist_verdicts(lambda g: 1.0, rule, 200, slope=lambda g: -0.6 if g == "C8" else -0.5, sigma=0.03)
    assert edge.get("supported", 0.0) <= 0.05, edge
    precise = mnist_verdicts(lambda g: 1.0, rule, 50, sigma=0.01, seeds=4)
    assert precise.get("supported", 0.0) >= 0.8, precise
    tilted = mnist_verdicts(lambda g: 1.0, rule, 50, slope=lambda g: -0.8 if g == "SO2" else -0.4, sigma=0.05)
    assert tilted.get("not supported", 0.0) >= 0.8, tilted
    d = intervals.slope_difference(synthetic_mnist(np.random.default_rng(1), lambda g: 1.0, sigma=0.0,
                                               slope=lambda g: -0.7 if g == "C4" else -0.5), "rotated", "C4")
    assert d.estimate == pytest.approx(-0.2) and d.n_a == d.n_b == 3


def test_the_ratio_table_turned_upside_down_keeps_its_interval_ordered_around_its_estimate():
    runs = synthetic_mnist(np.random.default_rng(6), lambda g: {"trivial": 3.0, "C4": 2.0, "C8": 1.5, "SO2": 1.0}[g])
    plain = intervals.beats_reference_table(runs, "rotated", reference="SO2")  # SO2 / other: below 1
    upside = intervals.beats_reference_table(runs, "rotated", reference="SO2", invert=True)  # other / SO2: above 1
    assert (upside["low"] < upside["ratio"]).all() and (upside["ratio"] < upside["high"]).all()
    assert np.allclose(upside["ratio"], 1 / plain["ratio"]) and np.allclose(upside["low"], 1 / plain["high"])
    assert upside.loc[upside.group == "trivial", "low"].gt(1).all()  # the plain CNN is 3 times worse


def test_improving_at_end_reads_the_flag_falls_back_to_epochs_and_skips_untrained_runs():
    runs = pd.DataFrame({
        "status": ["finished", "finished", "finished", "finished", "failed", "finished"],
        "epochs_done": [10, 10, 10, 10, 10, 0],
        "best_val_epoch": [10, 4, 10, 4, 10, 0],
        "best_at_last_eval": [True, False, None, None, True, None],  # older runs lack the flag
    })
    assert intervals.improving_at_end(runs).tolist() == [True, False, True, False]
    assert intervals.unconverged_share(runs) == 0.5
    assert intervals.unconverged_share(runs.iloc[4:]) == 0.0  # nothing trained: nothing still improving


def test_one_groups_unconverged_runs_are_not_hidden_by_the_converged_groups_beside_it():
    runs = synthetic_mnist(np.random.default_rng(7), lambda g: 1.0 if g == "SO2" else 3.0, sigma=0.05)
    assert rules.lowest_group_verdict(runs, "rotated", "SO2")["verdict"] == "supported"
    so2 = runs.index[runs["group"] == "SO2"]
    runs.loc[so2[: int(0.4 * len(so2))], "best_at_last_eval"] = True  # 4 of SO2's 12 runs, 1 in 12 of all
    assert intervals.unconverged_share(runs) <= rules.MAX_UNCONVERGED
    for said in (rules.lowest_group_verdict(runs, "rotated", "SO2"),
                 rules.beats_reference_verdict(runs, "rotated", "SO2"), rules.similar_slopes_verdict(runs, ["rotated"])):
        assert said["verdict"] == "inconclusive" and said["why"] == "unconverged", said
        assert said["unconverged"] == {("rotated", "SO2"): pytest.approx(1 / 3, abs=0.01)}, said
    assert rules.beats_reference_verdict(runs, "rotated", "C4")["unconverged"] == {}  # SO2 is not in it


def test_a_difference_between_converged_groups_stands_beside_an_unconverged_one():
    tilted = synthetic_mnist(np.random.default_rng(8), lambda g: 1.0 if g == "SO2" else 3.0, sigma=0.02,
                             slope=lambda g: -0.8 if g == "C4" else -0.5)
    so2 = tilted.index[tilted["group"] == "SO2"]
    tilted.loc[so2[: int(0.4 * len(so2))], "best_at_last_eval"] = True
    said = rules.similar_slopes_verdict(tilted, ["rotated"])
    assert said["verdict"] == "not supported" and said["why"] == "apart"
    assert [(v, g) for v, g, _ in said["apart"]] == [("rotated", "C4")]  # the unconverged SO2 is not evidence
    said = rules.lowest_group_verdict(tilted, "rotated", "C4")  # SO2 lower beyond doubt, but SO2 is unconverged
    assert said["verdict"] == "inconclusive" and ("rotated", "SO2") in said["unconverged"], said
    said = rules.lowest_group_verdict(tilted, "rotated", "C8")  # C4 lower than C8 beyond doubt, both converged
    assert said["verdict"] == "not supported" and said["beaten"][0][1] == "C4", said


def _slope_differences(rng, true_large, seeds_large=5, sd=0.011):
    """A 20k-parameter slope difference as stored (C8 - plain, 3 seeds, per-seed SD 0.011) and one at 100k."""
    small = intervals.welch_difference(rng.normal(0.125, 0.011, 3), rng.normal(0, 0.011, 3))
    large = intervals.welch_difference(rng.normal(true_large, sd, seeds_large), rng.normal(0, sd, seeds_large))
    return small, large


@pytest.mark.parametrize("sd, vanishes_power", [(0.011, 0.9), (0.022, 0.6)])
def test_capacity_rule_size_and_power_at_the_declared_seeds(sd, vanishes_power):
    """docs/confirmatory-capacity.md: 5 seeds at 100k parameters. "survives" at most 5% when the difference is
    gone, at least 80% when half of it (0.0625) is left; "vanishes" at most 5% at the margin, and its power
    at no difference is >= 90% at the stored per-seed noise (>= 60% if the noise doubles: stated, not hidden)."""
    rng = np.random.default_rng(7)

    def share(truth, answer, trials=1000):
        return np.mean([rules.capacity_verdict(*_slope_differences(rng, truth, sd=sd))["verdict"] == answer
                        for _ in range(trials)])

    assert share(0.0, "survives") <= 0.05
    assert share(0.0625, "survives") >= 0.8
    assert share(rules.CAPACITY_MARGIN, "vanishes") <= 0.05
    assert share(0.0, "vanishes") >= vanishes_power


def test_capacity_rule_reaches_every_answer_and_refuses_a_bad_margin():
    rng = np.random.default_rng(8)
    said = {rules.capacity_verdict(*_slope_differences(rng, truth, sd=sd))["verdict"]
            for truth, sd in ((0.0, 0.011), (0.125, 0.011), (0.03, 0.04)) for _ in range(50)}
    assert said == {"survives", "vanishes", "inconclusive"}
    thin = rules.capacity_verdict(*_slope_differences(rng, 0.125, seeds_large=2))
    assert thin["verdict"] == "inconclusive" and thin["why"] == "thin"
    with pytest.raises(ValueError, match="margin must be positive, got 0"):
        rules.capacity_verdict(*_slope_differences(rng, 0.1), margin=0)


def _mnist_budget_answers(sd: float, change: float, seeds: int, repeats: int = 1000) -> dict[str, float]:
    """The large-size budget check (docs/confirmatory-large.md): plain CNN over SO(2) at 50,000 images, at the
    budget and at twice it; the ratio moves by ``change`` at 2B."""
    cells = pd.DataFrame([{"n_train": 50_000, "budget_factor": f, "model": g, "sd": sd,
                           "mean": math.log(0.02 if g == "SO2" else 0.03) + (math.log(change) if g == "trivial"
                                                                                and f == 2.0 else 0.0)}
                          for f in (1.0, 2.0) for g in ("trivial", "SO2")])

    def judge(runs):
        table = rules.budget_check(runs.rename(columns={"model": "group"}), "trivial", "SO2", column="group",
                                   by="n_train")
        return rules.budget_verdict(table)["verdict"]

    return power.answer_rates(judge, cells, seeds, repeats=repeats, by=("n_train", "budget_factor"),
                              answers=("supported", "not supported", "inconclusive"))


def test_the_large_size_budget_check_has_its_stated_size_and_power():
    """At the stored seed spread of MNIST errors (SD of the log error about 0.04 at 10,000 images; 0.05 here)."""
    for seeds in (3, 5):  # size: a change at the margin passes as "enough" at most 5% of the time
        assert _mnist_budget_answers(0.05, rules.BUDGET_MARGIN, seeds)["supported"] <= 0.05
    assert _mnist_budget_answers(0.05, 1.0, 5, 400)["supported"] >= 0.8  # power at no change: 5 seeds (3: 78%)
    assert _mnist_budget_answers(0.05, 1.6, 5, 400)["not supported"] >= 0.8  # a budget that moves the ratio 1.6x
    doubled = _mnist_budget_answers(0.1, 1.0, 5, 400)  # at twice the spread, 5 seeds decide about half the time
    assert 0.25 < doubled["supported"] < 0.65
    assert _mnist_budget_answers(0.05, 1.0, 2, 50)["inconclusive"] == 1.0  # too few seeds


@pytest.mark.parametrize("factor", [0, -2.0, float("nan"), float("inf"), "4", True])
def test_an_effect_of_interest_that_is_no_factor_is_refused_before_any_draw(factor):
    cells = pd.DataFrame({"dim": [2, 2, 8, 8], "model": ["gnn", "egnn"] * 2, "mean": 0.0, "sd": 0.1, "seeds": 5})
    with pytest.raises(ValueError, match=r"must be a positive, finite number \(1: no change\); got \{'factor': "):
        power.with_rise(cells, "gnn", "egnn", factor)
    study = cells.assign(budget=[1, 1, 1, 1])
    study = pd.concat([study, study.assign(budget=2)], ignore_index=True)
    with pytest.raises(ValueError, match=r"got \{\(2, 8\): "):
        power.with_changes(study, "gnn", "egnn", {(2, 8): factor}, at="budget", reference=1)
    assert power.with_rise(cells, "gnn", "egnn", np.float32(4.0)).loc[2, "mean"] == pytest.approx(math.log(4.0))
