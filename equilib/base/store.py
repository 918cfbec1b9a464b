"""The run store: every finished run, with its configuration, metrics and learning curve.

Layout under a results directory::

    <results>/<experiment>/runs/<run_id>.parquet    one row per run
    <results>/<experiment>/curves/<run_id>.parquet  its learning curve
    <results>/<experiment>/checkpoints/<run_id>.pt  while a run is in progress (not committed)
    <results>/<experiment>/failed/<run_id>.json     a run whose job raised, with its error (retried next time)

``pandas.read_parquet(<results>/<experiment>/runs)`` reads every run in one
call. The run id is a hash of the configuration, so the same configuration is
found and skipped (how a killed sweep resumes and how the book renders without
training). Each file is written to a temporary name and renamed into place, so
several processes can write at once and a killed process loses at most the run
it was in.
"""
from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import __version__
from .cache import atomic_write, params_key, remove_stale_temps

RUN_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("experiment", pa.string()), ("model", pa.string()), ("group", pa.string()),
    ("variant", pa.string()), ("dim", pa.int64()), ("n_train", pa.int64()), ("seed", pa.int64()),
    ("epochs", pa.int64()), ("lr", pa.float64()), ("batch_size", pa.int64()), ("eval_every", pa.int64()),
    ("status", pa.string()), ("epochs_done", pa.int64()),
    ("best_test", pa.float64()), ("best_test_epoch", pa.int64()), ("best_val", pa.float64()),
    ("best_val_epoch", pa.int64()), ("test_at_best_val", pa.float64()), ("final_test", pa.float64()),
    ("params", pa.int64()), ("device", pa.string()), ("wall_time", pa.float64()),
    ("code_version", pa.string()), ("created", pa.string()), ("config", pa.string()),
    # the training protocol in steps (rows written before these existed read them as missing)
    ("schedule", pa.string()), ("warmup", pa.float64()), ("patience", pa.int64()), ("data_seed", pa.int64()),
    ("steps_per_epoch", pa.int64()), ("budget_steps", pa.int64()), ("stop_step", pa.int64()),
    ("best_val_step", pa.int64()), ("best_at_last_eval", pa.bool_()), ("stopped_early", pa.bool_()),
    ("augment", pa.bool_()),
    # how many test examples the final number (test_at_best_val) was measured on, where not the curve's
    ("n_test_final", pa.int64()),
    # N-body: the trained model's mean relative change under random E(n) transforms of test inputs
    ("equivariance_error", pa.float64()),
    # the share of the budget before which early stopping may not fire (missing: 0)
    ("stop_after", pa.float64()),
    # the norm each step's gradient was clipped to (missing: never clipped)
    ("clip_norm", pa.float64()),
    # CPU seconds of the process that trained it (a stacked run: its share); pauses add none (missing: not timed)
    ("cpu_time", pa.float64()),
])
PROTOCOL_FIELDS = ("schedule", "warmup", "patience", "stop_after", "data_seed", "budget_steps", "augment",
                   "clip_norm")
CURVE_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("epoch", pa.int64()), ("train_loss", pa.float64()), ("val", pa.float64()),
    ("test", pa.float64()),
])
KEY_FIELDS = ("experiment", "model", "group", "variant", "dim", "n_train", "seed", "epochs", "lr", "batch_size",
              "eval_every")


CODE_VERSION_ENV = "EQUILIB_CODE_VERSION"


def code_version() -> str:
    """The git commit of the package (with ``+dirty`` for local changes), else its version. A copy without its
    git history (a tree sent to a GPU machine) is told its commit in ``$EQUILIB_CODE_VERSION``."""
    return os.environ.get(CODE_VERSION_ENV) or _git_version()


@lru_cache(maxsize=1)
def _git_version() -> str:
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=here, capture_output=True, text=True,
                               timeout=5).stdout.strip()
        return f"{__version__}+{sha}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def run_id(config: dict[str, Any]) -> str:
    """The identity of a run: a hash of its whole configuration."""
    return params_key(config)


class RunStore:
    """All runs of one experiment under ``root/experiment``."""

    def __init__(self, root: str | os.PathLike, experiment: str) -> None:
        self.root = Path(root) / experiment
        self.experiment = experiment
        self.runs_dir = self.root / "runs"
        self.curves_dir = self.root / "curves"
        self.checkpoints_dir = self.root / "checkpoints"

    def has(self, config: dict[str, Any]) -> bool:
        return (self.runs_dir / f"{run_id(config)}.parquet").exists()

    def checkpoint(self, config: dict[str, Any]) -> Path:
        return self.checkpoints_dir / f"{run_id(config)}.pt"

    def tidy(self, *, wait: float = 10.0) -> list[Path]:
        """Remove temporary files that writers killed mid-write left behind (see :func:`remove_stale_temps`)."""
        return remove_stale_temps(self.root, wait=wait)

    def record_failure(self, config: dict[str, Any], error: str) -> str:
        """Note that this run's job raised ``error``; the run is not in the store, so a rerun tries it again."""
        rid = run_id(config)
        note = {"run_id": rid, "config": config, "error": error, "code_version": code_version(),
                "created": datetime.now(timezone.utc).isoformat()}
        path = self.root / "failed" / f"{rid}.json"
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(note, indent=1, default=str)))
        return rid

    def failures(self) -> pd.DataFrame:
        """Every failure noted and not since made good, one row each: run_id, error, created, config."""
        rows = [json.loads(p.read_text()) for p in sorted((self.root / "failed").glob("*.json"))]
        return pd.DataFrame(rows, columns=["run_id", "config", "error", "code_version", "created"])

    def record(self, config: dict[str, Any], summary: dict[str, Any], curve: list[dict], **extra: Any) -> str:
        """Write one finished (or diverged) run; returns its id. The curve is written first."""
        missing = [k for k in KEY_FIELDS if k not in config]
        if missing:
            raise ValueError(f"run configuration lacks {missing}")
        rid = run_id(config)
        row = {k: config[k] for k in KEY_FIELDS}
        row.update({k: config[k] for k in PROTOCOL_FIELDS if k in config})
        row.update({k: summary.get(k) for k in RUN_SCHEMA.names if k in summary})
        row.update(extra)
        row.update(run_id=rid, code_version=code_version(), created=datetime.now(timezone.utc).isoformat(),
                   config=json.dumps(config, sort_keys=True, default=str))
        curve_rows = [{"run_id": rid, **point} for point in curve]
        table = pa.Table.from_pylist([{k: row.get(k) for k in RUN_SCHEMA.names}], schema=RUN_SCHEMA)
        curve_table = pa.Table.from_pylist(curve_rows, schema=CURVE_SCHEMA)
        atomic_write(self.curves_dir / f"{rid}.parquet", lambda tmp: pq.write_table(curve_table, tmp))
        atomic_write(self.runs_dir / f"{rid}.parquet", lambda tmp: pq.write_table(table, tmp))
        self.checkpoint(config).unlink(missing_ok=True)
        (self.root / "failed" / f"{rid}.json").unlink(missing_ok=True)
        return rid

    def rekey(self, old_id: str, config: dict[str, Any]) -> str:
        """File a recorded run under ``config``: for a protocol change that provably leaves this run's record as it is.

        The row and curve move to ``config``'s id with every number, ``created``
        and ``code_version`` kept (the code that trained it); the old id is gone.
        """
        row_path, curve_path = self.runs_dir / f"{old_id}.parquet", self.curves_dir / f"{old_id}.parquet"
        if not row_path.exists():
            raise KeyError(f"no recorded run {old_id!r} in {self.runs_dir}")
        rid = run_id(config)
        if rid == old_id:
            return rid
        row = pq.read_table(row_path, schema=RUN_SCHEMA).to_pylist()[0]
        row.update({k: config[k] for k in (*KEY_FIELDS, *PROTOCOL_FIELDS) if k in config})
        row.update(run_id=rid, config=json.dumps(config, sort_keys=True, default=str))
        curve = pq.read_table(curve_path, schema=CURVE_SCHEMA).to_pylist() if curve_path.exists() else []
        for point in curve:
            point["run_id"] = rid
        curve_table = pa.Table.from_pylist(curve, schema=CURVE_SCHEMA)
        atomic_write(self.curves_dir / f"{rid}.parquet", lambda tmp: pq.write_table(curve_table, tmp))
        table = pa.Table.from_pylist([row], schema=RUN_SCHEMA)
        atomic_write(self.runs_dir / f"{rid}.parquet", lambda tmp: pq.write_table(table, tmp))
        row_path.unlink()
        curve_path.unlink(missing_ok=True)
        return rid

    def table(self, name: str, params: dict[str, Any],
              compute: Callable[[], pd.DataFrame] | None) -> pd.DataFrame | None:
        """A small derived table (diagnostics, not a run) stored beside the runs, keyed by ``params``.

        Read from ``<experiment>/tables/<name>-<key>.parquet`` when there; else
        computed by ``compute`` and written, or ``None`` when ``compute`` is ``None``
        (only looking up). The book commits these with the runs.
        """
        path = self.root / "tables" / f"{name}-{params_key(params)}.parquet"
        if path.exists():
            return pd.read_parquet(path)
        if compute is None:
            return None
        frame = compute()
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
        return frame

    def runs(self) -> pd.DataFrame:
        """Every recorded run, one row each (empty, with the columns, when there are none)."""
        return _read_all(self.runs_dir, RUN_SCHEMA)

    def runs_of(self, ids: list[str]) -> pd.DataFrame:
        """The rows of exactly these runs (a store may hold other protocols too)."""
        runs = self.runs()
        return runs[runs["run_id"].isin(ids)].reset_index(drop=True)

    def curves(self) -> pd.DataFrame:
        """Every learning curve, joined to nothing: filter by ``run_id``."""
        return _read_all(self.curves_dir, CURVE_SCHEMA)


def _read_all(folder: Path, schema: pa.Schema) -> pd.DataFrame:
    """Every Parquet file in ``folder`` as one frame with ``schema``'s columns (missing ones are null)."""
    files = sorted(folder.glob("*.parquet"))
    if not files:
        return schema.empty_table().to_pandas()
    import pyarrow.dataset as ds

    return ds.dataset(files, schema=schema, format="parquet").to_table().to_pandas()
