#!/usr/bin/env python3
"""PyG reference for `pesuite bench gnn`: training throughput (graphs/s) of GraphGPS-style models.

Same models, sizes and synthetic data as experiments/src/cli/bench_gnn.cpp, so the two numbers
compare one to one:

  gps  + lap : GPSConv (local GINEConv, 4-head attention, batch norm), LapPE DeepSet encoder over
               k = 8 (eigenvector, eigenvalue) pairs with random sign flips (GraphGPS LapPE)
  gine + rwse: GINEConv + BatchNorm + ReLU + residual blocks, RWSE encoder BatchNorm1d(20) + Linear

hidden 64, 10 layers (GraphGPS ZINC), pe_dim 16, sum pooling, head Linear-ReLU-Linear, L1 loss,
Adam (fused on CUDA). Node input: one-hot of 28 atom types -> Linear(28, hidden - pe_dim) and the
encoder's 16 channels concatenated; edges: one-hot of 4 bond types -> Linear(4, hidden).

Data: a stream of ZINC-sized molecules (18..28 atoms, mean 23; a random tree plus 3 ring closures,
so 2 (n + 2) directed edges, about 50), fixed seed, cut into batches of --batch graphs that are
moved to the device once, before timing. The encodings are precomputed (not timed). Timing covers
forward, backward and the optimiser step; the loss is read on the host once, at the end.

  python3 scripts/reference/bench_gnn_pyg.py --model gps --encoder lap --device cuda --batch 128
  -> {"bench": "gnn", "impl": "pyg", "model": "gps", ..., "graphs_per_s": ...}

Needs PyTorch 2.x and torch_geometric (nothing else).
"""
import argparse
import json
import time

import numpy as np
import torch
from torch import nn
import torch_geometric
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GINEConv, GPSConv, global_add_pool

ATOM_TYPES, BOND_TYPES = 28, 4


def synth_graph(rng):
    n = int(rng.integers(18, 29))
    edges = set()
    for v in range(1, n):  # random tree
        p = int(rng.integers(0, v))
        edges.add((p, v))
    while len(edges) < n - 1 + 3:  # 3 ring closures
        a, b = (int(t) for t in rng.integers(0, n, 2))
        if a != b:
            edges.add((min(a, b), max(a, b)))
    und = np.array(sorted(edges), dtype=np.int64).T
    bond = rng.integers(0, BOND_TYPES, und.shape[1])
    edge_index = np.concatenate([und, und[::-1]], axis=1)
    bond = np.concatenate([bond, bond])
    atom = rng.integers(0, ATOM_TYPES, n)
    return n, edge_index, atom, bond, float(rng.normal())


def lap_pe(n, edge_index, k):
    a = np.zeros((n, n))
    a[edge_index[0], edge_index[1]] = 1.0
    d = a.sum(1)
    dinv = np.where(d > 0, d ** -0.5, 0.0)
    lap = np.eye(n) - dinv[:, None] * a * dinv[None, :]
    val, vec = np.linalg.eigh(lap)
    vec, val = vec[:, :k], np.clip(val[:k], 0, None)
    mask = np.ones((n, k))
    if vec.shape[1] < k:  # pad (not reached for n >= 18, kept for other sizes)
        pad = k - vec.shape[1]
        vec = np.pad(vec, ((0, 0), (0, pad)))
        mask[:, -pad:] = 0
        val = np.pad(val, (0, pad))
    return vec, np.tile(val, (n, 1)), mask


def rwse(n, edge_index, steps):
    a = np.zeros((n, n))
    a[edge_index[0], edge_index[1]] = 1.0
    d = a.sum(1)
    p = a / np.where(d > 0, d, 1.0)[:, None]
    out, m = [], np.eye(n)
    for _ in range(steps):
        m = m @ p
        out.append(np.diag(m))
    return np.stack(out, 1)


def make_data(rng, encoder):
    n, ei, atom, bond, y = synth_graph(rng)
    data = Data(
        x=torch.nn.functional.one_hot(torch.from_numpy(atom), ATOM_TYPES).float(),
        edge_index=torch.from_numpy(ei),
        edge_attr=torch.nn.functional.one_hot(torch.from_numpy(bond), BOND_TYPES).float(),
        y=torch.tensor([y], dtype=torch.float32),
    )
    if encoder == "lap":
        vec, val, mask = lap_pe(n, ei, 8)
        data.lap = torch.from_numpy(vec).float()
        data.lap_eigval = torch.from_numpy(val).float()
        data.lap_mask = torch.from_numpy(mask).float()
    else:
        data.rwse = torch.from_numpy(rwse(n, ei, 20)).float()
    return data


class LapPE(nn.Module):
    """GraphGPS LapPE, DeepSet variant: per frequency [v, lambda] -> MLP -> masked sum."""

    def __init__(self, dim):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU())

    def forward(self, b):
        v = b.lap
        if self.training:
            v = v * (torch.randint(0, 2, (v.size(1),), device=v.device) * 2 - 1)
        y = self.net(torch.stack([v, b.lap_eigval], -1)) * b.lap_mask.unsqueeze(-1)
        return y.sum(1)


class RWSE(nn.Module):
    def __init__(self, steps, dim):
        super().__init__()
        self.norm, self.lin = nn.BatchNorm1d(steps), nn.Linear(steps, dim)

    def forward(self, b):
        return self.lin(self.norm(b.rwse))


def gin_nn(h):
    return nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h))


class Model(nn.Module):
    def __init__(self, model, encoder, hidden, layers, heads, pe_dim):
        super().__init__()
        self.model = model
        self.pe = LapPE(pe_dim) if encoder == "lap" else RWSE(20, pe_dim)
        self.node_in = nn.Linear(ATOM_TYPES, hidden - pe_dim)
        self.edge_in = nn.Linear(BOND_TYPES, hidden)
        if model == "gps":
            self.layers = nn.ModuleList(
                GPSConv(hidden, GINEConv(gin_nn(hidden), edge_dim=hidden), heads=heads, norm="batch_norm")
                for _ in range(layers))
        else:
            self.layers = nn.ModuleList(GINEConv(gin_nn(hidden), edge_dim=hidden) for _ in range(layers))
            self.norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, b):
        h = torch.cat([self.node_in(b.x), self.pe(b)], 1)
        e = self.edge_in(b.edge_attr)
        if self.model == "gps":
            for layer in self.layers:
                h = layer(h, b.edge_index, b.batch, edge_attr=e)
        else:
            for conv, norm in zip(self.layers, self.norms):
                h = h + torch.relu(norm(conv(h, b.edge_index, e)))
        return self.head(global_add_pool(h, b.batch, size=b.num_graphs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gps", choices=["gps", "gine"])
    ap.add_argument("--encoder", default=None, choices=["lap", "rwse"], help="default: lap for gps, rwse for gine")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--pe-dim", type=int, default=16)
    ap.add_argument("--batches", type=int, default=20, help="distinct batches in the stream (cycled)")
    ap.add_argument("--steps", type=int, default=100, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3, help="timed blocks of --steps steps; the median is reported")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", default="", help="also trace 10 steps (after timing) to this Chrome-trace JSON")
    a = ap.parse_args()
    encoder = a.encoder or ("lap" if a.model == "gps" else "rwse")
    dev = torch.device(a.device)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    graphs = [make_data(rng, encoder) for _ in range(a.batches * a.batch)]
    stream = [Batch.from_data_list(graphs[i * a.batch:(i + 1) * a.batch]).to(dev) for i in range(a.batches)]
    nodes = sum(b.num_nodes for b in stream) / (a.batches * a.batch)
    edges = sum(b.num_edges for b in stream) / (a.batches * a.batch)

    model = Model(a.model, encoder, a.hidden, a.layers, a.heads, a.pe_dim).to(dev).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=dev.type == "cuda")
    total = torch.zeros((), device=dev)

    def step(i):
        nonlocal total
        b = stream[i % len(stream)]
        opt.zero_grad(set_to_none=True)
        loss = (model(b).squeeze(-1) - b.y).abs().mean()
        loss.backward()
        opt.step()
        total = total + loss.detach()

    for i in range(a.warmup):
        step(i)
    # --repeats blocks of --steps steps, the median block reported (as bench_gnn.cpp).
    blocks, done = [], a.warmup
    for _ in range(a.repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step(done)
            done += 1
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        blocks.append(time.perf_counter() - t0)
    sec = sorted(blocks)[len(blocks) // 2]
    if a.profile:  # as `pesuite bench gnn --profile`
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for i in range(10):
                step(i)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
        prof.export_chrome_trace(a.profile)
    print(json.dumps({
        "bench": "gnn", "impl": "pyg", "model": a.model, "encoder": encoder, "device": str(dev),
        "batch": a.batch, "hidden": a.hidden, "layers": a.layers, "heads": a.heads, "pe_dim": a.pe_dim,
        "steps": a.steps, "nodes_per_graph": round(nodes, 2), "edges_per_graph": round(edges, 2),
        "ms_per_step": 1e3 * sec / a.steps, "graphs_per_s": a.steps * a.batch / sec,
        "mean_loss": total.item() / done, "repeats": a.repeats, "block_s": blocks,
        "torch": torch.__version__, "torch_geometric": torch_geometric.__version__,
    }))


if __name__ == "__main__":
    main()
