"""Beyond the paper: what else moves the EGNN's advantage on the N-body task.

Four studies on the converged N-body protocol (the trainer, schedule, budget,
rate pilot, per-seed data and free-flight control of the ``nbody`` preset named
by ``base``), each a set of ordinary N-body sweeps in the same run store:

* ``breaking``: walls (NRI's reflecting ``box``) and per-component force
  clipping (``clip``), which break the task's E(n) symmetry. An EGNN cannot
  represent a wall at a fixed place, so its advantage may shrink or reverse.
* ``augmentation``: the GNN trained on batches moved by a fresh random element
  of E(n) per sample, against the EGNN at equal steps.
* ``horizon``: the prediction horizon ``T`` (Euler steps of ``dt``).
* ``equivariance``: how equivariant the trained plain and augmented GNNs have
  become (:func:`equilib.tasks.symmetry.equivariance_error`, stored with every
  trained N-body run), against n and against the training-set size; every
  size trains to the same step budget.

A ``confirm`` protocol entry re-asks the breaking question of a few points
chosen after seeing the breaking study, on fresh seeds (and so fresh data): a
confirmation whose family is only those points, stored as study ``confirm``.

Runs come back labelled with ``study``, ``setting`` and ``horizon`` columns;
:mod:`equilib.analysis.beyond` turns them into tables and verdicts.
"""
from __future__ import annotations

from itertools import product

import numpy as np
import pandas as pd

from ..base.store import RunStore
from ..training.budget import sized_budget
from .nbody import nbody_physics, nbody_rates, nbody_sweep, nbody_training
from .presets import BREAKING_KINDS, resolve
from .settings import RunSettings

UNBROKEN = "no breaking"  # the reference setting of the breaking study


def breaking_physics(setting: dict) -> dict:
    """The simulator options of one breaking setting."""
    if setting["kind"] == "box":
        return {"box": setting["value"]}
    if setting["kind"] == "clip":
        return {"clip_component": setting["value"]}
    return {}


def setting_label(setting: dict) -> str:
    return "no breaking" if setting["kind"] == "none" else f"{setting['kind']} {setting['value']:g}"


def dial_order(label: str) -> tuple[int, float]:
    """Sort key of a :func:`setting_label`: unbroken first, then each kind from its mildest setting to its
    strongest (a box or a clip breaks more as its value falls)."""
    kind, _, value = label.partition(" ")
    return (0, 0.0) if label == UNBROKEN else (BREAKING_KINDS.index(kind), -float(value))


def run_beyond(protocol: dict, run: RunSettings = RunSettings()) -> pd.DataFrame:
    """Train (or, with ``train_missing=False``, look up) every run the protocol's studies need.

    Returns the runs, one row per (study, run): a run shared by two studies (the
    unbroken, default-horizon GNN and EGNN) appears under both.
    """
    base = resolve("nbody", protocol["base"])
    rates = nbody_rates(base, run)
    if rates is None:  # no pilot yet: nothing trained at its rates can be in the store either
        return RunStore(run.results, "nbody").runs().head(0).assign(study="", setting="")
    training = nbody_training(base, base["budget_steps"], rates)
    seeds, size = protocol["seeds"], [base["n_train"]]
    frames = []

    def sweep(study: str, setting: str, dims, models, **kw) -> None:
        runs = nbody_sweep(dims, models, kw.pop("seeds", seeds), kw.pop("n_trains", size), **{**training, **kw},
                           run=run)
        frames.append(runs.assign(study=study, setting=setting, horizon=kw.get("steps", base["steps"])))

    def equivariance(sizes) -> None:
        for n_train, augment in product(sizes, (False, True)):
            # every size gets the protocol's step budget, evaluated as often in steps (as MNIST's sizes are)
            epochs, every = sized_budget(n_train, epochs=training["epochs"], min_steps=base["budget_steps"],
                                         eval_every=training["eval_every"], batch_size=training["batch_size"])
            sweep("equivariance", "augmented" if augment else "plain", protocol["equivariance_dims"], ["gnn"],
                  n_trains=[n_train], augment=augment, seeds=protocol["equivariance_seeds"], epochs=epochs,
                  eval_every=every)

    if "breaking" in protocol["studies"]:
        for s in protocol["breaking"]:
            sweep("breaking", setting_label(s), protocol["breaking_dims"], ["gnn", "egnn", "freeflight"],
                  **breaking_physics(s))
        confirm = protocol["confirm"]
        for s in [{"kind": "none"}, *confirm["breaking"]] if confirm else []:
            sweep("confirm", setting_label(s), confirm["dims"], ["gnn", "egnn"], seeds=confirm["seeds"],
                  **breaking_physics(s))
    if "augmentation" in protocol["studies"]:
        sweep("augmentation", "plain", protocol["augment_dims"], ["gnn", "egnn"])
        sweep("augmentation", "augmented", protocol["augment_dims"], ["gnn"], augment=True)
    if "horizon" in protocol["studies"]:
        for steps in protocol["horizons"]:
            sweep("horizon", horizon_label(steps), protocol["horizon_dims"], ["gnn", "egnn", "freeflight"], steps=steps)
    # claims before breadth: the smallest and largest sizes decide the data question, the longer budget the
    # "given enough training" one; the middle sizes only fill in the curve, so they train last
    sizes = sorted(protocol["equivariance_sizes"]) if "equivariance" in protocol["studies"] else []
    equivariance([*sizes[:1], *sizes[1:][-1:]])
    if "augmentation" in protocol["studies"]:
        for factor in protocol["augment_longer"]:
            longer = nbody_training(base, base["budget_steps"] * factor, rates)["epochs"]
            sweep("augmentation", longer_label(factor), protocol["augment_dims"], ["gnn"], augment=True,
                  epochs=longer)
    equivariance(sizes[1:-1])
    runs = pd.concat(frames, ignore_index=True)
    runs["model"] = np.where(runs["augment"].eq(True), runs["model"] + "+aug", runs["model"])
    return runs


def breaking_events(protocol: dict, run: RunSettings = RunSettings()) -> pd.DataFrame:
    """Per (setting, n): how often the walls and the clip act, per trajectory.

    From :func:`equilib.experiments.nbody.nbody_physics`, kept in the run store.
    """
    base = resolve("nbody", protocol["base"])
    frames = []
    for s in protocol["breaking"]:
        table = nbody_physics(protocol["breaking_dims"], steps=base["steps"], results=run.results,
                              cache_dir=run.cache_dir, train_missing=run.train_missing,
                              **breaking_physics(s))
        if len(table):
            frames.append(table.assign(setting=setting_label(s)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def longer_label(factor: int) -> str:
    """The setting of the augmented GNN trained for ``factor`` times the step budget."""
    return f"augmented, {factor}x steps"


def horizon_label(steps: int) -> str:
    return f"T = {steps:,}"


