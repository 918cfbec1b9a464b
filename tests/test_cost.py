"""The projection of a preset's GPU time: arithmetic on known throughputs, and bad input named."""
import json

import pytest

from equilib.experiments import cost, presets


def test_mnist_run_seconds_follow_the_budget_sizes_and_throughput():
    protocol = {"variants": ["rotated"], "groups": ["trivial"], "n_trains": [1000, 2000], "seeds": [0, 1],
                "epochs": 10, "eval_every": 1, "batch_size": 100, "n_val": 300, "n_test": 300}
    runs = cost.mnist_run_seconds(protocol, {"trivial": 100.0})
    evaluation = 600 / (cost.EVAL_SPEEDUP * 100)
    assert runs["seconds"].tolist() == pytest.approx([10 * 10 + 10 * evaluation, 10 * 20 + 10 * evaluation] * 2)
    # a step floor adds epochs (and spaces the evaluations), key groups add their seeds
    floor = cost.mnist_run_seconds({**protocol, "min_steps": 200, "key_groups": {"rotated": ["trivial"]},
                                    "key_seeds": [0, 1, 2]}, {"trivial": 100.0})
    assert len(floor) == 6
    assert floor["seconds"].iloc[0] == pytest.approx(20 * 10 + 10 * evaluation)  # 20 epochs, every 2nd evaluated
    with pytest.raises(ValueError, match=r"no throughput for group\(s\) \['trivial'\]"):
        cost.mnist_run_seconds(protocol, {"C4": 1.0})


def test_projection_divides_the_work_but_never_below_the_longest_job(tmp_path):
    measured = tmp_path / "train_mnist-cuda.json"
    rates = {g: {"img_per_s": 1000.0} for g in cost.H100_REFERENCE}
    measured.write_text(json.dumps({"device": "a test GPU", "groups": rates}))
    table, source = cost.project([1, 2, 1000], preset="smoke", measured=measured)
    assert source == "measured on a test GPU"
    both = table.set_index("experiment").loc["both"]
    assert both["1 GPU (h)"] == pytest.approx(both["GPU-hours"])
    assert both["2 GPUs (h)"] == pytest.approx(both["GPU-hours"] / 2)
    nbody = cost.nbody_run_seconds(presets.resolve("nbody", "smoke"))
    mnist = cost.mnist_run_seconds(presets.resolve("mnist", "smoke"), {g: 1000.0 for g in cost.H100_REFERENCE})
    longest = max(nbody["seconds"].max(), mnist["seconds"].max()) / 3600
    assert both["1000 GPUs (h)"] == pytest.approx(longest)
    with pytest.raises(ValueError, match=r"GPU counts must be integers >= 1; bad value\(s\): \[0\]"):
        cost.project([0])


def test_measured_costs_add_up_the_stores_own_wall_times(tmp_path, monkeypatch):
    from equilib.base.store import RunStore
    from equilib.experiments.nbody import nbody_convergence, nbody_lr_pilot
    from equilib.experiments.protocol import run_protocol
    from equilib.experiments.settings import RunSettings

    # the smoke preset cut to one seed at one n: GNN and EGNN in the grid, the pilot and the budget check
    tiny = {**presets.PRESETS["nbody"]["smoke"], "dims": [2], "models": ["gnn", "egnn", "freeflight"], "seeds": [0],
            "convergence": {"dims": [2], "seeds": [0], "factors": [2]},
            "pilot": {"dim": 2, "seed": 100, "lrs": [1e-3], "budget_factor": 0.5}}
    monkeypatch.setitem(presets.PRESETS["nbody"], "tiny", tiny)
    run = RunSettings(results=tmp_path / "results", cache_dir=tmp_path / "cache", progress=False)
    protocol = presets.resolve("nbody", "tiny")
    run_protocol("nbody", protocol, run)  # trains the grid and its rate pilot
    nbody_lr_pilot(protocol, run), nbody_convergence(protocol, run)
    stored = RunStore(tmp_path / "results", "nbody").runs()
    trained = stored[stored.wall_time > 0]
    assert len(trained) == 6 and len(stored) == 7  # grid, pilot and 2x budget, 2 each; free flight costs nothing
    table = cost.measured_costs(tmp_path / "results", stored=(("N-body", "tiny grid", "nbody", "tiny"),
                                                              ("N-body", "again", "nbody", "tiny")))
    first, again = table.iloc[0], table.iloc[1]
    assert first.runs == len(trained) > 0 and first.device == "cpu"
    assert first.hours == pytest.approx(trained.wall_time.sum() / 3600)
    assert (trained.cpu_time > 0).all() and first["runs CPU-timed"] == len(trained)
    assert first["CPU hours"] == pytest.approx(trained.cpu_time.sum() / 3600)
    assert again.runs == 0  # a run is counted once, under the first page that holds it


def test_stacked_figures_price_each_run_at_its_share_of_the_best_stack(tmp_path):
    rows = [{"group": g, "K": k, "alone_img_s": 100.0, "stacked_img_s": 100.0 * k ** 0.5}
            for g in cost.H100_REFERENCE for k in (1, 16, 64)]
    measured = tmp_path / "train_mnist_stacked-cuda.json"
    measured.write_text(json.dumps({"device": "a test GPU", "target_params": 400_000, "rows": rows}))
    rates, source = cost.mnist_throughputs(measured, 400_000)
    assert rates == {g: pytest.approx(800.0) for g in cost.H100_REFERENCE}  # K = 64, the fastest
    assert source.startswith("measured on a test GPU, stacked") and "trivial K=64" in source
    table, _ = cost.project([1], preset="paper", measured=measured)
    alone = tmp_path / "train_mnist-cuda.json"
    alone.write_text(json.dumps({"device": "a test GPU", "groups": {g: {"img_per_s": 100.0}
                                                                    for g in cost.H100_REFERENCE}}))
    slow, _ = cost.project([1], preset="paper", measured=alone)
    mnist = lambda t: t.set_index("experiment").loc["mnist", "GPU-hours"]  # noqa: E731
    assert mnist(slow) / mnist(table) == pytest.approx(8.0)
    # a throughput does not carry over between model sizes, and a file of another kind is named
    with pytest.raises(ValueError, match=r"measured models of 400000 parameters; the preset trains 20000"):
        cost.project([1], preset="cpu", measured=measured)
    # a benchmark stopped at its deadline: the groups it reached, the rest from the reference, named; a span
    # too short to time (a negative rate) is no figure
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"device": "a test GPU", "target_params": 400_000, "rows": [
        {"group": "C8", "K": 1, "alone_img_s": 3000.0, "stacked_img_s": 3000.0},
        {"group": "C8", "K": 8, "alone_img_s": 3000.0, "stacked_img_s": -90000.0},
        {"group": "C8", "K": 32, "alone_img_s": 3000.0, "stacked_img_s": 12000.0},
        {"group": "SO2", "K": 8, "alone_img_s": 2000.0, "stacked_img_s": None}]}))
    rates, source = cost.mnist_throughputs(partial, 400_000)
    assert rates["C8"] == 12000.0 and rates["SO2"] == cost.H100_REFERENCE["SO2"]
    assert rates.keys() == cost.H100_REFERENCE.keys()
    assert "stacked (C8 K=32;" in source and source.endswith(
        "; trivial, C4, D4, D8, SO2, O2: H100 reference figures of stack.md, one model at a time")
    # two benchmarks stopped at their deadlines, of one device and size, count as one file
    rest = tmp_path / "rest.json"
    rest.write_text(json.dumps({"device": "a test GPU", "target_params": 400_000, "rows": [
        {"group": g, "K": 8, "alone_img_s": 100.0, "stacked_img_s": 500.0} for g in ("trivial", "O2")]}))
    rates, source = cost.mnist_throughputs([partial, rest], 400_000)
    assert rates["C8"] == 12000.0 and rates["O2"] == 500.0 and rates["D8"] == cost.H100_REFERENCE["D8"]
    assert "stacked (C8 K=32, trivial K=8, O2 K=8;" in source
    from equilib.cli import build_parser
    assert build_parser().parse_args(["project", "--measured", str(partial), str(rest)]).measured == [
        str(partial), str(rest)]
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"device": "another GPU", "target_params": 400_000, "rows": []}))
    with pytest.raises(ValueError, match=r"measured files of different devices \['a test GPU', 'another GPU'\]"):
        cost.mnist_throughputs([partial, elsewhere], 400_000)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"device": "x"}))
    with pytest.raises(ValueError, match=r"neither a train_mnist nor a train_mnist_stacked"):
        cost.mnist_throughputs(other)
