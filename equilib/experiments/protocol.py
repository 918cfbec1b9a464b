"""One entry point from a notebook's resolved protocol to its runs: train what the store lacks, return the rest."""
from __future__ import annotations

import pandas as pd

from ..base.store import RunStore
from .mnist import mnist_sweep
from .nbody import nbody_rates, nbody_sweep, nbody_training
from .presets import protocol_groups
from .settings import RunSettings


def run_protocol(experiment: str, protocol: dict, run: RunSettings = RunSettings()) -> pd.DataFrame:
    """Run (or, with ``run.train_missing=False``, only look up) a notebook protocol from
    :mod:`equilib.experiments.presets`."""
    if experiment == "nbody":
        rates = nbody_rates(protocol, run)
        if rates is None:  # the rate pilot is not in the store yet, so neither is anything trained with its rates
            return RunStore(run.results, "nbody").runs().head(0)
        return nbody_sweep(protocol["dims"], protocol["models"], protocol["seeds"], [protocol["n_train"]],
                           **nbody_training(protocol, protocol["budget_steps"], rates), run=run)
    if experiment == "mnist":
        training = {k: protocol[k] for k in ("epochs", "min_steps", "eval_every", "lr", "batch_size", "schedule",
                                             "warmup", "patience", "stop_after", "n_val", "n_test",
                                             "target_params")}
        training["taper_above"] = protocol.get("taper_above", 0)
        blocks = [(protocol["variants"], protocol["groups"], protocol["seeds"])]
        blocks += [([v], groups, protocol["key_seeds"]) for v, groups in protocol["key_groups"].items()
                   if v in protocol["variants"] and protocol["key_seeds"]]
        factors = protocol.get("budget_factors", [1])  # the budget, then its multiples (a budget check)
        runs = [mnist_sweep(variants, groups, protocol["n_trains"], seeds,
                            **{**training, "epochs": training["epochs"] * factor}, run=run)
                .assign(**({"budget_factor": float(factor)} if factors != [1] else {}))
                for factor in factors
                for variants, groups, seeds in blocks if groups and seeds]  # every group's seeds, then the key
        # groups' extra seeds (a part of a protocol, presets.restrict, may leave a block empty)
        if not runs:
            return RunStore(run.results, "mnist").runs().head(0)
        return pd.concat(runs).drop_duplicates("run_id").reset_index(drop=True)
    raise ValueError(f"unknown experiment {experiment!r}; choose 'nbody' or 'mnist'")


def protocol_size(experiment: str, protocol: dict) -> int:
    """How many runs :func:`run_protocol` trains for ``protocol`` (the main grid; not pilots or budget checks)."""
    if experiment == "nbody":
        return len(protocol["dims"]) * len(protocol["models"]) * len(protocol["seeds"])
    if experiment == "mnist":
        return len(mnist_cells(protocol)) * len(protocol["n_trains"]) * len(protocol.get("budget_factors", [1]))
    raise ValueError(f"unknown experiment {experiment!r}; choose 'nbody' or 'mnist'")


def protocol_progress(experiment: str, protocol: dict, runs: pd.DataFrame) -> pd.DataFrame:
    """Per cell of a protocol's grid (N-body: dimension and model; MNIST: variant, group, size and budget factor),
    how many runs it declares and how many of them are finished in ``runs``: what a protocol command prints
    instead of its errors, so that a declared grid is read once whole, on the book's pages, not while it trains.
    """
    rows = []
    if experiment == "nbody":
        have = finished_keys(runs, ["dim", "model", "seed"])
        for dim in protocol["dims"]:
            for model in protocol["models"]:
                done = sum((dim, model, s) in have for s in protocol["seeds"])
                rows.append({"dim": dim, "model": model, "declared": len(protocol["seeds"]), "finished": done})
        return pd.DataFrame(rows, columns=["dim", "model", "declared", "finished"])
    if experiment != "mnist":
        raise ValueError(f"unknown experiment {experiment!r}; choose 'nbody' or 'mnist'")
    factors = protocol.get("budget_factors", [1])
    have = finished_keys(runs, ["variant", "group", "seed", "n_train", "budget_factor"])
    cells = mnist_cells(protocol)
    for v in protocol["variants"]:  # in the declared order
        for g in protocol_groups(protocol):
            cell_seeds = [s for vv, gg, s in cells if (vv, gg) == (v, g)]  # none: a key group of another variant
            rows += [{"variant": v, "group": g, "n_train": n, "budget_factor": f, "declared": len(cell_seeds),
                      "finished": sum((v, g, s, n, float(f)) in have for s in cell_seeds)}
                     for n in protocol["n_trains"] for f in factors if cell_seeds]
    out = pd.DataFrame(rows, columns=["variant", "group", "n_train", "budget_factor", "declared", "finished"])
    return out if factors != [1] else out.drop(columns="budget_factor")


def mnist_cells(protocol: dict) -> set[tuple[str, str, int]]:
    """The (variant, group, seed) cells an MNIST protocol trains at each of its sizes."""
    cells = {(v, g, s) for v in protocol["variants"] for g in protocol["groups"] for s in protocol["seeds"]}
    return cells | {(v, g, s) for v, groups in protocol["key_groups"].items() if v in protocol["variants"]
                    for g in groups for s in protocol["key_seeds"]}


def complete_sizes(protocol: dict, runs: pd.DataFrame) -> list[tuple[str, int]]:
    """The (variant, training size) pairs of an MNIST protocol at which every declared run is in ``runs``, finished.

    A declared grid is read size by size once whole, so that a sweep half-way through a size cannot turn
    the verdicts at the sizes already complete into "too few seeds". Whole per variant, as every MNIST
    verdict is: rotated MNIST's sizes need not wait for the flip-rotated runs, which train after them."""
    if runs.empty:
        return []
    have = finished_keys(runs, ["variant", "group", "seed", "n_train"])
    cells = mnist_cells(protocol)
    return [(variant, n) for variant in protocol["variants"] for n in protocol["n_trains"]
            if all((v, g, s, n) in have for v, g, s in cells if v == variant)]


def with_complete_sizes(runs: pd.DataFrame, protocol: dict | None, more: pd.DataFrame) -> pd.DataFrame:
    """``runs`` and, of ``more`` (the runs of a further ``protocol``, e.g. the ``large`` preset's), those at the
    variants and sizes where all its declared runs are in (:func:`complete_sizes`): the runs every MNIST verdict
    reads, on the MNIST page, the answer page, the intro and the README alike."""
    whole = complete_sizes(protocol, more) if protocol is not None else []
    if not whole:
        return runs
    take = pd.Series(list(zip(more["variant"], more["n_train"])), index=more.index).isin(whole)
    return joined(runs, more[take])


def finished_keys(runs: pd.DataFrame, columns: list[str]) -> set[tuple]:
    """The ``columns`` of every finished run in ``runs``, as tuples: what a declared grid's cells are checked
    against. A store without budget checks has no ``budget_factor`` column; its runs are at the budget (1.0).
    An empty store's frame may lack every column, and holds none."""
    if runs.empty:
        return set()
    finished = runs[runs["status"] == "finished"]
    values = [finished[c] if c in finished else pd.Series(1.0 if c == "budget_factor" else None, index=finished.index)
              for c in columns]
    return set(zip(*values))


def joined(runs: pd.DataFrame, more: pd.DataFrame) -> pd.DataFrame:
    """Two presets' runs as one frame, each run once (presets share the runs whose configurations agree)."""
    return pd.concat([runs, more]).drop_duplicates("run_id").reset_index(drop=True)
