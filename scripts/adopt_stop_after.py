"""Re-file the MNIST runs that the ``cpu`` preset's ``stop_after`` floor leaves exactly as they were.

The ``cpu`` preset's early stopping fired while the cosine schedule's rate was
still high, on validation noise: one SO2 run stopped at a third of its budget at
16.6% error, where its other seeds reached 4%. The preset now lets it fire only
after ``stop_after`` of the budget (first 0.5; then 0.8, when runs kept stopping
just past half-way on the same noise). A run that never stopped early, or
stopped at or after the new floor, would follow the same steps and stop at the
same evaluation under the new rule (nothing before the stop depends on the
rule), so its record is the new protocol's record: this files it under the new
id. Runs that stopped earlier stay under their old id, outside the protocol
(the page compares them with their retraining), and the sweep retrains them.

    python scripts/adopt_stop_after.py [--results results] [--dry-run]
"""

import argparse
import json

from equilib.protocols import resolve
from equilib.store import RunStore
from equilib.training import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    stop_after = resolve("mnist", "cpu")["stop_after"]
    store = RunStore(args.results, "mnist")
    kept, left = 0, []
    for row in store.runs().itertuples():
        config = json.loads(row.config)
        if config.get("stop_after", 0.0) >= stop_after or not config.get("patience"):
            continue
        rule = TrainConfig(epochs=config["epochs"], patience=config["patience"], stop_after=stop_after)
        if row.stopped_early and not rule.may_stop_at(row.epochs_done):
            left.append(f"{row.group} {row.variant} N={row.n_train} seed={row.seed}: stopped at epoch "
                        f"{row.epochs_done} of {row.epochs} (floor {config.get('stop_after', 0.0):g})")
            continue
        kept += 1
        if not args.dry_run:
            store.rekey(row.run_id, {**config, "stop_after": stop_after})
    print(f"{kept} runs re-filed under stop_after={stop_after}; {len(left)} stopped before it and will be retrained:")
    print("\n".join(f"  {line}" for line in left))


if __name__ == "__main__":
    main()
