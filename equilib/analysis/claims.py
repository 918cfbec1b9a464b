"""The paper's four claims, checked against the run store.

Each check returns a verdict (``supported``, ``not supported``,
``inconclusive`` or ``not yet measured``) with the numbers behind it, so the introduction can state
what the stored results say without a number typed by hand. The rules are
stated in each function; they judge the honest protocol (test metric at the
epoch of best validation metric).
"""
from __future__ import annotations

import pandas as pd

from ..experiments.presets import KEY_GROUPS
from ..tasks.mnist import VARIANT_LABELS
from . import intervals, power, rules

HONEST_COLUMN = "test_at_best_val"
RATIOS = {"GNN / EGNN": ("gnn", "egnn"), "residual GNN / EGNN": ("resgnn", "egnn")}
MATCH = {"rotated": "SO2", "fliprot": "O2"}


def _verdict(claim: str, verdict: str, evidence: str) -> dict:
    return {"claim": claim, "verdict": verdict, "evidence": evidence}


def dimension_claim(nbody_runs: pd.DataFrame, comparison: str = "GNN / EGNN") -> dict:
    """Claim 1 (N-body): the ratio of ``comparison`` (:data:`RATIOS`) grows with n.

    The rule is :func:`equilib.analysis.rules.growth_verdict` on the honest protocol: a
    fit of log ratio against n whose slope interval must lie above 0; each
    point needs 3 seeds, and at most 20% of the runs may still be improving.
    """
    claim = ("The benefit of equivariance grows with the dimension (N-body, "
             + ("GNN vs EGNN)" if comparison == "GNN / EGNN" else f"{comparison})"))
    num, den = RATIOS[comparison]
    runs = nbody_runs[nbody_runs["model"].isin([num, den])] if not nbody_runs.empty else nbody_runs
    table = intervals.ratio_table(runs, num, den, HONEST_COLUMN) if not runs.empty else pd.DataFrame()
    if len(table) < 3:
        return _verdict(claim, "not yet measured", "fewer than three dimensions with both models in the store")
    v = rules.growth_verdict(table, unconverged=intervals.unconverged_share(runs))
    points = "; ".join(f"n = {r.dim}: {r.ratio:.2f} [{r.low:.2f}, {r.high:.2f}] ({r.seeds} seeds)"
                       for r in table.itertuples())
    evidence = (f"{comparison} per n, 95% intervals: {points}. Trend: x{v['slope']:.3f} per dimension "
                f"[{v['low']:.3f}, {v['high']:.3f}]; above 1 at {v['above_one']} of {v['points']} dimensions; "
                f"{v['reason']}")
    return _verdict(claim, v["verdict"], evidence)


def dimension_power(nbody_runs: pd.DataFrame, comparison: str = "GNN / EGNN", *, repeats: int = 200,
                    seed: int = 0) -> dict[str, float]:
    """How often the dimension claim's rule says "supported" on stores drawn with this store's own noise and seeds.

    ``seen``: at the ratios measured here (how often a rerun would repeat the
    verdict); ``of_interest``: at a rise of :data:`~equilib.analysis.rules.GROWTH_OF_INTEREST`
    from the smallest n to the largest (its power); ``flat``: with no rise at
    all (its size). Also the seeds per cell the draws used.
    """
    num, den = RATIOS[comparison]
    runs = nbody_runs[nbody_runs["model"].isin([num, den])]
    cells = power.log_cells(runs)
    seeds = int(cells["seeds"].min())

    def judge(drawn: pd.DataFrame) -> str:
        return rules.growth_verdict(intervals.ratio_table(drawn, num, den, HONEST_COLUMN))["verdict"]

    def supported(truth: pd.DataFrame) -> float:
        return power.answer_rates(judge, truth, seeds, repeats=repeats, seed=seed, answers=("supported",))["supported"]

    of_interest = power.with_rise(cells, num, den, rules.GROWTH_OF_INTEREST)
    return {"seen": supported(cells), "of_interest": supported(of_interest),
            "flat": supported(power.with_rise(cells, num, den, 1.0)), "seeds": seeds}


def _combine(parts: list[dict]) -> str:
    """One verdict from several variants': any "not supported" decides; all "supported" needed for yes."""
    verdicts = [p["verdict"] for p in parts]
    if "not supported" in verdicts:
        return "not supported"
    if verdicts and all(v == "supported" for v in verdicts):
        return "supported"
    return "inconclusive"


def _measured(mnist_runs: pd.DataFrame, group: str) -> list[str]:
    """The variants whose symmetry ``group`` matches and whose store holds it and the plain CNN."""
    if mnist_runs.empty:
        return []
    finished = mnist_runs[mnist_runs["status"] == "finished"]
    return [v for v in MATCH if MATCH[v] == group
            and {group, "trivial"} <= set(finished.loc[finished["variant"] == v, "group"])]


def key_runs(mnist_runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of the comparisons fixed in advance (:data:`equilib.experiments.presets.KEY_GROUPS`); the other groups
    are shown on the page with fewer seeds, but no verdict is drawn from them."""
    if mnist_runs.empty:
        return mnist_runs
    keep = [g in KEY_GROUPS.get(v, ()) for v, g in zip(mnist_runs["variant"], mnist_runs["group"])]
    return mnist_runs[keep]


def alignment_claim(mnist_runs: pd.DataFrame) -> dict:
    """Claim 2 (MNIST): the group matching the data's symmetry (SO(2) rotated, O(2) flip-rotated) is lowest.

    The rule is :func:`equilib.analysis.rules.lowest_group_verdict` per variant: lowest
    against every other key group at every size, judged by intervals over
    seeds on the pairwise differences; a competitor lower beyond doubt
    (Bonferroni) makes it *not supported*.
    """
    claim = "The best group is the one that matches the data's symmetry (rotated MNIST)"
    mnist_runs = key_runs(mnist_runs)
    parts = []
    for variant, group in MATCH.items():
        if variant in _measured(mnist_runs, group):
            parts.append({"variant": variant, **rules.lowest_group_verdict(mnist_runs, variant, group)})
    if not parts:
        return _verdict(claim, "not yet measured", "no rotated-MNIST sweep with the matching group in the store")
    evidence = "; ".join(f"{VARIANT_LABELS[p['variant']]}: {MATCH[p['variant']]} {p['verdict']} "
                         f"({p['reason']})" for p in parts)
    return _verdict(claim, _combine(parts), evidence)


def regime_claim(mnist_runs: pd.DataFrame) -> dict:
    """Claim 3 (MNIST): equivariance helps at every training size.

    Judged for every equivariant key group of each variant by
    :func:`equilib.analysis.rules.beats_reference_verdict` (its error ratio to the
    plain CNN above 1, with an interval, at every size). *Supported* when
    every group's verdict is; *not supported* when any group's is.
    """
    claim = "Equivariance helps in every data regime (rotated MNIST, each equivariant group vs plain CNN)"
    mnist_runs = key_runs(mnist_runs)
    parts = []
    for variant, group in MATCH.items():
        if variant not in _measured(mnist_runs, group):
            continue
        present = set(mnist_runs.loc[mnist_runs["variant"] == variant, "group"])
        for other in KEY_GROUPS[variant]:
            if other != "trivial" and other in present:
                parts.append({"variant": variant, "group": other,
                              **rules.beats_reference_verdict(mnist_runs, variant, other)})
    if not parts:
        return _verdict(claim, "not yet measured", "no rotated-MNIST sweep with the plain CNN in the store")
    evidence = "; ".join(f"{VARIANT_LABELS[p['variant']]}: {p['group']} {p['verdict']} ({p['reason']})"
                         for p in parts)
    return _verdict(claim, _combine(parts), evidence)


def slope_claim(mnist_runs: pd.DataFrame) -> dict:
    """Claim 4 (MNIST): scaling slopes are similar across groups.

    :func:`equilib.analysis.rules.similar_slopes_verdict`: each group's slope minus the
    plain CNN's, from per-seed fits, within +-0.1 (the equivalence margin) for
    *supported*; a difference beyond doubt (Bonferroni) for *not supported*.
    """
    claim = "Equivariant and plain models scale with similar slopes (rotated MNIST)"
    mnist_runs = key_runs(mnist_runs)
    variants = sorted({v for g in MATCH.values() for v in _measured(mnist_runs, g)})
    if not variants:
        return _verdict(claim, "not yet measured", "no plain-CNN runs to compare slopes with")
    v = rules.similar_slopes_verdict(mnist_runs, variants)
    return _verdict(claim, v["verdict"], f"{v['reason']}; margin +-{rules.SLOPE_EQUIVALENCE} on log-log axes, "
                    f"{v['groups']} group slopes compared with the plain CNN's")


def summarise(nbody_runs: pd.DataFrame, mnist_runs: pd.DataFrame) -> pd.DataFrame:
    """All four claims, in the paper's order."""
    return pd.DataFrame([dimension_claim(nbody_runs), dimension_claim(nbody_runs, "residual GNN / EGNN"),
                         alignment_claim(mnist_runs), regime_claim(mnist_runs), slope_claim(mnist_runs)])

