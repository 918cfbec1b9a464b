"""Named presets for each notebook, and the check of a notebook's parameters.

A notebook's ``parameters`` cell names a preset and may override any of its
values; :func:`resolve` fills in the rest and rejects bad values, naming them
and what is allowed, before anything is trained.

* ``smoke``: seconds; what the tests run.
* ``cpu``: what the committed run store holds (hours on a 2-core CPU).
* ``paper``: the paper's full protocol; for a GPU.
"""
from __future__ import annotations

import math
from typing import Any

from ..base.checks import check_choices, check_ints
from ..models.catalogue import NBODY_MODELS
from ..models.groups import GROUPS
from ..tasks.nbody import Physics
from ..tasks.mnist import TRAIN_MAX, VARIANTS
from ..training.loop import TrainConfig

STUDIES = ("breaking", "augmentation", "horizon", "equivariance")
BREAKING_KINDS = ("none", "box", "clip")

# The rotated-MNIST comparisons the verdicts make, fixed before any run: per variant, the plain CNN, two
# discrete groups and the continuous group that matches the data's symmetry. Presets give these their seeds.
KEY_GROUPS: dict[str, list[str]] = {"rotated": ["trivial", "C4", "C8", "SO2"], "fliprot": ["trivial", "D4", "D8", "O2"]}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "nbody": {
        # Every preset but "paper" trains with one protocol for every model: a step budget, warm-up then cosine
        # decay, early stopping on validation, and each seed with its own data. The peak rates come from the
        # pilot (`pilot`: a separate seed with its own data at n = 3, half the budget) run once for the cpu preset.
        # `clip_norm` clips each step's gradient to that norm (0: never; one or one per model, as `lr`), against
        # the EGNN's blow-ups.
        "smoke": {"dims": [2, 3], "models": ["gnn", "egnn", "resgnn", "freeflight"], "seeds": [0, 1], "n_train": 64,
                  "n_val": 32, "n_test": 32, "steps": 200, "budget_steps": 8, "eval_every": 1,
                  "lr": "pilot", "batch_size": 32, "schedule": "cosine",
                  "warmup": 0.1, "patience": 2, "stop_after": 0.0, "clip_norm": 0.0, "physics": {},
                  "convergence": {"dims": [2], "seeds": [0, 1], "factors": [0.5, 2]},
                  "pilot": {"dim": 2, "seed": 100, "lrs": [1e-3, 3e-3], "budget_factor": 0.5}},
        "cpu": {"dims": [2, 3, 4, 6, 8], "models": ["gnn", "egnn", "resgnn", "freeflight"], "seeds": [0, 1, 2, 3, 4],
                "n_train": 10_000, "n_val": 2000, "n_test": 2000, "steps": 10_000, "budget_steps": 10_000,
                "eval_every": 2, "lr": "pilot", "batch_size": 128, "schedule": "cosine", "warmup": 0.05, "patience": 10,
                "stop_after": 0.0, "clip_norm": 0.0, "physics": {},
                "convergence": {"dims": [2, 4, 8], "seeds": [0, 1], "factors": [0.5, 2]},
                "pilot": {"dim": 3, "seed": 100, "lrs": [3e-4, 1e-3, 3e-3], "budget_factor": 0.5}},
        # The paper's protocol as it describes it: a constant rate for 10,000 epochs (790,000 steps), no early
        # stopping, one data draw per seed; a GPU's work (stacked, resumable in chunks).
        "paper": {"dims": [2, 3, 4, 6, 8], "models": ["gnn", "egnn", "resgnn", "freeflight"],
                  "seeds": [0, 1, 2, 3, 4], "n_train": 10_000, "n_val": 2000, "n_test": 2000, "steps": 10_000,
                  "budget_steps": 790_000, "eval_every": 10, "lr": 5e-4, "batch_size": 128, "schedule": "constant",
                  "warmup": 0.0, "patience": 0, "stop_after": 0.0, "clip_norm": 0.0, "physics": {},
                  "convergence": {"dims": [], "seeds": [], "factors": []},
                  "pilot": {"dim": 3, "seed": 100, "lrs": [], "budget_factor": 0.5}},
        # The confirmatory grid (issue 26), declared in docs/confirmatory-nbody.md before its first run: the cpu
        # preset's task and sizes with the protocol the pilot (scripts/nbody_pilot.py, results/pilots) chose:
        # early stopping only after 80% of the budget (the EGNN's 3-5x scatter at n = 6 and 8 came from runs
        # stopped in the cosine schedule's high-rate phase), one rate for every model and n (3e-3: the best of
        # 1e-3, 3e-3 and 1e-2 at n = 3 and n = 8), and fresh seeds, each with its own data.
        "confirm": {"dims": [2, 3, 4, 6, 8], "models": ["gnn", "egnn", "resgnn", "freeflight"],
                    "seeds": [6, 7, 8, 9, 10], "n_train": 10_000, "n_val": 2000, "n_test": 2000, "steps": 10_000,
                    "budget_steps": 10_000, "eval_every": 2, "lr": {"gnn": 3e-3, "egnn": 3e-3, "resgnn": 3e-3},
                    "batch_size": 128, "schedule": "cosine", "warmup": 0.05, "patience": 10, "stop_after": 0.8,
                    "clip_norm": 0.0, "physics": {}, "convergence": {"dims": [], "seeds": [], "factors": []},
                    "pilot": {"dim": 3, "seed": 100, "lrs": [], "budget_factor": 0.5}},
        # The second confirmatory grid (issue 26), declared in docs/confirmatory-nbody-clipped.md before its first
        # run: the first one's protocol with the EGNN's gradient clipped to norm 1 (its 3-5x scatter over seeds was
        # blow-ups, not early stopping: analysis/divergence.py, scripts/egnn_clip_pilot.py), on fresh seeds.
        "confirm-clipped": {"dims": [2, 3, 4, 6, 8], "models": ["gnn", "egnn", "resgnn", "freeflight"],
                            "seeds": [11, 12, 13, 14, 15], "n_train": 10_000, "n_val": 2000, "n_test": 2000,
                            "steps": 10_000, "budget_steps": 10_000, "eval_every": 2,
                            "lr": {"gnn": 3e-3, "egnn": 3e-3, "resgnn": 3e-3}, "batch_size": 128,
                            "schedule": "cosine", "warmup": 0.05, "patience": 10, "stop_after": 0.8,
                            "clip_norm": {"egnn": 1.0}, "physics": {},
                            "convergence": {"dims": [], "seeds": [], "factors": []},
                            "pilot": {"dim": 3, "seed": 100, "lrs": [], "budget_factor": 0.5}},
        # The EGNN paper's own task (Satorras et al. 2021, Table 2), to check our models against its numbers: 3D,
        # NRI's 1/r^2 law with its per-component clip at 100 and no core, input at step 3,100 and target 1,000
        # steps on, the authors' own trajectories (replayed from their seed 43: every seed trains on the same
        # data), 3,000 training trajectories, batch 100, the reference's rates at a constant schedule, test at the
        # best validation (every 5 epochs), no early stopping. `budget_steps` is ours: the reference trains
        # 10,000 epochs (300,000 steps), a CPU's day per run.
        "egnn-paper": {"dims": [3], "models": ["gnn", "egnn", "freeflight"], "seeds": [0, 1, 2, 3, 4],
                       "n_train": 3000,
                       "n_val": 2000, "n_test": 2000, "steps": 1000, "budget_steps": 15_000, "eval_every": 5,
                       "lr": {"gnn": 1e-3, "egnn": 5e-4, "resgnn": 1e-3}, "batch_size": 100, "schedule": "constant",
                       "warmup": 0.0, "patience": 0, "stop_after": 0.0, "clip_norm": 0.0,
                       "physics": {"force_law": "nri", "max_force": None, "clip_component": 100.0, "start": 3100,
                                   "initial": "egnn-paper"},
                       "convergence": {"dims": [], "seeds": [], "factors": []},
                       "pilot": {"dim": 3, "seed": 100, "lrs": [], "budget_factor": 0.5}},
    },
    "mnist": {
        # Every preset trains to a budget of `epochs` passes (at least `min_steps` steps), stops early after
        # `patience` evaluations without a lower validation error (never before `stop_after` of the budget:
        # the cosine schedule's high-rate phase stalls and recovers), restores the best-validation weights, and
        # reports the whole 10,000-image test set there; curves use a fixed random subset of `n_test` images.
        # `seeds` run for every group; `key_seeds` add seeds for the groups the verdicts compare.
        "smoke": {"variants": ["rotated", "fliprot"], "groups": ["trivial", "C4"], "n_trains": [64, 128],
                  "seeds": [0], "key_groups": {}, "key_seeds": [], "epochs": 1, "min_steps": 0, "eval_every": 1,
                  "n_val": 64, "n_test": 64, "target_params": 8000, "lr": 1e-3, "batch_size": 32,
                  "schedule": "constant", "warmup": 0.0, "patience": 0, "stop_after": 0.0},
        "cpu": {"variants": ["rotated", "fliprot"], "groups": ["trivial", "C4", "D4", "C8", "D8", "SO2", "O2"],
                "n_trains": [1000, 2000, 5000, 10_000], "seeds": [0],
                "key_groups": KEY_GROUPS,
                "key_seeds": [0, 1, 2], "epochs": 25, "min_steps": 1000, "eval_every": 1, "n_val": 2000,
                "n_test": 2000, "target_params": 20_000, "lr": 2e-3, "batch_size": 64, "schedule": "cosine",
                "warmup": 0.05, "patience": 5, "stop_after": 0.8},
        # The capacity question (docs/confirmatory-capacity.md, declared before its first run): the cpu
        # preset's protocol at 5x the parameters, for the plain CNN and C8 on rotated MNIST, 5 seeds.
        "capacity": {"variants": ["rotated"], "groups": ["trivial", "C8"], "n_trains": [1000, 2000, 5000, 10_000],
                     "seeds": [0, 1, 2, 3, 4], "key_groups": {}, "key_seeds": [], "epochs": 25, "min_steps": 1000,
                     "eval_every": 1, "n_val": 2000, "n_test": 2000, "target_params": 100_000, "lr": 2e-3,
                     "batch_size": 64, "schedule": "cosine", "warmup": 0.05, "patience": 5, "stop_after": 0.8},
        # The same question at 20x the parameters, for a GPU (docs/confirmatory-capacity-400k.md, declared before
        # its first run): the capacity preset with 400,000-parameter models, the paper's size.
        "capacity-400k": {"variants": ["rotated"], "groups": ["trivial", "C8"],
                          "n_trains": [1000, 2000, 5000, 10_000], "seeds": [0, 1, 2, 3, 4], "key_groups": {},
                          "key_seeds": [], "epochs": 25, "min_steps": 1000, "eval_every": 1, "n_val": 2000,
                          "n_test": 2000, "target_params": 400_000, "lr": 2e-3, "batch_size": 64,
                          "schedule": "cosine", "warmup": 0.05, "patience": 5, "stop_after": 0.8},
        # The whole data range (docs/confirmatory-large.md, declared before its first run): the cpu preset's
        # protocol at 20,000 and 50,000 images for the key groups, 3 seeds, with passes that fall as 1/n above
        # 10,000 images (the step budget stays the 10,000-image one: 13 passes at 20k, 5 at 50k). Rotated first.
        "large": {"variants": ["rotated", "fliprot"], "groups": ["trivial"], "n_trains": [20_000, 50_000],
                  "seeds": [0, 1, 2], "key_groups": KEY_GROUPS, "key_seeds": [0, 1, 2], "epochs": 25,
                  "min_steps": 1000, "eval_every": 1, "n_val": 2000, "n_test": 2000, "target_params": 20_000,
                  "lr": 2e-3, "batch_size": 64, "schedule": "cosine", "warmup": 0.05, "patience": 5,
                  "stop_after": 0.8, "taper_above": 10_000},
        # Its budget check: the plain CNN and SO(2) on rotated MNIST at 50,000 images, 5 seeds, at the budget
        # and at twice it (`budget_factors` multiply `epochs`; seeds 0-2 at 1x are the `large` preset's runs).
        "large-budget": {"variants": ["rotated"], "groups": ["trivial", "SO2"], "n_trains": [50_000],
                         "seeds": [0, 1, 2, 3, 4], "key_groups": {}, "key_seeds": [], "epochs": 25,
                         "budget_factors": [1, 2], "min_steps": 1000, "eval_every": 1, "n_val": 2000,
                         "n_test": 2000, "target_params": 20_000, "lr": 2e-3, "batch_size": 64, "schedule": "cosine",
                         "warmup": 0.05, "patience": 5, "stop_after": 0.8, "taper_above": 10_000},
        # "To completion" as the paper means it: a constant rate until 10 epochs pass without a lower
        # validation error (at most 200 epochs), for every size.
        "paper": {"variants": ["rotated", "fliprot"], "groups": ["trivial", "C4", "D4", "C8", "D8", "SO2", "O2"],
                  "n_trains": [1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000, 20_000, 30_000,
                               40_000, 50_000],
                  "seeds": [0, 1, 2], "key_groups": {}, "key_seeds": [], "epochs": 200, "min_steps": 0,
                  "eval_every": 1, "n_val": 10_000, "n_test": 10_000, "target_params": 400_000, "lr": 5e-5,
                  "batch_size": 64, "schedule": "constant", "warmup": 0.0, "patience": 10, "stop_after": 0.0},
    },
    # Beyond the paper (equilib.experiments.beyond): studies on top of the N-body protocol of the `base` preset.
    "beyond": {
        "smoke": {"base": "smoke", "studies": ["breaking", "augmentation", "horizon", "equivariance"],
                  "breaking": [{"kind": "none"}, {"kind": "box", "value": 1.0}, {"kind": "clip", "value": 3.0}],
                  "breaking_dims": [2], "augment_dims": [2], "horizons": [100, 200], "horizon_dims": [2],
                  "equivariance_dims": [2], "equivariance_sizes": [32, 64], "seeds": [0, 1],
                  "equivariance_seeds": [0, 1], "augment_longer": [2],
                  "confirm": {"breaking": [{"kind": "box", "value": 1.0}], "dims": [2], "seeds": [2, 3]}},
        # walls: NRI's box of 5 (97% of 2D trajectories hit one, 4.9 times on average) and a box of 2 (15
        # hits); clipping: NRI's 100 (acts in 1% of them) and 10 (acts in 75%, for 475 of 10,000 steps)
        "cpu": {"base": "cpu", "studies": ["breaking", "augmentation", "horizon", "equivariance"],
                "breaking": [{"kind": "none"}, {"kind": "box", "value": 5.0}, {"kind": "box", "value": 2.0},
                             {"kind": "clip", "value": 100.0}, {"kind": "clip", "value": 10.0}],
                "breaking_dims": [2, 3], "augment_dims": [2, 3, 4, 6, 8], "horizons": [1000, 3000, 10_000],
                "horizon_dims": [2, 4, 8], "equivariance_dims": [2, 4, 8], "equivariance_sizes": [1000, 3000, 10_000],
                # seeds 3 and 4 of the N-body grid were trained after the equivariance measure existed, so its
                # size-10,000 GNN and EGNN runs carry it already; seeds 0-2 would have to be retrained for it
                "seeds": [0, 1, 2], "equivariance_seeds": [3, 4, 5],
                # the augmented GNN again at twice the step budget: 6 of its 15 runs at 1x were still improving,
                # so "given enough training" needs more steps (trained last: after every other study)
                "augment_longer": [2],
                # declared after the breaking study (session 6): its largest move, box 5 at n = 3 (change 0.52,
                # Bonferroni interval [0.24, 1.12]), re-asked alone on fresh seeds and data
                "confirm": {"breaking": [{"kind": "box", "value": 5.0}], "dims": [3], "seeds": [3, 4, 5]}},
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


def restrict(protocol: dict[str, Any], *, variants: list[str] | None = None, seeds: list[int] | None = None,
             groups: list[str] | None = None, budget_factors: list[int] | None = None) -> dict[str, Any]:
    """Part of an MNIST protocol: only these variants, seeds, groups and budget factors, in the declared order a
    sweep may follow (docs/confirmatory-large.md: rotated first, seed by seed), or split so that two processes
    finish together (one group's long runs in each, or a budget check's 1x and 2x runs apart). A run's id is its
    configuration, so the part's runs are the whole protocol's; nothing outside the protocol can be asked for.
    """
    out = dict(protocol)
    if variants is not None:
        _check_part("variants", variants, protocol["variants"], protocol["preset"])
        out["variants"] = [v for v in protocol["variants"] if v in variants]
        out["key_groups"] = {v: g for v, g in protocol["key_groups"].items() if v in variants}
    if seeds is not None:
        _check_part("seeds", seeds, sorted(set(protocol["seeds"]) | set(protocol["key_seeds"])), protocol["preset"])
        out["seeds"] = [s for s in protocol["seeds"] if s in seeds]
        out["key_seeds"] = [s for s in protocol["key_seeds"] if s in seeds]
    if groups is not None:
        _check_part("groups", groups, protocol_groups(protocol), protocol["preset"])
        out["groups"] = [g for g in protocol["groups"] if g in groups]
        out["key_groups"] = {v: [g for g in gs if g in groups] for v, gs in out["key_groups"].items()}
    if budget_factors is not None:
        known = protocol.get("budget_factors", [1])
        _check_part("budget factors", budget_factors, known, protocol["preset"])
        out["budget_factors"] = [f for f in known if f in budget_factors]
    return out


def protocol_groups(protocol: dict[str, Any]) -> list[str]:
    """Every group an MNIST protocol trains, in its declared order: its groups, then its key groups'."""
    return list(dict.fromkeys([*protocol["groups"], *(g for gs in protocol["key_groups"].values() for g in gs)]))


def _check_part(name: str, asked: list, known: list, preset: str) -> None:
    """An error naming what :func:`restrict` was asked for outside the preset (or nothing), and what it has."""
    bad = sorted(set(asked) - set(known))
    if bad or not asked:
        raise ValueError(f"{name} {bad or asked} are not in the {preset} preset; it has {known}")


def _check_theory(values: dict[str, Any]) -> None:
    if values["order"] not in (2, 3, 4, 5, 6, 8):
        raise ValueError(f"order must be one of (2, 3, 4, 5, 6, 8), got {values['order']!r}")
    bad = [n for n in values["sample_sizes"] if not isinstance(n, int) or n < 4]
    if bad or not values["sample_sizes"]:
        raise ValueError(f"sample_sizes must be integers >= 4; bad value(s): {bad or 'empty list'}")
    if values["repetitions"] < 2:
        raise ValueError(f"repetitions must be >= 2, got {values['repetitions']!r}")


def _check_nbody(values: dict[str, Any]) -> None:
    values["models"] = check_choices("models", values["models"], NBODY_MODELS)
    values["dims"] = check_ints("dims", values["dims"], 1)
    values["seeds"] = check_ints("seeds", values["seeds"], 0)
    for key in ("n_train", "n_val", "n_test", "budget_steps", "eval_every", "batch_size"):
        check_ints(key, values[key], 1)
    check_ints("steps", values["steps"], 0)
    if not isinstance(values["physics"], dict):
        raise ValueError(f"physics must map Physics fields to values, got {values['physics']!r}")
    known = set(Physics.__dataclass_fields__) - {"dim", "steps"}
    unknown = sorted(set(values["physics"]) - known)
    if unknown:
        raise ValueError(f"unknown physics field(s) {unknown}; known: {sorted(known)}")
    Physics(dim=values["dims"][0], steps=values["steps"], **values["physics"])  # names a bad physics value
    if values["lr"] == "pilot":
        for rate in values["pilot"]["lrs"] or [None]:
            if rate is None:
                raise ValueError("lr='pilot' needs pilot rates to try (pilot['lrs'] is empty)")
            TrainConfig(lr=rate)
    elif isinstance(values["lr"], dict):
        check_choices("lr models", list(values["lr"]), ("gnn", "egnn", "resgnn"))
        missing = [m for m in values["models"] if m != "freeflight" and m not in values["lr"]]
        if missing:
            raise ValueError(f"lr has no rate for model(s) {missing}; give one rate or one per model")
    lr = values["lr"]
    rates = lr.values() if isinstance(lr, dict) else [1e-3 if lr == "pilot" else lr]
    for rate in rates:
        TrainConfig(lr=rate, schedule=values["schedule"], warmup=values["warmup"], patience=values["patience"],
                    stop_after=values["stop_after"])
    clips = values["clip_norm"] if isinstance(values["clip_norm"], dict) else {"any model": values["clip_norm"]}
    if isinstance(values["clip_norm"], dict):
        check_choices("clip_norm models", list(clips), ("gnn", "egnn", "resgnn"))
    for clip in clips.values():
        TrainConfig(clip_norm=clip)
    conv = values["convergence"]
    if set(conv) != {"dims", "seeds", "factors"}:
        raise ValueError(f"convergence needs exactly the keys dims, seeds, factors; got {sorted(conv)}")
    bad = [f for f in conv["factors"] if not f > 0]
    if bad:
        raise ValueError(f"convergence factors must be positive; bad value(s): {bad}")


def _check_mnist(values: dict[str, Any]) -> None:
    values["variants"] = check_choices("variants", values["variants"], VARIANTS)
    values["groups"] = check_choices("groups", values["groups"], GROUPS)
    values["n_trains"] = check_ints("n_trains", values["n_trains"], 1)
    values["seeds"] = check_ints("seeds", values["seeds"], 0)
    values["key_seeds"] = check_ints("key_seeds", values["key_seeds"], 0) if values["key_seeds"] != [] else []
    if not isinstance(values["key_groups"], dict):
        raise ValueError(f"key_groups must map a variant to its groups, got {values['key_groups']!r}")
    if values["key_groups"]:
        check_choices("key_groups variants", list(values["key_groups"]), VARIANTS)
    values["key_groups"] = {v: check_choices(f"key_groups[{v!r}]", g, GROUPS) for v, g in values["key_groups"].items()}
    for key in ("epochs", "eval_every", "batch_size", "n_val", "n_test"):
        check_ints(key, values[key], 1)
    check_ints("min_steps", values["min_steps"], 0)
    check_ints("taper_above", values.get("taper_above", 0), 0)
    check_ints("budget_factors", values.get("budget_factors", [1]), 1)
    TrainConfig(epochs=values["epochs"], lr=values["lr"], batch_size=values["batch_size"],  # names a bad schedule,
                eval_every=values["eval_every"], schedule=values["schedule"], warmup=values["warmup"],  # rate,
                patience=values["patience"], stop_after=values["stop_after"])  # warm-up, patience or stop_after
    too_big = [n for n in values["n_trains"] if n > TRAIN_MAX]
    if too_big:
        raise ValueError(f"training size(s) {too_big} exceed the {TRAIN_MAX} training images the data hold")


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


def check_beyond(values: dict[str, Any]) -> None:
    """Validate a ``beyond`` protocol in place (see :data:`equilib.experiments.presets.PRESETS`)."""
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


_CHECKS = {"theory": _check_theory, "nbody": _check_nbody, "mnist": _check_mnist, "beyond": check_beyond}
