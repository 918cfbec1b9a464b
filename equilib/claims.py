"""The paper's four claims, checked against the run store.

Each check returns a verdict (``supported``, ``not supported``, ``mixed``,
``inconclusive`` or ``not yet measured``) with the numbers behind it, so the introduction can state
what the stored results say without a number typed by hand. The rules are
stated in each function; they judge the honest protocol (test metric at the
epoch of best validation metric).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import figures, stats

HONEST_COLUMN = "test_at_best_val"
MATCH = {"rotated": "SO2", "fliprot": "O2"}


def _verdict(claim: str, verdict: str, evidence: str) -> dict:
    return {"claim": claim, "verdict": verdict, "evidence": evidence}


def dimension_claim(nbody_runs: pd.DataFrame, comparison: str = "GNN / EGNN") -> dict:
    """Claim 1 (N-body): the ratio of ``comparison`` (:data:`equilib.figures.RATIOS`) grows with n.

    The rule is :func:`equilib.stats.growth_verdict` on the honest protocol: a
    fit of log ratio against n whose slope interval must lie above 0; each
    point needs 3 seeds, and at most 20% of the runs may still be improving.
    """
    claim = ("The benefit of equivariance grows with the dimension (N-body, "
             + ("GNN vs EGNN)" if comparison == "GNN / EGNN" else f"{comparison})"))
    num, den = figures.RATIOS[comparison]
    runs = nbody_runs[nbody_runs["model"].isin([num, den])] if not nbody_runs.empty else nbody_runs
    table = stats.ratio_table(runs, num, den, HONEST_COLUMN) if not runs.empty else pd.DataFrame()
    if len(table) < 3:
        return _verdict(claim, "not yet measured", "fewer than three dimensions with both models in the store")
    v = stats.growth_verdict(table, unconverged=stats.unconverged_share(runs))
    points = "; ".join(f"n = {r.dim}: {r.ratio:.2f} [{r.low:.2f}, {r.high:.2f}] ({r.seeds} seeds)"
                       for r in table.itertuples())
    evidence = (f"{comparison} per n, 95% intervals: {points}. Trend: x{v['slope']:.3f} per dimension "
                f"[{v['low']:.3f}, {v['high']:.3f}]; above 1 at {v['above_one']} of {v['points']} dimensions; "
                f"{v['reason']}")
    return _verdict(claim, v["verdict"], evidence)


def _best_by_size(mnist_runs: pd.DataFrame, variant: str) -> pd.DataFrame:
    df = mnist_runs[(mnist_runs["status"] == "finished") & (mnist_runs["variant"] == variant)]
    return df.groupby(["n_train", "group"])["test_at_best_val"].mean().reset_index()


def _seeds(mnist_runs: pd.DataFrame) -> str:
    k = int(mnist_runs["seed"].nunique()) if not mnist_runs.empty else 0
    return f"means over {k} seed{'s' if k != 1 else ''}" + (" (no interval: seed noise unmeasured)" if k < 2 else "")


def alignment_claim(mnist_runs: pd.DataFrame) -> dict:
    """Claim 2 (MNIST): the group matching the data's symmetry (SO(2) for rotated, O(2) for flip-rotated) is best.

    Supported when it has the lowest mean honest error at three quarters of the
    training sizes or more, in every variant measured; not supported below one quarter.
    """
    claim = "The best group is the one that matches the data's symmetry (rotated MNIST)"
    shares, parts = [], []
    for variant, group in MATCH.items():
        mean = _best_by_size(mnist_runs, variant)
        if mean.empty or group not in set(mean["group"]) or mean["group"].nunique() < 3:
            continue
        winners = mean.loc[mean.groupby("n_train")["test_at_best_val"].idxmin()]
        share = float((winners["group"] == group).mean())
        shares.append(share)
        parts.append(f"{figures.VARIANT_LABELS[variant]}: {group} best at {int(round(share * len(winners)))} of "
                     f"{len(winners)} sizes (winners: {', '.join(winners['group'])})")
    if not shares:
        return _verdict(claim, "not yet measured", "no rotated-MNIST sweep with the matching group in the store")
    verdict = "supported" if min(shares) >= 0.75 else "not supported" if max(shares) < 0.25 else "mixed"
    return _verdict(claim, verdict, "; ".join(parts) + f"; {_seeds(mnist_runs)}")


def regime_claim(mnist_runs: pd.DataFrame) -> dict:
    """Claim 3 (MNIST): some equivariant model beats the plain CNN at every training size.

    Supported when the best equivariant model's mean honest error is below the
    plain CNN's at every size in every variant; not supported when it is at
    fewer than half of them.
    """
    claim = "Equivariance helps in every data regime (rotated MNIST, best equivariant model vs plain CNN)"
    wins, total, parts = 0, 0, []
    for variant in MATCH:
        mean = _best_by_size(mnist_runs, variant)
        if mean.empty or "trivial" not in set(mean["group"]) or mean["group"].nunique() < 2:
            continue
        table = mean.pivot(index="n_train", columns="group", values="test_at_best_val")
        plain = table.pop("trivial")
        best = table.min(axis=1)
        better = best < plain
        wins, total = wins + int(better.sum()), total + len(better)
        ratio = (plain / best).round(2)
        parts.append(f"{figures.VARIANT_LABELS[variant]}: plain/best error ratio "
                     + ", ".join(f"{r} at n = {n:,}" for n, r in ratio.items()))
    if total == 0:
        return _verdict(claim, "not yet measured", "no rotated-MNIST sweep with the plain CNN in the store")
    verdict = "supported" if wins == total else "not supported" if wins < total / 2 else "mixed"
    return _verdict(claim, verdict, f"better at {wins} of {total} (variant, size) points; " + "; ".join(parts)
                    + f"; {_seeds(mnist_runs)}")


MAX_SLOPE_HALF_WIDTH = 0.25  # wider 95% intervals overlap whatever the slopes are: no evidence either way


def slope_claim(mnist_runs: pd.DataFrame) -> dict:
    """Claim 4 (MNIST): scaling slopes are similar across groups.

    Supported when every group's 95% slope interval overlaps the plain CNN's in
    every variant; not supported when half or more do not; inconclusive when the
    median interval is wider than +-0.25 (overlap would then prove nothing).
    """
    claim = "Equivariant and plain models scale with similar slopes (rotated MNIST)"
    fits = figures.power_law_fits(mnist_runs) if not mnist_runs.empty else pd.DataFrame()
    if fits.empty or fits["low"].isna().all():
        return _verdict(claim, "not yet measured", "too few training sizes or seeds for slope intervals")
    overlaps, total, parts = 0, 0, []
    for variant, g in fits.groupby("variant"):
        g = g.set_index("group")
        if "trivial" not in g.index:
            continue
        ref = g.loc["trivial"]
        others = g.drop(index="trivial").dropna(subset=["low"])
        ok = (others["low"] <= ref["high"]) & (others["high"] >= ref["low"])
        overlaps, total = overlaps + int(ok.sum()), total + len(ok)
        parts.append(f"{variant}: slopes {g['slope'].min():.2f} to {g['slope'].max():.2f} "
                     f"(plain CNN {ref['slope']:.2f})")
    if total == 0:
        return _verdict(claim, "not yet measured", "no plain-CNN slope to compare with")
    half = float(((fits["high"] - fits["low"]) / 2).median())
    parts.append(f"median 95% half-width {half:.2f}")
    if half > MAX_SLOPE_HALF_WIDTH:
        verdict = "inconclusive"
    else:
        verdict = "supported" if overlaps == total else "not supported" if overlaps <= total / 2 else "mixed"
    return _verdict(claim, verdict, f"{overlaps} of {total} group slopes overlap the plain CNN's interval; "
                    + "; ".join(parts))


def summarise(nbody_runs: pd.DataFrame, mnist_runs: pd.DataFrame) -> pd.DataFrame:
    """All four claims, in the paper's order."""
    return pd.DataFrame([dimension_claim(nbody_runs), dimension_claim(nbody_runs, "residual GNN / EGNN"),
                         alignment_claim(mnist_runs), regime_claim(mnist_runs), slope_claim(mnist_runs)])
