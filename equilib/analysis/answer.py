"""The book's answer in one table: how the benefit of equivariance moves when one property of a task changes.

The benefit is the log of plain over equivariant test error (at the epoch of best
validation error); an *effect* is the change in that benefit between two settings
of one property, the rest held: a ratio of ratios, with its interval over seeds.
Every effect the store can measure is one row of :func:`effects`, read from the
same runs and, where a page already judges the change, at that page's level and
with its verdict; a study the store cannot answer yet is a row too, named and
marked ``missing``, so that a reader sees what is not known as well as what is.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from . import intervals, power, rules
from .claims import still_improving_text
from ..experiments.beyond import UNBROKEN, longer_label
from ..models.groups import group_label

METRIC = "test_at_best_val"
COLUMNS = ["property", "effect", "source", "change", "low", "high", "level", "verdict", "why", "seeds", "runs",
           "detectable", "finding"]
PROPERTIES = ("dimension", "group order", "group matching", "training-set size", "symmetry breaking",
              "augmentation", "horizon", "model capacity")

# Which effects repeat a published finding and which are this book's own (the decision table says so).
FINDINGS = {
    "dimension": "the paper's claim 1 (GNN / EGNN grows with n)",
    "group order": "Weiler and Cesa (2019): finer rotation groups help on rotated MNIST",
    "group matching": "the paper's claim 2 (the group that matches the data's symmetry)",
    "training-set size": "the paper's claims 3 and 4; Brehmer et al. (2024) on data and scale",
    "symmetry breaking": "new here",
    "augmentation": "new here (the paper does not augment its plain model)",
    "horizon": "new here (the EGNN paper predicts 1,000 steps ahead, this paper 10,000)",
    "model capacity": "new here",
}


def _finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "finished"] if "status" in runs else runs


def _values(runs: pd.DataFrame, **where) -> np.ndarray:
    mask = np.ones(len(runs), bool)
    for column, value in where.items():
        mask &= runs[column].to_numpy() == value
    return runs.loc[mask, METRIC].to_numpy(float)


def _row(prop: str, effect: str, source: str, change: intervals.Difference | None, runs: int, *,
         level: float = intervals.LEVEL, held_back: str = "") -> dict:
    """One effect: a change in the log benefit, its interval at ``level`` and the verdict of
    :func:`equilib.analysis.rules.change_verdict` (rows a page already judges come from :func:`_table_rows`);
    ``held_back`` (why the runs cannot carry a verdict) makes it "inconclusive" whatever the interval says."""
    if change is None or not np.isfinite(change.estimate):
        return {"property": prop, "effect": effect, "source": source, "change": np.nan, "low": np.nan,
                "high": np.nan, "level": level, "verdict": "missing", "why": "", "seeds": 0, "runs": runs,
                "detectable": np.nan, "finding": FINDINGS[prop]}
    lo, hi = change.interval(level)
    return {"property": prop, "effect": effect, "source": source, "change": math.exp(change.estimate),
            "low": math.exp(lo) if np.isfinite(lo) else np.nan, "high": math.exp(hi) if np.isfinite(hi) else np.nan,
            "level": level, "verdict": "inconclusive" if held_back else rules.change_verdict(change, level=level),
            "why": held_back, "seeds": int(min(change.n_a, change.n_b)), "runs": runs,
            "detectable": power.detectable_change(change.se, change.dof, level), "finding": FINDINGS[prop]}


def _still_improving(runs: pd.DataFrame, variant: str, groups: Sequence[str]) -> str:
    """Why an MNIST row cannot be decided whatever its interval: the rule every MNIST verdict has
    (:func:`equilib.analysis.rules.unconverged_groups`, a group's runs of the variant pooled over the sizes read),
    as docs/confirmatory-large.md declares for the training-set-size row. "" when nothing holds it back."""
    if "epochs_done" not in runs:  # no training record (a table built by hand): nothing to judge convergence by
        return ""
    over = rules.unconverged_groups(runs[runs["variant"] == variant], list(groups))
    return still_improving_text(over) if over else ""


def _family(rows: int) -> float:
    """Each row of a property is judged at the Bonferroni level over that property's rows, so that when nothing
    moved, any claim of a move within the property comes out at most 5% of the time."""
    return intervals.bonferroni(intervals.LEVEL, max(1, rows))


def _missing(prop: str, effect: str, source: str) -> dict:
    return _row(prop, effect, source, None, 0)


def dimension_effects(nbody_runs: pd.DataFrame, source: str, reference: int = 2) -> list[dict]:
    """GNN / EGNN at each n over GNN / EGNN at ``reference``: does the benefit grow with the dimension?"""
    runs = _finished(nbody_runs)
    dims = sorted(set(runs["dim"])) if len(runs) else []
    if reference not in dims:
        return [_missing("dimension", f"n = 8 vs n = {reference}", source)]
    benefit = {d: intervals.log_ratio(_values(runs, model="gnn", dim=d), _values(runs, model="egnn", dim=d))
               for d in dims}
    strict = _family(len(dims) - 1)
    pair = runs["model"].isin(["gnn", "egnn"])
    return [_row("dimension", f"n = {d} vs n = {reference}", source,
                 intervals.difference_of(benefit[d], benefit[reference]),
                 int((pair & runs["dim"].isin([d, reference])).sum()), level=strict)
            for d in dims if d != reference]


def _largest(runs: pd.DataFrame, variant: str, groups: Sequence[str]) -> int | None:
    """The largest training size at which every one of ``groups`` has runs on ``variant``."""
    sizes = [set(runs.loc[(runs["variant"] == variant) & (runs["group"] == g), "n_train"]) for g in groups]
    common = set.intersection(*sizes) if sizes else set()
    return max(common) if common else None


def group_effects(mnist_runs: pd.DataFrame, source: str) -> list[dict]:
    """At the largest common size: how the benefit over the plain CNN moves between groups. Against a shared
    plain CNN the change is the ratio of the two groups' errors (the plain CNN cancels)."""
    runs = _finished(mnist_runs)
    pairs = [("group order", "rotated", "C4", "C8", "C8 vs C4, rotated"),
             ("group order", "rotated", "C4", "SO2", "SO(2) vs C4, rotated"),
             ("group order", "fliprot", "D4", "D8", "D8 vs D4, flip-rotated"),
             ("group order", "fliprot", "D4", "O2", "O(2) vs D4, flip-rotated"),
             ("group matching", "rotated", "C4", "D4", "D4 vs C4 on rotated (mirrors the data lack)"),
             ("group matching", "fliprot", "C8", "D8", "D8 vs C8 on flip-rotated (mirrors the data have)")]
    rows = []
    for prop, variant, base, group, label in pairs:
        n = _largest(runs, variant, [base, group]) if len(runs) else None
        if n is None:
            rows.append(_missing(prop, label, source))
            continue
        a, b = _values(runs, variant=variant, group=base, n_train=n), _values(runs, variant=variant, group=group,
                                                                              n_train=n)
        strict = _family(sum(p == prop for p, *_ in pairs))
        rows.append(_row(prop, f"{label}, n = {n:,}", source, intervals.log_ratio(a, b), a.size + b.size,
                         level=strict, held_back=_still_improving(runs, variant, [base, group])))
    return rows


def size_effects(mnist_runs: pd.DataFrame, source: str,
                 groups: Sequence[tuple[str, str]] = (("rotated", "C8"), ("rotated", "SO2"), ("fliprot", "D8"),
                                                      ("fliprot", "O2"))) -> list[dict]:
    """Benefit over the plain CNN at the largest size over the same at the smallest: does it shrink with data?"""
    runs = _finished(mnist_runs)
    rows = []
    for variant, group in groups:
        sizes = sorted(set(runs.loc[(runs["variant"] == variant) & (runs["group"] == group), "n_train"])) \
            if len(runs) else []
        label = f"{group_label(group)} on {'rotated' if variant == 'rotated' else 'flip-rotated'}"
        if len(sizes) < 2:
            rows.append(_missing("training-set size", f"{label}: largest vs smallest size", source))
            continue
        lo_n, hi_n = sizes[0], sizes[-1]
        benefit = {n: intervals.log_ratio(_values(runs, variant=variant, group="trivial", n_train=n),
                                          _values(runs, variant=variant, group=group, n_train=n))
                   for n in (lo_n, hi_n)}
        used = (runs["variant"].eq(variant) & runs["group"].isin(["trivial", group])
                & runs["n_train"].isin([lo_n, hi_n]))
        rows.append(_row("training-set size", f"{label}: n = {hi_n:,} vs {lo_n:,}", source,
                         intervals.difference_of(benefit[hi_n], benefit[lo_n]), int(used.sum()),
                         level=_family(len(groups)), held_back=_still_improving(runs, variant, ["trivial", group])))
    return rows


def _table_rows(prop: str, table: pd.DataFrame, source: str, label) -> list[dict]:
    """Rows from a beyond-page table that already holds each change, its family's level and its verdict."""
    rows = []
    for r in table.itertuples(index=False):
        if not np.isfinite(r.change):
            continue
        rows.append({"property": prop, "effect": label(r), "source": source, "change": r.change,
                     "low": r.change_low, "high": r.change_high, "level": r.level, "verdict": r.verdict,
                     "why": "", "seeds": int(r.seeds), "runs": int(2 * r.seeds),
                     "detectable": power.detectable_change(r.change_se, r.change_dof, r.level),
                     "finding": FINDINGS[prop]})
    return rows


def breaking_effects(tables: dict[str, pd.DataFrame]) -> list[dict]:
    """Walls and clipping against the unbroken task (the beyond page's families); the confirmation on fresh seeds
    is the evidence where there is one."""
    rows = []
    for name, source, words in (("confirm", "beyond: confirmation (fresh seeds)", "confirmation"),
                                ("breaking", "beyond: first look", "first look")):
        table = tables.get(name, pd.DataFrame())
        if len(table):
            rows += _table_rows("symmetry breaking", table, source,
                                lambda r, w=words: f"{r.setting} vs {UNBROKEN}, n = {r.dim} ({w})")
    return rows or [_missing("symmetry breaking", "walls or clipping vs the unbroken task", "beyond")]


def augmentation_effects(beyond_runs: pd.DataFrame, longer: Sequence[int] = ()) -> list[dict]:
    """The EGNN's lead over an augmented GNN against its lead over the plain GNN, at equal and longer steps.
    The EGNN runs are shared, so the change is augmented GNN / GNN."""
    runs = _finished(beyond_runs[beyond_runs["study"] == "augmentation"]) if len(beyond_runs) else beyond_runs
    rows = []
    settings = [("augmented", "equal steps")] + [(longer_label(f), f"{f}x steps") for f in longer]
    for setting, words in settings:
        dims = sorted(set(runs.loc[runs["setting"] == setting, "dim"])) if len(runs) else []
        if not dims:
            rows.append(_missing("augmentation", f"augmented GNN ({words}) vs GNN", "beyond"))
            continue
        strict = _family(len(dims))  # one family per budget, as on the beyond page
        for d in dims:
            aug = _values(runs, setting=setting, model="gnn+aug", dim=d)
            plain = _values(runs, setting="plain", model="gnn", dim=d)
            rows.append(_row("augmentation", f"augmented GNN ({words}) vs GNN, n = {d}", "beyond",
                             intervals.log_ratio(aug, plain), aug.size + plain.size, level=strict))
    return rows


def horizon_effects(tables: dict[str, pd.DataFrame]) -> list[dict]:
    table = tables.get("horizon", pd.DataFrame())
    if not len(table):
        return [_missing("horizon", "longer vs shorter horizon", "beyond")]
    return _table_rows("horizon", table, "beyond", lambda r: f"{r.setting} vs the shortest, n = {r.dim}")


# The capacity studies, each declared before its runs: preset, parameters over the cpu preset's, declaration
CAPACITY_STUDIES = (("capacity", 5, "docs/confirmatory-capacity.md"),
                    ("capacity-400k", 20, "docs/confirmatory-capacity-400k.md"))


def capacity_effects(larger: pd.DataFrame | None = None, smaller: pd.DataFrame | None = None, expected: int = 0,
                     group: str = "C8", variant: str = "rotated", *,
                     study: tuple[str, int, str] = CAPACITY_STUDIES[0]) -> list[dict]:
    """Model capacity: ``group``'s benefit over the plain CNN in the ``larger`` models (one of
    ``CAPACITY_STUDIES``: its preset, its factor on the parameters, its declaration) over the same in the
    ``smaller`` (the ``cpu`` preset's), at each training size. Named as missing, with how many runs are in,
    until all ``expected`` runs of the declared grid are, whatever the partial runs say."""
    preset, factor, declaration = study
    effect = f"{group} vs plain CNN at {factor}x the parameters"
    big = _finished(larger) if larger is not None and len(larger) else pd.DataFrame()
    if not expected or len(big) < expected:
        return [_missing("model capacity", effect, f"declared in {declaration}, {len(big)} of {expected or 'its'} "
                                                   "runs in")]
    small = _finished(smaller)
    sizes = sorted(set(big.loc[(big["variant"] == variant) & (big["group"] == group), "n_train"]))
    rows = []
    for n in sizes:
        benefit = {name: intervals.log_ratio(_values(runs, variant=variant, group="trivial", n_train=n),
                                             _values(runs, variant=variant, group=group, n_train=n))
                   for name, runs in (("larger", big), ("smaller", small))}
        used = sum(int((r["variant"].eq(variant) & r["group"].isin(["trivial", group]) & r["n_train"].eq(n)).sum())
                   for r in (big, small))
        rows.append(_row("model capacity", f"{effect}, n = {n:,}", f"MNIST {preset} preset vs cpu preset",
                         intervals.difference_of(benefit["larger"], benefit["smaller"]), used,
                         level=_family(len(sizes)), held_back=_still_improving(big, variant, ["trivial", group])))
    return rows


def effects(nbody_runs: pd.DataFrame, mnist_runs: pd.DataFrame, beyond_runs: pd.DataFrame,
            beyond_tables: dict[str, pd.DataFrame], *, nbody_source: str = "N-body grid",
            mnist_source: str = "MNIST cpu preset", augment_longer: Sequence[int] = (),
            capacity: Sequence[tuple[str, pd.DataFrame | None, int]] = ()) -> pd.DataFrame:
    """Every effect the book measures, one row each (``COLUMNS``), grouped by property in ``PROPERTIES`` order.

    ``change`` is the ratio of benefits (above 1: equivariance pays more in the
    changed setting), with ``low``/``high`` at ``level``; ``verdict`` is
    "grew", "shrank", "reversed" (the plain model became better), "inconclusive"
    or "missing" (the store holds no runs that answer it); ``why`` says what held
    an MNIST row back whatever its interval (more than 20% of a group's runs still
    improving at their last evaluation, as on the MNIST page); ``detectable`` is the
    factor (either way) that the row's seeds would find beyond doubt 80% of the
    time (:func:`equilib.analysis.power.detectable_change`). ``capacity`` holds,
    for each study of ``CAPACITY_STUDIES``, its preset, its runs and how many are
    declared; each is compared with ``mnist_runs``, and a study not given is named as missing.
    """
    given = {preset: (runs, expected) for preset, runs, expected in capacity}
    unknown = sorted(set(given) - {preset for preset, _, _ in CAPACITY_STUDIES})
    if unknown:
        raise ValueError(f"unknown capacity studies {unknown}; the declared ones are "
                         f"{[preset for preset, _, _ in CAPACITY_STUDIES]}")
    capacity_rows = []
    for study in CAPACITY_STUDIES:
        runs, expected = given.get(study[0], (None, 0))
        capacity_rows += capacity_effects(runs, mnist_runs, expected, study=study)
    rows = (dimension_effects(nbody_runs, nbody_source) + group_effects(mnist_runs, mnist_source)
            + size_effects(mnist_runs, mnist_source) + breaking_effects(beyond_tables)
            + augmentation_effects(beyond_runs, augment_longer) + horizon_effects(beyond_tables)
            + capacity_rows)
    out = pd.DataFrame(rows, columns=COLUMNS)
    order = {p: i for i, p in enumerate(PROPERTIES)}
    return out.sort_values("property", key=lambda c: c.map(order), kind="stable", ignore_index=True)


def confirmatory_grid(names: str | Sequence[str] | None, lookup) -> dict | None:
    """The confirmatory N-body grid whose verdicts the book reports: the first of ``names`` (in order of
    preference, the newest declaration first) whose runs are all in, else the last named, reported as pending.

    Each declaration says when it takes over from the one before it (docs/confirmatory-*.md): once all its runs
    are in, so the switch needs no edit. ``lookup(protocol)`` returns a grid's stored runs (training nothing).
    The result holds the grid's ``name``, ``runs``, ``have`` and ``expected`` (finished and declared runs), and
    ``waiting``: the preferred grids that are not complete yet, as (name, have, expected).
    """
    from ..experiments import presets
    from ..experiments.protocol import protocol_size

    names = [names] if isinstance(names, str) else list(names or [])
    found = []
    for name in names:
        grid = presets.resolve("nbody", name)  # an unknown name fails here, before any lookup
        runs = lookup(grid)
        have = int((runs["status"] == "finished").sum()) if len(runs) else 0
        found.append({"name": name, "runs": runs, "have": have, "expected": protocol_size("nbody", grid)})
        if have >= found[-1]["expected"]:
            break
    if not found:
        return None
    return {**found[-1], "waiting": [(f["name"], f["have"], f["expected"]) for f in found[:-1]]}


CONFIRMATORY = ("confirm-clipped", "confirm")  # the N-body confirmatory grids, newest declaration first


def stored_effects(results, preset: str = "cpu", confirmatory: str | Sequence[str] | None = CONFIRMATORY,
                   large: str | None = "large") -> tuple[pd.DataFrame, dict]:
    """:func:`effects` on the run store at ``results``, training nothing: the page, the intro and the README
    all read the answer through this one function. The N-body rows come from the confirmatory grid that
    :func:`confirmatory_grid` picks, once all its runs are in, else from the ``preset`` grid
    (``about["nbody_source"]`` says which). The MNIST rows read the ``preset``'s runs and the ``large``
    preset's at each variant and size where all its declared runs are in, as the MNIST page's verdicts do
    (``about["mnist_sizes"]``: per variant, every size they read)."""
    from ..experiments import presets
    from ..experiments.beyond import run_beyond
    from ..experiments.protocol import complete_sizes, protocol_size, run_protocol, with_complete_sizes
    from ..experiments.settings import RunSettings
    from .beyond import study_tables

    looked_up = RunSettings(results=results, train_missing=False, progress=False)
    nbody = run_protocol("nbody", presets.resolve("nbody", preset), looked_up)
    source = f"N-body {preset} grid (exploratory)"
    about = {"confirm_name": None, "confirm_have": 0, "confirm_expected": 0, "confirm_waiting": []}
    grid = confirmatory_grid(confirmatory, lambda protocol: run_protocol("nbody", protocol, looked_up))
    if grid:
        about.update(confirm_name=grid["name"], confirm_have=grid["have"], confirm_expected=grid["expected"],
                     confirm_waiting=grid["waiting"])
        if grid["have"] >= grid["expected"]:
            nbody, source = grid["runs"], f"N-body {grid['name']} grid (confirmatory)"
    mnist = run_protocol("mnist", presets.resolve("mnist", preset), looked_up)
    mnist_source = f"MNIST {preset} preset"
    if large:
        large_protocol = presets.resolve("mnist", large)
        large_runs = run_protocol("mnist", large_protocol, looked_up)
        cells = complete_sizes(large_protocol, large_runs)
        if cells:
            mnist = with_complete_sizes(mnist, large_protocol, large_runs)
            mnist_source += f"; the {large} preset's at " + ", ".join(f"{n:,} ({v})" for v, n in cells)
    capacity = []
    for name, _, _ in CAPACITY_STUDIES:
        study = presets.resolve("mnist", name)
        capacity.append((name, run_protocol("mnist", study, looked_up), protocol_size("mnist", study)))
    protocol = presets.resolve("beyond", preset)
    runs = run_beyond(protocol, looked_up)
    variants = presets.resolve("mnist", preset)["variants"]  # in the preset's order: rotated first
    about.update(nbody_source=source, mnist_sizes={v: sorted(set(mnist.loc[mnist["variant"] == v, "n_train"]))
                                                   for v in variants if (mnist["variant"] == v).any()})
    table = effects(nbody, mnist, runs, study_tables(runs, protocol), nbody_source=source,
                    mnist_source=mnist_source, augment_longer=protocol["augment_longer"],
                    capacity=capacity)
    return table, about
