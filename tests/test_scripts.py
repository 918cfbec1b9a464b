"""The training scripts ask the sweep for what their docstrings say, without training anything."""
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def _run(name: str, argv: list[str], monkeypatch) -> list[tuple]:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls = []
    monkeypatch.setattr(module, "nbody_sweep", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.setattr(sys, "argv", [name, *argv])
    module.main()
    return calls


def test_the_clip_pilot_pairs_the_exploratory_grid_but_for_the_clip(monkeypatch):
    from equilib.experiments.nbody import nbody_training
    from equilib.experiments.presets import resolve

    calls = _run("egnn_clip_pilot", ["--clip", "2", "--seeds", "1", "3"], monkeypatch)
    base = resolve("nbody", "cpu")
    grid = nbody_training(base, base["budget_steps"], 3e-3)
    assert [args[0] for args, _ in calls] == [[6, 8], [3]]
    for args, kwargs in calls:
        assert args[1:] == (["egnn"], [1, 3], [base["n_train"]])
        assert kwargs["clip_norm"] == 2.0
        same = {k: v for k, v in kwargs.items() if k not in ("clip_norm", "run")}
        assert same == {k: v for k, v in grid.items() if k != "clip_norm"} and same["lr"] == 3e-3


def test_the_confirmatory_pilot_asks_both_of_its_questions(monkeypatch):
    calls = _run("nbody_pilot", [], monkeypatch)
    delays = [kwargs["stop_after"] for _, kwargs in calls]
    assert delays[0] == 0.8 and delays[-1] == 0.0 and {kwargs["lr"] for _, kwargs in calls} == {1e-3, 3e-3, 1e-2}


def test_the_confirmatory_script_refuses_seeds_the_grid_did_not_declare(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        _run("nbody_confirm", ["--seeds", "3"], monkeypatch)
    assert "seeds [3] are not the confirmatory grid's" in capsys.readouterr().err



def test_the_clipped_grid_clips_the_egnn_alone_on_seeds_no_other_run_used(monkeypatch):
    from conftest import ROOT
    from equilib.base.store import RunStore
    from equilib.experiments.presets import resolve
    from equilib.experiments.protocol import run_protocol
    from equilib.experiments.settings import RunSettings

    (args, kwargs), = _run("nbody_confirm", ["--preset", "confirm-clipped", "--seeds", "12"], monkeypatch)
    assert args[2] == [12] and kwargs["clip_norm"] == {"egnn": 1.0} and kwargs["stop_after"] == 0.8
    protocol = resolve("nbody", "confirm-clipped")
    own = set(run_protocol("nbody", protocol, RunSettings(results=ROOT / "results", train_missing=False,
                                                          progress=False))["run_id"])
    others = [RunStore(ROOT / store, "nbody").runs() for store in ("results", "results/pilots")]
    used = {int(r.seed) for runs in others for r in runs.itertuples() if r.run_id not in own}
    assert not used & set(protocol["seeds"]), sorted(used & set(protocol["seeds"]))


def test_the_gpu_way_trains_the_seeds_together_and_splits_the_models(monkeypatch, capsys):
    (args, kwargs), = _run("nbody_confirm", ["--preset", "confirm-clipped", "--seeds", "13", "14", "15",
                                             "--together", "--models", "egnn", "--device", "cuda"], monkeypatch)
    assert args[1:3] == (["egnn"], [13, 14, 15]) and kwargs["run"].device == "cuda"
    with pytest.raises(SystemExit):
        _run("nbody_confirm", ["--models", "transformer"], monkeypatch)
    assert "models ['transformer'] are not the grid's" in capsys.readouterr().err


def _chunk_commands(program: str) -> list[list[str]]:
    """The argument lists scripts/device_chunk.sh passes to ``program``, its shell variables filled in."""
    import re
    import shlex

    text = (SCRIPTS / "device_chunk.sh").read_text().replace("\\\n", " ")
    default_device = re.search(r"^device=\$\{EQUILIB_CHUNK_DEVICE:-(\w+)\}", text, re.M).group(1)  # as on a GPU
    filled = {"$seed": "13", "$missing": "13 14", "$model": "egnn", "$device": default_device}
    found = []
    for line in text.splitlines():
        if program in line and not line.lstrip().startswith("#"):
            tail = line.split(program, 1)[1]
            for var, value in filled.items():
                tail = tail.replace(f'"{var}"', value).replace(var, value)
            found.append(shlex.split(re.sub(r"[;&|].*$", "", tail)))
    return found


def test_the_gpu_chunk_asks_the_cli_and_the_benchmark_for_what_they_take():
    import subprocess

    from equilib.cli import build_parser
    from equilib.experiments import presets
    from equilib.models.groups import GROUPS

    assert subprocess.run(["bash", "-n", str(SCRIPTS / "device_chunk.sh")]).returncode == 0
    mnist = _chunk_commands("python3 -m equilib")
    assert [a[a.index("--preset") + 1] for a in mnist] == ["capacity", "large", "capacity-400k"]
    for argv in mnist:
        args = build_parser().parse_args(argv)
        assert args.device == "cuda" and args.mnist_stack > 1 and args.executor == "processes"
        presets.restrict(presets.resolve("mnist", args.preset), variants=args.variants, groups=args.groups)
    bench, = _chunk_commands("benchmarks/train_mnist_stacked.py")  # alone on the GPU (--bench)
    assert bench[bench.index("--stacks") + 1 : bench.index("--groups")] == ["1", "8", "32", "64"]
    assert set(bench[bench.index("--groups") + 1 : bench.index("--n-train")]) == set(GROUPS)
    processes = sum(int(a[a.index("--workers") + 1]) for a in mnist[:2])  # the parts that start together
    assert processes <= 5
