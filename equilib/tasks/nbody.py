"""Charged particles in R^n: the simulator and the data sets of the paper's first experiment.

The set-up follows NRI (Kipf et al. 2018) with the changes that a study of E(n)
symmetry needs (see ../shared/notes/science.md):

* the force on i is ``sum_j c_i c_j (x_i - x_j) / |x_i - x_j|^p`` with ``p = n`` by
  default, so that its magnitude falls as ``1/r^(n-1)`` as the paper states
  (``force_law="nri"`` gives NRI's ``p = 3``, magnitude ``1/r^2``, in every dimension);
* integration is symplectic Euler (kick, then drift) from the true state at step 0;
* close encounters are tamed by a *harmonic core*: inside the radius ``r_c`` at
  which the true pair force reaches ``max_force`` (``r_c = max_force^(-1/(p-1))``),
  the pair force falls linearly to zero at contact instead of diverging. So no
  pair force exceeds ``max_force`` (NRI's 100) and each kick stays bounded in every
  dimension, which Plummer softening with one fixed length cannot promise for
  ``p`` up to 8. The force is still central, continuous and a function of ``r``
  alone: it derives from a potential (:func:`energy`), the dynamics stay
  Hamiltonian, and the symmetry is exact. A plain cap on the force norm (constant
  magnitude down to ``r = 0``) would flip direction abruptly when two particles
  meet and lose about 0.4 of energy per head-on encounter at ``dt = 0.001``;
* NRI's reflecting walls (``box``) and per-component force clipping
  (``clip_component``) are available but off: they break the symmetry on purpose.

Only ``+ - * /`` and ``sqrt`` touch the state (no ``pow``, no fused multiply-add),
which makes every trajectory bit-identical whatever batch it is simulated in.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..base.cache import cached_tensors
from ..base.paths import cache_dir as default_cache_dir
from ..base.paths import resolve_device

FORCE_LAWS = ("dimension", "nri")
# Where a trajectory's initial state comes from: equilib's own draw (one stream per seed and split), or the
# EGNN paper's data set replayed: NRI's numpy stream from its seed 43, in its generator's order.
INITIAL_STATES = ("equilib", "egnn-paper")
EGNN_PAPER_SPLITS = {"train": 10_000, "val": 2_000, "test": 2_000}  # generate_dataset.py's sizes, in its order
EGNN_PAPER_SEED = 43
SPLITS = ("train", "val", "test")
PAPER_DIMS = (2, 3, 4, 6, 8)


@dataclass(frozen=True)
class Physics:
    """Every parameter that changes a trajectory; the cache key is made from these."""

    dim: int
    n_particles: int = 5
    steps: int = 10_000
    dt: float = 1e-3
    force_law: str = "dimension"
    max_force: float | None = 100.0
    box: float | None = None
    clip_component: float | None = None
    start: int = 0
    initial: str = "equilib"

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"dim must be an integer >= 1, got {self.dim!r}")
        if not isinstance(self.n_particles, int) or self.n_particles < 2:
            raise ValueError(f"n_particles must be an integer >= 2, got {self.n_particles!r}")
        if not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"steps must be an integer >= 0, got {self.steps!r}")
        if not (self.dt > 0 and math.isfinite(self.dt)):
            raise ValueError(f"dt must be a positive finite number, got {self.dt!r}")
        if not isinstance(self.start, int) or self.start < 0:
            raise ValueError(f"start must be an integer >= 0 (steps before the input state), got {self.start!r}")
        if self.initial not in INITIAL_STATES:
            raise ValueError(f"unknown initial {self.initial!r}; choose one of {INITIAL_STATES}")
        if self.force_law not in FORCE_LAWS:
            raise ValueError(f"unknown force_law {self.force_law!r}; choose one of {FORCE_LAWS}")
        for name in ("max_force", "box", "clip_component"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value!r}")

    def key(self) -> dict:
        """The fields that name this physics in cache keys and run ids; ``start`` and ``initial`` only when set,
        so that every trajectory and run made before they existed keeps its key."""
        out = asdict(self)
        for name, default in (("start", 0), ("initial", "equilib")):
            if out[name] == default:
                del out[name]
        return out

    def data_seed(self, seed: int) -> int:
        """The seed that draws this physics' data for a run of ``seed``: its own, except for the EGNN paper's
        data, which are one draw whatever the seed."""
        return 0 if self.initial == "egnn-paper" else seed

    def integrator(self) -> dict:
        """The keyword arguments of :func:`simulate` this physics sets."""
        return {k: v for k, v in asdict(self).items() if k not in ("dim", "n_particles", "start", "initial")}

    @property
    def power(self) -> int:
        """The exponent p in ``(x_i - x_j) / r^p``."""
        return self.dim if self.force_law == "dimension" else 3

    @property
    def horizon(self) -> float:
        """The time between the model's input and its target, ``steps * dt``."""
        return self.steps * self.dt

    @property
    def symmetric(self) -> bool:
        """True when nothing breaks E(n) symmetry (no walls, no per-component clipping)."""
        return self.box is None and self.clip_component is None


def _incidence(n: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pair indices (i < j), the signed incidence matrix ``A`` (pairs x particles), and force slots.

    ``A @ x`` gives every ``x_i - x_j`` exactly (one rounding, whatever the BLAS
    kernel). Forces are gathered back with ``slots``: row ``a`` lists, in a fixed
    order, the rows of ``[f; -f]`` that act on particle ``a``; summing them one
    by one (not with a matmul or a reduction, whose order depends on the batch
    size) keeps every trajectory bit-identical whatever batch it is in.
    """
    i, j = torch.triu_indices(n, n, offset=1)
    npairs = i.numel()
    a = torch.zeros(npairs, n, dtype=dtype)
    a[torch.arange(npairs), i] = 1.0
    a[torch.arange(npairs), j] = -1.0
    slots = torch.tensor([[p if int(i[p]) == q else npairs + p for p in range(npairs) if q in (int(i[p]), int(j[p]))]
                          for q in range(n)], dtype=torch.long)
    return i.to(device), j.to(device), a.to(device), slots.t().contiguous().to(device)


def _int_power(base: torch.Tensor, p: int) -> torch.Tensor:
    out = base
    for _ in range(p - 1):
        out = out * base
    return out


def core_coefficient(power: int, max_force: float) -> float:
    """``s_max = r_c^-p``, where ``r_c`` is the radius at which the true force reaches ``max_force``."""
    return float(max_force) if power == 1 else float(max_force) ** (power / (power - 1))


def pair_coefficient(r2: torch.Tensor, power: int, max_force: float | None) -> torch.Tensor:
    """``s(r)`` such that the pair force is ``c_i c_j s(r) (x_i - x_j)``.

    ``s = r^-p`` outside the core radius and the constant ``r_c^-p`` inside it: a
    harmonic core whose force falls linearly to zero at contact, so no pair force
    exceeds ``max_force`` and particles that meet pass through each other smoothly.
    """
    s = _int_power(1.0 / torch.sqrt(r2), power)
    if max_force is not None:
        s = torch.clamp(s, max=core_coefficient(power, max_force))
    return s


def _forces(x: torch.Tensor, k: torch.Tensor, a: torch.Tensor, slots: torch.Tensor, phys: Physics,
            events: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Total force, ``(N, n*B)``, on the flattened state ``x`` of shape ``(N, n*B)``; ``k = c_i c_j`` is ``(P, B)``.

    ``events``, when given, is updated in place: the smallest squared pair
    distance so far and the steps at which clipping acted, per trajectory.
    """
    npairs, batch = a.shape[0], k.shape[-1]
    diff = (a @ x).view(npairs, phys.dim, batch)
    r2 = diff[:, 0] * diff[:, 0]
    for d in range(1, phys.dim):
        r2 = r2 + diff[:, d] * diff[:, d]
    s = k * pair_coefficient(r2, phys.power, phys.max_force)
    f = (diff * s.unsqueeze(1)).view(npairs, -1)
    f = torch.cat([f, -f])
    force = f.index_select(0, slots[0])
    for row in slots[1:]:
        force = force + f.index_select(0, row)
    if events is not None:
        events["min_r2"] = torch.minimum(events["min_r2"], r2.min(0).values)
    if phys.clip_component is not None:
        if events is not None:
            clipped = force.abs().view(force.shape[0], phys.dim, batch) > phys.clip_component
            events["clip_steps"] += clipped.any(0).any(0)
        force = force.clamp(-phys.clip_component, phys.clip_component)
    return force


def _reflect(x: torch.Tensor, v: torch.Tensor, box: float,
             events: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    over, under = x > box, x < -box
    if events is not None:
        n_particles, batch = x.shape[0], events["wall_hits"].shape[0]
        events["wall_hits"] += (over | under).view(n_particles, -1, batch).sum((0, 1))
    x = torch.where(over, 2 * box - x, x)
    v = torch.where(over, -v.abs(), v)
    x = torch.where(under, -2 * box - x, x)
    v = torch.where(under, v.abs(), v)
    return x, v


def simulate(
    x: torch.Tensor,
    v: torch.Tensor,
    charges: torch.Tensor,
    *,
    steps: int = 10_000,
    dt: float = 1e-3,
    force_law: str = "dimension",
    max_force: float | None = 100.0,
    box: float | None = None,
    clip_component: float | None = None,
    progress: bool | tqdm = False,
    events: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrate ``steps`` symplectic-Euler steps from positions/velocities ``(B, N, n)``.

    Returns the final positions and velocities, same shape, dtype and device as
    the input. ``progress`` is ``True`` for a bar of its own, or a tqdm bar to
    advance by ``steps``. Pass an empty dict as ``events`` to have it filled
    with what happened to each trajectory, ``(B,)`` each: ``min_distance``
    (the closest any pair came), ``wall_hits`` (reflections, counted per
    particle and coordinate) and ``clip_steps`` (steps at which the
    per-component clip acted on some particle). Recording them changes no
    trajectory.
    """
    if x.ndim != 3 or v.shape != x.shape:
        raise ValueError(f"x and v must both have shape (batch, N, n); got {tuple(x.shape)} and {tuple(v.shape)}")
    if charges.shape != x.shape[:2]:
        raise ValueError(f"charges must have shape (batch, N) = {tuple(x.shape[:2])}, got {tuple(charges.shape)}")
    phys = Physics(dim=x.shape[2], n_particles=x.shape[1], steps=steps, dt=dt, force_law=force_law,
                   max_force=max_force, box=box, clip_component=clip_component)
    batch, n_particles, dim = x.shape
    i, j, a, slots = _incidence(n_particles, x.dtype, x.device)
    # (N, n*B) layout: the batch is the fast axis and the pair algebra is two small matmuls
    xs = x.permute(1, 2, 0).reshape(n_particles, dim * batch).contiguous()
    vs = v.permute(1, 2, 0).reshape(n_particles, dim * batch).contiguous()
    c = charges.to(x.dtype).t()
    k = c.index_select(0, i) * c.index_select(0, j)
    bar = tqdm(total=steps, desc="simulate", unit="step") if progress is True else (progress or None)
    tick = max(1, steps // 100)
    track = None
    if events is not None:
        track = {"min_r2": torch.full((batch,), math.inf, dtype=x.dtype, device=x.device),
                 "wall_hits": torch.zeros(batch, dtype=torch.long, device=x.device),
                 "clip_steps": torch.zeros(batch, dtype=torch.long, device=x.device)}
    for step in range(steps):
        vs = vs + _forces(xs, k, a, slots, phys, track) * dt
        xs = xs + vs * dt
        if box is not None:
            xs, vs = _reflect(xs, vs, box, track)
        if bar is not None and (step + 1) % tick == 0:
            bar.update(tick)
    if bar is not None:
        bar.update(steps - (steps // tick) * tick)
        if progress is True:
            bar.close()
    if track is not None:
        events.update(min_distance=torch.sqrt(track.pop("min_r2")), **track)
    xs = xs.view(n_particles, dim, batch)
    vs = vs.view(n_particles, dim, batch)
    return xs.permute(2, 0, 1).contiguous(), vs.permute(2, 0, 1).contiguous()


def _pair_potential(r: torch.Tensor, power: int, max_force: float | None) -> torch.Tensor:
    """``g(r)`` with ``g' = -|force|``: the potential whose gradient is the (capped) law."""
    p = power

    def free(r: torch.Tensor) -> torch.Tensor:
        if p == 1:
            return -r
        if p == 2:
            return -torch.log(r)
        return r.pow(2 - p) / (p - 2)

    if max_force is None:
        return free(r)
    s_max = core_coefficient(p, max_force)
    rc = s_max ** (-1.0 / p)
    inside = free(torch.as_tensor(rc, dtype=r.dtype)) + 0.5 * s_max * (rc * rc - r * r)
    return torch.where(r < rc, inside, free(r.clamp_min(rc)))


def energy(x: torch.Tensor, v: torch.Tensor, charges: torch.Tensor, *, force_law: str = "dimension",
           max_force: float | None = 100.0) -> torch.Tensor:
    """Total energy per system, ``(B,)``: kinetic plus the pair potential of the (capped) force law."""
    phys = Physics(dim=x.shape[2], n_particles=x.shape[1], force_law=force_law, max_force=max_force)
    i, j, _, _ = _incidence(phys.n_particles, x.dtype, x.device)
    r = (x[:, i] - x[:, j]).norm(dim=-1)
    k = charges[:, i] * charges[:, j]
    potential = (k * _pair_potential(r, phys.power, max_force)).sum(-1)
    return 0.5 * (v * v).sum((-1, -2)) + potential


def _split_seed(seed: int, split: str) -> int:
    return int.from_bytes(hashlib.sha256(f"equilib-nbody-{seed}-{split}".encode()).digest()[:7], "big")


def initial_state(n_samples: int, dim: int, n_particles: int = 5, *, seed: int = 0, split: str = "train",
                  dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """NRI's initial conditions: positions N(0, 1) per coordinate, speed 0.5 in a uniform direction, charges +-1.

    Each sample is drawn from its own row of uniforms (Box-Muller), so the first
    ``k`` samples are the same whatever ``n_samples`` is: training sets are nested.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    gen = torch.Generator().manual_seed(_split_seed(seed, split))
    width = n_particles * dim
    u = torch.rand(n_samples, 4 * width + n_particles, generator=gen, dtype=torch.float64)
    u1, u2 = u[:, : 2 * width], u[:, 2 * width : 4 * width]
    normals = torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2 * math.pi * u2)
    x = normals[:, :width].reshape(n_samples, n_particles, dim)
    g = normals[:, width:].reshape(n_samples, n_particles, dim)
    v = 0.5 * g / g.norm(dim=-1, keepdim=True)
    charges = torch.where(u[:, 4 * width :] < 0.5, 1.0, -1.0).to(torch.float64)
    return x.to(dtype), v.to(dtype), charges.to(dtype)


def egnn_paper_states(n_samples: int, dim: int = 3, n_particles: int = 5, *, split: str = "train",
                      dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The EGNN paper's initial states: NRI's charged-particle draws replayed from numpy's seed 43.

    vgsatorras/egnn's ``generate_dataset.py`` seeds numpy's global stream once
    and draws 10,000 train, 2,000 validation and 2,000 test trajectories in that
    order; each takes the charges (``choice`` over -1, 0, +1 with 0 never drawn),
    positions ``N(0, 1)``, a direction ``N(0, 1)`` scaled to speed 0.5, then two
    ``randn`` blocks of observation noise (49 frames; zero variance, but they
    advance the stream). Replaying those calls in that order gives the authors'
    initial states exactly; positions outside their box of 5 are reflected once,
    as their sampler does (their walls are off during the run).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    if not 0 <= n_samples <= EGNN_PAPER_SPLITS[split]:
        raise ValueError(f"the EGNN paper's {split} split holds {EGNN_PAPER_SPLITS[split]} trajectories; "
                         f"n_samples must be in 0..{EGNN_PAPER_SPLITS[split]}, got {n_samples}")
    rng = np.random.RandomState(EGNN_PAPER_SEED)
    frames, box, loc_std = 49, 5.0, (n_particles / 5.0) ** (1 / 3)
    order = list(EGNN_PAPER_SPLITS)
    skip = sum(EGNN_PAPER_SPLITS[s] for s in order[: order.index(split)])
    xs, vs, cs = [], [], []
    for k in range(skip + n_samples):
        charges = rng.choice(np.array([-1.0, 0.0, 1.0]), size=(n_particles, 1), p=[0.5, 0.0, 0.5])
        loc = rng.randn(dim, n_particles) * loc_std
        vel = rng.randn(dim, n_particles)
        vel = vel * 0.5 / np.sqrt((vel ** 2).sum(axis=0)).reshape(1, -1)
        rng.randn(frames, dim, n_particles), rng.randn(frames, dim, n_particles)
        if k >= skip:
            over, under = loc > box, loc < -box
            loc = np.where(over, 2 * box - loc, np.where(under, -2 * box - loc, loc))
            vel = np.where(over, -np.abs(vel), np.where(under, np.abs(vel), vel))
            xs.append(loc.T), vs.append(vel.T), cs.append(charges[:, 0])
    shape = (n_samples, n_particles, dim)
    as_tensor = lambda a, sh: torch.from_numpy(np.asarray(a, dtype=np.float64).reshape(sh)).to(dtype)  # noqa: E731
    return as_tensor(xs, shape), as_tensor(vs, shape), as_tensor(cs, shape[:2])


def starting_states(phys: Physics, n_samples: int, seed: int, split: str, *, device: str | torch.device = "cpu",
                    chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model's input states: the initial draw ``phys.initial`` names, run ``phys.start`` steps on."""
    if phys.initial == "egnn-paper":
        x0, v0, c = egnn_paper_states(n_samples, phys.dim, phys.n_particles, split=split)
    else:
        x0, v0, c = initial_state(n_samples, phys.dim, phys.n_particles, seed=seed, split=split)
    if phys.start:
        dev = resolve_device(device)
        kw = {**phys.integrator(), "steps": phys.start}
        moved = [simulate(x0[sl].to(dev), v0[sl].to(dev), c[sl].to(dev), **kw)
                 for sl in (slice(i, i + chunk) for i in range(0, n_samples, chunk))]
        if moved:
            x0, v0 = torch.cat([m[0].cpu() for m in moved]), torch.cat([m[1].cpu() for m in moved])
    return x0, v0, c


@dataclass
class Trajectories:
    """One split: the state at step 0 (the model's input) and at step T (the target)."""

    x0: torch.Tensor
    v0: torch.Tensor
    charges: torch.Tensor
    xT: torch.Tensor
    vT: torch.Tensor

    def __len__(self) -> int:
        return self.x0.shape[0]

    def head(self, n: int) -> "Trajectories":
        """The first ``n`` samples (training subsets are nested)."""
        if not 0 < n <= len(self):
            raise ValueError(f"subset size must be in 1..{len(self)}, got {n}")
        return Trajectories(*(t[:n] for t in self.tensors()))

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return self.x0, self.v0, self.charges, self.xT, self.vT

    def to(self, device: torch.device | str, dtype: torch.dtype = torch.float32) -> "Trajectories":
        return Trajectories(*(t.to(device=device, dtype=dtype) for t in self.tensors()))


@dataclass
class NBodyDataset:
    physics: Physics
    seed: int
    splits: dict[str, Trajectories] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, split: str) -> Trajectories:
        return self.splits[split]


def simulate_split(phys: Physics, n_samples: int, seed: int, split: str, *, device: str | torch.device = "cpu",
                   chunk: int = 4096, progress: bool = True) -> Trajectories:
    """Simulate one split in float64, ``chunk`` trajectories at a time (the result does not depend on ``chunk``)."""
    x0, v0, c = starting_states(phys, n_samples, seed, split, device=device, chunk=chunk)
    dev = resolve_device(device)
    xs, vs = [], []
    with tqdm(total=n_samples * phys.steps, desc=f"n-body {split} n={phys.dim}", unit="traj-step",
              unit_scale=True, disable=not progress) as bar:
        for start in range(0, n_samples, chunk):
            sl = slice(start, start + chunk)
            xT, vT = simulate(x0[sl].to(dev), v0[sl].to(dev), c[sl].to(dev), **phys.integrator())
            xs.append(xT.cpu())
            vs.append(vT.cpu())
            bar.update(xT.shape[0] * phys.steps)
    empty = torch.empty(0, phys.n_particles, phys.dim, dtype=torch.float64)
    return Trajectories(x0, v0, c, torch.cat(xs) if xs else empty, torch.cat(vs) if vs else empty)


def make_dataset(dim: int, *, n_train: int = 10_000, n_val: int = 2_000, n_test: int = 2_000, seed: int = 0,
                 cache_dir: str | Path | None = None, device: str | torch.device = "cpu", chunk: int = 4096,
                 progress: bool = True, **physics) -> NBodyDataset:
    """The train/val/test trajectories for one dimension, from the cache when they are there.

    ``physics`` are the keyword arguments of :class:`Physics` (steps, dt,
    force_law, max_force, box, clip_component, n_particles, start, initial).
    Each split is cached on its own, keyed by every parameter that changes it.
    With ``initial="egnn-paper"`` the data are the paper's one draw, whatever ``seed``.
    """
    phys = Physics(dim=dim, **physics)
    sizes = {"train": n_train, "val": n_val, "test": n_test}
    for name, n in sizes.items():
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n_{name} must be an integer >= 1, got {n!r}")
        if phys.initial == "egnn-paper" and n > EGNN_PAPER_SPLITS[name]:
            raise ValueError(f"the EGNN paper's {name} split holds {EGNN_PAPER_SPLITS[name]} trajectories; "
                             f"n_{name}={n} is more")
    root = default_cache_dir(cache_dir)
    data = NBodyDataset(physics=phys, seed=seed)
    for split, n in sizes.items():
        params = {"physics": phys.key(), "split": split, "n": n, "seed": phys.data_seed(seed), "version": 1}

        def build(split=split, n=n) -> dict[str, torch.Tensor]:
            traj = simulate_split(phys, n, seed, split, device=device, chunk=chunk, progress=progress)
            return dict(zip(("x0", "v0", "charges", "xT", "vT"), traj.tensors()))

        tensors, path = cached_tensors("nbody", params, build, root)
        data.splits[split] = Trajectories(**tensors)
        data.paths[split] = path
    return data


def core_radius(phys: Physics) -> float:
    """The radius inside which the harmonic core replaces the true force (0 when there is no cap)."""
    if phys.max_force is None:
        return 0.0
    return core_coefficient(phys.power, phys.max_force) ** (-1.0 / phys.power)


def physics_report(phys: Physics, n_samples: int = 500, *, seed: int = 0, split: str = "test",
                   cache_dir: str | Path | None = None) -> dict[str, float]:
    """What the integrator and the symmetry-breaking options do to ``n_samples`` trajectories of a split.

    Simulates them again with events recorded (cached like the data) and
    returns: the core radius; the share of trajectories in which some pair
    entered the core; the relative energy drift ``|E_T - E_0| / |E_0|`` (median
    and 95th percentile; the energy of the capped law, which the integrator
    should conserve up to its error); the share of trajectories that hit a wall
    and the mean hits per trajectory; the share in which the clip acted and the
    mean steps it acted.
    """
    params = {"physics": phys.key(), "split": split, "n": n_samples, "seed": seed, "version": 1, "events": 1}

    def build() -> dict[str, torch.Tensor]:
        x0, v0, c = starting_states(phys, n_samples, seed, split)
        events: dict[str, torch.Tensor] = {}
        xT, vT = simulate(x0, v0, c, events=events, **phys.integrator())
        e0 = energy(x0, v0, c, force_law=phys.force_law, max_force=phys.max_force)
        eT = energy(xT, vT, c, force_law=phys.force_law, max_force=phys.max_force)
        return {"drift": ((eT - e0).abs() / e0.abs()), **events}

    t, _ = cached_tensors("nbody-events", params, build, default_cache_dir(cache_dir))
    rc = core_radius(phys)
    drift = t["drift"].double()
    return {
        "dim": phys.dim, "core_radius": rc, "entered_core": float((t["min_distance"] < rc).double().mean()),
        "drift_median": float(drift.median()), "drift_p95": float(torch.quantile(drift, 0.95)),
        "hit_wall": float((t["wall_hits"] > 0).double().mean()), "wall_hits": float(t["wall_hits"].double().mean()),
        "clipped": float((t["clip_steps"] > 0).double().mean()), "clip_steps": float(t["clip_steps"].double().mean()),
    }
