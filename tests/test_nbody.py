"""The N-body simulator: symmetry, agreement with a plain implementation, energy, caching."""
import json
import math

import pytest
import torch

from equilib.tasks import nbody

from conftest import random_orthogonal

# A horizon of 500 steps (t = 0.5) is short enough that chaos has not amplified
# float64 rounding above ~1e-12, so symmetry errors show at the 1e-9 level.
HORIZON = 500


@pytest.mark.parametrize("dim", [2, 3, 5, 7])
def test_simulator_is_E_n_equivariant(dim):
    g = torch.Generator().manual_seed(dim)
    x, v, c = nbody.initial_state(64, dim, seed=dim)
    q = random_orthogonal(dim, reflect=True, generator=g)
    t = torch.randn(dim, generator=g, dtype=torch.float64) * 3
    xT, vT = nbody.simulate(x, v, c, steps=HORIZON)
    xT2, vT2 = nbody.simulate(x @ q.T + t, v @ q.T, c, steps=HORIZON)
    assert torch.allclose(xT2, xT @ q.T + t, atol=1e-9, rtol=0)
    assert torch.allclose(vT2, vT @ q.T, atol=1e-9, rtol=0)
    # and the motion is not trivial: particles really moved and interacted
    assert (xT - x - v * HORIZON * 1e-3).abs().max() > 1e-3


def _reference_step(x, v, c, dt, p, cap):
    """One trajectory, one particle pair at a time, in plain Python floats.

    The capped law, written from its definition: the true force outside the core
    radius r_c where |F| reaches ``cap``, a force growing linearly from 0 inside it.
    """
    n, d = len(x), len(x[0])
    force = [[0.0] * d for _ in range(n)]
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            diff = [x[i][k] - x[j][k] for k in range(d)]
            r = math.sqrt(sum(e * e for e in diff))
            rc = (1 / cap if p == 1 else cap ** (-1 / (p - 1))) if cap is not None else 0.0
            mag = r ** (1 - p) if r >= rc else rc ** (1 - p) * r / rc
            for k in range(d):
                force[i][k] += c[i] * c[j] * mag * diff[k] / r
    v = [[v[i][k] + dt * force[i][k] for k in range(d)] for i in range(n)]
    x = [[x[i][k] + dt * v[i][k] for k in range(d)] for i in range(n)]
    return x, v


@pytest.mark.parametrize("dim,law,cap", [(2, "dimension", 100.0), (3, "nri", 100.0), (5, "dimension", 2.0),
                                         (4, "dimension", None)])
def test_simulator_agrees_with_one_trajectory_reference(dim, law, cap):
    x, v, c = nbody.initial_state(3, dim, seed=1)
    steps = 200
    xT, vT = nbody.simulate(x, v, c, steps=steps, force_law=law, max_force=cap)
    p = dim if law == "dimension" else 3
    for b in range(3):
        xr, vr, cr = x[b].tolist(), v[b].tolist(), c[b].tolist()
        for _ in range(steps):
            xr, vr = _reference_step(xr, vr, cr, 1e-3, p, cap)
        assert torch.allclose(xT[b], torch.tensor(xr, dtype=torch.float64), atol=1e-10, rtol=1e-10)
        assert torch.allclose(vT[b], torch.tensor(vr, dtype=torch.float64), atol=1e-9, rtol=1e-9)


def _head_on_pair(dim):
    """Two opposite charges aimed at each other: a close encounter for certain."""
    x = torch.zeros(1, 2, dim, dtype=torch.float64)
    x[0, 0, 0], x[0, 1, 0] = -0.5, 0.5
    v = torch.zeros_like(x)
    v[0, 0, 0], v[0, 1, 0] = 0.5, -0.5
    v[0, 0, 1 % dim] += 1e-3  # a tiny impact parameter
    return x, v, torch.tensor([[1.0, -1.0]], dtype=torch.float64)


@pytest.mark.parametrize("dim", [3, 6])
def test_force_cap_keeps_energy_through_a_close_encounter(dim):
    # Symplectic Euler's energy wobbles *during* the encounter (it conserves a
    # nearby Hamiltonian); what matters is that it comes back once they separate.
    x, v, c = _head_on_pair(dim)
    e0 = nbody.energy(x, v, c, max_force=100.0)
    x, v = nbody.simulate(x, v, c, steps=2000, max_force=100.0)
    assert (x[0, 0] - x[0, 1]).norm() > 0.5  # they met, passed through each other and separated
    assert (nbody.energy(x, v, c, max_force=100.0) - e0).abs().item() < 1e-2


@pytest.mark.parametrize("dim", [3, 6])
def test_without_the_cap_a_close_encounter_breaks_energy(dim):
    x, v, c = _head_on_pair(dim)
    e0 = nbody.energy(x, v, c, max_force=None)
    x, v = nbody.simulate(x, v, c, steps=2000, max_force=None)
    e1 = nbody.energy(x, v, c, max_force=None)
    assert (e1 - e0).abs().item() > 1.0


def test_energy_is_conserved_on_typical_trajectories():
    x, v, c = nbody.initial_state(200, 3, seed=3)
    e0 = nbody.energy(x, v, c)
    x, v = nbody.simulate(x, v, c, steps=2000)
    rel = ((nbody.energy(x, v, c) - e0).abs() / (e0.abs() + 1)).median()
    assert rel < 1e-3


@pytest.mark.parametrize("option", [{"box": 0.5}, {"clip_component": 0.05}])
def test_symmetry_breaking_options_break_the_symmetry(option):
    dim = 3
    g = torch.Generator().manual_seed(0)
    x, v, c = nbody.initial_state(64, dim, seed=4)
    q = random_orthogonal(dim, reflect=False, generator=g)
    xT, _ = nbody.simulate(x, v, c, steps=HORIZON, **option)
    xT2, _ = nbody.simulate(x @ q.T, v @ q.T, c, steps=HORIZON, **option)
    assert (xT2 - xT @ q.T).abs().max() > 1e-2
    assert not nbody.Physics(dim=dim, **option).symmetric


def test_recording_events_changes_no_trajectory_and_counts_what_happened():
    x, v, c = nbody.initial_state(16, 2, seed=6)
    plain = nbody.simulate(x, v, c, steps=400, box=1.0, clip_component=2.0)
    events = {}
    recorded = nbody.simulate(x, v, c, steps=400, box=1.0, clip_component=2.0, events=events)
    assert all(torch.equal(a, b) for a, b in zip(plain, recorded))
    assert set(events) == {"min_distance", "wall_hits", "clip_steps"} and events["wall_hits"].shape == (16,)
    assert (events["wall_hits"] > 0).any()  # starts ~N(0, 1) in a box of 1: most particles start outside it
    free = {}
    nbody.simulate(x, v, c, steps=400, events=free)
    assert (free["wall_hits"] == 0).all() and (free["clip_steps"] == 0).all()
    # the closest approach is a real pair distance: no smaller than the distances at step 0 allow... and positive
    start = torch.cdist(x, x) + torch.eye(5) * 1e9
    assert (free["min_distance"] <= start.amin((1, 2)) + 1e-12).all() and (free["min_distance"] > 0).all()
    report = nbody.physics_report(nbody.Physics(dim=2, steps=400, box=1.0), 16)
    assert report["hit_wall"] == pytest.approx(float((events["wall_hits"] > 0).double().mean()), abs=0.2)
    assert nbody.core_radius(nbody.Physics(dim=2)) == pytest.approx(0.01)
    assert nbody.core_radius(nbody.Physics(dim=8)) == pytest.approx(100 ** (-1 / 7))


def test_walls_keep_particles_in_the_box():
    x, v, c = nbody.initial_state(32, 2, seed=5)
    xT, _ = nbody.simulate(0.3 * x, v, c, steps=3000, box=1.0)
    assert xT.abs().max() <= 1.0 + 1e-12


def test_initial_state_matches_nri_and_is_nested():
    x, v, c = nbody.initial_state(5000, 4, seed=0)
    assert torch.allclose(v.norm(dim=-1), torch.full((5000, 5), 0.5, dtype=torch.float64))
    assert abs(x.mean().item()) < 0.02 and abs(x.std().item() - 1) < 0.02
    assert set(c.unique().tolist()) == {-1.0, 1.0} and abs(c.mean().item()) < 0.03
    x2, v2, c2 = nbody.initial_state(37, 4, seed=0)
    assert torch.equal(x2, x[:37]) and torch.equal(v2, v[:37]) and torch.equal(c2, c[:37])
    xt, _, _ = nbody.initial_state(37, 4, seed=0, split="test")
    assert not torch.equal(xt, x2)


def test_dataset_is_bit_identical_whatever_the_chunk_and_cached(tmp_path, monkeypatch):
    kw = dict(n_train=40, n_val=10, n_test=10, seed=7, steps=300, progress=False)
    a = nbody.make_dataset(3, cache_dir=tmp_path / "a", chunk=7, **kw)
    b = nbody.make_dataset(3, cache_dir=tmp_path / "b", chunk=1000, **kw)
    for split in nbody.SPLITS:
        for ta, tb in zip(a[split].tensors(), b[split].tensors()):
            assert torch.equal(ta, tb)
    # a second call loads from disk and never simulates
    monkeypatch.setattr(nbody, "simulate", lambda *a, **k: pytest.fail("simulated although cached"))
    c = nbody.make_dataset(3, cache_dir=tmp_path / "a", chunk=7, **kw)
    assert torch.equal(c["train"].xT, a["train"].xT)
    assert all(p.exists() for p in c.paths.values())


def test_a_killed_generation_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(nbody, "simulate", boom)
    with pytest.raises(KeyboardInterrupt):
        nbody.make_dataset(2, n_train=5, n_val=5, n_test=5, steps=10, cache_dir=tmp_path, progress=False)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


@pytest.mark.parametrize("kwargs,match", [
    ({"dim": 0}, "dim must be an integer >= 1, got 0"),
    ({"dim": 2, "n_particles": 0}, "n_particles .* got 0"),
    ({"dim": 2, "steps": -1}, "steps .* got -1"),
    ({"dim": 2, "dt": -0.1}, "dt .* got -0.1"),
    ({"dim": 2, "force_law": "coulomb"}, "unknown force_law 'coulomb'"),
    ({"dim": 2, "start": -5}, "start must be an integer >= 0 .* got -5"),
    ({"dim": 2, "initial": "nri"}, "unknown initial 'nri'; choose one of"),
    ({"dim": 3, "initial": "egnn-paper", "n_val_": 2001}, "val split holds 2000 trajectories; n_val=2001 is more"),
])
def test_bad_physics_is_rejected_before_any_work(kwargs, match, tmp_path):
    dim, n_val = kwargs.pop("dim"), kwargs.pop("n_val_", 5)
    with pytest.raises(ValueError, match=match):
        nbody.make_dataset(dim, n_train=5, n_val=n_val, n_test=5, cache_dir=tmp_path, progress=False, **kwargs)
    assert not tmp_path.exists() or not any(tmp_path.rglob("*.pt"))


def test_dimension_one_works():
    x, v, c = nbody.initial_state(8, 1, seed=0)
    xT, vT = nbody.simulate(x, v, c, steps=100)
    assert xT.shape == x.shape and torch.isfinite(xT).all()


# Run once with vgsatorras/egnn's own sampler (n_body_system/dataset/synthetic_sim.py, numpy seeded with 43, as its
# generate_dataset.py does): the first two training trajectories' particle 0 at frames 30 (step 3,100: the model's
# input) and 40 (step 4,100: its target), and their charges. An independent implementation, in numbers.
AUTHORS = [
    {"charges": [-1, 1, -1, -1, -1], "x": [2.9891163171666544, 1.7693701204465273, -1.1712942795381607],
     "v": [1.133811040666845, 0.395680612563721, -0.22660657308868612],
     "target": [4.1654998367653935, 2.1913091384156558, -1.382618802360046]},
    {"charges": [1, -1, 1, 1, 1], "x": [-2.2511020102112775, -2.000332467841478, -1.1794238552454772],
     "v": [-0.02414793821034877, -0.7136812287155967, -0.08640914158289563],
     "target": [-2.2752263113146256, -2.7102952407123673, -1.262262958927147]},
]


def test_egnn_paper_data_are_the_authors_trajectories():
    phys = nbody.Physics(dim=3, steps=1000, force_law="nri", max_force=None, clip_component=100.0, start=3100,
                         initial="egnn-paper")
    traj = nbody.simulate_split(phys, 2, seed=7, split="train", progress=False)  # the seed draws nothing here
    for k, ref in enumerate(AUTHORS):
        assert traj.charges[k].tolist() == ref["charges"]
        # float64 rounding differs between the two codes; after 3,100-4,100 steps it is still below 1e-9
        assert torch.allclose(traj.x0[k, 0], torch.tensor(ref["x"], dtype=torch.float64), atol=1e-9, rtol=0)
        assert torch.allclose(traj.v0[k, 0], torch.tensor(ref["v"], dtype=torch.float64), atol=1e-9, rtol=0)
        assert torch.allclose(traj.xT[k, 0], torch.tensor(ref["target"], dtype=torch.float64), atol=1e-9, rtol=0)


def test_egnn_paper_splits_follow_the_generators_order_and_are_nested():
    train = nbody.egnn_paper_states(3, split="train")
    assert torch.equal(nbody.egnn_paper_states(2, split="train")[0], train[0][:2])  # nested
    val, test = nbody.egnn_paper_states(2, split="val"), nbody.egnn_paper_states(2, split="test")
    assert not torch.equal(val[0], test[0]) and not torch.equal(val[0], train[0][:2])
    assert set(val[2].unique().tolist()) <= {-1.0, 1.0}  # the charge 0 has probability 0
    assert torch.allclose(val[1].norm(dim=-1), torch.full((2, 5), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match="test split holds 2000 trajectories; n_samples must be in 0..2000, got 2001"):
        nbody.egnn_paper_states(2001, split="test")


def test_new_physics_fields_leave_old_keys_alone():
    assert nbody.Physics(dim=3).key() == {k: v for k, v in nbody.Physics(dim=3, start=5).key().items()
                                          if k != "start"}
    assert "initial" not in nbody.Physics(dim=3).key() and nbody.Physics(dim=3, start=5).key()["start"] == 5


def test_egnn_paper_preset_trains_on_the_papers_data(tmp_path):
    from equilib.experiments.nbody import nbody_sweep, nbody_training
    from equilib.experiments.presets import resolve
    from equilib.experiments.settings import RunSettings

    protocol = resolve("nbody", "egnn-paper", n_train=16, n_val=8, n_test=8, budget_steps=4, eval_every=1,
                       models=["gnn", "freeflight"], seeds=[0, 1], physics={**resolve("nbody", "egnn-paper")["physics"],
                                                                             "start": 40}, steps=20)
    runs = nbody_sweep(protocol["dims"], protocol["models"], protocol["seeds"], [protocol["n_train"]],
                       **nbody_training(protocol, protocol["budget_steps"]),
                       run=RunSettings(results=tmp_path / "results", cache_dir=tmp_path / "cache", progress=False))
    assert len(runs) == 4 and set(runs["status"]) == {"finished"}
    flight = runs[runs.model == "freeflight"]
    assert flight["test_at_best_val"].nunique() == 1  # one data draw, whatever the seed
    configs = runs.config.map(json.loads)
    assert configs.map(lambda c: c["physics"]["initial"]).eq("egnn-paper").all()
    assert configs.map(lambda c: c["data_seed"]).eq(0).all()
    with pytest.raises(ValueError, match=r"unknown physics field\(s\) \['boxx'\]"):
        resolve("nbody", "egnn-paper", physics={"boxx": 1.0})
    with pytest.raises(ValueError, match="train split holds 10000 trajectories; n_train=10001 is more"):
        nbody.make_dataset(3, n_train=10_001, n_val=5, n_test=5, initial="egnn-paper", cache_dir=tmp_path)


def test_a_step_trace_replays_a_run_step_by_step_and_is_kept_in_the_store(tmp_path):
    """``nbody_step_trace``: one row per optimiser step with the schedule's rate, a finite loss and gradient norm,
    and for the EGNN the largest coordinate update of the step (none for the GNN); stored, so a lookup that may
    not train reads the same table; physics beyond the default reach the replay (a box changes the data)."""
    import numpy as np
    import pandas as pd

    from equilib.experiments.nbody import nbody_step_trace
    from equilib.experiments.presets import resolve
    from equilib.experiments.settings import RunSettings
    from equilib.training.loop import TrainConfig

    protocol = resolve("nbody", "smoke", lr={"gnn": 1e-3, "egnn": 1e-3, "resgnn": 1e-3}, budget_steps=12)
    run = RunSettings(results=tmp_path / "results", cache_dir=tmp_path / "cache", progress=False, threads=1)
    trace = nbody_step_trace(protocol, "egnn", 2, 0, 10, run=run)
    assert trace["step"].tolist() == list(range(10))
    assert trace[["loss", "grad_norm", "shift"]].map(math.isfinite).all().all() and trace["shift"].gt(0).all()
    cfg = TrainConfig(epochs=6, lr=1e-3, batch_size=32, schedule="cosine", warmup=0.1)  # 12 steps: 6 epochs of 2
    assert trace["lr"].tolist() == pytest.approx([cfg.lr_at(s, 12) for s in range(10)])
    looked_up = nbody_step_trace(protocol, "egnn", 2, 0, 10, run=RunSettings(results=tmp_path / "results",
                                                                          train_missing=False))
    pd.testing.assert_frame_equal(looked_up, trace)
    assert nbody_step_trace(protocol, "egnn", 2, 1, 10, run=RunSettings(results=tmp_path / "results",
                                                                     train_missing=False)) is None
    gnn = nbody_step_trace(protocol, "gnn", 2, 0, 4, run=run)
    assert gnn["shift"].isna().all() and len(gnn) == 4
    boxed = nbody_step_trace({**protocol, "physics": {"box": 1.0}}, "gnn", 2, 0, 4, run=run)
    assert not np.allclose(boxed["loss"], gnn["loss"])
    with pytest.raises(ValueError, match=r"lr='pilot'"):
        nbody_step_trace(resolve("nbody", "smoke"), "egnn", 2, 0, 4, run=run)
