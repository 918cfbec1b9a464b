"""Statistics behind the figures, and the claim verdicts, on data with a known answer."""
import itertools

import numpy as np
import pandas as pd
import pytest
import altair as alt
import ipywidgets
from scipy import stats as sps

from equilib.analysis import claims, intervals
from equilib.experiments.presets import KEY_GROUPS
from equilib.report import charts, export, render, tables
from equilib.report.charts import mnist_figure

from conftest import ROOT


def test_log_ratio_interval_matches_a_welch_test():
    rng = np.random.default_rng(0)
    a, b = np.exp(rng.normal(1.0, 0.3, 6)), np.exp(rng.normal(0.2, 0.5, 4))
    ratio, lo, hi = intervals.log_ratio_ci(a, b)
    assert ratio == pytest.approx(np.exp(np.log(a).mean() - np.log(b).mean()))
    # the interval's edges are exactly where a Welch test on the logs has p = 0.05
    for edge in (lo, hi):
        p = sps.ttest_ind(np.log(a) - np.log(edge), np.log(b), equal_var=False).pvalue
        assert p == pytest.approx(0.05, abs=1e-6)


def test_power_law_fit_recovers_a_known_slope():
    rows = [{"variant": "rotated", "group": "C8", "n_train": n, "seed": s, "status": "finished",
             "test_at_best_val": 3.0 * n ** -0.5 * np.exp(0.01 * (s - 1))}
            for n, s in itertools.product([1000, 2000, 5000, 10000], [0, 1, 2])]
    fit = tables.fits_table(pd.DataFrame(rows)).iloc[0]
    assert fit.slope == pytest.approx(-0.5, abs=1e-6) and fit.low < -0.5 < fit.high


def _nbody(ratios):
    rng = np.random.default_rng(1)
    return pd.DataFrame([{"dim": d, "model": m, "seed": s, "status": "finished", "epochs_done": 10,
                          "best_val_epoch": 4, "best_at_last_eval": False, "best_test": v, "test_at_best_val": v}
                         for d, r in ratios.items() for s in range(4) for m, v in
                         (("egnn", np.exp(rng.normal(0, 0.02))), ("gnn", r * np.exp(rng.normal(0, 0.02))))])


def test_dimension_claim_verdicts():
    assert claims.dimension_claim(_nbody({2: 1.1, 3: 1.3, 4: 1.6, 8: 2.5}))["verdict"] == "supported"
    assert claims.dimension_claim(_nbody({n: 3 * 0.8**n for n in (2, 3, 4, 8)}))["verdict"] == "not supported"
    # a decline that bends away from a straight line (in log ratio against n) is still a decline: the rule asks
    # whether the ratio rises with n, not whether it lies on a line
    assert claims.dimension_claim(_nbody({2: 2.5, 3: 1.6, 4: 1.3, 8: 1.1}))["verdict"] == "not supported"
    assert claims.dimension_claim(_nbody({2: 1.1, 3: 1.3}))["verdict"] == "not yet measured"
    unconverged = _nbody({2: 1.1, 3: 1.3, 4: 1.6, 8: 2.5}).assign(best_at_last_eval=True)
    assert claims.dimension_claim(unconverged)["verdict"] == "inconclusive"
    evidence = claims.dimension_claim(_nbody({2: 1.1, 3: 1.3, 4: 1.6, 8: 2.5}))["evidence"]
    assert "n = 8: 2.4" in evidence or "n = 8: 2.5" in evidence
    assert "(4 seeds)" in evidence and "above 1 at 4 of 4" in evidence


def test_a_confirmatory_grid_says_nothing_until_it_is_complete():
    full = _nbody({2: 1.1, 3: 1.3, 4: 1.6, 8: 2.5})
    partial = full[full.seed < 2]
    empty = pd.DataFrame(columns=full.columns)
    summary = claims.summarise(partial, empty, nbody_expected=len(full), exploratory=full)
    plain = summary.iloc[0]
    assert plain.verdict == "not yet measured"
    assert f"holds {len(partial)} of its {len(full)} runs" in plain.evidence and "says supported" in plain.evidence
    done = claims.summarise(full, empty, nbody_expected=len(full), exploratory=partial)
    assert done.iloc[0].verdict == "supported"


def test_grid_comparison_puts_both_grids_side_by_side():
    a, b = _nbody({2: 1.1, 3: 1.3, 4: 1.6, 8: 2.5}), _nbody({2: 1.0, 3: 1.2, 8: 3.0})
    both = claims.grid_comparison({"exploratory": a, "confirmatory": b})
    assert list(both.dim) == [2, 3, 4, 8]
    assert both[("exploratory", "GNN / EGNN", "ratio")].iloc[0] == pytest.approx(1.1, rel=0.05)
    assert both[("confirmatory", "GNN / EGNN", "ratio")].iloc[3] == pytest.approx(3.0, rel=0.05)
    assert np.isnan(both[("confirmatory", "GNN / EGNN", "ratio")].iloc[2])  # n = 4 not in the second grid
    assert not any("spread" in c for c in both.columns[1:])  # the spreads are spread_comparison's
    from equilib.report import pages
    html = pages.grid_comparison_table(claims.grid_comparison({"exploratory": a, "confirmatory": b, "clipped": b}))
    assert "clipped" in html.to_html() and "1.10" in html.to_html()


def test_spread_comparison_gives_every_trained_models_spread_in_each_grid():
    a = _nbody({2: 1.1, 3: 1.3})
    b = pd.concat([_nbody({2: 1.0}), _nbody({2: 1.0}).assign(model="freeflight")], ignore_index=True)
    b.loc[(b.model == "gnn") & (b.seed == 0), "test_at_best_val"] *= 4.0  # one GNN seed far off
    table = claims.spread_comparison({"exploratory": a, "confirmatory": b})
    assert list(table.columns) == [("gnn", "exploratory"), ("gnn", "confirmatory"), ("egnn", "exploratory"),
                                   ("egnn", "confirmatory")]  # catalogue order; free flight has no seeds to train
    assert list(table.index) == [2, 3] and np.isnan(table.loc[3, ("gnn", "confirmatory")])
    gnn = b[(b.model == "gnn")].test_at_best_val
    assert table.loc[2, ("gnn", "confirmatory")] == pytest.approx(gnn.max() / gnn.min())
    assert table.loc[2, ("gnn", "confirmatory")] > 3.5
    assert table.loc[2, ("egnn", "confirmatory")] < 1.2
    egnn = a[(a.model == "egnn") & (a.dim == 3)].test_at_best_val
    assert table.loc[3, ("egnn", "exploratory")] == pytest.approx(egnn.max() / egnn.min())
    from equilib.report import pages
    html = pages.spread_comparison_table(table).to_html()
    assert "GNN" in html and "EGNN" in html and "confirmatory" in html and "x<" in html and "–" in html
    assert claims.spread_comparison({"exploratory": a.head(0), "confirmatory": a.head(0)}).empty
    three = claims.spread_comparison({"exploratory": a, "confirmatory": b, "clipped": a})
    assert list(three.columns)[:3] == [("gnn", "exploratory"), ("gnn", "confirmatory"), ("gnn", "clipped")]


def test_reproduction_table_judges_agreement_with_a_published_number():
    def runs(factor, seeds=3):
        rng = np.random.default_rng(4)
        return pd.DataFrame([{"model": m, "seed": s, "status": "finished", "budget_steps": 15000,
                              "test_at_best_val": v * factor * np.exp(rng.normal(0, 0.01))}
                             for m, v in claims.EGNN_PAPER_TABLE.items() for s in range(seeds)])
    same = claims.reproduction_table(runs(1.0)).set_index("model")
    assert set(same.verdict) == {"equal"} and same.loc["gnn", "ratio"] == pytest.approx(1.0, abs=0.02)
    assert set(claims.reproduction_table(runs(1.3)).verdict) == {"above"}
    assert set(claims.reproduction_table(runs(0.7)).verdict) == {"below"}
    assert set(claims.reproduction_table(runs(1.0, seeds=2)).verdict) == {"inconclusive"}  # too few seeds
    assert claims.reproduction_table(pd.DataFrame()).empty
    with pytest.raises(ValueError, match="margin must be a fraction in \\(0, 1\\), got 1.5"):
        claims.reproduction_table(runs(1.0), margin=1.5)


def _mnist(error_of, seeds=(0, 1, 2), sizes=(1000, 2000, 5000, 10000)):
    """The key groups with ``seeds``, and the other groups with one seed (shown, never judged)."""
    rng = np.random.default_rng(2)
    cells = [(v, g, s) for v, groups in KEY_GROUPS.items() for g in groups for s in seeds]
    cells += [(v, g, 0) for v in KEY_GROUPS for g in ("C4", "SO2", "O2") if g not in KEY_GROUPS[v]]
    return pd.DataFrame([{"variant": v, "group": g, "n_train": n, "seed": s, "status": "finished",
                          "epochs_done": 10, "best_val_epoch": 5, "best_at_last_eval": False,
                          "test_at_best_val": error_of(v, g, n) * np.exp(rng.normal(0, 0.01)),
                          "best_test": error_of(v, g, n)}
                         for v, g, s in cells for n in sizes])


def test_published_mnist_table_sets_each_key_group_at_its_largest_size_beside_the_published_models():
    rank = {"trivial": 3.0, "C4": 2.0, "C8": 1.5, "SO2": 1.0}
    runs = _mnist(lambda v, g, n: 0.01 * rank.get(g, 1) * (n / 1000) ** -0.5).assign(params=20_000, epochs=25)
    runs = runs[(runs.n_train < 10_000) | (runs.group != "C4")]  # C4's largest size is then 5,000
    table = claims.published_mnist_table(claims.key_runs(runs))
    ours = table[table.source == "this book's store"].set_index("group")
    assert list(ours.index) == ["SO2", "C8", "C4", "trivial"]  # rotated only, lowest error first
    assert ours.loc["C4", "n_train"] == 5000 and ours.loc["C8", "n_train"] == 10_000
    assert ours.loc["C8", "error"] == pytest.approx(0.015 * 10 ** -0.5, rel=0.02)
    assert ours.loc["C8", "low"] < ours.loc["C8", "error"] < ours.loc["C8", "high"] and ours.loc["C8", "seeds"] == 3
    published = table[table.source != "this book's store"]
    assert len(published) == len(claims.PUBLISHED_ROTATED_MNIST) and published.seeds.isna().all()
    assert published.error.between(0.005, 0.03).all() and (published.params.dropna() > 1e5).all()
    assert len(claims.published_mnist_table(runs.head(0))) == len(claims.PUBLISHED_ROTATED_MNIST)  # no runs yet


def test_mnist_claims_on_data_that_follow_the_paper():
    # the one-seed groups are better than the matching group: they must not decide (or block) a verdict
    rank = {"rotated": {"trivial": 3, "C4": 2, "C8": 1.5, "O2": 0.5, "SO2": 1},
            "fliprot": {"trivial": 3, "C4": 0.5, "SO2": 0.5, "D4": 2, "D8": 1.5, "O2": 1}}
    runs = _mnist(lambda v, g, n: 0.1 * rank[v][g] * (n / 1000) ** -0.4)
    assert claims.alignment_claim(runs)["verdict"] == "supported"
    assert claims.regime_claim(runs)["verdict"] == "supported"
    assert claims.slope_claim(runs)["verdict"] == "supported"


def test_mnist_claims_on_data_that_contradict_the_paper():
    # the plain CNN is better at every size, and its curve falls three times as steeply
    runs = _mnist(lambda v, g, n: 0.05 * (n / 1000) ** -0.9 if g == "trivial" else 0.2 * (n / 1000) ** -0.3)
    assert claims.alignment_claim(runs)["verdict"] == "not supported"  # the plain CNN wins everywhere
    assert claims.regime_claim(runs)["verdict"] == "not supported"
    assert claims.slope_claim(runs)["verdict"] == "not supported"


def test_mnist_power_redraws_each_claim_and_counts_the_seeds_that_decide_it():
    rank = {"rotated": {"trivial": 3, "C4": 2, "C8": 1.5, "O2": 0.5, "SO2": 1},
            "fliprot": {"trivial": 3, "C4": 0.5, "SO2": 0.5, "D4": 2, "D8": 1.5, "O2": 1}}
    runs = _mnist(lambda v, g, n: 0.1 * rank[v][g] * (n / 1000) ** -0.4).assign(model="cnn")
    table = claims.mnist_power(runs, seeds_tried=(2, 3), repeats=10)
    assert list(table.claim.unique()) == list(claims.MNIST_CLAIMS) and set(table.seeds) == {2, 3}
    at3 = table[table.seeds == 3].set_index("claim")
    assert (at3["supported"] >= 0.8).all(), at3  # clear effects, precise cells: decided at 3 seeds
    assert (table[table.seeds == 2]["inconclusive"] == 1.0).all()  # 2 seeds is below every rule's minimum
    assert claims.seeds_to_decide(table) == {"alignment": 3, "regime": 3, "slope": 3}


def test_the_rules_return_numbers_and_the_claims_word_them():
    from equilib.analysis import rules

    runs = _mnist(lambda v, g, n: 0.1 * {"trivial": 3, "C4": 2, "C8": 0.6, "SO2": 1, "D4": 2, "D8": 1.5,
                                         "O2": 1}[g] * (n / 1000) ** -0.4)
    key = claims.key_runs(runs)
    lowest = rules.lowest_group_verdict(key, "rotated", "SO2")
    beats = rules.beats_reference_verdict(key, "rotated", "C8")
    slopes = rules.similar_slopes_verdict(key, ["rotated"])
    for result in (lowest, beats, slopes):
        assert not any(isinstance(v, str) and " " in v for k, v in result.items() if k not in ("verdict", "why"))
        assert result["why"] in rules.GROUP_WHY
    assert lowest["why"] == "beaten" and claims.why_text(lowest).startswith("C8 is lower by more than 10% beyond "
                                                                            "doubt at n = 1,000 and 3 more")
    assert beats["why"] == "better" and claims.why_text(beats) == "better at every one of 4 sizes"
    assert slopes["why"] == "similar" and claims.why_text(slopes) == "every difference within ±0.1 (95% intervals)"
    growth = rules.growth_verdict(intervals.ratio_table(_nbody({2: 1.1, 3: 1.3, 4: 1.6, 8: 2.5}), "gnn", "egnn"))
    assert growth["why"] in rules.GROWTH_WHY and claims.why_text(growth) == "the slope's interval lies above 0"


def test_wide_slope_intervals_are_inconclusive_not_supported():
    rng = np.random.default_rng(3)
    runs = _mnist(lambda v, g, n: 0.1 * (n / 1000) ** -0.5 * np.exp(rng.normal(0, 0.5)), seeds=(0,),
                  sizes=(1000, 2000, 4000))
    assert claims.slope_claim(runs)["verdict"] == "inconclusive"


def test_live_widgets_only_under_a_live_frontend(monkeypatch):
    for key in (*render.LIVE_FRONTEND_ENV, "EQUILIB_WIDGETS"):
        monkeypatch.delenv(key, raising=False)
    seen = []
    chart = lambda a, b: seen.append((a, b)) or alt.Chart(pd.DataFrame({"x": [a], "y": [b]})).mark_point()
    assert isinstance(render.explore(chart, a=[1, 2], b=(0, 4, 2)), str) and not seen  # headless: nothing drawn
    monkeypatch.setenv("JPY_SESSION_NAME", "book/nbody.md")
    previous = alt.renderers.active
    render.use_book_renderer()
    try:
        box = render.explore(chart, a=[1, 2], b=(0, 4, 2))
    finally:
        alt.renderers.enable(previous)
    dropdown, slider, out = box.children
    assert isinstance(dropdown, ipywidgets.Dropdown) and isinstance(slider, ipywidgets.IntSlider)
    assert render.EXPLORE_CLASS in box._dom_classes and seen == [(1, 0)]
    first = out.outputs[0]["data"]["text/html"]
    dropdown.value, slider.value = 2, 4
    assert seen == [(1, 0), (2, 0), (2, 4)]  # each control redraws
    assert len(out.outputs) == 1 and out.outputs[0]["data"]["text/html"] != first  # one chart, a new one
    with pytest.raises(ValueError, match=r"control 'a': expected a non-empty list .* got \[\]"):
        render.explore(chart, a=[])


def test_readme_figures_are_drawn_from_the_store(tmp_path):
    written = export.export_readme_figures(ROOT / "results", tmp_path)  # the committed store
    assert written and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)

    def sizes(**kwargs):  # the training sizes Figure 2 draws
        data = export.readme_charts(ROOT / "results", **kwargs)["figure2-mnist.png"].to_dict()["datasets"]
        return {r["n_train"] for rows in data.values() for r in rows}

    assert sizes() == {1000, 2000, 5000, 10000, 20000, 50000}  # as the MNIST page: the large runs too
    assert sizes(large=None) == {1000, 2000, 5000, 10000}
    with pytest.raises(ValueError, match="holds no cpu-preset runs to draw"):
        export.export_readme_figures(tmp_path / "empty", tmp_path)


def test_mnist_figure_offers_a_size_range_only_when_there_is_one():
    def bound(sizes):
        frame = pd.DataFrame([{"variant": "rotated", "group": g, "n_train": n, "error": 0.1, "low": 0.09,
                               "high": 0.11, "seeds": 3, "protocol": "test at best validation"}
                              for g in ("trivial", "C4") for n in sizes])
        params = mnist_figure(frame).to_dict()["params"]
        return {p["name"]: p.get("bind", {}).get("options") for p in params if p["name"] in ("n_min", "n_max")}

    assert bound([1000, 2000]) == {"n_min": [1000, 2000], "n_max": [1000, 2000]}
    assert bound([1000]) == {"n_min": None, "n_max": None}  # a select with one option is no choice


def test_interval_text_says_one_seed_instead_of_nan():
    assert charts.interval_text(1.5, 1.2, 1.9) == "1.50 [1.20, 1.90]"
    assert charts.interval_text(0.03, np.nan, np.nan, "+.3f") == "+0.030 (one seed)"


def test_the_large_sizes_sentence_counts_the_declared_runs_and_states_the_budget_check():
    from equilib.experiments import presets
    from equilib.experiments.protocol import protocol_size
    from equilib.report import pages

    large = presets.resolve("mnist", "large")
    assert protocol_size("mnist", large) == 2 * 4 * 3 * 2  # variants x key groups x seeds x sizes
    assert protocol_size("mnist", presets.resolve("mnist", "large-budget")) == 2 * 5 * 2  # groups x seeds x factors
    assert protocol_size("mnist", presets.resolve("mnist", "cpu")) == 120  # the committed grid's runs
    none = pd.DataFrame({"status": pd.Series(dtype=str)})
    text = pages.large_sizes_text(large, none, none, 48)
    assert text.startswith("0 of the 48 runs at 20,000 and 50,000 images") and "no run in the store yet" in text
    rng = np.random.default_rng(3)
    check = pd.DataFrame([{"group": g, "n_train": 50_000, "budget_factor": f, "seed": s, "status": "finished",
                           "test_at_best_val": (0.03 if g == "trivial" else 0.02) * np.exp(rng.normal(0, 0.01))}
                          for g in ("trivial", "SO2") for f in (1.0, 2.0) for s in range(5)])
    said = pages.large_sizes_text(large, none, check, 48, 20)
    assert ("The budget check (20 of 20 runs in): the plain / SO(2) error ratio is 1.50 at the budget and 1.50 "
            "at 2x it") in said and "over 5 seeds; verdict: supported." in said
    half = check[(check.budget_factor == 1.0) | (check.group == "trivial")]  # twice the budget: no SO(2) run yet
    assert pages.budget_check_text(half, 20) == ("The budget check (15 of 20 runs in): at twice the budget, one "
                                                 "group's runs only so far; the verdict waits for all 20 runs, as "
                                                 "declared. In absolute terms, 2x the steps take the test error "
                                                 "(geometric mean over seeds) of the plain CNN 2.99% to 3.00%.")
    assert ": no run at twice the budget yet;" in pages.budget_check_text(check[check.budget_factor == 1.0], 20)
    three = check[check.seed < 3]  # an interim look shows the interval and withholds the verdict
    said = pages.budget_check_text(three, 20)
    assert "(12 of 20 runs in)" in said and "over 3 seeds" in said and "verdict" in said and "supported" not in said
    moved = check.assign(test_at_best_val=check.test_at_best_val.where(
        (check.group != "trivial") | (check.budget_factor == 1.0), check.test_at_best_val * 2))
    assert "not supported; the 50,000-image points are under-trained" in pages.large_sizes_text(large, none, moved, 48)
    assert pages.large_sizes_text(None, none, None, 0) == "Skipped in this run (large=None)."


def test_the_budget_check_says_what_the_longer_budget_bought_and_who_still_improves():
    from equilib.report import pages

    check = pd.DataFrame([{"group": g, "n_train": 50_000, "budget_factor": f, "seed": s, "status": "finished",
                           "test_at_best_val": {"trivial": 0.06, "SO2": 0.03}[g] / f,
                           "best_at_last_eval": f == 2.0 and (g == "SO2" or s < 2), "epochs_done": 5 * f}
                          for g in ("trivial", "SO2") for f in (1.0, 2.0) for s in range(5)])
    check["best_val_epoch"] = check.epochs_done - ~check.best_at_last_eval
    said = pages.budget_gain_text(check)
    assert ("2x the steps take the test error (geometric mean over seeds) of the plain CNN 6.00% to 3.00% and of "
            "SO(2) 3.00% to 1.50%") in said
    assert "the longer budget: the plain CNN 2 of 5, SO(2) 5 of 5 (more than 20% holds" in said and said[-1] == "."
    assert pages.budget_check_text(check, 20).endswith("verdict: supported." + said)
    interim = pages.budget_check_text(check[check.seed < 4], 20)  # shown while the runs land, as the ratio is
    assert "the verdict waits" in interim and "the plain CNN 2 of 4, SO(2) 4 of 4" in interim
    assert pages.budget_gain_text(check[check.budget_factor == 1.0]) == ""  # nothing at twice the budget yet
    assert pages.budget_gain_text(check[(check.budget_factor == 1.0) | (check.group == "SO2")]).count(" to ") == 1


def test_a_large_size_enters_the_verdicts_once_all_its_declared_runs_are_in():
    from equilib.experiments import presets
    from equilib.experiments.protocol import complete_sizes, mnist_cells
    from equilib.report import pages

    large = presets.resolve("mnist", "large")
    cells = sorted(mnist_cells(large))
    assert len(cells) == 2 * 4 * 3  # variants x key groups x seeds
    runs = pd.DataFrame([{"variant": v, "group": g, "seed": s, "n_train": n, "status": "finished"}
                         for v, g, s in cells for n in (20_000, 50_000)])
    both = [(v, n) for v in ("rotated", "fliprot") for n in (20_000, 50_000)]
    assert complete_sizes(large, runs) == both
    one_missing = runs.drop(index=runs.index[(runs.n_train == 50_000) & (runs.variant == "fliprot")][5])
    assert complete_sizes(large, one_missing) == [("rotated", 20_000), ("rotated", 50_000), ("fliprot", 20_000)]
    failed = runs.assign(status=runs.status.where(runs.n_train == 50_000, "failed"))
    assert complete_sizes(large, failed) == [("rotated", 50_000), ("fliprot", 50_000)]
    assert complete_sizes(large, runs.head(0)) == []
    rotated_only = runs[runs.variant == "rotated"]  # the declared order: rotated first; its sizes need not wait
    assert complete_sizes(large, rotated_only) == [("rotated", 20_000), ("rotated", 50_000)]
    text = pages.large_sizes_text(large, one_missing, None, 48)
    assert text.startswith("47 of the 48 runs") and ("verdicts take a size once all its declared runs are in: "
                                                     "rotated MNIST at 20,000 and 50,000; flip-rotated MNIST at "
                                                     "20,000 so far") in text
    assert "the figure and the verdicts use all of them" in pages.large_sizes_text(large, runs, None, 48)


def test_the_verdicts_read_a_large_size_with_all_its_runs_and_nothing_of_one_without():
    from equilib.experiments import presets
    from equilib.experiments.protocol import mnist_cells, with_complete_sizes

    large = presets.resolve("mnist", "large")
    small = pd.DataFrame([{"run_id": f"s{i}", "variant": "rotated", "group": "trivial", "seed": 0, "n_train": n,
                           "status": "finished"} for i, n in enumerate((1_000, 10_000))])
    more = pd.DataFrame([{"run_id": f"{v}{g}{s}{n}", "variant": v, "group": g, "seed": s, "n_train": n,
                          "status": "finished"} for v, g, s in sorted(mnist_cells(large)) for n in (20_000, 50_000)])
    more = more.drop(index=more.index[(more.variant == "rotated") & (more.n_train == 50_000)][:1])
    more = more[~((more.variant == "fliprot") & (more.n_train == 20_000))]
    read = with_complete_sizes(small, large, more)
    cells = set(zip(read.variant, read.n_train))
    assert cells == {("rotated", 1_000), ("rotated", 10_000), ("rotated", 20_000), ("fliprot", 50_000)}
    assert len(read) == 2 + 12 + 12 and read.run_id.is_unique
    assert with_complete_sizes(small, large, more.head(0)) is small and with_complete_sizes(small, None, more) is small
    assert len(with_complete_sizes(read, large, more)) == len(read)  # taking them twice adds nothing


def test_convergence_text_counts_early_stops_and_runs_still_improving():
    from equilib.report import pages

    def run(stopped, step, improving):
        return {"status": "finished", "epochs_done": 10, "best_val_epoch": 10 if improving else 5,
                "best_at_last_eval": improving, "stopped_early": stopped, "stop_step": step, "stop_after": 0.8,
                "budget_steps": 1000}

    runs = pd.DataFrame([run(True, 900, False)] * 6 + [run(False, 1000, True)] * 2 + [run(False, 1000, False)] * 2)
    text = pages.convergence_text(runs)
    assert "Of its 10 trained runs, 60% stopped early, none before the protocol allowed it" in text
    assert "20% were still improving" in text
    too_soon = pd.concat([runs, pd.DataFrame([run(True, 500, False)])], ignore_index=True)
    assert "1 before the protocol allowed it" in pages.convergence_text(too_soon)
    assert pages.convergence_text(runs.head(0)) == "No trained run in the store yet."


def test_the_ratio_grid_names_a_size_a_variant_does_not_read_yet():
    from equilib.report import pages

    def table(variant: str, sizes: list[int]) -> pd.DataFrame:
        return pd.DataFrame([{"variant": variant, "group": "C8", "n_train": n, "ratio": 1.5, "low": 1.2, "high": 1.9}
                             for n in sizes])

    grid = pages.ratio_grid([table("rotated", [1000, 20_000]), table("fliprot", [1000]), table("plain", [])], "r")
    flip, rot = ("flip-rotated MNIST", "C8"), ("rotated MNIST", "C8")
    assert grid.loc[flip, 20_000] == pages.NOT_READ
    assert grid.loc[rot, 20_000] == grid.loc[flip, 1000] == "1.50 [1.20, 1.90]"
    assert not grid.isna().any().any() and list(grid.columns) == [1000, 20_000]
    assert list(grid.index) == [rot, flip]  # the book's order, named as on the page
    assert pages.ratio_grid([table("rotated", [])], "r").iloc[0, 0] == "not yet measured"


def test_tables_name_groups_and_data_sets_as_a_reader_does_in_the_book_order():
    """The store keeps ids (trivial, SO2, fliprot); every table on a page shows names, rotated MNIST first and
    the groups in the book's order, through a sort and a pivot alike."""
    table = pd.DataFrame({"variant": ["fliprot", "rotated", "rotated", "rotated", "plain"],
                          "group": ["O2", "trivial", "SO2", "C4", "mystery"], "n_train": [1000] * 5,
                          "value": list("abcde")})
    shown = tables.labelled(table)
    assert shown["group"].tolist() == ["O(2)", "plain CNN", "SO(2)", "C4", "mystery"]  # rows stay where they were
    ordered = shown.sort_values(["variant", "group"])
    assert ordered["variant"].astype(str).tolist() == ["rotated MNIST"] * 3 + ["flip-rotated MNIST", "MNIST"]
    assert ordered["group"].astype(str).tolist()[:3] == ["plain CNN", "C4", "SO(2)"]
    grid = shown.pivot(index=["variant", "group"], columns="n_train", values="value")
    assert grid.index[0] == ("rotated MNIST", "plain CNN") and len(grid) == 5
    assert table["group"].tolist()[0] == "O2"  # the caller's table is not changed
