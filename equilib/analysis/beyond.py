"""The beyond page's tables and verdicts: intervals over seeds for each study, judged at the Bonferroni level
of the points its question is about."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..experiments.beyond import UNBROKEN, dial_order, longer_label
from ..models.catalogue import MODEL_LABELS
from . import intervals, power, rules

EQUIVALENCE_MARGIN = 0.1  # augmentation "closes the gap" when GNN+aug / EGNN lies within 10% of 1
BREAKING_OF_INTEREST = 0.4  # the breaking rule must find GNN / EGNN falling to 0.4 of the unbroken at one point


def _ratios(runs: pd.DataFrame, numerator: str, denominator: str, by: Sequence[str]) -> pd.DataFrame:
    """:func:`equilib.intervals.ratio_table` per combination of ``by``, each row with its log ratio as a Difference.

    One pass over plain arrays rather than a ratio table per group: the power
    simulations build these tables thousands of times.
    """
    columns = [*by, "dim", "ratio", "low", "high", "seeds", "difference"]
    finished = runs[runs["status"] == "finished"]
    keys = zip(*(finished[c].to_numpy() for c in (*by, "dim")))
    cells: dict[tuple, dict[str, list]] = {}
    for key, model, value in zip(keys, finished["model"].to_numpy(), finished["test_at_best_val"].to_numpy()):
        if model == numerator or model == denominator:
            cells.setdefault(key, {numerator: [], denominator: []})[model].append(value)
    rows = []
    for key in sorted(k for k in cells if not any(pd.isna(part) for part in k)):  # as a groupby orders them
        a, b = (np.asarray(cells[key][m], float) for m in (numerator, denominator))
        if a.size == 0 or b.size == 0:
            continue
        r = intervals.log_ratio(a, b)
        lo, hi = r.interval()
        seeds = min(r.n_a, r.n_b)
        rows.append({**dict(zip((*by, "dim"), key)), "ratio": math.exp(r.estimate), "low": math.exp(lo),
                     "high": math.exp(hi), "seeds": seeds,
                     "difference": intervals.Difference(r.estimate, r.se, r.dof, seeds, seeds)})
    return pd.DataFrame(rows, columns=columns)


def _changes(table: pd.DataFrame, reference: str) -> dict[tuple[str, int], intervals.Difference]:
    """Per (setting, n) other than ``reference``: its log ratio minus the reference setting's at the same n."""
    base = {r.dim: r.difference for r in table.itertuples() if r.setting == reference}
    return {(r.setting, r.dim): intervals.difference_of(r.difference, base[r.dim]) for r in table.itertuples()
            if r.setting != reference and r.dim in base}


def _family_level(points: int) -> float:
    """The level each change of a question is judged at: Bonferroni over all its points, as its verdict is."""
    return intervals.bonferroni(intervals.LEVEL, max(1, points))


def kind_of(setting: str) -> str:
    """The family a breaking setting belongs to: its kind ("box", "clip"). Walls and clipping are two questions,
    each judged over its own points, so a setting that barely moves cannot dilute the other kind's result."""
    return setting.partition(" ")[0]


def _kind_levels(changes: dict[tuple[str, int], intervals.Difference]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for setting, _ in changes:
        counts[kind_of(setting)] = counts.get(kind_of(setting), 0) + 1
    return {kind: _family_level(n) for kind, n in counts.items()}


def _with_changes(table: pd.DataFrame, reference: str) -> pd.DataFrame:
    """``table`` with each row's ``change`` from ``reference`` (a ratio of ratios), its interval and verdict.

    Interval and verdict are at the Bonferroni level of the row's family (its
    kind of breaking), so that a row never claims a move that its family's
    verdict does not.
    """
    changes = _changes(table, reference)
    levels = _kind_levels(changes)
    rows = []
    for r in table.itertuples(index=False):
        row = {**r._asdict(), "change": np.nan, "change_low": np.nan, "change_high": np.nan, "verdict": None,
               "level": np.nan, "change_se": np.nan, "change_dof": np.nan}
        change = changes.get((r.setting, r.dim))
        if change is not None:
            strict = levels[kind_of(r.setting)]
            row["level"] = strict
            lo, hi = change.interval(strict)
            row.update(change=math.exp(change.estimate), change_low=math.exp(lo), change_high=math.exp(hi),
                       verdict=rules.change_verdict(change, level=strict), change_se=change.se,
                       change_dof=change.dof)
        rows.append(row)
    return pd.DataFrame(rows)


def _gnn_better(difference: intervals.Difference, level: float) -> bool:
    """Is GNN / EGNN below 1 beyond doubt at ``level``, with enough seeds to say so?"""
    return min(difference.n_a, difference.n_b) >= rules.MIN_SEEDS and difference.interval(level)[1] < 0


def breaking_table(runs: pd.DataFrame, study: str = "breaking") -> pd.DataFrame:
    """GNN / EGNN per (setting, n), and how it moved from the unbroken task (``change``: ratio of ratios).

    ``verdict``: "shrank" or "grew" when the interval of the change excludes 1,
    "reversed" when in addition the setting's own ratio lies below 1 beyond
    doubt (the GNN better), else "inconclusive" (:func:`equilib.rules.change_verdict`);
    all at the question's Bonferroni level, as in :func:`breaking_verdict`.
    ``study="confirm"``: the confirmation's points, a family of their own.
    """
    table = _ratios(runs[runs["study"] == study], "gnn", "egnn", ["setting"])
    if table.empty:
        return table
    table = _with_changes(table, UNBROKEN)
    table = table.sort_values(["setting", "dim"], key=lambda c: c.map(dial_order) if c.name == "setting" else c,
                              kind="stable", ignore_index=True)
    gnn_better = pd.Series([_gnn_better(d, level) if pd.notna(level) else False  # each row at its family's level
                            for d, level in zip(table["difference"], table["level"])], index=table.index)
    reversed_ = table["verdict"].eq("shrank") & gnn_better
    return table.assign(verdict=table["verdict"].mask(reversed_, "reversed"))


def _points(labels: list[tuple[str, int]]) -> str:
    return ", ".join(f"{setting} at n = {dim}" for setting, dim in labels)


def breaking_verdict(table: pd.DataFrame) -> dict:
    """The breaking question, one family per kind of breaking (:func:`equilib.rules.family_change_verdict`).

    Per kind (walls, clipping): "shrank" / "grew" when the EGNN's advantage
    moved beyond doubt (Bonferroni over that kind's settings and n) and always
    the same way, "reversed" when it shrank and the GNN is in addition better
    beyond doubt at some point. ``kinds`` holds each family's verdict;
    ``verdict`` is the one kind's, or with several: "both" when they moved
    opposite ways, else the way some moved ("reversed" over "shrank"), else
    "inconclusive".
    """
    if table.empty:
        return {"verdict": "not yet measured", "evidence": "no runs of this study in the store", "kinds": {}}
    changes = _changes(table, UNBROKEN)
    if not changes:
        return {"verdict": "not yet measured", "evidence": "only the unbroken task is in the store so far",
                "kinds": {}}
    ratio = {(r.setting, r.dim): r.difference for r in table.itertuples()}
    kinds = {}
    for kind in sorted({kind_of(setting) for setting, _ in changes}, key=lambda k: dial_order(f"{k} 1")):
        family = rules.family_change_verdict({k: d for k, d in changes.items() if kind_of(k[0]) == kind})
        reversed_ = [k for k in family["shrank"] if _gnn_better(ratio[k], family["level"])]
        verdict = "reversed" if reversed_ and not family["grew"] else family["verdict"]
        kinds[kind] = {"verdict": verdict, "evidence": _family_evidence(family, reversed_, "the GNN is better")}
    if len(kinds) == 1:
        return {**next(iter(kinds.values())), "kinds": kinds}
    said = {v["verdict"] for v in kinds.values()}
    down, up = said & {"shrank", "reversed"}, said & {"grew", "both"}
    verdict = "both" if (down and up) or "both" in said else ("reversed" if "reversed" in said else "shrank") \
        if down else "grew" if up else "inconclusive"
    return {"verdict": verdict, "kinds": kinds,
            "evidence": "; ".join(f"{KIND_WORDS.get(k, k)} {v['verdict']}: {v['evidence']}" for k, v in kinds.items())}


KIND_WORDS = {"box": "walls", "clip": "clipping"}


def _ratio_cells(runs: pd.DataFrame, study: str) -> pd.DataFrame:
    """The GNN's and the EGNN's log-MSE cells of a study, per setting and n: what its redraws are drawn from."""
    chosen = runs[(runs["study"] == study) & runs["model"].isin(["gnn", "egnn"])]
    return power.log_cells(chosen, by=("setting", "dim"))


def _truth(cells: pd.DataFrame, changes: dict[tuple[str, int], float], reference: str) -> pd.DataFrame:
    """GNN / EGNN at each (setting, n) set to the ``reference`` setting's ratio times ``changes`` there."""
    return power.with_changes(cells, "gnn", "egnn", changes, at="setting", reference=reference)


def _move_claimed(judge, truth: pd.DataFrame, seeds: int, repeats: int, seed: int) -> float:
    """The share of redraws of ``truth`` in which ``judge`` claims a move (any answer but "inconclusive")."""
    rates = power.answer_rates(judge, truth, seeds, repeats=repeats, seed=seed, by=("setting", "dim"))
    return 1.0 - rates.get("inconclusive", 0.0)


def augmentation_power(runs: pd.DataFrame, *, repeats: int = 200, seed: int = 0,
                       seeds_tried: tuple[int, ...] = (3, 5, 10, 20)) -> dict:
    """How often the augmentation rule says "closed" when the augmented GNN equals the EGNN at every n, on stores
    redrawn with this study's own noise (equal steps): at the seeds trained (``tie``), and the fewest of
    ``seeds_tried`` at which it says so 8 times in 10 (``needed``, ``None`` if none)."""
    study = runs[(runs["study"] == "augmentation") & runs["setting"].isin(["plain", "augmented"])]
    study = study[study["model"].isin(["egnn", "gnn+aug"])]
    cells = power.log_cells(study, by=("dim",))
    tie = power.with_log_ratios(cells, "gnn+aug", "egnn", {d: 0.0 for d in cells["dim"].unique()})
    seeds = int(cells["seeds"].min())

    def closed(k: int) -> float:
        judge = lambda drawn: augmentation_verdict(augmentation_table(  # noqa: E731
            drawn.assign(study="augmentation", setting=np.where(drawn["model"] == "egnn", "plain", "augmented"))
        ))["verdict"]
        return power.answer_rates(judge, tie, k, repeats=repeats, seed=seed, answers=("closed",))["closed"]

    return {"tie": closed(seeds), "seeds": seeds, "needed": next((k for k in seeds_tried if closed(k) >= 0.8), None),
            "tried": max(seeds_tried)}


def horizon_power(runs: pd.DataFrame, *, repeats: int = 200, seed: int = 0) -> dict:
    """How often the horizon rule claims a move, on stores redrawn with this study's own noise and seeds: when
    nothing moves (``none``, its size) and when GNN / EGNN at the point that moved most falls or rises by
    :data:`BREAKING_OF_INTEREST` (``of_interest``)."""
    cells = _ratio_cells(runs, "horizon")
    seeds = int(cells["seeds"].min())
    table = horizon_table(runs)
    reference = _shortest(table)
    moved = table[table["change"].notna()]
    point = tuple(moved.loc[(np.log(moved["change"])).abs().idxmax(), ["setting", "dim"]]) if len(moved) else None
    factor = BREAKING_OF_INTEREST if point is None or moved.set_index(["setting", "dim"]).loc[point, "change"] < 1 \
        else 1 / BREAKING_OF_INTEREST
    study = runs[runs["study"] == "horizon"]
    horizon_of = study.drop_duplicates("setting").set_index("setting")["horizon"]

    def judge(drawn: pd.DataFrame) -> str:
        return horizon_verdict(horizon_table(drawn.assign(study="horizon",
                                                          horizon=drawn["setting"].map(horizon_of))))["verdict"]

    out = {"none": _move_claimed(judge, _truth(cells, {}, reference), seeds, repeats, seed), "seeds": seeds,
           "point": point, "factor": factor}
    if point is not None:
        out["of_interest"] = _move_claimed(judge, _truth(cells, {point: factor}, reference), seeds, repeats,
                                           seed)
    return out


def breaking_power(runs: pd.DataFrame, *, repeats: int = 200, seed: int = 0) -> dict:
    """How often the walls family says something moved, on stores redrawn with this study's own noise and seeds:
    when nothing moved (``none``, its size), when the ratio at the largest wall move seen falls to
    :data:`BREAKING_OF_INTEREST` (``of_interest``) or to half (``halved``)."""
    cells = _ratio_cells(runs, "breaking")
    seeds = int(cells["seeds"].min())
    table = breaking_table(runs)
    walls = table[table["setting"].map(kind_of).eq("box") & table["change"].notna()]
    point = tuple(walls.loc[walls["change"].idxmin(), ["setting", "dim"]]) if len(walls) else None

    def judge(drawn: pd.DataFrame) -> str:
        walls = breaking_verdict(breaking_table(drawn.assign(study="breaking")))["kinds"]
        return walls.get("box", {}).get("verdict", "inconclusive")

    def moved(changes: dict) -> float:
        return _move_claimed(judge, _truth(cells, changes, UNBROKEN), seeds, repeats, seed)

    out = {"none": moved({}), "seeds": seeds, "point": point}
    if point is not None:
        out.update(of_interest=moved({point: BREAKING_OF_INTEREST}), halved=moved({point: 0.5}))
    return out


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


def augmentation_table(runs: pd.DataFrame, factor: int = 1) -> pd.DataFrame:
    """Per n: GNN / EGNN and augmented GNN / EGNN with intervals, and whether augmentation closed the gap.

    The augmented GNN trained for ``factor`` times the step budget (1: equal
    steps); the GNN and EGNN always at the budget, where the EGNN's runs have
    converged. ``verdict`` (:func:`_augmentation_word`, on augmented GNN / EGNN
    with a 10% margin): "closed" when its interval lies within 10% of 1,
    "overtaken" when the augmented GNN is better beyond doubt (both at 95%),
    "open" when the EGNN is still better beyond doubt at the Bonferroni level
    over the n, else "inconclusive".
    """
    study = runs[runs["study"] == "augmentation"]
    setting = "augmented" if factor == 1 else longer_label(factor)
    reference = study[study["setting"] == "plain"]
    plain = _ratios(reference, "gnn", "egnn", ["study"])
    augmented = _ratios(pd.concat([reference, study[study["setting"] == setting]]), "gnn+aug", "egnn", ["study"])
    if augmented.empty:
        return augmented
    out = augmented.drop(columns="study").rename(columns={"ratio": "aug_ratio", "low": "aug_low", "high": "aug_high"})
    strict = intervals.bonferroni(intervals.LEVEL, len(out))
    out["verdict"] = [_augmentation_word(d, strict) for d in out["difference"]]
    plain = plain.drop(columns=["study", "difference", "seeds"])
    return plain.merge(out, on="dim", how="right")


def _augmentation_word(difference: intervals.Difference, strict: float) -> str:
    """One n of the augmentation question, each word at the level its claim needs.

    "closed" and "overtaken" must hold at every n (an intersection-union test),
    so each n is judged at 95%: the chance that all of them pass by luck is no
    more than the chance that one does. "open" needs only one n, so it is
    judged at the Bonferroni level ``strict`` over the n.
    """
    at = rules.equivalence_verdict(difference, EQUIVALENCE_MARGIN)
    if at == "equal":
        return "closed"
    if at == "below":
        return "overtaken"
    above = rules.equivalence_verdict(difference, EQUIVALENCE_MARGIN, level=strict) == "above"
    return "open" if above else "inconclusive"


def augmentation_verdict(table: pd.DataFrame) -> dict:
    """Does augmentation close the gap at every n? (:func:`_augmentation_word` at each n.)

    "closed" when the augmented GNN / EGNN lies within the margin (or below it)
    at every n, "overtaken" when below it at every n, "open" when the EGNN is
    still better beyond doubt at some n, else "inconclusive".
    """
    if table.empty:
        return {"verdict": "not yet measured", "evidence": "no runs of this study in the store"}
    strict = intervals.bonferroni(intervals.LEVEL, len(table))
    at = {r.dim: _augmentation_word(r.difference, strict) for r in table.itertuples()}

    def dims(word: str) -> str:
        return ", ".join(str(d) for d, v in at.items() if v == word)

    verdict = ("open" if dims("open") else "overtaken" if all(v == "overtaken" for v in at.values())
               else "closed" if all(v in ("closed", "overtaken") for v in at.values()) else "inconclusive")
    parts = [f"within {EQUIVALENCE_MARGIN:.0%} of the EGNN at n = {dims('closed')}" if dims("closed") else "",
             f"the EGNN still better at n = {dims('open')}" if dims("open") else "",
             f"the augmented GNN better at n = {dims('overtaken')}" if dims("overtaken") else ""]
    said = "; ".join(p for p in parts if p) or "no n decided"
    return {"verdict": verdict, "evidence": f"{said}; closed and overtaken are judged at 95% at each n, since every n "
                                            f"must pass, open at {_level_text(strict)} (Bonferroni over the n)"}


def horizon_table(runs: pd.DataFrame) -> pd.DataFrame:
    """GNN / EGNN per (horizon, n) with intervals, and each model's and free flight's geometric-mean MSE."""
    study = runs[runs["study"] == "horizon"]
    table = _ratios(study, "gnn", "egnn", ["horizon", "setting"])  # shortest horizon first
    if table.empty:
        return table
    mse = (study[study["status"] == "finished"].groupby(["setting", "dim", "model"])["test_at_best_val"]
           .apply(lambda v: intervals.geometric_ci(v.to_numpy())[0]).unstack("model"))
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
        family = rules.family_change_verdict({(r.setting, r.dim): r.difference for r in table.itertuples()})
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


def _shortest(table: pd.DataFrame) -> str:
    """The horizon table's reference setting: its shortest horizon."""
    return table.loc[table["horizon"].idxmin(), "setting"]


def horizon_verdict(table: pd.DataFrame) -> dict:
    """Does the EGNN's advantage move with the horizon, from the shortest one (Bonferroni over the points)?"""
    if table.empty:
        return {"verdict": "not yet measured", "evidence": "no runs of this study in the store"}
    reference = _shortest(table)
    family = rules.family_change_verdict(_changes(table, reference))
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
            mean, lo, hi = intervals.geometric_ci(values)
            rows.append({"model": model, "dim": dim, "n_train": n_train, "error": mean, "low": lo, "high": hi,
                         "seeds": values.size})
    return pd.DataFrame(rows, columns=["model", "dim", "n_train", "error", "low", "high", "seeds"])


def equivariance_verdict(runs: pd.DataFrame) -> dict:
    """Two questions fixed in advance, each over all its points at the Bonferroni level.

    ``augmentation``: does augmenting lower the GNN's equivariance error
    (augmented / plain per n and training size)? ``data``: does a larger
    training set lower it (largest / smallest size, per model and n)? Each says
    "shrank" (lower), "grew", "both" or "inconclusive"
    (:func:`equilib.rules.family_change_verdict`), with its evidence.
    """
    study = runs[(runs["study"] == "equivariance") & (runs["status"] == "finished")].dropna(
        subset=["equivariance_error"])
    if study.empty:
        empty = {"verdict": "not yet measured", "evidence": "no runs of this study in the store"}
        return {"augmentation": empty, "data": empty}
    errors = {key: g["equivariance_error"].to_numpy(float) for key, g in study.groupby(["model", "dim", "n_train"])}
    sizes = sorted(study["n_train"].unique())
    by_augment = {(f"{n_train:,} trajectories", dim): intervals.log_ratio(errors[("gnn+aug", dim, n_train)],
                                                                      errors[("gnn", dim, n_train)])
                  for model, dim, n_train in errors if model == "gnn" and ("gnn+aug", dim, n_train) in errors}
    names = {"gnn": "the plain GNN", "gnn+aug": "the augmented GNN"}
    by_data = {(names.get(model, model), dim): intervals.log_ratio(errors[(model, dim, sizes[-1])],
                                                               errors[(model, dim, sizes[0])])
               for model, dim, n_train in errors
               if n_train == sizes[0] and len(sizes) > 1 and (model, dim, sizes[-1]) in errors}

    def said(changes: dict, missing: str) -> dict:
        family = rules.family_change_verdict(changes)
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
    change it (the N-body claim itself allows at most :data:`equilib.rules.MAX_UNCONVERGED`).
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
        improving = intervals.improving_at_end(g)
        parts.append(f"{improving.sum()} of {len(g)} {MODEL_LABELS.get(model, model)} runs ({improving.mean():.0%})")
    return "still improving at their last evaluation: " + ", ".join(parts)


def study_tables(runs: pd.DataFrame, protocol: dict) -> dict[str, pd.DataFrame]:
    """Every table of the beyond page: one per study, the confirmation, and the augmentation at the first longer
    budget (empty where the protocol has none)."""
    longer = (protocol["augment_longer"] or [None])[0]
    return {"breaking": breaking_table(runs), "confirm": breaking_table(runs, "confirm"),
            "augmentation": augmentation_table(runs),
            "augmentation_longer": augmentation_table(runs, longer) if longer else pd.DataFrame(),
            "horizon": horizon_table(runs), "equivariance": equivariance_table(runs)}


def study_verdicts(tables: dict[str, pd.DataFrame], runs: pd.DataFrame, protocol: dict) -> dict[str, dict]:
    """Every verdict of the beyond page, by name; the equivariance study's questions as ``equivariance_<question>``.

    The longer augmentation's evidence says how many of its runs were still
    improving: part of what "given enough training" rests on.
    """
    verdicts = {"breaking": breaking_verdict(tables["breaking"]), "confirm": breaking_verdict(tables["confirm"]),
                "augmentation": augmentation_verdict(tables["augmentation"]),
                "augmentation_longer": augmentation_verdict(tables["augmentation_longer"]),
                "horizon": horizon_verdict(tables["horizon"])}
    verdicts.update({f"equivariance_{q}": said for q, said in equivariance_verdict(runs).items()})
    if len(tables["augmentation_longer"]):
        improving = still_improving(runs, "augmentation", [longer_label(protocol["augment_longer"][0])])
        verdicts["augmentation_longer"]["evidence"] += ". " + improving[:1].upper() + improving[1:]
    return verdicts
