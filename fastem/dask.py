"""Distributed fits on Dask: the same kernels, the same model as a single-machine fit.

Each EM pass: the kernel parameters go to the workers once (scattered to every worker
with a distributed Client; one shared key of the graph with the default scheduler), each
block's statistics are computed on the worker that holds the block by the fused kernel,
a tree reduction adds them in a fixed order, and the M-step runs on the client. The data
never travels to the client: only statistics (a few KB per block) and, for the k-means
initialisation, a sample of at most 100,000 rows do.

Used by GaussianMixture.fit / predict / predict_proba / score_samples / score when X is
a dask.array.Array or a dask DataFrame (its numeric columns). Needs ``fastem[dask]``.
"""

from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._engine import FAMILY, KernelParams, Params, Stats, em_pass, m_step
from ._init import (
    LLOYD_MAX_ITER,
    LLOYD_TOL,
    SEED_SAMPLE,
    best_sample_centers,
    choose_rows,
    kmeans_plusplus,
    nearest_center_resp,
    random_resp,
    seed_resp,
)
from ._threads import threads
from .sources import float_dtype


def as_dask_array(X):
    """A 2-D dask array of float32/float64 rows, one block per row chunk."""
    import dask.array as da
    import dask.dataframe as dd

    if isinstance(X, dd.DataFrame):
        X = X.select_dtypes("number").to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(f"expected a dask array or DataFrame, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got {X.ndim}-D")
    if np.dtype(X.dtype).kind not in "biuf":
        raise TypeError(f"X holds {X.dtype} data; fastem needs real numbers")
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    X = X.astype(float_dtype(X.dtype))
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def _client():
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def _worker_threads() -> int | None:
    """The threads of the Dask worker running this task (None outside a worker): the
    kernels use that many, so that worker processes sharing a machine do not each run
    Numba on every core."""
    try:
        from distributed import get_worker

        return get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        return None


def _offsets(X) -> list[int]:
    return list(np.cumsum((0, *X.chunks[0][:-1])))


PASS_ATTEMPTS = 3


def _compute_pass(value, client, build):
    """Compute the graph build(ref), in which every task reads value through ref: value is
    scattered once with a Client, a single key of the graph otherwise (never embedded in
    each task). It is scattered to one worker, from which the others fetch it as their
    tasks need it: a broadcast to all workers can wait forever when a worker dies during
    it (the scheduler retries the dead one: dask/distributed#5704; a CI run hung there).
    A scattered value has no recipe, so a worker lost at the wrong moment can take it
    with it and Dask cancels the pass ("lost dependencies"); the pass then runs again
    from a fresh scatter (it is deterministic: the same result)."""
    import dask

    if client is None:
        return build(dask.delayed(value, pure=True)).compute()
    from distributed.client import FutureCancelledError

    for attempt in range(PASS_ATTEMPTS):
        ref = client.scatter(value, hash=False)
        try:
            return client.compute(build(ref)).result()
        except FutureCancelledError:
            if attempt == PASS_ATTEMPTS - 1:
                raise


def _tree_sum(parts: list, add) -> object:
    """Pairwise reduction of delayed values with the delayed add, in a fixed order (so
    the rounding, and the model, is the same on every run)."""
    while len(parts) > 1:
        parts = [add(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


def _check_block(block, offset):
    bad = K.first_nonfinite(block)
    if bad >= 0:
        raise ValueError(f"the Dask array holds NaN or inf at row {offset + bad}")


def _block_stats(block, weight, offset, params):
    block = np.ascontiguousarray(block)
    _check_block(block, offset)
    with threads(_worker_threads()):
        stats = em_pass([block], params, weight)
    if stats.worst is not None and stats.worst[1] >= 0:
        stats.worst[1] += offset
    return stats


def _add_stats(a: Stats, b: Stats) -> Stats:
    worst = a.worst if b.worst is None or (a.worst is not None and a.worst[0] <= b.worst[0]) else b.worst
    return Stats(a.shift, a.s0 + b.s0, a.s1 + b.s1, a.s2 + b.s2, a.loglik + b.loglik, a.weight + b.weight,
                 a.n_rows + b.n_rows, worst)


def _weight_blocks(X, sample_weight):
    if sample_weight is None:
        return [None] * len(X.chunks[0])
    import dask.array as da

    w = da.asarray(sample_weight).astype(np.float64).rechunk((X.chunks[0],))
    return list(w.to_delayed().ravel())


def dask_e_step(X, sample_weight=None):
    """e_step for run_em: Stats of the dask array X under params, computed by workers."""
    import dask

    client = _client()
    blocks = list(X.to_delayed().ravel())
    weights = _weight_blocks(X, sample_weight)
    offsets = _offsets(X)
    stats_of = dask.delayed(_block_stats, pure=True)
    add = dask.delayed(_add_stats, pure=True)

    def e_step(params: Params) -> Stats:
        return _compute_pass(params, client, lambda ref: _tree_sum(
            [stats_of(b, w, o, ref) for b, w, o in zip(blocks, weights, offsets)], add))

    return e_step


def _block_lloyd(block, weight, centers):
    counts, sums = np.zeros(centers.shape[0]), np.zeros_like(centers)
    with threads(_worker_threads()):
        K.lloyd_accumulate(np.ascontiguousarray(block), np.empty(0) if weight is None else weight, centers, counts,
                           sums, np.empty(0, dtype=np.int64))
    return counts, sums


def _add_pairs(a, b):
    return a[0] + b[0], a[1] + b[1]


def _block_resp_stats(block, weight, offset, spec):
    """Stats of a block under the responsibilities spec describes (an init method)."""
    from ._engine import resp_pass

    method, covariance_type, center, n_components, payload = spec
    block = np.ascontiguousarray(block)
    _check_block(block, offset)
    if method == "labels":  # payload: k-means centres
        resp_of = nearest_center_resp(payload)
    elif method == "seeds":  # payload: global row index of each component's seed
        resp_of = seed_resp(payload, n_components)
    else:  # "random": payload: the seed of each block's generator, by the block's first row
        resp_of = random_resp(np.random.RandomState(payload[offset]), n_components)
    with threads(_worker_threads()):
        return resp_pass([block], covariance_type, center, lambda start, chunk: resp_of(offset, chunk),
                         n_components, weight)

def dask_initial_params(method, X, *, n_components, covariance_type, reg_covar, rng, sample_weight=None) -> Params:
    """Initial Params by method (as fastem._init), computed by the workers: k-means++
    seeds from a sample of at most SEED_SAMPLE rows, Lloyd passes over all blocks."""
    import dask

    client = _client()
    n_samples = X.shape[0]
    blocks = list(X.to_delayed().ravel())
    weights = _weight_blocks(X, sample_weight)
    offsets = _offsets(X)
    first = np.asarray(X[: min(n_samples, 4096)].compute(), dtype=np.float64)
    center = first.mean(axis=0)
    if method in ("kmeans", "k-means++"):
        index = np.arange(n_samples) if n_samples <= SEED_SAMPLE else np.sort(
            choose_rows(rng, n_samples, SEED_SAMPLE))
        rows = np.asarray(X[index].compute(), dtype=np.float64)
        w = np.ones(index.size) if sample_weight is None else np.asarray(sample_weight[index], dtype=np.float64)
        seeds = kmeans_plusplus(rows, n_components, rng, w)
        if method == "k-means++":
            spec = ("seeds", index[seeds])
        else:
            tol = LLOYD_TOL * float(np.mean(np.var(rows, axis=0)))
            centers = best_sample_centers(rows, w, seeds, n_components, rng, tol)
            step = dask.delayed(_block_lloyd, pure=True)
            add = dask.delayed(_add_pairs, pure=True)
            for _ in range(LLOYD_MAX_ITER):
                counts, sums = _compute_pass(centers, client, lambda ref: _tree_sum(
                    [step(b, w_, ref) for b, w_ in zip(blocks, weights)], add))
                moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1e-300)[:, None], 0.0)
                centers = centers + moved
                if np.sum(moved**2) <= tol:
                    break
            spec = ("labels", centers)
    elif method == "random_from_data":
        spec = ("seeds", choose_rows(rng, n_samples, n_components))
    else:
        spec = ("random", {o: int(rng.randint(2**31 - 1)) for o in offsets})
    task = dask.delayed(_block_resp_stats, pure=True)
    add = dask.delayed(_add_stats, pure=True)
    stats = _compute_pass((spec[0], covariance_type, center, n_components, spec[1]), client, lambda ref: _tree_sum(
        [task(b, w_, o, ref) for b, w_, o in zip(blocks, weights, offsets)], add))
    eps = 10 * np.finfo(X.dtype).eps
    return m_step(stats, covariance_type, reg_covar, eps, weights_over=stats.weight)


def _block_score(block, params, what):
    kp = KernelParams.from_params(params, block.dtype)
    block = np.ascontiguousarray(block)
    n = block.shape[0]
    log_density, labels = np.empty(n), np.empty(n, dtype=np.int64)
    resp = np.empty((n, kp.loc.shape[0]) if what == "proba" else (0, kp.loc.shape[0]))
    with threads(_worker_threads()):
        K.score(block, FAMILY[params.covariance_type], kp.loc, kp.center, kp.prec, kp.log_norm, log_density, labels, resp)
    return {"density": log_density, "labels": labels, "proba": resp}[what]


def dask_score(X, params: Params, what: str):
    """Lazy per-row results of a dask array: 'density' (n,), 'labels' (n,) or 'proba' (n, K)."""
    import dask

    shared = dask.delayed(params, pure=True)  # one key of the graph, read by every block
    if what == "proba":
        return X.map_blocks(_block_score, shared, what, dtype=np.float64,
                            chunks=(X.chunks[0], (params.weights.size,)))
    return X.map_blocks(_block_score, shared, what, drop_axis=1,
                        dtype=np.int64 if what == "labels" else np.float64)
