#!/usr/bin/python3
"""Reference LapPE / RWSE computed the way GraphGPS and PyG do, for `pesuite bench graph-pe --reference`.

Needs only Debian's numpy and scipy (run with /usr/bin/python3). Reads the graphs the bench wrote
(safetensors: edge_index int64 [2, E] with both directions of each undirected edge, node_ptr int64
[G + 1], edge_ptr int64 [G + 1]), computes

  lap   GraphGPS posenc_stats.get_lap_decomp_stats: L = PyG get_laplacian(sym) (I - D^-1/2 A D^-1/2,
        self loops of weight 1 on every node, so isolated nodes have L_ii = 1), dense numpy.linalg.eigh
        per graph, first k pairs including lambda = 0, eigenvalues clamped >= 0, vectors L2-normalised.
        Graphs above --dense-max nodes use PyG's AddLaplacianEigenvectorPE path instead:
        scipy.sparse.linalg.eigsh(L, k + 1, which='SA').
  rwse  GraphGPS get_rw_landing_probs: P = D^-1 A (deg^-1 = 0 for isolated nodes), diag(P^t) for
        t = 1..steps by repeated dense products; sparse products above --dense-max nodes (PyG's
        AddRandomWalkPE switches at 2000 nodes).

and, with --compare ours.safetensors, checks pesuite's values: eigenvalues to 1e-6, eigenvectors up
to sign / basis (each of our vectors must lie in the reference eigenspace of its eigenvalue), RWSE to
1e-6. Prints one JSON object (timings in seconds, graphs/s, maximum errors).
"""
import argparse
import json
import struct
import sys
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def graphs(tensors):
    ei, nptr, eptr = tensors["edge_index"], tensors["node_ptr"], tensors["edge_ptr"]
    for g in range(len(nptr) - 1):
        n0, n1, e0, e1 = nptr[g], nptr[g + 1], eptr[g], eptr[g + 1]
        n = int(n1 - n0)
        row, col = ei[0, e0:e1] - n0, ei[1, e0:e1] - n0
        a = sp.coo_matrix((np.ones(len(row)), (row, col)), shape=(n, n)).tocsr()
        a.setdiag(0)  # PyG get_laplacian removes self loops
        a.eliminate_zeros()
        yield a


def sym_laplacian(a):
    n = a.shape[0]
    deg = np.asarray(a.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        dis = 1.0 / np.sqrt(deg)
    dis[np.isinf(dis)] = 0.0
    d = sp.diags(dis)
    return (sp.identity(n, format="csr") - d @ a @ d).tocsr()


def lap_pe(a, k, dense_max):
    n = a.shape[0]
    L = sym_laplacian(a)
    if n <= dense_max:
        vals, vecs = np.linalg.eigh(L.toarray())
    else:
        vals, vecs = spla.eigsh(L, k=min(k + 1, n - 1), which="SA", return_eigenvectors=True)
        order = np.argsort(vals)
        vals, vecs = vals[order], vecs[:, order]
    vals = np.clip(np.real(vals), 0, None)
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=0, keepdims=True), 1e-12)
    return vals, vecs


def rwse(a, steps, dense_max):
    n = a.shape[0]
    deg = np.asarray(a.sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        inv = 1.0 / deg
    inv[np.isinf(inv)] = 0.0
    out = np.zeros((n, steps))
    if n <= dense_max:
        P = inv[:, None] * a.toarray()
        Pk = P.copy()
        for t in range(steps):
            out[:, t] = np.diag(Pk)
            Pk = Pk @ P
    else:
        P = sp.diags(inv) @ a
        Pk = P.copy()
        for t in range(steps):
            out[:, t] = Pk.diagonal()
            Pk = Pk @ P
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graphs", required=True)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dense-max", type=int, default=2000)
    ap.add_argument("--skip-rwse", action="store_true")
    ap.add_argument("--compare", help="pesuite output (lap, lap.eigval, lap.mask, rwse)")
    args = ap.parse_args()
    gs = list(graphs(read_safetensors(args.graphs)))
    res = {"graphs": len(gs)}

    t0 = time.perf_counter()
    laps = [lap_pe(a, args.k, args.dense_max) for a in gs]
    res["lap_seconds"] = time.perf_counter() - t0
    if not args.skip_rwse:
        t0 = time.perf_counter()
        rws = [rwse(a, args.steps, args.dense_max) for a in gs]
        res["rwse_seconds"] = time.perf_counter() - t0

    if args.compare:
        ours = read_safetensors(args.compare)
        nptr = ours["node_ptr"]
        ev_err = vec_err = rw_err = 0.0
        for g, (vals, vecs) in enumerate(laps):
            s, e = nptr[g], nptr[g + 1]
            mask = ours["lap.mask"][s] > 0 if e > s else np.zeros(0, bool)
            ov = ours["lap.eigval"][s][mask].astype(np.float64) if e > s else np.zeros(0)
            V = ours["lap"][s:e][:, mask].astype(np.float64)
            for j, lam in enumerate(ov):
                ev_err = max(ev_err, abs(lam - vals[j]))
                # Reference eigenspace of lam (the whole cluster, also past column k).
                cl = np.abs(vals - lam) <= 1e-6 * max(1.0, abs(lam)) + 1e-7
                U = vecs[:, cl]
                if U.shape[1] == 0:
                    vec_err = max(vec_err, 1.0)
                    continue
                v = V[:, j] / max(np.linalg.norm(V[:, j]), 1e-30)
                vec_err = max(vec_err, float(np.linalg.norm(v - U @ (U.T @ v))))
            if not args.skip_rwse and "rwse" in ours:
                rw_err = max(rw_err, float(np.max(np.abs(ours["rwse"][s:e].astype(np.float64) - rws[g]), initial=0.0)))
        # float32 storage bounds what can be checked: eigenvalues of magnitude <= 2 lose ~1e-7.
        res.update(max_eigval_err=ev_err, max_eigvec_err=vec_err, max_rwse_err=rw_err)
    json.dump(res, sys.stdout)
    print()


if __name__ == "__main__":
    main()
