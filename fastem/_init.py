"""Initial parameters, computed in passes over chunks like EM itself, never needing the
whole data in one array: scikit-learn's four methods, with fastem's own k-means.

Every method runs against the engine's data backend (the same code for a local source
and a Dask array): it gives responsibilities chunk by chunk and takes the Stats under
them (around each component's own centre, its k-means centre or seed row, so that a
component far from the others loses no precision; 'random' and 'tied' around the mean
of the first CENTER_ROWS rows), then an M-step whose weights are nk / total weight, as
scikit-learn does. 'kmeans' labels rows by fastem's Lloyd iterations: k-means++ and
Lloyd on a sample of at most SEED_SAMPLE rows, SAMPLE_RESTARTS times, then Lloyd passes
over all the data from the best; 'k-means++' and 'random_from_data' give each component one seed row;
'random' draws uniform responsibilities from the same random stream as scikit-learn.
Seed-row methods give each component covariance reg_covar I; for 'tied' this differs
from scikit-learn, whose tied estimate from seed rows, (X^T X - sum_k mu_k mu_k^T) / K,
depends on the origin of the data.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import _kernels as K
from ._engine import FeatureMeans, LloydSums, Params, RespSpec, RespStats, fill_missing, m_step, reduce_chunks

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")
SEED_SAMPLE = 100_000  # rows k-means++ seeding looks at, drawn uniformly from the data
SAMPLE_RESTARTS = 4  # k-means++ and Lloyd runs on the sample; the lowest inertia starts the full passes
LLOYD_MAX_ITER = 100
LLOYD_TOL = 1e-4  # relative to the mean feature variance, as scikit-learn's KMeans


PERMUTATION_LIMIT = 10_000_000  # above this many rows, never permute them all to draw a few


def choose_rows(rng: np.random.RandomState, n: int, size: int) -> np.ndarray:
    """size distinct indices of range(n), uniformly at random. Where n <= PERMUTATION_LIMIT,
    scikit-learn's draw (rng.choice without replacement, which permutes all n); above,
    Floyd's algorithm, whose memory is O(size) (a permutation of 469 million rows would
    take 3.8 GB)."""
    if n <= PERMUTATION_LIMIT:
        return rng.choice(n, size=size, replace=False)
    chosen: set[int] = set()
    for j in range(n - size, n):
        t = int(rng.randint(0, j + 1))
        chosen.add(j if t in chosen else t)
    return rng.permutation(np.fromiter(chosen, dtype=np.int64, count=size))


def kmeans_plusplus(
    rows: np.ndarray, n_clusters: int, rng: np.random.RandomState, weight: np.ndarray
) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur and Vassilvitskii 2007, with 2 + log K local
    trials as scikit-learn): indices into rows (m, D) of n_clusters seeds."""
    centred = rows - np.average(rows, axis=0, weights=weight)  # distances lose no precision to offsets
    sq_norms = np.einsum("ij,ij->i", centred, centred)

    def sq_dist(i: np.ndarray) -> np.ndarray:  # (len(i), m)
        return np.maximum(sq_norms[i][:, None] + sq_norms[None, :] - 2.0 * centred[i] @ centred.T, 0.0)

    n_trials = 2 + int(np.log(n_clusters))
    seeds = np.empty(n_clusters, dtype=np.int64)
    seeds[0] = rng.choice(rows.shape[0], p=weight / weight.sum())
    closest = sq_dist(seeds[:1])[0]
    for c in range(1, n_clusters):
        potential = closest * weight
        total = potential.sum()
        if total <= 0.0:  # every row sits on a seed already: take any row
            seeds[c] = rng.randint(rows.shape[0])
            continue
        candidates = np.searchsorted(np.cumsum(potential), rng.uniform(size=n_trials) * total)
        candidates = np.minimum(candidates, rows.shape[0] - 1)
        trial = np.minimum(closest, sq_dist(candidates))
        best = int(np.argmin(trial @ weight))
        seeds[c] = candidates[best]
        closest = trial[best]
    return seeds


def lloyd(sums_of: Callable[[np.ndarray], tuple], centers: np.ndarray, tol: float,
          max_iter: int = LLOYD_MAX_ITER) -> np.ndarray:
    """Lloyd iterations from centers (K, D) until the summed squared movement of the
    centres is at most tol (an empty cluster keeps its centre). sums_of(centers) is one
    LloydSums pass: (weighted counts (K,), sums of x - centre (K, D))."""
    centers = np.array(centers, dtype=np.float64)
    for _ in range(max_iter):
        counts, sums = sums_of(centers)
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1e-300)[:, None], 0.0)
        centers = centers + moved
        if np.sum(moved**2) <= tol:
            break
    return centers


def best_sample_centers(rows, weight, seeds, n_clusters, rng, tol) -> np.ndarray:
    """The centres of the lowest-inertia k-means run on the in-memory sample rows, over
    SAMPLE_RESTARTS runs (the first from seeds, the others from new k-means++ seeds):
    one unlucky seeding no longer decides the local optimum the full passes refine. A
    later run that finds the same clusters under other names does not replace an earlier
    one, whatever the last bits of its inertia (scikit-learn's KMeans does the same): the
    order of the components would otherwise hang on rounding, and data scaled by 1e150
    came out with its two components swapped."""
    best, best_inertia, best_labels = None, np.inf, None
    for run in range(SAMPLE_RESTARTS):
        start = rows[seeds if run == 0 else kmeans_plusplus(rows, n_clusters, rng, weight)]
        centers = lloyd(lambda c: reduce_chunks(LloydSums, (c, None), [(0, rows, weight)]), start, tol)
        labels = np.empty(rows.shape[0], dtype=np.int64)
        inertia = K.lloyd_accumulate(rows, weight, centers, np.zeros(n_clusters), np.zeros_like(centers), labels)
        # the first run stands even if overflow made its inertia NaN
        if best is None or (inertia < best_inertia and not same_clustering(labels, best_labels)):
            best, best_inertia, best_labels = centers, inertia, labels
    return best


def same_clustering(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labellings (n,) split the rows alike, up to the clusters' names."""
    pairs = np.unique(np.stack([a, b]), axis=1).shape[1]
    return pairs == np.unique(a).size == np.unique(b).size


def random_states(rng: np.random.RandomState, piece_starts, n_samples: int, n_components: int) -> dict:
    """{piece start: rng's state when its uniform draws for that row begin}, for
    responsibilities drawn in row order as scikit-learn's one (n_samples, K) draw; rng
    ends where that draw leaves it. The draws between pieces are made here and thrown
    away, in bounded batches."""
    states, at = {}, 0
    for start in (*piece_starts, n_samples):
        todo = (start - at) * n_components
        while todo > 0:
            step = min(todo, 1 << 20)
            rng.random_sample(step)
            todo -= step
        at = start
        if start < n_samples:
            states[int(start)] = rng.get_state()
    return states


CENTER_ROWS = 4096  # the initial statistics are taken around the mean of the first rows


def initial_params(
    method: str,
    backend,
    *,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
    rng: np.random.RandomState,
) -> Params:
    """Params from one of INIT_METHODS over the backend's data, consuming rng as
    scikit-learn does where it can. Where NaN entries are missing values
    (backend.marginalize), every step sees each of them as its feature's observed mean (one
    more pass finds those)."""
    n_samples = backend.n_samples
    fill = observed_means(backend)[0] if backend.marginalize else None
    center = fill_missing(backend.head(CENTER_ROWS), fill).mean(axis=0)
    shift = None  # each component's own centre where the method gives one
    if method == "random":
        how, data = "random", random_states(rng, backend.piece_starts, n_samples, n_components)
    elif method == "random_from_data":
        how, data = "seeds", choose_rows(rng, n_samples, n_components)
        order = np.argsort(data)
        rows, _ = backend.rows(data[order])
        rows = fill_missing(rows, fill)
        shift = np.empty_like(rows)
        shift[order] = rows
    else:
        index = np.arange(n_samples) if n_samples <= SEED_SAMPLE else np.sort(choose_rows(rng, n_samples,
                                                                                          SEED_SAMPLE))
        rows, weight = backend.rows(index)
        rows = fill_missing(rows, fill)
        seeds = kmeans_plusplus(rows, n_components, rng, weight)
        if method == "k-means++":
            how, data, shift = "seeds", index[seeds], rows[seeds]
        else:
            tol = LLOYD_TOL * float(np.mean(np.var(rows, axis=0)))
            centers = best_sample_centers(rows, weight, seeds, n_components, rng, tol)
            how, data = "labels", lloyd(lambda c: backend.reduce(LloydSums, (c, fill), "k-means"), centers, tol)
            shift = data
    spec = RespSpec(covariance_type, n_components, center, backend.dtype, how, data, shift, fill)
    stats = backend.reduce(RespStats, spec, "initialisation")[0]
    eps = 10 * np.finfo(backend.dtype).eps
    return m_step(stats, covariance_type, reg_covar, eps, weights_over=stats.weight)


def observed_means(backend) -> tuple[np.ndarray, np.ndarray]:
    """One pass: (each feature's (weighted) mean over its observed entries (D,), the
    weight of its missing entries (D,)); a feature missing in every row is an error."""
    counts, sums, unseen = backend.reduce(FeatureMeans, backend.n_features, "observed means")
    empty = np.flatnonzero(counts <= 0)
    if empty.size:
        raise ValueError(f"{backend.name}: feature {int(empty[0])} is missing (NaN) in every row; drop the column")
    return sums / counts, unseen
