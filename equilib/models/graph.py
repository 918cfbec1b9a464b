"""Message-passing networks for the N-body task: the plain GNN and the E(n)-equivariant EGNN.

Both follow the reference implementations of Satorras et al. (2021) as the
paper's appendix A describes them, written as torch_geometric
``MessagePassing`` layers so they run on any graph. The public modules take
dense per-sample tensors ``(batch, N, n)``, flatten them into one disconnected
graph, and build its (fully connected) edge index with tensor ops, cached by
shape, so the hot path has no Python loop over samples.
"""
from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import MessagePassing


def mlp(sizes: list[int], *, final_act: bool = False) -> nn.Sequential:
    """Linear layers with SiLU between them (and after the last one if ``final_act``)."""
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2 or final_act:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class FullyConnectedGraph(nn.Module):
    """Edge index of ``batch`` disjoint complete graphs on ``n_nodes`` nodes (no self-loops), cached by shape."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple[int, int, torch.device], tuple[torch.Tensor, torch.Tensor]] = {}

    def forward(self, batch: int, n_nodes: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns ``edge_index`` (2, E) and each node's in-degree (batch*n_nodes,)."""
        key = (batch, n_nodes, device)
        if key not in self._cache:
            full = torch.ones(n_nodes, n_nodes, dtype=torch.bool).fill_diagonal_(False)
            base = full.nonzero().t().to(device)  # (2, N(N-1)): rows are [target i, source j]
            offsets = torch.arange(batch, device=device).repeat_interleave(base.shape[1]) * n_nodes
            dst, src = base.repeat(1, batch) + offsets
            edge_index = torch.stack([src, dst])  # PyG convention: messages flow source -> target
            degree = torch.full((batch * n_nodes,), float(n_nodes - 1), device=device)
            self._cache = {key: (edge_index, degree)}
        return self._cache[key]


class EGNNLayer(MessagePassing):
    """One E(n)-equivariant convolution with the velocity term (Satorras et al. 2021, eq. 2-5 of the paper).

    ``m_ij = phi_e(h_i, h_j, |x_i - x_j|^2, a_ij)``;
    ``x_i' = x_i + mean_j (x_i - x_j) phi_x(m_ij) + phi_v(h_i) v_i``;
    ``h_i' = h_i + phi_h(h_i, sum_j m_ij)``.
    """

    def __init__(self, hidden: int, edge_dim: int) -> None:
        super().__init__(aggr="add")
        self.phi_e = mlp([2 * hidden + 1 + edge_dim, hidden, hidden], final_act=True)
        last = nn.Linear(hidden, 1, bias=False)
        nn.init.xavier_uniform_(last.weight, gain=0.001)  # the reference's tiny gain keeps early updates small
        self.phi_x = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), last)
        self.phi_v = mlp([hidden, hidden, 1])
        self.phi_h = mlp([2 * hidden, hidden, hidden])
        self.hidden = hidden

    def forward(self, h, x, v, edge_index, edge_attr, degree):
        agg = self.propagate(edge_index, h=h, x=x, edge_attr=edge_attr)
        m, shift = agg[:, : self.hidden], agg[:, self.hidden :]
        x = x + shift / degree.unsqueeze(-1) + self.phi_v(h) * v
        h = h + self.phi_h(torch.cat([h, m], dim=-1))
        return h, x

    def message(self, h_i, h_j, x_i, x_j, edge_attr):
        diff = x_i - x_j
        m = self.phi_e(torch.cat([h_i, h_j, (diff * diff).sum(-1, keepdim=True), edge_attr], dim=-1))
        return torch.cat([m, diff * self.phi_x(m)], dim=-1)


class GNNLayer(MessagePassing):
    """One plain message-passing layer (eq. 6-8): ``h_i' = h_i + phi_h(h_i, sum_j phi_e(h_i, h_j, e_ij))``."""

    def __init__(self, hidden: int, edge_dim: int) -> None:
        super().__init__(aggr="add")
        self.phi_e = mlp([2 * hidden + edge_dim, hidden, hidden], final_act=True)
        self.phi_h = mlp([2 * hidden, hidden, hidden])

    def forward(self, h, edge_index, edge_attr):
        m = self.propagate(edge_index, h=h, edge_attr=edge_attr)
        return h + self.phi_h(torch.cat([h, m], dim=-1))

    def message(self, h_i, h_j, edge_attr):
        return self.phi_e(torch.cat([h_i, h_j, edge_attr], dim=-1))


def _check_inputs(x: torch.Tensor, v: torch.Tensor, charges: torch.Tensor, dim: int) -> None:
    if x.ndim != 3 or x.shape[-1] != dim or v.shape != x.shape or charges.shape != x.shape[:2]:
        raise ValueError(f"expected x, v of shape (batch, N, {dim}) and charges (batch, N); "
                         f"got {tuple(x.shape)}, {tuple(v.shape)}, {tuple(charges.shape)}")


class EGNN(nn.Module):
    """E(n)-equivariant GNN: input positions, ``h = |v|``, edges ``[c_i c_j, |x_i - x_j|^2]``; output positions.

    Equivariant to rotations, reflections and translations of ``x`` (with ``v``
    rotated alike) and to permutations of the particles.
    """

    def __init__(self, dim: int, hidden: int = 64, layers: int = 4) -> None:
        super().__init__()
        self.dim = dim
        self.graph = FullyConnectedGraph()
        self.embed = nn.Linear(1, hidden)
        self.layers = nn.ModuleList(EGNNLayer(hidden, edge_dim=2) for _ in range(layers))

    def forward(self, x: torch.Tensor, v: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
        _check_inputs(x, v, charges, self.dim)
        batch, n_nodes, dim = x.shape
        edge_index, degree = self.graph(batch, n_nodes, x.device)
        xf, vf, cf = x.reshape(-1, dim), v.reshape(-1, dim), charges.reshape(-1)
        src, dst = edge_index
        d0 = xf[dst] - xf[src]
        edge_attr = torch.stack([cf[dst] * cf[src], (d0 * d0).sum(-1)], dim=-1)
        h = self.embed(vf.norm(dim=-1, keepdim=True))
        for layer in self.layers:
            h, xf = layer(h, xf, vf, edge_index, edge_attr, degree)
        return xf.view(batch, n_nodes, dim)


class GNN(nn.Module):
    """Plain message-passing GNN: node input ``[x_i, v_i]``, edge ``c_i c_j``; decodes final positions.

    Permutation-equivariant but not E(n)-equivariant: it sees raw coordinates.
    """

    def __init__(self, dim: int, hidden: int = 64, layers: int = 4) -> None:
        super().__init__()
        self.dim = dim
        self.graph = FullyConnectedGraph()
        self.embed = nn.Linear(2 * dim, hidden)
        self.layers = nn.ModuleList(GNNLayer(hidden, edge_dim=1) for _ in range(layers))
        self.decode = mlp([hidden, hidden, dim])

    def _dim_dependent(self) -> tuple[str, str, str]:
        last = f"decode.{len(self.decode) - 1}"
        return "embed.weight", f"{last}.weight", f"{last}.bias"

    @torch.no_grad()
    def widen(self, state: dict[str, torch.Tensor], dim: int) -> dict[str, torch.Tensor]:
        """``state`` (this GNN's parameters, or anything shaped like them) for a ``GNN(dim)`` on padded coordinates.

        The new input columns and output rows are zero, so the wide network maps
        zero-padded inputs to this one's outputs padded with zeros, and their
        gradients stay exactly zero: GNNs of several dimensions can share a stack.
        """
        if dim < self.dim:
            raise ValueError(f"can only widen to dim >= {self.dim}, got {dim}")
        embed, weight, bias = self._dim_dependent()
        out = dict(state)
        w = state[embed]
        out[embed] = w.new_zeros(w.shape[0], 2 * dim)
        out[embed][:, : self.dim], out[embed][:, dim : dim + self.dim] = w[:, : self.dim], w[:, self.dim :]
        out[weight] = state[weight].new_zeros(dim, state[weight].shape[1])
        out[weight][: self.dim] = state[weight]
        out[bias] = state[bias].new_zeros(dim)
        out[bias][: self.dim] = state[bias]
        return out

    @torch.no_grad()
    def narrow(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The inverse of :meth:`widen`: a wide GNN's ``state`` cut back to this GNN's shapes."""
        embed, weight, bias = self._dim_dependent()
        out = dict(state)
        wide = state[embed].shape[1] // 2
        out[embed] = torch.cat([state[embed][:, : self.dim], state[embed][:, wide : wide + self.dim]], dim=1)
        out[weight], out[bias] = state[weight][: self.dim], state[bias][: self.dim]
        return out

    def forward(self, x: torch.Tensor, v: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
        _check_inputs(x, v, charges, self.dim)
        batch, n_nodes, dim = x.shape
        edge_index, _ = self.graph(batch, n_nodes, x.device)
        cf = charges.reshape(-1)
        src, dst = edge_index
        edge_attr = (cf[dst] * cf[src]).unsqueeze(-1)
        h = self.embed(torch.cat([x, v], dim=-1).reshape(-1, 2 * dim))
        for layer in self.layers:
            h = layer(h, edge_index, edge_attr)
        return self.decode(h).view(batch, n_nodes, dim)


def free_flight(x: torch.Tensor, v: torch.Tensor, horizon: float) -> torch.Tensor:
    """Where the particles would be after ``horizon`` time units with no forces: ``x + horizon * v``."""
    return x + horizon * v


class ResidualGNN(GNN):
    """The plain GNN predicting only the correction to free flight: ``x0 + T dt v0 + GNN(x0, v0, c)``.

    A control for the N-body comparison: the EGNN has a velocity path built in,
    so at high n, where the dynamics are close to free flight, a plain GNN can
    lose to it only for having to learn ``x0 + T dt v0``. Given that for free,
    what is left of the EGNN's lead is what its symmetry buys.
    """

    def __init__(self, dim: int, hidden: int = 64, layers: int = 4, horizon: float = 10.0) -> None:
        super().__init__(dim, hidden=hidden, layers=layers)
        self.horizon = float(horizon)

    def forward(self, x: torch.Tensor, v: torch.Tensor, charges: torch.Tensor) -> torch.Tensor:
        return free_flight(x, v, self.horizon) + super().forward(x, v, charges)
