"""Command line: ``python -m equilib <command>`` (or the ``equilib`` script)."""
from __future__ import annotations

import argparse
import ast
import sys
from typing import Sequence

import pandas as pd
import torch

from . import __version__
from .analysis import beyond
from .base.paths import cache_dir, data_dir, resolve_device
from .experiments import beyond as beyond_runs
from .experiments.cost import measured_costs, project
from .experiments.mnist import mnist_sweep
from .experiments.nbody import nbody_convergence, nbody_lr_pilot, nbody_physics, nbody_sweep
from .experiments.presets import PRESETS, resolve, restrict
from .experiments.protocol import protocol_progress, run_protocol
from .experiments.settings import RunSettings
from .models.groups import GROUPS
from .models.steerable import parameter_table
from .report import PAGES
from .report.tables import fits_table, nbody_table
from .training.executors import EXECUTORS
from .training.loop import SCHEDULES
from .tasks import nbody
from .tasks.nbody import FORCE_LAWS
from .tasks.mnist import load_mnist


def _info(args: argparse.Namespace) -> None:
    print(f"equilib {__version__}")
    print(f"torch {torch.__version__}; device 'auto' -> {resolve_device('auto')}")
    print(f"data directory  : {data_dir()}  (set EQUILIB_DATA_DIR)")
    print(f"cache directory : {cache_dir()}  (set EQUILIB_CACHE_DIR)")


def _nbody_data(args: argparse.Namespace) -> None:
    for dim in args.dims:
        data = nbody.make_dataset(dim, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, seed=args.seed,
                                  cache_dir=args.cache_dir, device=args.device, steps=args.steps,
                                  force_law=args.force_law)
        for split, path in data.paths.items():
            print(f"n={dim} {split:5s} {len(data[split]):6d} trajectories  {path}")


def _nbody_sweep(args: argparse.Namespace) -> None:
    lr = args.lr if len(args.lr) > 1 else args.lr[0]
    if isinstance(lr, list):
        if len(lr) != len(args.models):
            raise SystemExit(f"--lr takes one rate or one per model ({len(args.models)}), got {len(lr)}")
        lr = dict(zip(args.models, lr))
    runs = nbody_sweep(args.dims, args.models, args.seeds, args.n_train, epochs=args.epochs, lr=lr,
                       batch_size=args.batch_size, eval_every=args.eval_every, n_val=args.n_val,
                       n_test=args.n_test, stack=args.stack, steps=args.steps, run=_run_settings(args))
    print(nbody_table(runs).to_string())


def _run_settings(args: argparse.Namespace) -> RunSettings:
    """The run settings a sweep or protocol command was given (the options every one of them has)."""
    return RunSettings(results=args.results, device=args.device, cache_dir=args.cache_dir,
                       data_dir=getattr(args, "data_dir", None), force=getattr(args, "force", False),
                       executor=args.executor, address=args.address, workers=args.workers, threads=args.threads,
                       mnist_stack=getattr(args, "mnist_stack", 1))


def _nbody_protocol(args: argparse.Namespace) -> None:
    protocol = resolve("nbody", args.preset)
    run = _run_settings(args)
    for part in args.parts:
        if part == "pilot" and protocol["lr"] == "pilot":
            print(nbody_lr_pilot(protocol, run)[["model", "lr", "best_val", "test_at_best_val"]].to_string())
        elif part == "grid":
            _print_progress("nbody", protocol, run_protocol("nbody", protocol, run), args.results)
        elif part == "physics":
            print(nbody_physics(protocol["dims"], steps=protocol["steps"], results=args.results,
                                cache_dir=args.cache_dir).to_string())
        elif part == "convergence":
            checked = nbody_convergence(protocol, run)
            finished = checked[checked["status"] == "finished"]
            print(f"The budget check: {len(finished)} finished runs in {args.results}, per budget factor, "
                  "dimension and model (its verdict is read on the N-body page):")
            print(finished.groupby(["budget_factor", "dim", "model"]).size().rename("finished").to_string())


def _beyond(args: argparse.Namespace) -> None:
    protocol = resolve("beyond", args.preset, studies=args.studies)
    run = _run_settings(args)
    runs = beyond_runs.run_beyond(protocol, run)
    tables = {"breaking": beyond.breaking_table, "augmentation": beyond.augmentation_table,
              "horizon": beyond.horizon_table, "equivariance": beyond.equivariance_table}
    for study in protocol["studies"]:
        print(f"--- {study}\n" + tables[study](runs).drop(columns="difference", errors="ignore").to_string())
    for factor in protocol["augment_longer"] if "augmentation" in protocol["studies"] else []:
        table = beyond.augmentation_table(runs, factor).drop(columns="difference", errors="ignore")
        print(f"--- augmentation, {factor}x steps\n" + table.to_string())
    if "breaking" in protocol["studies"]:
        print(beyond_runs.breaking_events(protocol, run).to_string())


def _figures(args: argparse.Namespace) -> None:
    from .report.export import export_readme_figures

    for path in export_readme_figures(args.results, args.out, preset=args.preset, scale=args.scale):
        print(f"wrote {path}")


def _project(args: argparse.Namespace) -> None:
    table, source = project(args.gpus, preset=args.preset, measured=args.measured)
    print(f"Projected wall time of the {args.preset} preset (throughputs: {source}):")
    print(table.round(1).to_markdown(index=False) if args.markdown else table.round(1).to_string(index=False))


def _costs(args: argparse.Namespace) -> None:
    table = measured_costs(args.results)
    print(f"What the run store in {args.results} cost to train (from each run's wall_time, and its CPU time "
          "where it recorded one):")
    print(table.round(2).to_markdown(index=False) if args.markdown else table.round(2).to_string(index=False))


def _answer(args: argparse.Namespace) -> None:
    from .analysis import answer
    from .report.pages import decision_table

    table, about = answer.stored_effects(args.results, preset=args.preset)
    words = decision_table(table)
    print(f"What moves the benefit of equivariance, from the run store in {args.results} "
          f"(N-body: {about['nbody_source']}):")
    print(words.to_markdown(index=False) if args.markdown else words.to_string(index=False))


def _mnist_data(args: argparse.Namespace) -> None:
    for variant in args.variants:
        for split in ("train", "val", "test"):
            part = load_mnist(variant, split, seed=args.seed, data_dir=args.data_dir, cache_dir=args.cache_dir)
            print(f"{variant:8s} {split:5s} {len(part):6d} images, {part.flips.float().mean():.0%} mirrored")


def _mnist_sweep(args: argparse.Namespace) -> None:
    runs = mnist_sweep(args.variants, args.groups, args.n_train, args.seeds, epochs=args.epochs, lr=args.lr,
                       batch_size=args.batch_size, eval_every=args.eval_every, min_steps=args.min_steps,
                       schedule=args.schedule, warmup=args.warmup, patience=args.patience, stop_after=args.stop_after,
                       n_val=args.n_val, n_test=args.n_test, target_params=args.target_params,
                       run=_run_settings(args))
    table = runs.groupby(["variant", "group", "n_train"])[["best_test", "test_at_best_val"]].mean()
    print(table.to_string())
    print(fits_table(runs).to_string())


def _mnist_protocol(args: argparse.Namespace) -> None:
    protocol = restrict(resolve("mnist", args.preset), variants=args.variants, seeds=args.seeds, groups=args.groups,
                        budget_factors=args.budgets)
    runs = run_protocol("mnist", protocol, _run_settings(args))
    _print_progress("mnist", protocol, runs, args.results)


def _print_progress(experiment: str, protocol: dict, runs: pd.DataFrame, results: str) -> None:
    """What a protocol command says when it ends: how much of its grid the store holds, never its errors (a
    declared grid is read once whole, on the book's pages or with ``equilib answer``)."""
    table = protocol_progress(experiment, protocol, runs)
    print(f"{table['finished'].sum()} of the {table['declared'].sum()} runs asked for here ({protocol['preset']} "
          f"preset) are finished in {results}:")
    print(table.to_string(index=False))
    print("Their errors are read on the book's pages (or with `python -m equilib answer`) once a grid is whole; "
          "this command prints none, so that a declared grid is not read while it trains.")


def _cnn_params(args: argparse.Namespace) -> None:
    print(pd.DataFrame(parameter_table(tuple(args.groups), args.target_params)).to_string(index=False))


def _notebook(args: argparse.Namespace) -> None:
    from .report.notebooks import run_notebook

    params = {}
    for item in args.parameter:
        key, _, raw = item.partition("=")
        try:
            params[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            params[key] = raw
    out = run_notebook(args.page, args.output, params)
    print(f"executed notebook: {out}")


def _live(args: argparse.Namespace) -> None:
    import subprocess

    from .report import live

    argv, env = live.voila_command(args.dest, args.port)  # a bad port fails before the pages are written
    live.prepare(args.book, args.dest, args.results, args.vendor, tuple(args.pages))
    print("The live pages (Ctrl-C stops the server):", *(live.page_url(args.port, p) for p in args.pages), sep="\n  ",
          flush=True)
    try:
        subprocess.run(argv, env=env, check=True)
    except KeyboardInterrupt:
        pass


def _auto_or_count(value: str) -> str | int:
    if value != "auto" and not (value.isdigit() and int(value) >= 1):
        raise argparse.ArgumentTypeError(f"expected 'auto' or an integer >= 1, got {value!r}")
    return value if value == "auto" else int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="equilib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("info", help="versions, device, data and cache directories")
    p.set_defaults(func=_info)

    def executor_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--executor", default="local", choices=EXECUTORS,
                       help="local: one training at a time here; processes: --workers trainings at once here "
                            "(several small models share one GPU); ray: Ray tasks packed onto every GPU (or CPU) "
                            "of a cluster")
        p.add_argument("--workers", default=None, type=int,
                       help="processes executor: trainings at once (default: one per core)")
        p.add_argument("--address", default=None,
                       help="Ray cluster address (default $RAY_ADDRESS; 'auto' for a running cluster; "
                            "neither: a local instance)")
        p.add_argument("--threads", default="auto", type=_auto_or_count,
                       help="intra-op threads per training (auto: every core, shared among the processes "
                            "executor's workers); equal counts record equal numbers")

    def nbody_common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dims", type=int, nargs="+", default=[2, 3, 4, 6, 8], help="dimensions n")
        p.add_argument("--n-val", type=int, default=2000)
        p.add_argument("--n-test", type=int, default=2000, help="the paper: 2,000")
        p.add_argument("--steps", type=int, default=10_000, help="Euler steps between input and target")
        p.add_argument("--cache-dir", default=None, help="generated-data cache (default $EQUILIB_CACHE_DIR)")
        p.add_argument("--device", default="auto")

    p = sub.add_parser("nbody-data", help="simulate (or find in the cache) the N-body data sets; print their paths")
    nbody_common(p)
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force-law", default="dimension", choices=FORCE_LAWS)
    p.set_defaults(func=_nbody_data)

    p = sub.add_parser("nbody-sweep", help="train GNN/EGNN over dims x models x seeds x sizes into a run store")
    nbody_common(p)
    p.add_argument("--models", nargs="+", default=["gnn", "egnn"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--n-train", type=int, nargs="+", default=[10_000])
    p.add_argument("--epochs", type=int, default=10_000)
    p.add_argument("--lr", type=float, nargs="+", default=[5e-4], help="one rate, or one per model")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--eval-every", type=int, default=10)
    p.add_argument("--results", default="results", help="run store directory")
    p.add_argument("--force", action="store_true", help="rerun configurations already in the store")
    p.add_argument("--no-stack", dest="stack", action="store_false",
                   help="train one run at a time instead of stacking the runs that can share a stack")
    executor_options(p)
    p.set_defaults(func=_nbody_sweep)

    p = sub.add_parser("nbody-protocol", help="train a preset's whole N-body protocol: rate pilot, grid, budget check")
    p.add_argument("--preset", default="cpu", choices=list(PRESETS["nbody"]))
    p.add_argument("--parts", nargs="+", default=["pilot", "grid", "convergence", "physics"],
                   choices=["pilot", "grid", "convergence", "physics"],
                   help="in this order; each resumes where it stopped")
    p.add_argument("--results", default="results", help="run store directory")
    p.add_argument("--cache-dir", default=None, help="generated-data cache (default $EQUILIB_CACHE_DIR)")
    p.add_argument("--device", default="auto")
    executor_options(p)
    p.set_defaults(func=_nbody_protocol)

    p = sub.add_parser("beyond", help="train the beyond-the-paper N-body studies (breaking, augmentation, horizon, "
                                      "learned equivariance); resumes where it stopped")
    p.add_argument("--preset", default="cpu", choices=["smoke", "cpu"])
    p.add_argument("--studies", nargs="+", default=None, help="default: all four")
    p.add_argument("--results", default="results", help="run store directory")
    p.add_argument("--cache-dir", default=None, help="generated-data cache (default $EQUILIB_CACHE_DIR)")
    p.add_argument("--device", default="auto")
    executor_options(p)
    p.set_defaults(func=_beyond)

    groups = list(GROUPS)
    p = sub.add_parser("figures", help="export Figure 1 and Figure 2 as PNGs from the run store (for the README)")
    p.add_argument("--results", default="results", help="run store directory")
    p.add_argument("--out", default="docs", help="folder for the PNGs")
    p.add_argument("--preset", default="cpu", choices=["smoke", "cpu", "paper"], help="whose runs to draw")
    p.add_argument("--scale", type=float, default=2.0, help="pixels per chart unit")
    p.set_defaults(func=_figures)

    p = sub.add_parser("project", help="project a preset's wall time on 1, 4, 8 GPUs from measured per-run costs")
    p.add_argument("--preset", default="paper", choices=["smoke", "cpu", "paper"])
    p.add_argument("--gpus", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--measured", default=None, nargs="+",
                   help="a benchmarks/results/train_mnist-*.json or train_mnist_stacked-*.json from the GPU in "
                        "question, or several stacked ones of one device and size (default: stack.md's H100 "
                        "reference figures)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(func=_project)

    p = sub.add_parser("costs", help="what the run store cost to train, per page and preset (wall and CPU time)")
    p.add_argument("--results", default="results", help="run store directory")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(func=_costs)

    p = sub.add_parser("answer", help="the answer page's decision table: what moves the benefit of equivariance, "
                                      "from the run store")
    p.add_argument("--results", default="results")
    p.add_argument("--preset", default="cpu", choices=["smoke", "cpu", "paper"])
    p.add_argument("--markdown", action="store_true", help="a Markdown table (as in the README)")
    p.set_defaults(func=_answer)

    p = sub.add_parser("mnist-data", help="rotate (or find in the cache) the MNIST variants; print their sizes")
    p.add_argument("--variants", nargs="+", default=["rotated", "fliprot"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="holds mnist/ (default $EQUILIB_DATA_DIR)")
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(func=_mnist_data)

    p = sub.add_parser("mnist-sweep", help="train steerable CNNs over variants x groups x sizes x seeds")
    p.add_argument("--variants", nargs="+", default=["rotated", "fliprot"])
    p.add_argument("--groups", nargs="+", default=groups)
    p.add_argument("--n-train", type=int, nargs="+", default=[1000, 2000, 5000, 10_000, 20_000, 50_000])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--min-steps", type=int, default=0, help="at least this many steps at every size")
    p.add_argument("--schedule", default="constant", choices=SCHEDULES)
    p.add_argument("--warmup", type=float, default=0.0, help="fraction of the budget (cosine schedule)")
    p.add_argument("--patience", type=int, default=0, help="evaluations without a better validation (0: never)")
    p.add_argument("--stop-after", type=float, default=0.0, help="no early stop before this fraction of the budget")
    p.add_argument("--n-val", type=int, default=10_000)
    p.add_argument("--n-test", type=int, default=10_000)
    p.add_argument("--target-params", type=int, default=None, help="default 400,000")
    p.add_argument("--device", default="auto")
    p.add_argument("--results", default="results")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--force", action="store_true")
    p.add_argument("--stack", dest="mnist_stack", type=int, default=1,
                   help="seeds of one group, variant and size trained as one stacked module (GPU: 32-64)")
    executor_options(p)
    p.set_defaults(func=_mnist_sweep)

    p = sub.add_parser("mnist-protocol", help="train a preset's whole rotated-MNIST grid (resumes where it stopped)")
    p.add_argument("--preset", default="cpu", choices=list(PRESETS["mnist"]))
    p.add_argument("--variants", nargs="+", default=None, help="only these of the preset's variants (default: all)")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="only these of the preset's seeds, e.g. one seed at a time (default: all)")
    p.add_argument("--groups", nargs="+", default=None,
                   help="only these of the preset's groups, e.g. one slow group per process (default: all)")
    p.add_argument("--budgets", type=int, nargs="+", default=None,
                   help="only these of a budget check's budget factors, e.g. 2 for its runs at twice the budget")
    p.add_argument("--results", default="results", help="run store directory")
    p.add_argument("--data-dir", default=None, help="holds mnist/ (default $EQUILIB_DATA_DIR)")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--stack", dest="mnist_stack", type=int, default=1,
                   help="seeds of one group, variant and size trained as one stacked module (GPU: 32-64)")
    executor_options(p)
    p.set_defaults(func=_mnist_protocol)

    p = sub.add_parser("cnn-params", help="the parameter-matched widths and counts of the CNN zoo")
    p.add_argument("--groups", nargs="+", default=groups)
    p.add_argument("--target-params", type=int, default=400_000)
    p.set_defaults(func=_cnn_params)

    p = sub.add_parser("notebook",
                       help="run a book page with papermill: equilib notebook book/nbody.md -p preset=smoke")
    p.add_argument("page", help="a page of the book, e.g. book/nbody.md")
    p.add_argument("-o", "--output", default=None, help="executed .ipynb (default: beside the page)")
    p.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                   help="a notebook parameter; VALUE is a Python literal (e.g. dims=[2,3]) or a string")
    p.set_defaults(func=_notebook)

    p = sub.add_parser("live", help="serve the pages with working ipywidgets (Voila on 127.0.0.1), on the run store, "
                                    "training nothing")
    p.add_argument("--port", type=int, default=8866)
    p.add_argument("--results", default="results", help="the run store the pages read")
    p.add_argument("--dest", default="_build/live", help="where the live notebooks are written")
    p.add_argument("--book", default="book", help="the pages' folder")
    p.add_argument("--vendor", default="_static/vendor", help="the vendored vega bundles (make book-assets)")
    p.add_argument("--pages", nargs="+", default=list(PAGES), choices=PAGES)
    p.set_defaults(func=_live)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as exc:  # bad parameters: say which, without a traceback
        print(f"equilib {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0
