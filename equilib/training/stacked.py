"""Many runs of one architecture trained at once: the runs :func:`~equilib.training.loop.train` gives, K per step.

A small graph network leaves a GPU idle: one EGNN training step is mostly
kernel launches (10.8 ms on an H100 for a few MFLOP). Stacking K models'
parameters along a leading axis and calling the model through
``torch.func.vmap`` makes every launch do the work of K models.

Each member stays its own run. It is initialised under its own seed exactly as
``train`` initialises it, shuffles with its own generator, and has its own Adam
state (Adam is elementwise, so one optimiser over the stacked tensors is K
independent ones), its own metrics, its own divergence and its own checkpoint
file in ``train``'s format: a run interrupted in a stack resumes alone, and the
other way round. Members may differ in seed and in data. Data of different
shapes are zero-padded by the caller, who says by how much (``Member.pad_ratio``).

A model can also be stacked by hand, as one module that runs K members in one
forward pass (the CNNs of :mod:`equilib.models.steerable`: a grouped
convolution is what vmap would make of K convolutions, but escnn's modules do
not vmap). Such a ``stacked`` module holds every member tensor in the shape
:func:`stack_layout` finds, and the trainer is otherwise the same.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn
from torch._dynamo.exc import TorchDynamoException
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from ..base.paths import resolve_device
from .loop import (RunResult, Task, Tensors, TrainConfig, _device_name, augment_generator, check_splits,
                   keep_freed_memory, load_checkpoint, load_state, save_checkpoint, set_lr)

STACK_LIMIT = 128  # members per stack: where the H100 measurement of stack.md stopped gaining
# Compiling costs 7-17 s on a 2-core CPU and a minute or two on a GPU (CUDA graphs); a stack of 25 runs gained
# 1.05-1.37x on that CPU (benchmarks/train_stacked.py). From this many training steps it is paid back.
COMPILE_MIN_STEPS = 5_000


State = dict[str, torch.Tensor]


def clip_members(params, max_norm: float) -> None:
    """Each member's gradient (row k of every stacked tensor) clipped to ``max_norm`` on its own, as
    ``torch.nn.utils.clip_grad_norm_`` would clip it in a run of its own."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([g.flatten(1).pow(2).sum(1) for g in grads]).sum(0).sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *[1] * (g.ndim - 1)))


def _same(state: State) -> State:
    return state


@dataclass
class Member:
    """One run in a stack.

    ``pad_ratio`` is the padded size of a target over its real size (for
    example 8/3 for R^3 particles padded to R^8). The loss and the metric are
    means over the padded target, whose padded entries the model must predict
    exactly (zeros): multiplying by ``pad_ratio`` turns them back into the
    means over the real entries that a one-at-a-time run reports.

    ``widen`` maps the member's state (parameters, or Adam moments shaped like
    them) to the stack's shapes and ``narrow`` back, for models whose layers
    depend on the padded size (:meth:`equilib.models.graph.GNN.widen`).
    """

    build: Callable[[], nn.Module]
    data: dict[str, Tensors]
    config: TrainConfig
    checkpoint: Path | None = None
    pad_ratio: float = 1.0
    widen: Callable[[State], State] = _same
    narrow: Callable[[State], State] = _same


class _Bound:
    """A module called with substituted parameters: what ``Task`` methods take as a model."""

    def __init__(self, module: nn.Module, params: dict, buffers: dict) -> None:
        self.module, self.params, self.buffers = module, params, buffers

    def __call__(self, *args: torch.Tensor) -> torch.Tensor:
        return functional_call(self.module, (self.params, self.buffers), args)


def stack_layout(stacked: nn.Module, member: nn.Module, k: int) -> dict[str, tuple[int, ...]]:
    """Where each of a member's tensors sits in a hand-stacked module of ``k``: its shape there.

    A member tensor of shape ``s`` is in the stack as the K members' tensors
    stacked, ``(k, *s)``, or concatenated, ``(k * s[0], *s[1:])``: either way the
    stack ``(k, *s)`` reshaped. Batch norms' step counters are ``(k,)``. Tensors
    of the stack that are not there (sampled bases, masks, pooling filters) are
    constants of the architecture, the stack's own.
    """
    own = {**dict(stacked.named_parameters()), **dict(stacked.named_buffers())}
    layout = {}
    for name, t in {**dict(member.named_parameters()), **dict(member.named_buffers())}.items():
        if name.endswith("num_batches_tracked") and name in own:
            layout[name] = (k,)
        elif name in own and own[name].numel() == k * t.numel() and own[name].ndim in (t.ndim, t.ndim + 1):
            layout[name] = tuple(own[name].shape)
    missing = sorted(n for n, t in member.named_parameters() if t.requires_grad and n not in layout)
    if missing:
        raise ValueError(f"the stacked module has no place for the member parameters {missing[:5]}")
    return layout


def _check_members(members: Sequence[Member]) -> None:
    if not members:
        raise ValueError("a stack needs at least one member")
    if len(members) > STACK_LIMIT:
        raise ValueError(f"a stack takes at most {STACK_LIMIT} members, got {len(members)}")
    first = {k: v for k, v in asdict(members[0].config).items() if k != "seed"}
    for m in members[1:]:
        other = {k: v for k, v in asdict(m.config).items() if k != "seed"}
        diff = sorted(k for k in first if first[k] != other[k])
        if diff:
            raise ValueError(f"stacked runs may differ only in seed; they differ in {diff}")
    for m in members:
        check_splits(m.data)
        if not (m.pad_ratio >= 1 and math.isfinite(m.pad_ratio)):
            raise ValueError(f"pad_ratio must be a finite number >= 1, got {m.pad_ratio!r}")


def _stack_split(members: Sequence[Member], split: str, device: torch.device) -> tuple[Tensors, torch.Tensor]:
    """Each distinct data set once, stacked ``(G, n, ...)``, and which one each member reads ``(K,)``."""
    keys: dict[tuple, int] = {}
    unique: list[Tensors] = []
    which = []
    for m in members:
        tensors = m.data[split]
        key = tuple((t.data_ptr(), tuple(t.shape), t.stride(), str(t.device)) for t in tensors)
        if key not in keys:
            keys[key] = len(unique)
            unique.append(tensors)
        which.append(keys[key])
    shapes = {tuple(tuple(t.shape) for t in tensors) for tensors in unique}
    if len(shapes) > 1:
        raise ValueError(f"stacked runs need {split} data of one shape (pad them); got {sorted(shapes)}")
    stacked = tuple(torch.stack([u[j] for u in unique]).to(device) for j in range(len(unique[0])))
    return stacked, torch.tensor(which, device=device)


def _stack_optimizer_states(states: list[dict], names: list[str], members: Sequence[Member]) -> dict:
    """K single-model optimiser states as one state over stacked (widened) parameters; their steps must agree.

    Parameters that never had a gradient (an EGNN's last feature update) have no state.
    """
    out = {"state": {}, "param_groups": states[0]["param_groups"]}
    held = {i: names[i] for i in states[0]["state"]}
    moments = [key for key in next(iter(states[0]["state"].values())) if key != "step"]
    wide = [{key: m.widen({n: s["state"][i][key] for i, n in held.items()}) for key in moments}
            for s, m in zip(states, members)]
    for i, name in held.items():
        steps = {float(s["state"][i]["step"]) for s in states}
        if len(steps) > 1:
            raise ValueError(f"stacked runs must resume from the same optimiser step; got {sorted(steps)}")
        out["state"][i] = {"step": states[0]["state"][i]["step"],
                           **{key: torch.stack([w[key][name] for w in wide]) for key in moments}}
    return out


def _member_optimizer_state(state: dict, k: int, names: list[str], member: Member) -> dict:
    """Member ``k``'s slice of a stacked optimiser state, narrowed and cloned (a saved view carries the stack)."""
    held = {i: names[i] for i in state["state"]}
    moments = [key for key in next(iter(state["state"].values())) if key != "step"]
    narrow = {key: member.narrow({n: state["state"][i][key][k] for i, n in held.items()}) for key in moments}
    return {"state": {i: {"step": state["state"][i]["step"].clone(), **{key: narrow[key][n].clone() for key in moments}}
                      for i, n in held.items()},
            "param_groups": copy.deepcopy(state["param_groups"])}


def _compiled(fn: Callable, device: torch.device) -> Callable:
    """``fn`` through ``torch.compile``; if compiling fails, a warning and ``fn`` itself from then on."""
    state = {"fn": torch.compile(fn, mode="reduce-overhead" if device.type == "cuda" else None)}

    def call(*args):
        try:
            return state["fn"](*args)
        except TorchDynamoException as exc:  # a compiler failure, not the model's own error
            if state["fn"] is fn:
                raise
            warnings.warn(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); training uncompiled")
            state["fn"] = fn
            return fn(*args)

    return call


def train_stacked(
    members: Sequence[Member],
    task: Task,
    *,
    template: nn.Module | None = None,
    progress: bool = True,
    desc: str = "stack",
    checkpoint_every: float = 60.0,
    compiled: bool | str = "auto",
    stacked: nn.Module | None = None,
) -> list[tuple[nn.Module, RunResult]]:
    """Train every member at once; return each member's model and result, as :func:`train` would.

    ``template`` is the module whose ``forward`` runs with each member's
    parameters (default: the first member's model); give one built for the
    padded shapes when members' data are padded. Checkpoints are written at
    evaluation epochs, at most every ``checkpoint_every`` seconds.

    ``compiled`` runs the stacked loss and its gradient through
    ``torch.compile`` (on a GPU with CUDA graphs, ``mode="reduce-overhead"``,
    against the launch overhead); ``"auto"`` compiles stacks of at least
    ``COMPILE_MIN_STEPS`` training steps, where the compile time is paid back
    (never a hand-stacked module's: escnn does not compile).

    ``stacked`` is a module that runs all members in one forward pass, inputs
    ``(K, batch, ...)`` to outputs ``(K, batch, ...)``, built for ``len(members)``
    (:func:`stack_layout`); without it each member's forward is vmapped.
    ``restore_best`` members hand back the weights of their best validation.
    """
    if compiled not in (True, False, "auto"):
        raise ValueError(f"compiled must be True, False or 'auto', got {compiled!r}")
    _check_members(members)
    cfg = members[0].config
    device = resolve_device(cfg.device)
    if device.type == "cpu":
        keep_freed_memory()
    models = []
    for m in members:
        torch.manual_seed(m.config.seed)
        models.append(m.build())
    states = [load_checkpoint(m.checkpoint, m.config, device) for m in members]
    starts = sorted({s["result"].epochs_done if s else 0 for s in states})
    if len(starts) > 1:
        raise ValueError(f"stacked runs must resume from the same epoch; their checkpoints are at epochs {starts}")
    for model, state in zip(models, states):
        if state is not None:
            load_state(model, state["model"])
    wide = [m.widen(model.state_dict()) for m, model in zip(members, models)]
    shapes = [{k: tuple(t.shape) for k, t in w.items()} for w in wide]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("stacked runs need models with the same parameter names and shapes (after widen)")
    names = [k for k, _ in models[0].named_parameters()]
    if stacked is not None:
        stacked = stacked.to(device)
        layout = stack_layout(stacked, models[0], len(members))
        constants = {k: t.to(device) for k, t in wide[0].items() if k not in layout}
    else:
        template = copy.deepcopy(template if template is not None else models[0]).to(device)
        layout, constants = {k: None for k in wide[0]}, {}
    params = {k: torch.stack([w[k] for w in wide]).to(device).requires_grad_() for k in names}
    buffers = {k: torch.stack([w[k] for w in wide]).to(device) for k in layout if k not in params}
    optimizer = torch.optim.Adam(list(params.values()), lr=cfg.lr)
    if states[0] is not None:
        optimizer.load_state_dict(_stack_optimizer_states([s["optimizer"] for s in states], names, members))
    best_states: list[State | None] = [s.get("best") if s is not None else None for s in states]
    shuffles = [torch.Generator().manual_seed(m.config.seed + 1) for m in members]
    augments = [augment_generator(m.config) for m in members] if cfg.augment else None
    results = [RunResult(device=_device_name(device)) for _ in members]
    for k, state in enumerate(states):
        if state is not None:
            shuffles[k].set_state(state["shuffle"])
            if augments is not None:
                augments[k].set_state(state["augment"])
            results[k] = state["result"]
            results[k].device = _device_name(device)

    splits = {split: _stack_split(members, split, device) for split in ("train", "val", "test")}
    train_data, train_which = splits["train"]
    n_train, n_models = train_data[0].shape[1], len(members)
    steps_per_epoch = math.ceil(n_train / cfg.batch_size)
    total_steps, step = cfg.epochs * steps_per_epoch, starts[0] * steps_per_epoch
    for r in results:
        r.steps_per_epoch = steps_per_epoch
    ratios = torch.tensor([m.pad_ratio for m in members], device=device)
    if stacked is not None:
        module = stacked

        def per_member(method: Callable) -> Callable:
            on_outputs = vmap(lambda out, batch: method(lambda *_: out, batch))

            def call(p: State, b: State, batch: Tensors) -> torch.Tensor:
                tensors = {k: t if k.endswith("num_batches_tracked") else t.reshape(layout[k])
                           for k, t in {**p, **b}.items() if k in layout}
                return on_outputs(functional_call(stacked, tensors, batch[:-1]), batch)

            return call

        losses_of, errors_of = per_member(task.loss), per_member(task.errors)
    else:
        module = template
        losses_of = vmap(lambda p, b, batch: task.loss(_Bound(template, p, b), batch))
        errors_of = vmap(lambda p, b, batch: task.errors(_Bound(template, p, b), batch))
    steps_left = total_steps - step
    if compiled is True or compiled == "auto" and steps_left >= COMPILE_MIN_STEPS and stacked is None:
        losses_of = _compiled(losses_of, device)
    eval_chunk = max(task.eval_batch // n_models, cfg.batch_size)

    @torch.no_grad()
    def evaluate(split: str) -> list[float]:
        data, which = splits[split]
        sums = torch.zeros(n_models, dtype=torch.float64, device=device)
        count = 0
        for s in range(0, data[0].shape[1], eval_chunk):
            batch = tuple(t[which, s : s + eval_chunk] for t in data)
            sums += errors_of(params, buffers, batch).double()
            count += task.count(tuple(t[0] for t in batch))
        return (sums * ratios.double() / count).tolist()

    def member_state(k: int) -> State:
        held = {**params, **buffers}
        state = {n: held[n][k] if n in held else constants[n] for n in wide[0]}
        return {name: t.detach().clone() for name, t in members[k].narrow(state).items()}

    active = [r.status == "running" for r in results]
    training = torch.tensor(active, dtype=torch.float32, device=device)  # 0 for members that stopped
    stopped: dict[int, State] = {}  # an early-stopped member's weights, as they were when it stopped
    shared_time, shared_cpu = [r.wall_time for r in results], [r.cpu_time for r in results]
    start = last_save = time.perf_counter()
    cpu_start = time.process_time()
    epoch0 = starts[0]
    bar = tqdm(total=cfg.epochs, initial=epoch0, desc=desc, unit="epoch", disable=not progress, leave=False)
    for epoch in range(epoch0 + 1, cfg.epochs + 1):
        if not any(active):
            break
        module.train()
        orders = torch.stack([torch.randperm(n_train, generator=g) for g in shuffles])
        orders = orders.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else orders
        total = torch.zeros(n_models, device=device)
        for s in range(0, n_train, cfg.batch_size):
            idx = orders[:, s : s + cfg.batch_size]
            batch = tuple(t[train_which[:, None], idx] for t in train_data)
            if augments is not None:  # each member's own transforms, as it would draw them alone
                moved = [task.augment(tuple(t[k] for t in batch), augments[k], members[k].pad_ratio)
                         for k in range(n_models)]
                batch = tuple(torch.stack(parts) for parts in zip(*moved))
            losses = losses_of(params, buffers, batch) * ratios
            optimizer.zero_grad(set_to_none=True)
            (losses * training).sum().backward()  # members share no parameters: each gets its own gradient
            if cfg.clip_norm:
                clip_members(params.values(), cfg.clip_norm)
            set_lr(optimizer, cfg.lr_at(step, total_steps))
            optimizer.step()
            step += 1
            total += losses.detach() * idx.shape[1]
        if epoch % cfg.eval_every and epoch != cfg.epochs:
            continue
        train_loss = (total / n_train).tolist()  # the epoch's only host sync, on evaluation epochs alone
        module.eval()
        val, test = evaluate("val"), evaluate("test")
        now, cpu_now = time.perf_counter(), time.process_time()
        for k in range(n_models):
            if not active[k]:
                continue
            if not math.isfinite(train_loss[k]):
                results[k].status, active[k] = "diverged", False
                continue
            results[k].observe(epoch, train_loss[k], val[k], test[k])
            results[k].epochs_done = epoch
            if members[k].config.restore_best and results[k].best_val_epoch == epoch:
                best_states[k] = member_state(k)
            results[k].wall_time = shared_time[k] + (now - start) / n_models  # its share of the device
            results[k].cpu_time = shared_cpu[k] + (cpu_now - cpu_start) / n_models
            if cfg.should_stop(results[k]):
                results[k].stopped_early, active[k] = True, False
                training[k] = 0.0
                stopped[k] = member_state(k)
        bar.update(epoch - bar.n)
        best = min((v for v, a in zip(val, active) if a), default=math.nan)
        bar.set_postfix(running=sum(active), best_val=f"{best:.3g}")
        if epoch != cfg.epochs and now - last_save >= checkpoint_every:
            stacked_optimizer = optimizer.state_dict()
            for k, m in enumerate(members):
                if active[k] and m.checkpoint is not None:
                    save_checkpoint(m.checkpoint, m.config, member_state(k),
                                    _member_optimizer_state(stacked_optimizer, k, names, m), shuffles[k], results[k],
                                    augments[k] if augments is not None else None, best_states[k])
            last_save = time.perf_counter()
    bar.close()
    out = []
    for k, (model, result) in enumerate(zip(models, results)):
        if result.status == "running":
            result.status = "finished"
        final = best_states[k] if members[k].config.restore_best else None
        load_state(model, final if final is not None else stopped[k] if k in stopped else member_state(k))
        out.append((model.to(device).train().eval(), result))  # escnn derives its filters on entering eval mode
    return out
