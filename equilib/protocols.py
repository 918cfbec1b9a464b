"""Named presets for each notebook, and the check of a notebook's parameters.

A notebook's ``parameters`` cell names a preset and may override any of its
values; :func:`resolve` fills in the rest and rejects bad values, naming them
and what is allowed, before anything is trained.

* ``smoke``: seconds; what the tests run.
* ``cpu``: minutes on a laptop; what the committed run store holds.
* ``paper``: the paper's full protocol; for a GPU.
"""
from __future__ import annotations

from typing import Any

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "nbody": {
        "smoke": {"dims": [2, 3], "models": ["gnn", "egnn"], "seeds": [0, 1], "n_train": 64, "n_val": 32,
                  "n_test": 32, "steps": 200, "epochs": 2, "eval_every": 1, "lr": 5e-4, "batch_size": 32},
        "cpu": {"dims": [2, 3, 4, 6, 8], "models": ["gnn", "egnn"], "seeds": [0, 1, 2], "n_train": 1000,
                "n_val": 500, "n_test": 500, "steps": 10_000, "epochs": 60, "eval_every": 5, "lr": 5e-4,
                "batch_size": 128},
        "paper": {"dims": [2, 3, 4, 6, 8], "models": ["gnn", "egnn"], "seeds": [0, 1, 2, 3, 4], "n_train": 10_000,
                  "n_val": 2000, "n_test": 2000, "steps": 10_000, "epochs": 10_000, "eval_every": 10, "lr": 5e-4,
                  "batch_size": 128},
    },
    "mnist": {
        "smoke": {"variants": ["rotated", "fliprot"], "groups": ["trivial", "C4"], "n_trains": [64, 128],
                  "seeds": [0], "epochs": 1, "eval_every": 1, "n_val": 64, "n_test": 64, "target_params": 8000,
                  "lr": 1e-3, "batch_size": 32},
        "cpu": {"variants": ["rotated", "fliprot"], "groups": ["trivial", "C4", "D4", "C8", "D8", "SO2", "O2"],
                "n_trains": [500, 1000, 2000], "seeds": [0], "epochs": 4, "eval_every": 2, "n_val": 500,
                "n_test": 500, "target_params": 20_000, "lr": 1e-3, "batch_size": 64},
        "paper": {"variants": ["rotated", "fliprot"], "groups": ["trivial", "C4", "D4", "C8", "D8", "SO2", "O2"],
                  "n_trains": [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000, 20_000, 30_000,
                               40_000, 50_000],
                  "seeds": [0, 1, 2], "epochs": 30, "eval_every": 1, "n_val": 10_000, "n_test": 10_000,
                  "target_params": 400_000, "lr": 5e-5, "batch_size": 64},
    },
    "theory": {
        "smoke": {"order": 4, "sample_sizes": [10, 40], "repetitions": 200, "sigma_eps": 1.0, "seed": 0},
        "cpu": {"order": 4, "sample_sizes": [8, 12, 20, 40, 80, 160], "repetitions": 4000, "sigma_eps": 1.0,
                "seed": 0},
        "paper": {"order": 4, "sample_sizes": [8, 10, 12, 16, 20, 30, 40, 60, 80, 120, 160, 320],
                  "repetitions": 40000, "sigma_eps": 1.0, "seed": 0},
    },
}


def resolve(experiment: str, preset: str, **overrides: Any) -> dict[str, Any]:
    """The preset's values with every override that is not ``None`` applied."""
    if experiment not in PRESETS:
        raise ValueError(f"unknown experiment {experiment!r}; choose one of {sorted(PRESETS)}")
    presets = PRESETS[experiment]
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose one of {list(presets)}")
    values = dict(presets[preset])
    unknown = sorted(set(overrides) - set(values) - {"device", "data_dir", "cache_dir", "results"})
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for {experiment}; known: {sorted(values)}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    values["preset"] = preset
    _CHECKS.get(experiment, lambda v: None)(values)
    return values


def _check_theory(values: dict[str, Any]) -> None:
    if values["order"] not in (2, 3, 4, 5, 6, 8):
        raise ValueError(f"order must be one of (2, 3, 4, 5, 6, 8), got {values['order']!r}")
    bad = [n for n in values["sample_sizes"] if not isinstance(n, int) or n < 4]
    if bad or not values["sample_sizes"]:
        raise ValueError(f"sample_sizes must be integers >= 4; bad value(s): {bad or 'empty list'}")
    if values["repetitions"] < 2:
        raise ValueError(f"repetitions must be >= 2, got {values['repetitions']!r}")


def _check_lists(values: dict[str, Any], allowed: dict[str, Any]) -> None:
    for key, choices in allowed.items():
        chosen = values[key]
        if isinstance(chosen, (str, int)):
            chosen = values[key] = [chosen]
        if not chosen:
            raise ValueError(f"{key} must not be empty; choose from {list(choices)}")
        bad = [c for c in chosen if c not in choices]
        if bad:
            raise ValueError(f"unknown {key} {bad}; choose from {list(choices)}")


def _check_positive(values: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        v = values[key]
        items = v if isinstance(v, (list, tuple)) else [v]
        bad = [x for x in items if not isinstance(x, int) or isinstance(x, bool) or x < 1]
        if bad or not items:
            raise ValueError(f"{key} must be integers >= 1; bad value(s): {bad or 'empty list'}")


def _check_nbody(values: dict[str, Any]) -> None:
    _check_lists(values, {"models": ("gnn", "egnn")})
    if isinstance(values["dims"], int):
        values["dims"] = [values["dims"]]
    bad = [d for d in values["dims"] if not isinstance(d, int) or d < 1]
    if bad or not values["dims"]:
        raise ValueError(f"dims must be integers >= 1 (a dimension < 1 has no space to move in); "
                         f"bad value(s): {bad or 'empty list'}")
    _check_positive(values, ("n_train", "n_val", "n_test", "epochs", "eval_every", "batch_size"))
    if isinstance(values["seeds"], int):
        values["seeds"] = [values["seeds"]]
    if isinstance(values["lr"], dict):
        _check_lists({"lr models": list(values["lr"])}, {"lr models": ("gnn", "egnn")})


def _check_mnist(values: dict[str, Any]) -> None:
    from .data import TRAIN_MAX
    from .models.steerable import GROUPS

    _check_lists(values, {"variants": ("plain", "rotated", "fliprot"), "groups": GROUPS})
    if isinstance(values["n_trains"], int):
        values["n_trains"] = [values["n_trains"]]
    _check_positive(values, ("n_trains", "epochs", "eval_every", "batch_size", "n_val", "n_test"))
    too_big = [n for n in values["n_trains"] if n > TRAIN_MAX]
    if too_big:
        raise ValueError(f"training size(s) {too_big} exceed the {TRAIN_MAX} training images the data hold")
    if isinstance(values["seeds"], int):
        values["seeds"] = [values["seeds"]]


_CHECKS = {"theory": _check_theory, "nbody": _check_nbody, "mnist": _check_mnist}
