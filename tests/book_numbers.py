"""Every number the built book shows, computed from a run store: what a code move must leave unchanged.

``python tests/book_numbers.py OUT.json`` writes them; ``test_book_numbers.py``
recomputes them with today's code and compares them with the committed file.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from equilib.analysis import beyond, claims, intervals
from equilib.experiments import beyond as beyond_runs, presets
from equilib.experiments.nbody import nbody_rates
from equilib.experiments.protocol import run_protocol
from equilib.experiments.settings import RunSettings
from equilib.report import charts

ROOT = Path(__file__).resolve().parents[1]


def _frame(df: pd.DataFrame) -> dict:
    df = df.reset_index(drop=True)
    return {"columns": [str(c) for c in df.columns],
            "data": json.loads(df.to_json(orient="values", double_precision=15, default_handler=str))}


def book_numbers(results: str | Path = ROOT / "results") -> dict:
    run = RunSettings(results=str(results), train_missing=False, progress=False)
    out: dict = {}
    nb_protocol = presets.resolve("nbody", "cpu")
    nbody = run_protocol("nbody", nb_protocol, run)
    mnist = run_protocol("mnist", presets.resolve("mnist", "cpu"), run)
    out["nbody_rates"] = nbody_rates(nb_protocol, run)
    ratios, mses = charts.nbody_frames(nbody)
    out["nbody_ratios"], out["nbody_mses"] = _frame(ratios), _frame(mses)
    out["nbody_verdicts"] = {c: claims.dimension_claim(nbody, c) for c in claims.RATIOS}
    key = claims.key_runs(mnist)
    out["mnist_frame"] = _frame(charts.mnist_frame(mnist))
    out["mnist_slopes"] = _frame(pd.concat([intervals.slope_table(key, v) for v in sorted(set(key.variant))]))
    out["mnist_beats"] = _frame(pd.concat([intervals.beats_reference_table(key, v) for v in sorted(set(key.variant))]))
    out["mnist_verdicts"] = [claims.alignment_claim(mnist), claims.regime_claim(mnist), claims.slope_claim(mnist)]
    out["summary"] = _frame(claims.summarise(nbody, mnist))
    by = beyond_runs.run_beyond(presets.resolve("beyond", "cpu"), run)
    tables = {"breaking": beyond.breaking_table(by), "augmentation": beyond.augmentation_table(by),
              "augmentation_longer": beyond.augmentation_table(by, 2), "horizon": beyond.horizon_table(by),
              "equivariance": beyond.equivariance_table(by), "confirm": beyond.breaking_table(by, "confirm")}
    out["beyond_tables"] = {k: _frame(t) for k, t in tables.items()}
    out["beyond_verdicts"] = {"breaking": beyond.breaking_verdict(tables["breaking"]),
                              "confirm": beyond.breaking_verdict(tables["confirm"]),
                              "augmentation": beyond.augmentation_verdict(tables["augmentation"]),
                              "augmentation_longer": beyond.augmentation_verdict(tables["augmentation_longer"]),
                              "horizon": beyond.horizon_verdict(tables["horizon"]),
                              "equivariance": beyond.equivariance_verdict(by),
                              "free_flight": beyond.against_free_flight(by, "horizon")}
    return json.loads(json.dumps(out, default=str))


if __name__ == "__main__":
    Path(sys.argv[1]).write_text(json.dumps(book_numbers(), indent=0, sort_keys=True))
