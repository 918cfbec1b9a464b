"""The answer page's effects on synthetic stores whose true effects the test sets: the estimates recover them,
the verdicts find what is there and say nothing where nothing is, and a study the store lacks is a named row."""
import math

import numpy as np
import pandas as pd
import pytest

from equilib.analysis import answer
from equilib.report import charts, pages

SEEDS = range(8)


def _nbody(benefit_at, rng, noise=0.05, seeds=SEEDS):
    """GNN / EGNN = benefit_at(n) in geometric mean, lognormal seeds."""
    rows = []
    for dim in (2, 3, 4, 6, 8):
        for seed in seeds:
            egnn = 0.01 * math.exp(rng.normal(0, noise))
            gnn = 0.01 * benefit_at(dim) * math.exp(rng.normal(0, noise))
            rows += [{"model": "egnn", "dim": dim, "seed": seed, "status": "finished", "test_at_best_val": egnn},
                     {"model": "gnn", "dim": dim, "seed": seed, "status": "finished", "test_at_best_val": gnn}]
    return pd.DataFrame(rows)


def _mnist(error_of, rng, noise=0.05, sizes=(1000, 10000)):
    rows = []
    for variant in ("rotated", "fliprot"):
        for group in ("trivial", "C4", "C8", "SO2", "D4", "D8", "O2"):
            for n in sizes:
                for seed in SEEDS:
                    rows.append({"variant": variant, "group": group, "n_train": n, "seed": seed, "status": "finished",
                                 "test_at_best_val": error_of(variant, group, n) * math.exp(rng.normal(0, noise))})
    return pd.DataFrame(rows)


def _row(table, effect_start):
    hits = table[table["effect"].str.startswith(effect_start)]
    assert len(hits) == 1, (effect_start, hits["effect"].tolist())
    return hits.iloc[0]


def test_effects_recover_the_true_changes_and_their_direction():
    rng = np.random.default_rng(0)
    nbody = _nbody(lambda n: 2 ** ((n - 2) / 2), rng)  # the benefit doubles every 2 dimensions

    def error(variant, group, n):  # the benefit halves from 1,000 to 10,000 images; C8 is 1.5x better than C4
        gain = {"trivial": 1, "C4": 2, "C8": 3, "SO2": 3, "D4": 2, "D8": 2, "O2": 2}[group]
        gain = 1 + (gain - 1) * (1.0 if n == 1000 else 0.5) if group != "trivial" else 1
        return 0.1 / gain

    table = answer.effects(nbody, _mnist(error, rng), pd.DataFrame(), {})
    n8 = _row(table, "n = 8 vs n = 2")
    assert n8["change"] == pytest.approx(8.0, rel=0.1) and n8["verdict"] == "grew" and n8["low"] < 8 < n8["high"]
    c8 = _row(table, "C8 vs C4, rotated")
    truth = (1 + 2 * 0.5) / (1 + 1 * 0.5)  # at 10,000 images: gains 2 and 1.5
    assert c8["low"] < truth < c8["high"] and c8["verdict"] == "grew"
    size = _row(table, "C8 on rotated")
    assert size["low"] < 2 / 3 < size["high"] and size["verdict"] == "shrank"  # gains 3 at 1,000, 2 at 10,000
    same = _row(table, "D8 vs D4, flip-rotated")  # equal groups: no move claimed
    assert same["verdict"] == "inconclusive" and same["low"] < 1 < same["high"]
    assert set(table["property"]) == set(answer.PROPERTIES)
    assert list(dict.fromkeys(table["property"])) == list(answer.PROPERTIES)  # grouped, in order


def test_an_mnist_row_is_held_back_by_runs_still_improving_as_every_mnist_verdict_is():
    """docs/confirmatory-large.md: the answer's training-set-size row counts a run still improving as every MNIST
    verdict does; more than 20% of a group's runs (pooled over sizes) makes the row inconclusive, however clear."""
    rng = np.random.default_rng(5)
    runs = _mnist(lambda v, g, n: 0.1 / (1 if g == "trivial" else (3 if n == 1000 else 2)), rng)
    runs = runs.assign(epochs_done=25, best_val_epoch=20, best_at_last_eval=False)
    plain = runs.index[(runs.variant == "rotated") & (runs.group == "trivial")]  # 16 runs: 8 seeds x 2 sizes
    clear = answer.effects(pd.DataFrame(columns=["model", "dim", "seed", "status", "test_at_best_val"]),
                           runs.assign(best_at_last_eval=runs.index.isin(plain[:3])), pd.DataFrame(), {})
    assert _row(clear, "C8 on rotated")["verdict"] == "shrank" and _row(clear, "C8 on rotated")["why"] == ""
    held = answer.effects(pd.DataFrame(columns=["model", "dim", "seed", "status", "test_at_best_val"]),
                          runs.assign(best_at_last_eval=runs.index.isin(plain[:4])), pd.DataFrame(), {})
    row = _row(held, "C8 on rotated")  # 4 of 16 (25%) of the plain CNN's rotated runs still improving
    assert row["verdict"] == "inconclusive" and row["low"] < 2 / 3 < row["high"] < 1  # the interval alone decides
    assert row["why"] == "runs still improving at their last evaluation in more than 20%: plain CNN on rotated MNIST (25%)"
    assert _row(held, "O(2) on flip-rotated")["verdict"] == "shrank"  # the other variant's runs are not held back
    words = pages.decision_table(held).set_index("property").loc["training-set size", "how sure"]
    assert "2 held back by runs still improving at their last evaluation" in words  # C8 and SO(2) on rotated


def test_a_property_whose_rows_were_all_held_back_is_not_called_unchanged():
    """"No change beyond doubt" is what seeds say; a row held back for convergence was never asked."""
    held = "runs still improving at their last evaluation in more than 20%: trivial on rotated (25%)"
    rows = [("size", "C8", 0.7, held), ("size", "SO2", 0.6, held), ("order", "C8 vs C4", 1.1, held),
            ("order", "D8 vs D4", 0.9, ""), ("order", "O2 vs D4", 1.3, "")]
    table = pd.DataFrame([{"property": p, "effect": e, "verdict": "inconclusive", "change": c, "why": w,
                           "detectable": 2.0, "finding": "new here"} for p, e, c, w in rows])
    words = pages.decision_table(table).set_index("property")["the benefit of equivariance"]
    assert words["size"] == "undecided: every effect held back by runs still improving (changes 0.6 to 0.7)"
    assert words["order"] == "no change beyond doubt (changes 0.9 to 1.3, in the 2 effects not held back)"
    free = pages.decision_table(table.assign(why="")).set_index("property")["the benefit of equivariance"]
    assert free["order"] == "no change beyond doubt (changes 0.9 to 1.3)" and free["size"].startswith("no change")
    one = pages.decision_table(table.drop(index=4)).set_index("property")["the benefit of equivariance"]
    assert one["order"] == "no change beyond doubt (change 0.9, in the 1 effect not held back)"


def test_nothing_there_means_no_move_claimed_most_of_the_time():
    """Size: over 200 null stores, the dimension property (4 rows, Bonferroni) claims a move at most ~5%."""
    rng = np.random.default_rng(1)
    claimed = 0
    for _ in range(200):
        table = pd.DataFrame(answer.dimension_effects(_nbody(lambda n: 1.0, rng, noise=0.3), "grid"))
        claimed += table["verdict"].isin(["grew", "shrank"]).any()
    assert claimed / 200 <= 0.08  # 5% nominal, with Monte-Carlo slack


def test_a_doubling_at_the_largest_n_is_found_either_way():
    """Power at the confirmatory grid's 5 seeds and a seed noise of 0.15 on each model's log error (its pilot's
    spreads, 1.2-1.4x over seeds, after the stop_after fix): a benefit that doubles (or halves) from n = 2 to
    n = 8 comes out "grew" (or "shrank") at n = 8 in at least 80% of 200 stores, at the family's level."""
    rng = np.random.default_rng(2)
    for factor, answer_word in ((2.0, "grew"), (0.5, "shrank")):
        found = 0
        for _ in range(200):
            store = _nbody(lambda n: factor ** ((n - 2) / 6), rng, noise=0.15, seeds=range(5))
            rows = answer.dimension_effects(store, "grid")
            found += rows[-1]["verdict"] == answer_word
        assert found / 200 >= 0.8, (factor, found)


def test_a_row_says_how_large_a_change_it_could_have_found():
    """``detectable``: a true change of that size is decided by the row's rule about 80% of the time, and the
    decision table names it for the rows that stayed undecided."""
    from equilib.analysis import intervals, power

    rng = np.random.default_rng(4)
    level, seeds, noise = intervals.bonferroni(intervals.LEVEL, 4), 8, 0.1
    first = answer.dimension_effects(_nbody(lambda n: 1.0, rng, noise=noise, seeds=range(seeds)), "grid")[-1]
    factor = first["detectable"]
    assert first["level"] == pytest.approx(level)  # the family's level, as the verdict's
    assert 1.05 < factor < 1.5  # sqrt(4 * 0.01 / 8) = 0.07 on the log scale, times about 4.1
    found = 0
    for _ in range(400):  # the benefit moves by exactly that factor from n = 2 to n = 8
        rows = answer.dimension_effects(_nbody(lambda n: factor ** ((n - 2) / 6), rng, noise=noise,
                                               seeds=range(seeds)), "grid")
        found += rows[-1]["verdict"] == "grew"
    assert 0.7 <= found / 400 <= 0.9, found  # 80% by the formula, with Monte-Carlo and estimated-SE slack
    assert math.isnan(power.detectable_change(math.nan, 3.0, 0.95))
    with pytest.raises(ValueError, match="level and power must lie in"):
        power.detectable_change(0.1, 3.0, 0.95, power=1.2)
    undecided = pd.DataFrame([first | {"verdict": "inconclusive"}])
    assert f"beyond x{factor:.2g}" in pages.decision_table(undecided)["how sure"].iloc[0]
    # where seeds scatter over the whole axis the digits mean nothing: "x100 or more", not "x6,351"
    wide = pd.DataFrame([first | {"verdict": "inconclusive"},
                         first | {"verdict": "inconclusive", "detectable": 6351.0}])
    said = pages.decision_table(wide)["how sure"].iloc[0]
    assert f"beyond x{factor:.2g}, some only at x100 or more" in said and "6,351" not in said
    both = pd.DataFrame([first | {"verdict": "inconclusive", "detectable": d} for d in (500.0, 6351.0)])
    assert pages.decision_table(both)["how sure"].iloc[0].endswith("only beyond x100 or more")


def test_missing_studies_are_named_rows_not_blanks():
    table = answer.effects(pd.DataFrame(columns=["model", "dim", "seed", "status", "test_at_best_val"]),
                           pd.DataFrame(columns=["variant", "group", "n_train", "seed", "status", "test_at_best_val"]),
                           pd.DataFrame(), {})
    assert (table["verdict"] == "missing").all() and table["effect"].str.len().gt(0).all()
    assert set(table["property"]) == set(answer.PROPERTIES)
    words = pages.decision_table(table)
    assert words["how sure"].eq("missing").all() and words["the benefit of equivariance"].str.startswith(
        "not measured yet").all()
    chart = charts.effects_forest(table).to_dict()  # draws with every row missing
    assert chart["facet"]["row"]["field"] == "property"
    assert pages.missing_text(table.head(0)) == "none"
    capacity = table[table["property"] == "model capacity"]  # each declared study, named with its declaration
    assert capacity["effect"].tolist() == ["C8 vs plain CNN at 5x the parameters",
                                           "C8 vs plain CNN at 20x the parameters"]
    assert capacity["source"].str.contains("docs/confirmatory-capacity-400k.md").tolist() == [False, True]
    partly = answer.effects(table.head(0).reindex(columns=["model", "dim", "seed", "status", "test_at_best_val"]),
                            pd.DataFrame(columns=["variant", "group", "n_train", "seed", "status",
                                                  "test_at_best_val"]), pd.DataFrame(), {},
                            capacity=[("capacity-400k", pd.DataFrame({"status": ["finished"] * 21}), 40)])
    assert "21 of 40 runs in" in partly.loc[partly["effect"].str.contains("20x"), "source"].iloc[0]
    assert pages.missing_text(partly).endswith(
        "; C8 vs plain CNN at 5x the parameters (declared in docs/confirmatory-capacity.md, 0 of its runs in); "
        "C8 vs plain CNN at 20x the parameters (declared in docs/confirmatory-capacity-400k.md, 21 of 40 runs in)")
    with pytest.raises(ValueError, match=r"unknown capacity studies \['capacity-1m'\]; the declared ones are "
                                         r"\['capacity', 'capacity-400k'\]"):
        answer.effects(table.head(0), table.head(0), pd.DataFrame(), {}, capacity=[("capacity-1m", None, 0)])


@pytest.mark.slow
def test_the_readme_table_is_the_one_the_store_gives():
    """The README's answer table is ``python -m equilib answer --markdown`` on the committed store, cell by cell
    (rerun it and paste when runs land)."""
    from equilib.analysis import answer as answer_module

    from conftest import ROOT

    table, _ = answer_module.stored_effects(ROOT / "results")
    expected = pages.decision_table(table).astype(str).values.tolist()
    text = (ROOT / "README.md").read_text()
    block = text.split("| property ", 1)[1].split("\n\n", 1)[0].splitlines()[2:]  # after the header and rule
    readme = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in block]
    assert readme == expected


def test_the_newest_complete_confirmatory_grid_gives_the_verdicts():
    """Each declaration takes over from the one before it once all its runs are in; until then the older,
    complete grid stands and the page says how far the newer one is."""
    from equilib.experiments import presets

    def store(have):  # `have` finished runs per preset name
        return lambda protocol: pd.DataFrame({"status": ["finished"] * have.get(protocol["preset"], 0)})

    names = ["confirm-clipped", "confirm"]
    expected = len(presets.resolve("nbody", "confirm")["dims"]) * 4 * 5
    grid = answer.confirmatory_grid(names, store({"confirm": expected, "confirm-clipped": 30}))
    assert grid["name"] == "confirm" and grid["have"] == expected == grid["expected"] == 100
    assert grid["waiting"] == [("confirm-clipped", 30, 100)]
    about = {"confirm_name": grid["name"], "confirm_have": grid["have"], "confirm_expected": grid["expected"],
             "confirm_waiting": grid["waiting"]}
    said = pages.confirm_source_text(about)
    assert said.startswith("all 100 runs of the confirm grid are in") and "confirm-clipped grid" in said
    assert "holds 30 of its 100 runs and takes over once complete" in said
    done = answer.confirmatory_grid(names, store({"confirm": 100, "confirm-clipped": 100}))
    assert done["name"] == "confirm-clipped" and done["waiting"] == []
    neither = answer.confirmatory_grid(names, store({"confirm": 99}))  # the oldest, reported as pending
    assert (neither["name"], neither["have"]) == ("confirm", 99)
    assert "holds 99 of its 100 runs; its verdicts replace these" in pages.confirm_source_text(
        {"confirm_name": "confirm", "confirm_have": 99, "confirm_expected": 100})
    assert answer.confirmatory_grid(None, store({})) is None and answer.confirmatory_grid("confirm", store({}))[
        "name"] == "confirm"
    with pytest.raises(ValueError, match="no-such-grid"):
        answer.confirmatory_grid(["no-such-grid"], store({}))


def _capacity(error_of, rng, seeds, params, noise=0.03, sizes=(1000, 2000, 5000, 10000)):
    return pd.DataFrame([{"variant": "rotated", "group": g, "n_train": n, "seed": s, "status": "finished",
                          "target_params": params, "best_at_last_eval": False, "epochs_done": 25,
                          "best_val_epoch": 20,
                          "test_at_best_val": error_of(g, n) * math.exp(rng.normal(0, noise))}
                         for g in ("trivial", "C8") for n in sizes for s in seeds])


def test_capacity_rows_wait_for_the_declared_grid_then_find_the_true_change():
    """The benefit of C8 halves at every size in the larger models (a known store): each capacity row recovers
    x0.5 and says "shrank"; the declared slope rule, on a store where C8 scales like the plain CNN at 100k and
    0.125 more slowly at 20k, says "vanishes"; before all declared runs are in, both say so and claim nothing."""
    from equilib.analysis import claims

    rng = np.random.default_rng(7)
    small = _capacity(lambda g, n: 0.3 * (n / 1000) ** (-0.5 if g == "trivial" else -0.375) / (3 if g == "C8" else 1),
                      rng, range(3), 20_000)
    large = _capacity(lambda g, n: 0.3 * (n / 1000) ** -0.5 / (1.5 if g == "C8" else 1), rng, range(5), 100_000)
    rows = pd.DataFrame(answer.capacity_effects(large, small, expected=len(large)))
    assert len(rows) == 4 and rows["property"].eq("model capacity").all()
    at_1k = rows[rows["effect"].str.endswith("n = 1,000")].iloc[0]
    assert at_1k["low"] < 0.5 < at_1k["high"] and at_1k["verdict"] == "shrank"
    assert rows["level"].tolist() == pytest.approx([1 - 0.05 / 4] * 4)
    verdict = claims.capacity_claim(large, small, expected=len(large))
    assert verdict["verdict"] == "vanishes" and verdict["small"] == pytest.approx(0.125, abs=0.03)
    assert verdict["sizes"] == [1000, 2000, 5000, 10000]
    # one run short of the declaration: named as missing, not judged
    partial = large.iloc[1:]
    waiting = answer.capacity_effects(partial, small, expected=len(large))
    assert len(waiting) == 1 and waiting[0]["verdict"] == "missing" and "39 of 40 runs in" in waiting[0]["source"]
    assert claims.capacity_claim(partial, small, expected=len(large))["verdict"] == "not yet measured"
    # more than 20% of a group's larger runs still improving: no verdict
    stuck = large.assign(best_at_last_eval=large["group"].eq("C8") & large["seed"].lt(2))
    assert claims.capacity_claim(stuck, small, expected=len(large))["why"] == "unconverged"
    assert pages.capacity_text(claims.capacity_claim(stuck, small, expected=len(large))).endswith(
        "still improving at their last evaluation: the plain CNN 0%, C8 40%).")
    assert "Verdict: vanishes (its interval lies within ±0.05" in pages.capacity_text(verdict)
    assert pages.capacity_text(claims.capacity_claim(partial, small, expected=len(large))).startswith(
        "Not yet measured: 39 of the 40 runs")


def test_capacity_rows_hold_their_size_find_a_halving_and_reach_every_answer():
    """The capacity rows (4 sizes, Bonferroni; 5 seeds at 100k, 3 at 20k, seed noise 0.05 on the log error, about
    the stored MNIST spread): with no change, a move is claimed in at most ~5% of 200 stores; a benefit that
    halves in the larger models is found ("shrank") at 1,000 images in at least 80%; every answer occurs."""
    rng = np.random.default_rng(11)
    plain = lambda g, n: 0.2 * (n / 1000) ** -0.5  # noqa: E731

    def rows(factor, noise=0.05, seeds_large=range(5)):
        small = _capacity(lambda g, n: plain(g, n) / (2.0 if g == "C8" else 1), rng, range(3), 20_000, noise)
        large = _capacity(lambda g, n: plain(g, n) / (2.0 * factor if g == "C8" else 1), rng, seeds_large,
                          100_000, noise)
        return pd.DataFrame(answer.capacity_effects(large, small, expected=len(large)))

    claimed = sum(rows(1.0)["verdict"].isin(["grew", "shrank"]).any() for _ in range(200))
    assert claimed / 200 <= 0.08, claimed  # 5% nominal, with Monte-Carlo slack
    found = sum(rows(0.5)["verdict"].iloc[0] == "shrank" for _ in range(200))
    assert found / 200 >= 0.8, found
    said = {v for factor in (0.5, 2.0) for v in rows(factor)["verdict"]}
    said |= set(rows(1.0, noise=0.5)["verdict"]) | set(rows(2.0, seeds_large=range(2))["verdict"])
    said |= {answer.capacity_effects(None, None, expected=40)[0]["verdict"]}
    assert said == {"grew", "shrank", "inconclusive", "missing"}


def test_the_answer_reads_a_large_size_once_all_its_declared_runs_are_in(monkeypatch):
    """stored_effects, on a store patched in: the rotated sizes of the ``large`` preset join the MNIST rows once
    every declared rotated run at them is in (and the flip-rotated rows stay at 10,000); one run short, none do."""
    from equilib.analysis import beyond as beyond_analysis
    from equilib.experiments import beyond as beyond_experiment
    from equilib.experiments import presets, protocol
    from equilib.experiments.protocol import mnist_cells

    rng = np.random.default_rng(3)
    benefit = {1000: 2.0, 10000: 1.6, 20000: 1.6, 50000: 1.0}  # the benefit is gone at 50,000
    small = _mnist(lambda v, g, n: 0.02 * (1 if g != "trivial" else benefit[n]), rng).assign(
        run_id=lambda d: [f"s{i}" for i in range(len(d))])
    large = presets.resolve("mnist", "large")
    cells = sorted(c for c in mnist_cells(large) if c[0] == "rotated")
    big = pd.DataFrame([{"run_id": f"{g}{s}{n}", "variant": v, "group": g, "seed": s, "n_train": n,
                         "status": "finished", "test_at_best_val": 0.02 * (1 if g != "trivial" else benefit[n])
                         * math.exp(rng.normal(0, 0.02))} for v, g, s in cells for n in (20_000, 50_000)])
    served = {"cpu": small, "large": big}

    def lookup(experiment, grid, run=None):
        if experiment == "mnist" and grid["preset"] in served:
            return served[grid["preset"]]
        return pd.DataFrame({"status": [], "run_id": [], "variant": [], "group": [], "n_train": [], "dim": [],
                             "model": [], "seed": [], "test_at_best_val": []})

    monkeypatch.setattr(protocol, "run_protocol", lookup)
    monkeypatch.setattr(beyond_experiment, "run_beyond", lambda grid, run: pd.DataFrame())
    monkeypatch.setattr(beyond_analysis, "study_tables", lambda runs, grid: {})
    table, about = answer.stored_effects("unused", confirmatory=None)
    assert about["mnist_sizes"] == {"rotated": [1000, 10000, 20000, 50000], "fliprot": [1000, 10000]}
    assert pages.sizes_by_variant([(v, n) for v, sizes in about["mnist_sizes"].items() for n in sizes]) == (
        "rotated MNIST at 1,000, 10,000, 20,000 and 50,000; flip-rotated MNIST at 1,000 and 10,000")
    c8 = _row(table, "C8 on rotated")
    assert c8["effect"] == "C8 on rotated: n = 50,000 vs 1,000" and c8["source"] == ("MNIST cpu preset; the large preset's at "
                                                                                "20,000 (rotated), 50,000 (rotated)")
    assert c8["verdict"] == "shrank" and c8["low"] < 0.5 < c8["high"]  # the benefit halves: 1.0 / 2.0
    assert _row(table, "D8 on flip-rotated")["effect"] == "D8 on flip-rotated: n = 10,000 vs 1,000"
    assert _row(table, "C8 vs C4, rotated")["effect"] == "C8 vs C4, rotated, n = 50,000"
    served["large"] = big.drop(index=big.index[big.n_train == 50_000][:1])  # one run short at 50,000
    table, about = answer.stored_effects("unused", confirmatory=None)
    assert about["mnist_sizes"] == {"rotated": [1000, 10000, 20000], "fliprot": [1000, 10000]}
    assert _row(table, "C8 on rotated")["effect"] == "C8 on rotated: n = 20,000 vs 1,000"
    served["large"] = big.drop(index=big.index[big.n_train == 20_000][:1]).iloc[:-1]  # one short at each size
    table, about = answer.stored_effects("unused", confirmatory=None)
    assert about["mnist_sizes"] == {"rotated": [1000, 10000], "fliprot": [1000, 10000]} and _row(table, "C8 on rotated")["source"] == "MNIST cpu preset"


def test_a_property_partly_measured_still_names_the_study_it_lacks():
    rows = [("capacity", "C8 at 5x, n = 10,000", "shrank", 0.85), ("capacity", "C8 at 5x, n = 1,000", "inconclusive",
                                                                   1.05),
            ("capacity", "C8 at 20x", "missing", np.nan), ("size", "C8 on rotated", "shrank", 0.7)]
    table = pd.DataFrame([{"property": p, "effect": e, "verdict": v, "change": c, "why": "", "detectable": 1.3,
                           "finding": "new here"} for p, e, v, c in rows])
    words = pages.decision_table(table).set_index("property")
    said = words.loc["capacity", "the benefit of equivariance"]
    assert said == "pays less for C8 at 5x, n = 10,000 (change 0.85); not measured yet: C8 at 20x"
    assert words.loc["capacity", "how sure"].startswith("1 of 2 decided")
    assert "not measured" not in words.loc["size", "the benefit of equivariance"]


def test_the_decision_table_names_every_decided_effect_compactly():
    """Three or more decided effects are named, not counted: names that differ in one word share one phrase."""
    assert pages.effect_names(["n = 4 vs n = 2", "n = 6 vs n = 2", "n = 8 vs n = 2"]) == "n = 4, 6, 8 vs n = 2"
    steps = [f"augmented GNN ({s} steps) vs GNN, n = {n}" for s, ns in (("equal", (2, 3, 6)), ("2x", (2, 4)))
             for n in ns]
    assert pages.effect_names(steps) == ("augmented GNN (equal steps) vs GNN, n = 2, 3, 6 and "
                                         "augmented GNN (2x steps) vs GNN, n = 2, 4")
    assert pages.effect_names(["C8 on rotated: n", "C8 on flip-rotated: n"]) == "C8 on rotated, flip-rotated: n"
    assert pages.effect_names(["box 5, n = 3 (confirmation)", "box 5, n = 3 (first look)"]) == (
        "box 5, n = 3 (confirmation, first look)")  # a bracketed phrase is one word
    assert pages.effect_names(["D4 vs C4 (mirrors the data lack), n = 1", "D8 vs C8 (the data have), n = 1"]) == (
        "D4 vs C4 (mirrors the data lack), n = 1 and D8 vs C8 (the data have), n = 1")  # apart in two words
    rows = pd.DataFrame([{"property": "dimension", "effect": f"n = {n} vs n = 2", "verdict": "grew",
                          "change": c, "why": "", "detectable": 1.3, "finding": "claim 1"}
                         for n, c in ((4, 1.4), (6, 3.4), (8, 7.6))])
    said = pages.decision_table(rows)["the benefit of equivariance"].iloc[0]
    assert said == "pays more for n = 4, 6, 8 vs n = 2 (changes 1.4 to 7.6)"
