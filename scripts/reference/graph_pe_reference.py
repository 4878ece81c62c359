#!/usr/bin/python3
"""Reference LapPE / RWSE computed the way GraphGPS and PyG do, for `pesuite bench graph-pe --reference`.

Reads the graphs the bench wrote (safetensors: edge_index int64 [2, E] with both directions of each
undirected edge, node_ptr int64 [G + 1], edge_ptr int64 [G + 1]) and times, per graph, what a PyG
transform does from a Data object's edge_index (graphs are split into per-graph edge_index arrays, or
Data objects, before the clock starts; a PyG dataset holds them that way too):

--impl pyg    the real transforms: torch_geometric.transforms.AddLaplacianEigenvectorPE(k,
              attr_name=None, is_undirected=True) and AddRandomWalkPE(walk_length=steps,
              attr_name=None), each called once per graph on its own Data(edge_index, num_nodes).
              PyG drops the trivial pair (its columns are our pairs 1..k) and flips signs at random;
              the check below is sign- and basis-free. PyG works in float32.
--impl numpy  the same computation written with numpy/scipy only (Debian's /usr/bin/python3):
  lap   PyG get_laplacian(sym) on the edge_index (self loops removed, deg = bincount, weights
        -D^-1/2 A D^-1/2, identity added, so isolated nodes have L_ii = 1), to_scipy_sparse_matrix,
        dense numpy.linalg.eigh (PyG: eigh for is_undirected) per graph, as GraphGPS
        get_lap_decomp_stats: first k pairs including lambda = 0, eigenvalues clamped >= 0, vectors
        L2-normalised. Graphs above --dense-max nodes use PyG's sparse path:
        scipy.sparse.linalg.eigsh(L, k + 1, which='SA').
  rwse  PyG AddRandomWalkPE / GraphGPS get_rw_landing_probs: P = D^-1 A (deg clamped >= 1),
        adj[row, col] = 1 / deg[row], diag(P^t) for t = 1..steps by repeated dense products up to
        --dense-max nodes (PyG switches at 2000), sparse CSR products above.
--impl auto   pyg when torch_geometric imports, numpy otherwise (the JSON's "impl" says which ran).

With --compare ours.safetensors it checks pesuite's values: eigenvalues to 1e-6 (pyg: the Rayleigh
quotients of PyG's vectors), eigenvectors up to sign / basis (each vector must lie in the other side's
eigenspace of its eigenvalue), RWSE to 1e-6 (float64) or 1e-5 (PyG, float32). Prints one JSON object
(timings in seconds, maximum errors, impl).

PyG and ENZYMES (why --impl pyg once printed MISMATCH, eigenvalue difference 1.0, while numpy agreed
to 6e-8): PyG's transform is not always a valid answer. AddLaplacianEigenvectorPE builds L in float32
(get_laplacian's unit edge weights) and, at 100 nodes and above, asks ARPACK for the k + 1 smallest
pairs (eigsh(L, k + 1, which='SA')). ENZYMES graph 37 has exactly 100 nodes, 72 of them isolated, in
84 components: the sym-Laplacian has eigenvalue 0 twelve times (one per component of >= 2 nodes) and
eigenvalue 1 seventy-two times (an isolated node's row is the identity's, PyG's convention and ours).
Lanczos sees one direction per distinct eigenvalue from each start vector, so a 12-fold 0 is found
only through restarts, and in float32 ARPACK sometimes stops with an isolated-node vector
(eigenvalue 1) in place of a missing zero vector: reproduced here with scipy 1.10's eigsh on that
float32 L, 22 of 200 calls returned one (as the last of the 9 columns, which the old comparison
happened to skip) and 7 raised ARPACK error 3; the GPU machine's scipy / ARPACK presumably returned
one in an earlier column (PyG itself cannot run here, so that last step is inferred). Our 12 zeros
match numpy's float64 eigh and Eigen's full solver: ours is right, PyG's answer is not. ENZYMES has
no asymmetric edge lists and no self loops; its 10 graphs with n <= k are handled below by a
transform with k = n - 1; isolated nodes (106, in 8 graphs) get L_ii = 1 on both sides.
So in pyg mode every graph is first checked against the float64 spectrum (numpy eigh of the same L):
where PyG's own vectors are not eigenvectors of the k + 1 smallest eigenvalues (a column's Rayleigh
quotient off the sorted spectrum by more than 1e-4), PyG's answer for that graph is excluded from the
comparison, ours is checked against the float64 eigh instead (values and eigenspaces), and the JSON
lists the graphs excluded and why ("pyg_excluded"; the bench prints them).
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


def edge_lists(tensors):
    """Per-graph (num_nodes, edge_index) with local ids: what a PyG Data object holds."""
    ei, nptr, eptr = tensors["edge_index"], tensors["node_ptr"], tensors["edge_ptr"]
    out = []
    for g in range(len(nptr) - 1):
        n0, n1, e0, e1 = int(nptr[g]), int(nptr[g + 1]), int(eptr[g]), int(eptr[g + 1])
        out.append((n1 - n0, np.ascontiguousarray(ei[:, e0:e1] - n0)))
    return out


def sym_laplacian(n, ei):
    """PyG get_laplacian(normalization='sym') + to_scipy_sparse_matrix, in numpy."""
    row, col = ei[0], ei[1]
    keep = row != col  # remove_self_loops
    row, col = row[keep], col[keep]
    w = np.ones(len(row))
    deg = np.bincount(row, weights=w, minlength=n)
    with np.errstate(divide="ignore"):
        dis = deg ** -0.5
    dis[np.isinf(dis)] = 0.0
    w = dis[row] * w * dis[col]
    ar = np.arange(n)
    return sp.coo_matrix((np.concatenate([-w, np.ones(n)]), (np.concatenate([row, ar]), np.concatenate([col, ar]))), shape=(n, n))


def lap_pe(n, ei, k, dense_max):
    L = sym_laplacian(n, ei)
    if n <= dense_max:
        vals, vecs = np.linalg.eigh(L.toarray())
    else:
        vals, vecs = spla.eigsh(L.tocsr(), k=min(k + 1, n - 1), which="SA", return_eigenvectors=True)
        order = np.argsort(vals)
        vals, vecs = vals[order], vecs[:, order]
    vals = np.clip(np.real(vals), 0, None)
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=0, keepdims=True), 1e-12)
    return vals, vecs


def rwse(n, ei, steps, dense_max):
    row, col = ei[0], ei[1]
    value = 1.0 / np.maximum(np.bincount(row, minlength=n), 1)[row]
    out = np.zeros((n, steps))
    if n <= dense_max:
        adj = np.zeros((n, n))
        adj[row, col] = value
        Pk = adj
        out[:, 0] = np.diag(Pk)
        for t in range(1, steps):
            Pk = Pk @ adj
            out[:, t] = np.diag(Pk)
    else:
        adj = sp.csr_matrix((value, (row, col)), shape=(n, n))
        Pk = adj
        out[:, 0] = Pk.diagonal()
        for t in range(1, steps):
            Pk = Pk @ adj
            out[:, t] = Pk.diagonal()
    return out


def have_pyg():
    try:
        import torch  # noqa: F401
        import torch_geometric  # noqa: F401
        return True
    except Exception:
        return False


def run_pyg(gl, k, steps, skip_rwse):
    import torch
    from torch_geometric.data import Data
    from torch_geometric.transforms import AddLaplacianEigenvectorPE, AddRandomWalkPE
    import torch_geometric

    res = {"impl": "pyg", "pyg_version": torch_geometric.__version__, "torch_version": torch.__version__}
    # PyG's transform needs k < num_nodes (its random-sign vector has k entries); smaller graphs get
    # a transform with k = n - 1, made before the clock starts, as a user would have to.
    lap_t = {}
    for n, _ in gl:
        kk = k if n > k else max(n - 1, 0)
        if kk not in lap_t:
            lap_t[kk] = AddLaplacianEigenvectorPE(kk, attr_name=None, is_undirected=True)
    tf = [lap_t[k if n > k else max(n - 1, 0)] for n, _ in gl]
    data = [Data(edge_index=torch.from_numpy(ei), num_nodes=n) for n, ei in gl]
    t0 = time.perf_counter()
    data = [t(d) for t, d in zip(tf, data)]
    res["lap_seconds"] = time.perf_counter() - t0
    laps = [d.x.double().numpy() if d.x is not None else np.zeros((n, 0)) for d, (n, _) in zip(data, gl)]
    rws = None
    if not skip_rwse:
        rw_t = AddRandomWalkPE(walk_length=steps, attr_name=None)
        data = [Data(edge_index=torch.from_numpy(ei), num_nodes=n) for n, ei in gl]
        t0 = time.perf_counter()
        data = [rw_t(d) for d in data]
        res["rwse_seconds"] = time.perf_counter() - t0
        rws = [d.x.double().numpy() for d in data]
    return res, laps, rws


def in_span(v, U):
    v = v / max(np.linalg.norm(v), 1e-30)
    return float(np.linalg.norm(v - U @ (U.T @ v))) if U.shape[1] else 1.0


def compare(gl, ours, impl, laps, pyg_laps, rws):
    """pesuite's values (ours) against the reference's: maximum errors, tolerances, PyG exclusions."""
    nptr = ours["node_ptr"]
    ev_err = vec_err = rw_err = 0.0
    excluded = []
    for g, (n, ei) in enumerate(gl):
        s, e = nptr[g], nptr[g + 1]
        mask = ours["lap.mask"][s] > 0 if e > s else np.zeros(0, bool)
        ov = ours["lap.eigval"][s][mask].astype(np.float64) if e > s else np.zeros(0)
        V = ours["lap"][s:e][:, mask].astype(np.float64)
        if impl == "numpy":
            vals, vecs = laps[g]
            for j, lam in enumerate(ov):
                ev_err = max(ev_err, abs(lam - vals[j]))
                # Reference eigenspace of lam (the whole cluster, also past column k).
                cl = np.abs(vals - lam) <= 1e-6 * max(1.0, abs(lam)) + 1e-7
                vec_err = max(vec_err, in_span(V[:, j], vecs[:, cl]))
        else:
            # PyG's column j is our pair j + 1. Its Rayleigh quotient must match our eigenvalue and
            # it must lie in our eigenspace of that eigenvalue (when the cluster is inside our k).
            P = pyg_laps[g]
            Ld = sym_laplacian(n, ei).toarray()
            truth, tvecs = np.linalg.eigh(Ld) if n else (np.zeros(0), np.zeros((0, 0)))
            # Is PyG's answer valid (see the module note)? Column j must be an eigenvector of the
            # (j + 1)-th smallest eigenvalue; if not, compare ours with the float64 spectrum.
            rq = []
            for j in range(P.shape[1]):
                u = P[:, j] / max(np.linalg.norm(P[:, j]), 1e-30)
                rq.append(float(u @ Ld @ u))
            wrong = [j for j, r in enumerate(rq) if j + 1 < len(truth) and abs(r - truth[j + 1]) > 1e-4]
            if wrong:
                j = wrong[0]
                excluded.append({"graph": g, "nodes": n, "column": j, "pyg_rayleigh_quotient": round(rq[j], 6),
                                 "eigenvalue": round(float(truth[j + 1]), 6),
                                 "reason": "PyG's vector is not an eigenvector of the (k+1) smallest (sparse eigsh, n >= 100)"
                                 if n >= 100 else "PyG's vector is not an eigenvector of the (k+1) smallest"})
                for j2, lam in enumerate(ov):
                    ev_err = max(ev_err, abs(lam - truth[j2]))
                    cl = np.abs(truth - lam) <= 1e-6 * max(1.0, abs(lam)) + 1e-7
                    vec_err = max(vec_err, in_span(V[:, j2], tvecs[:, cl]))
                continue
            for j in range(min(P.shape[1], len(ov) - 1)):
                u = P[:, j] / max(np.linalg.norm(P[:, j]), 1e-30)
                lam = ov[j + 1]
                ev_err = max(ev_err, abs(float(u @ Ld @ u) - lam))
                cl = np.abs(ov - lam) <= 1e-5 * max(1.0, abs(lam)) + 1e-6
                if cl[-1] and len(ov) < n:  # cluster may continue past our k: skip
                    continue
                vec_err = max(vec_err, in_span(u, V[:, cl]))
        if rws is not None and "rwse" in ours:
            rw_err = max(rw_err, float(np.max(np.abs(ours["rwse"][s:e].astype(np.float64) - rws[g]), initial=0.0)))
    # float32 storage bounds what can be checked: eigenvalues of magnitude <= 2 lose ~1e-7.
    res = dict(max_eigval_err=ev_err, max_eigvec_err=vec_err, max_rwse_err=rw_err,
               tol_eigval=1e-6 if impl == "numpy" else 1e-5, tol_eigvec=1e-4 if impl == "numpy" else 1e-3,
               tol_rwse=1e-6 if impl == "numpy" else 1e-5)
    if impl == "pyg":
        res["pyg_excluded"] = excluded
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graphs", required=True)
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--dense-max", type=int, default=2000)
    ap.add_argument("--skip-rwse", action="store_true")
    ap.add_argument("--impl", choices=["auto", "pyg", "numpy"], default="numpy")
    ap.add_argument("--pyg", action="store_true", help="same as --impl pyg")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs, best kept (the bench uses the same count for ours)")
    ap.add_argument("--compare", help="pesuite output (lap, lap.eigval, lap.mask, rwse)")
    args = ap.parse_args()
    impl = "pyg" if args.pyg else args.impl
    if impl == "auto":
        impl = "pyg" if have_pyg() else "numpy"
    if impl == "pyg" and not have_pyg():
        sys.exit("graph_pe_reference.py: --impl pyg needs torch and torch_geometric")
    gl = edge_lists(read_safetensors(args.graphs))

    reps = max(1, args.repeat) if len(gl) > 1 else 1
    best = {}
    for _ in range(reps):
        if impl == "pyg":
            res, pyg_laps, rws = run_pyg(gl, args.k, args.steps, args.skip_rwse)
        else:
            res = {"impl": "numpy"}
            t0 = time.perf_counter()
            laps = [lap_pe(n, ei, args.k, args.dense_max) for n, ei in gl]
            res["lap_seconds"] = time.perf_counter() - t0
            rws = None
            if not args.skip_rwse:
                t0 = time.perf_counter()
                rws = [rwse(n, ei, args.steps, args.dense_max) for n, ei in gl]
                res["rwse_seconds"] = time.perf_counter() - t0
        for key in ("lap_seconds", "rwse_seconds"):
            if key in res:
                best[key] = min(best.get(key, float("inf")), res[key])
    res.update(best)
    res["repeat"] = reps
    res["graphs"] = len(gl)

    if args.compare:
        res.update(compare(gl, read_safetensors(args.compare), impl, laps if impl == "numpy" else None,
                           pyg_laps if impl == "pyg" else None, rws))
    json.dump(res, sys.stdout)
    print()


if __name__ == "__main__":
    main()
