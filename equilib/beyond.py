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
  become (:func:`equilib.symmetry.equivariance_error`, stored with every
  trained N-body run), against n and against the training-set size; every
  size trains to the same step budget.

A ``confirm`` protocol entry re-asks the breaking question of a few points
chosen after seeing the breaking study, on fresh seeds (and so fresh data): a
confirmation whose family is only those points, stored as study ``confirm``.

Runs come back labelled with ``study``, ``setting`` and ``horizon`` columns; the tables
give intervals over seeds and verdicts from :mod:`equilib.stats`.
"""
from __future__ import annotations

import math
from itertools import product
from typing import Any, Sequence

import numpy as np
import pandas as pd

from . import stats
from .experiments import _nbody_training, _nbody_where, nbody_physics, nbody_rates, nbody_sweep, sized_budget
from .figures import MODEL_LABELS
from .protocols import check_choices, check_ints, resolve
from .store import RunStore

STUDIES = ("breaking", "augmentation", "horizon", "equivariance")
BREAKING_KINDS = ("none", "box", "clip")
UNBROKEN = "no breaking"  # the reference setting of the breaking study
EQUIVALENCE_MARGIN = 0.1  # augmentation "closes the gap" when GNN+aug / EGNN lies within 10% of 1


def check_breaking(settings: Any) -> list[dict]:
    """Each setting ``{"kind": "none" | "box" | "clip", "value": positive number}`` (no value for ``none``)."""
    if not isinstance(settings, (list, tuple)) or not settings:
        raise ValueError(f"breaking must be a non-empty list of settings, got {settings!r}")
    out = []
    for s in settings:
        if not isinstance(s, dict) or s.get("kind") not in BREAKING_KINDS:
            raise ValueError(f"unknown breaking kind in {s!r}; choose one of {BREAKING_KINDS}")
        value = s.get("value")
        if s["kind"] == "none":
            out.append({"kind": "none", "value": None})
            continue
        if not isinstance(value, (int, float)) or not (value > 0 and math.isfinite(value)):
            raise ValueError(f"a {s['kind']} needs a positive value, got {value!r} in {s!r}")
        out.append({"kind": s["kind"], "value": float(value)})
    return out


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


def check_beyond(values: dict[str, Any]) -> None:
    """Validate a ``beyond`` protocol in place (see :data:`equilib.protocols.PRESETS`)."""
    values["breaking"] = check_breaking(values["breaking"])
    for key in ("breaking_dims", "augment_dims", "horizon_dims", "equivariance_dims"):
        values[key] = check_ints(key, values[key], 1)
    values["horizons"] = check_ints("horizons", values["horizons"], 1)
    values["equivariance_sizes"] = check_ints("equivariance_sizes", values["equivariance_sizes"], 1)
    values["seeds"] = check_ints("seeds", values["seeds"], 0)
    values["equivariance_seeds"] = check_ints("equivariance_seeds", values["equivariance_seeds"], 0)
    values["studies"] = check_choices("studies", values["studies"], STUDIES)
    if values["confirm"]:
        values["confirm"] = check_confirm(values["confirm"], values["seeds"])
    values["augment_longer"] = check_ints("augment_longer", values["augment_longer"], 2) \
        if values["augment_longer"] else []
    resolve("nbody", values["base"])  # names an unknown base preset


def check_confirm(confirm: Any, seeds: list[int]) -> dict:
    """``{"breaking": [settings], "dims": [...], "seeds": [...]}``; its seeds must be new, or it confirms nothing."""
    if not isinstance(confirm, dict) or set(confirm) != {"breaking", "dims", "seeds"}:
        raise ValueError(f"confirm must be a dict with keys breaking, dims and seeds, got {confirm!r}")
    settings = [s for s in check_breaking(confirm["breaking"]) if s["kind"] != "none"]  # unbroken: always trained
    if not settings:
        raise ValueError(f"confirm needs at least one breaking setting other than none, got {confirm['breaking']!r}")
    fresh = check_ints("confirm seeds", confirm["seeds"], 0)
    reused = sorted(set(fresh) & set(seeds))
    if reused:
        raise ValueError(f"confirm seeds must be new: {reused} are already the breaking study's seeds {seeds}")
    return {"breaking": settings, "dims": check_ints("confirm dims", confirm["dims"], 1), "seeds": fresh}


def run_beyond(protocol: dict, **where) -> pd.DataFrame:
    """Train (or, with ``train_missing=False``, look up) every run the protocol's studies need.

    Returns the runs, one row per (study, run): a run shared by two studies (the
    unbroken, default-horizon GNN and EGNN) appears under both.
    """
    base = resolve("nbody", protocol["base"])
    rates = nbody_rates(base, **where)
    if rates is None:  # no pilot yet: nothing trained at its rates can be in the store either
        return RunStore(where.get("results", "results"), "nbody").runs().head(0).assign(study="", setting="")
    training = _nbody_training(base, base["budget_steps"], rates)
    where = _nbody_where(where)
    seeds, size = protocol["seeds"], [base["n_train"]]
    frames = []

    def sweep(study: str, setting: str, dims, models, **kw) -> None:
        runs = nbody_sweep(dims, models, kw.pop("seeds", seeds), kw.pop("n_trains", size), **{**training, **kw},
                           **where)
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
            longer = _nbody_training(base, base["budget_steps"] * factor, rates)["epochs"]
            sweep("augmentation", longer_label(factor), protocol["augment_dims"], ["gnn"], augment=True,
                  epochs=longer)
    equivariance(sizes[1:-1])
    runs = pd.concat(frames, ignore_index=True)
    runs["model"] = np.where(runs["augment"].eq(True), runs["model"] + "+aug", runs["model"])
    return runs


def breaking_events(protocol: dict, **where) -> pd.DataFrame:
    """Per (setting, n): how often the walls and the clip act, per trajectory.

    From :func:`equilib.experiments.nbody_physics`, kept in the run store.
    """
    base = resolve("nbody", protocol["base"])
    frames = []
    for s in protocol["breaking"]:
        table = nbody_physics(protocol["breaking_dims"], steps=base["steps"], results=where.get("results", "results"),
                              cache_dir=where.get("cache_dir"), train_missing=where.get("train_missing", True),
                              **breaking_physics(s))
        if len(table):
            frames.append(table.assign(setting=setting_label(s)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _ratios(runs: pd.DataFrame, numerator: str, denominator: str, by: Sequence[str]) -> pd.DataFrame:
    """:func:`equilib.stats.ratio_table` per combination of ``by``, each row with its log ratio as a Difference."""
    frames = []
    for key, at in runs.groupby(list(by)):
        table = stats.ratio_table(at, numerator, denominator)
        key = key if isinstance(key, tuple) else (key,)
        frames.append(table.assign(**dict(zip(by, key)), difference=[
            stats.Difference(r.log_ratio, r.se, r.dof, r.seeds, r.seeds) for r in table.itertuples()]))
    columns = [*by, "dim", "ratio", "low", "high", "seeds", "difference"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _changes(table: pd.DataFrame, reference: str) -> dict[tuple[str, int], stats.Difference]:
    """Per (setting, n) other than ``reference``: its log ratio minus the reference setting's at the same n."""
    base = {r.dim: r.difference for r in table.itertuples() if r.setting == reference}
    return {(r.setting, r.dim): stats.difference_of(r.difference, base[r.dim]) for r in table.itertuples()
            if r.setting != reference and r.dim in base}


def _family_level(points: int) -> float:
    """The level each change of a question is judged at: Bonferroni over all its points, as its verdict is."""
    return stats.bonferroni(stats.LEVEL, max(1, points))


def _with_changes(table: pd.DataFrame, reference: str) -> pd.DataFrame:
    """``table`` with each row's ``change`` from ``reference`` (a ratio of ratios), its interval and verdict.

    Interval and verdict are at the question's Bonferroni level, so that a row
    never claims a move that the question's verdict does not.
    """
    changes = _changes(table, reference)
    strict = _family_level(len(changes))
    rows = []
    for r in table.itertuples(index=False):
        row = {**r._asdict(), "change": np.nan, "change_low": np.nan, "change_high": np.nan, "verdict": None}
        change = changes.get((r.setting, r.dim))
        if change is not None:
            lo, hi = change.interval(strict)
            row.update(change=math.exp(change.estimate), change_low=math.exp(lo), change_high=math.exp(hi),
                       verdict=stats.change_verdict(change, level=strict))
        rows.append(row)
    return pd.DataFrame(rows)


def _gnn_better(difference: stats.Difference, level: float) -> bool:
    """Is GNN / EGNN below 1 beyond doubt at ``level``, with enough seeds to say so?"""
    return min(difference.n_a, difference.n_b) >= stats.MIN_SEEDS and difference.interval(level)[1] < 0


def breaking_table(runs: pd.DataFrame, study: str = "breaking") -> pd.DataFrame:
    """GNN / EGNN per (setting, n), and how it moved from the unbroken task (``change``: ratio of ratios).

    ``verdict``: "shrank" or "grew" when the interval of the change excludes 1,
    "reversed" when in addition the setting's own ratio lies below 1 beyond
    doubt (the GNN better), else "inconclusive" (:func:`equilib.stats.change_verdict`);
    all at the question's Bonferroni level, as in :func:`breaking_verdict`.
    ``study="confirm"``: the confirmation's points, a family of their own.
    """
    table = _ratios(runs[runs["study"] == study], "gnn", "egnn", ["setting"])
    if table.empty:
        return table
    table = _with_changes(table, UNBROKEN)
    table = table.sort_values(["setting", "dim"], key=lambda c: c.map(dial_order) if c.name == "setting" else c,
                              kind="stable", ignore_index=True)
    strict = _family_level(int(table["change"].notna().sum()))  # the level _with_changes judged each row at
    gnn_better = pd.Series([_gnn_better(d, strict) for d in table["difference"]], index=table.index)
    reversed_ = table["verdict"].eq("shrank") & gnn_better
    return table.assign(verdict=table["verdict"].mask(reversed_, "reversed"))


def _points(labels: list[tuple[str, int]]) -> str:
    return ", ".join(f"{setting} at n = {dim}" for setting, dim in labels)


def breaking_verdict(table: pd.DataFrame) -> dict:
    """The breaking question over all its points at once (:func:`equilib.stats.family_change_verdict`).

    "shrank" / "grew" when the EGNN's advantage moved beyond doubt (Bonferroni
    over every setting and n) and always the same way, "reversed" when it
    shrank and the GNN is in addition better beyond doubt at some point.
    """
    if table.empty:
        return {"verdict": "not yet measured", "evidence": "no runs of this study in the store"}
    family = stats.family_change_verdict(_changes(table, UNBROKEN))
    if family["verdict"] == "not yet measured":
        return {"verdict": family["verdict"], "evidence": "only the unbroken task is in the store so far"}
    ratio = {(r.setting, r.dim): r.difference for r in table.itertuples()}
    reversed_ = [k for k in family["shrank"] if _gnn_better(ratio[k], family["level"])]
    verdict = "reversed" if reversed_ and not family["grew"] else family["verdict"]
    return {"verdict": verdict, "evidence": _family_evidence(family, reversed_, "the GNN is better")}


def _family_evidence(family: dict, reversed_: Sequence = (), reversed_words: str = "",
                     words: tuple[str, str] = ("shrank", "grew"), at: str = "at") -> str:
    """Which points moved which way (``words`` for shrank and grew), at the family's Bonferroni level."""
    parts = [f"{words[0]} beyond doubt {at} {_points(family['shrank'])}" if family["shrank"] else "",
             f"{words[1]} beyond doubt {at} {_points(family['grew'])}" if family["grew"] else "",
             f"where {reversed_words}: {_points(reversed_)}" if reversed_ else ""]
    said = "; ".join(p for p in parts if p) or "no point moved beyond doubt"
    return f"{said} ({_level_text(family['level'])} intervals, Bonferroni over the points)"


def _level_text(level: float) -> str:
    return f"{100 * level:.2f}".rstrip("0").rstrip(".") + "%"


def longer_label(factor: int) -> str:
    """The setting of the augmented GNN trained for ``factor`` times the step budget."""
    return f"augmented, {factor}x steps"


def augmentation_table(runs: pd.DataFrame, factor: int = 1) -> pd.DataFrame:
    """Per n: GNN / EGNN and augmented GNN / EGNN with intervals, and whether augmentation closed the gap.

    The augmented GNN trained for ``factor`` times the step budget (1: equal
    steps); the GNN and EGNN always at the budget, where the EGNN's runs have
    converged. ``verdict`` (:func:`equilib.stats.equivalence_verdict` on
    augmented GNN / EGNN with a 10% margin, at the Bonferroni level over the n):
    "closed" when its interval lies within 10% of 1, "open" when the EGNN is
    still better beyond doubt, "overtaken" when the augmented GNN is better
    beyond doubt, else "inconclusive".
    """
    study = runs[runs["study"] == "augmentation"]
    setting = "augmented" if factor == 1 else longer_label(factor)
    reference = study[study["setting"] == "plain"]
    plain = _ratios(reference, "gnn", "egnn", ["study"])
    augmented = _ratios(pd.concat([reference, study[study["setting"] == setting]]), "gnn+aug", "egnn", ["study"])
    if augmented.empty:
        return augmented
    words = {"equal": "closed", "above": "open", "below": "overtaken", "inconclusive": "inconclusive"}
    out = augmented.drop(columns="study").rename(columns={"ratio": "aug_ratio", "low": "aug_low", "high": "aug_high"})
    strict = stats.bonferroni(stats.LEVEL, len(out))  # the level the question's verdict judges each n at
    out["verdict"] = [words[stats.equivalence_verdict(d, EQUIVALENCE_MARGIN, level=strict)] for d in out["difference"]]
    plain = plain.drop(columns=["study", "difference", "seeds"])
    return plain.merge(out, on="dim", how="right")


def augmentation_verdict(table: pd.DataFrame) -> dict:
    """Does augmentation close the gap at every n? Each n's equivalence test at the Bonferroni level over the n.

    "closed" when the augmented GNN / EGNN lies within the margin (or below it)
    at every n, "overtaken" when below it at every n, "open" when the EGNN is
    still better beyond doubt at some n, else "inconclusive".
    """
    if table.empty:
        return {"verdict": "not yet measured", "evidence": "no runs of this study in the store"}
    strict = stats.bonferroni(stats.LEVEL, len(table))
    at = {r.dim: stats.equivalence_verdict(r.difference, EQUIVALENCE_MARGIN, level=strict) for r in table.itertuples()}

    def dims(word: str) -> str:
        return ", ".join(str(d) for d, v in at.items() if v == word)

    decided = all(v in ("equal", "below") for v in at.values())
    verdict = ("open" if dims("above") else "overtaken" if all(v == "below" for v in at.values())
               else "closed" if decided else "inconclusive")
    parts = [f"within {EQUIVALENCE_MARGIN:.0%} of the EGNN at n = {dims('equal')}" if dims("equal") else "",
             f"the EGNN still better at n = {dims('above')}" if dims("above") else "",
             f"the augmented GNN better at n = {dims('below')}" if dims("below") else ""]
    said = "; ".join(p for p in parts if p) or "no n decided"
    return {"verdict": verdict, "evidence": f"{said} ({_level_text(strict)} intervals, Bonferroni over the n)"}


def horizon_table(runs: pd.DataFrame) -> pd.DataFrame:
    """GNN / EGNN per (horizon, n) with intervals, and each model's and free flight's geometric-mean MSE."""
    study = runs[runs["study"] == "horizon"]
    table = _ratios(study, "gnn", "egnn", ["horizon", "setting"])  # shortest horizon first
    if table.empty:
        return table
    mse = (study[study["status"] == "finished"].groupby(["setting", "dim", "model"])["test_at_best_val"]
           .apply(lambda v: stats.geometric_ci(v.to_numpy())[0]).unstack("model"))
    mse.columns = [f"mse_{c}" for c in mse.columns]
    table = _with_changes(table, _shortest(table)).merge(mse.reset_index(), on=["setting", "dim"], how="left")
    for model in ("gnn", "egnn"):  # each model over free flight: did it learn anything beyond x0 + T dt v0?
        vs = _ratios(study, model, "freeflight", ["setting"])[["setting", "dim", "ratio", "low", "high"]]
        table = table.merge(vs.rename(columns={c: f"{model}_ff_{c}" for c in ("ratio", "low", "high")}),
                            on=["setting", "dim"], how="left")
    return table


def against_free_flight(runs: pd.DataFrame, study: str = "horizon") -> str:
    """Where each trained model beats free flight beyond doubt (Bonferroni over the study's points, per model).

    A model that does not beat ``x0 + T dt v0`` has learned nothing of the
    interactions, whatever its ratio to the other model says.
    """
    at = runs[runs["study"] == study]
    parts = []
    for model in ("gnn", "egnn"):
        table = _ratios(at, model, "freeflight", ["horizon", "setting"])  # shortest horizon first
        family = stats.family_change_verdict({(r.setting, r.dim): r.difference for r in table.itertuples()})
        if family["verdict"] == "not yet measured":
            continue
        beaten = set(family["shrank"])
        missed = [(r.setting, r.dim) for r in table.itertuples() if (r.setting, r.dim) not in beaten]
        parts.append(f"the {MODEL_LABELS[model]} at {len(beaten)} of {len(table)} points"
                     + (f" (not at {_points(missed)})" if missed else ""))
        level = family["level"]
    if not parts:
        return "no free-flight comparison in the store yet"
    return f"better than free flight beyond doubt ({_level_text(level)} intervals, Bonferroni over the points): " \
        + "; ".join(parts)


def horizon_label(steps: int) -> str:
    return f"T = {steps:,}"


def _shortest(table: pd.DataFrame) -> str:
    """The horizon table's reference setting: its shortest horizon."""
    return table.loc[table["horizon"].idxmin(), "setting"]


def horizon_verdict(table: pd.DataFrame) -> dict:
    """Does the EGNN's advantage move with the horizon, from the shortest one (Bonferroni over the points)?"""
    if table.empty:
        return {"verdict": "not yet measured", "evidence": "no runs of this study in the store"}
    reference = _shortest(table)
    family = stats.family_change_verdict(_changes(table, reference))
    if family["verdict"] == "not yet measured":
        return {"verdict": family["verdict"], "evidence": f"only {reference} is in the store so far"}
    return {"verdict": family["verdict"], "evidence": f"against {reference}: " + _family_evidence(family)}


def equivariance_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Geometric-mean equivariance error per (model, n, training size) with a 95% interval over seeds.

    On the log scale, as the verdicts compare these errors (by ratios): the
    error is positive, and an arithmetic interval over 2-3 seeds runs below 0.
    """
    study = runs[(runs["study"] == "equivariance") & (runs["status"] == "finished")]
    rows = []
    for (model, dim, n_train), g in study.groupby(["model", "dim", "n_train"]):
        values = g["equivariance_error"].dropna().to_numpy(float)
        if values.size:
            mean, lo, hi = stats.geometric_ci(values)
            rows.append({"model": model, "dim": dim, "n_train": n_train, "error": mean, "low": lo, "high": hi,
                         "seeds": values.size})
    return pd.DataFrame(rows, columns=["model", "dim", "n_train", "error", "low", "high", "seeds"])


def equivariance_verdict(runs: pd.DataFrame) -> dict:
    """Two questions fixed in advance, each over all its points at the Bonferroni level.

    ``augmentation``: does augmenting lower the GNN's equivariance error
    (augmented / plain per n and training size)? ``data``: does a larger
    training set lower it (largest / smallest size, per model and n)? Each says
    "shrank" (lower), "grew", "both" or "inconclusive"
    (:func:`equilib.stats.family_change_verdict`), with its evidence.
    """
    study = runs[(runs["study"] == "equivariance") & (runs["status"] == "finished")].dropna(
        subset=["equivariance_error"])
    if study.empty:
        empty = {"verdict": "not yet measured", "evidence": "no runs of this study in the store"}
        return {"augmentation": empty, "data": empty}
    errors = {key: g["equivariance_error"].to_numpy(float) for key, g in study.groupby(["model", "dim", "n_train"])}
    sizes = sorted(study["n_train"].unique())
    by_augment = {(f"{n_train:,} trajectories", dim): stats.log_ratio(errors[("gnn+aug", dim, n_train)],
                                                                      errors[("gnn", dim, n_train)])
                  for model, dim, n_train in errors if model == "gnn" and ("gnn+aug", dim, n_train) in errors}
    names = {"gnn": "the plain GNN", "gnn+aug": "the augmented GNN"}
    by_data = {(names.get(model, model), dim): stats.log_ratio(errors[(model, dim, sizes[-1])],
                                                               errors[(model, dim, sizes[0])])
               for model, dim, n_train in errors
               if n_train == sizes[0] and len(sizes) > 1 and (model, dim, sizes[-1]) in errors}

    def said(changes: dict, missing: str) -> dict:
        family = stats.family_change_verdict(changes)
        if family["verdict"] == "not yet measured":
            return {"verdict": family["verdict"], "evidence": missing}
        return {"verdict": family["verdict"],
                "evidence": _family_evidence(family, words=("lower", "higher"), at="for")}

    sizes_text = ", ".join(f"{n:,}" for n in sizes)
    return {"augmentation": said(by_augment, "no augmented GNN in the store yet"),
            "data": said(by_data, f"only one training-set size in the store so far ({sizes_text} trajectories)")}


def still_improving(runs: pd.DataFrame, study: str, settings: Sequence[str] | None = None) -> str:
    """Per model, how many of a study's trained runs were still improving at their last evaluation.

    The beyond questions compare models at equal steps, so unconverged runs do
    not void a verdict; but a reader should know when a longer budget could
    change it (the N-body claim itself allows at most :data:`equilib.stats.MAX_UNCONVERGED`).
    ``settings`` restricts it to those settings of the study.
    """
    trained = runs[(runs["study"] == study) & (runs["status"] == "finished") & (runs["epochs_done"] > 0)]
    if settings is not None:
        trained = trained[trained["setting"].isin(list(settings))]
    trained = trained.drop_duplicates("run_id")
    if trained.empty:
        return "no trained runs of this study in the store yet"
    parts = []
    for model, g in trained.groupby("model", sort=False):
        improving = stats.improving_at_end(g)
        parts.append(f"{improving.sum()} of {len(g)} {MODEL_LABELS.get(model, model)} runs ({improving.mean():.0%})")
    return "still improving at their last evaluation: " + ", ".join(parts)
