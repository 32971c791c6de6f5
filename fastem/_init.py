"""Initial parameters, computed in passes over chunks like EM itself, never needing the
whole data in one array: scikit-learn's four methods, with fastem's own k-means.

Every method yields responsibilities chunk by chunk and takes the Stats under them
(around the first chunk's mean), then an M-step whose weights are nk / total weight,
as scikit-learn does. 'kmeans' labels rows by fastem's Lloyd iterations: k-means++ and
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
from ._engine import Chunks, Params, chunk_weights, m_step, resp_pass

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


def sample_rows(
    chunks: Chunks, n_samples: int, size: int, rng: np.random.RandomState, sample_weight: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A uniform sample without replacement of min(size, n_samples) rows, in row order:
    (row indices, rows as float64 (m, D), their sample weights (m,))."""
    if n_samples <= size:
        index = np.arange(n_samples)
    else:
        index = np.sort(choose_rows(rng, n_samples, size))
    parts, start = [], 0
    for chunk in chunks:
        stop = start + chunk.shape[0]
        lo, hi = np.searchsorted(index, [start, stop])
        parts.append(np.asarray(chunk[index[lo:hi] - start], dtype=np.float64))
        start = stop
    weight = np.ones(index.size) if sample_weight is None else np.asarray(sample_weight[index], dtype=np.float64)
    return index, np.concatenate(parts), weight


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


def lloyd(
    chunks_of: Callable[[], Chunks],
    centers: np.ndarray,
    sample_weight: np.ndarray | None,
    tol: float,
    max_iter: int = LLOYD_MAX_ITER,
) -> np.ndarray:
    """Lloyd iterations over all chunks from centers (K, D) until the summed squared
    movement of the centres is at most tol (an empty cluster keeps its centre)."""
    centers = np.array(centers, dtype=np.float64)
    no_labels = np.empty(0, dtype=np.int64)
    for _ in range(max_iter):
        counts = np.zeros(centers.shape[0])
        sums = np.zeros_like(centers)
        start = 0
        for chunk in chunks_of():
            weight = chunk_weights(sample_weight, start, start + chunk.shape[0])
            K.lloyd_accumulate(chunk, weight, centers, counts, sums, no_labels)
            start += chunk.shape[0]
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1e-300)[:, None], 0.0)
        centers += moved
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
        centers = lloyd(lambda: [rows], start, weight, tol)
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


def random_resp(rng: np.random.RandomState, n_components: int) -> Callable[[int, np.ndarray], np.ndarray]:
    """Uniform random responsibilities, normalised per row in the data's precision, drawn
    from rng chunk after chunk: the same numbers as scikit-learn's one draw for all rows."""

    def resp_of(start: int, chunk: np.ndarray) -> np.ndarray:
        resp = rng.uniform(size=(chunk.shape[0], n_components)).astype(chunk.dtype)
        resp /= resp.sum(axis=1)[:, None]
        return resp

    return resp_of


def seed_resp(seeds: np.ndarray, n_components: int) -> Callable[[int, np.ndarray], np.ndarray]:
    """Responsibilities that give component c the one row seeds[c] (global row indices)."""

    def resp_of(start: int, chunk: np.ndarray) -> np.ndarray:
        resp = np.zeros((chunk.shape[0], n_components))
        inside = (seeds >= start) & (seeds < start + chunk.shape[0])
        resp[seeds[inside] - start, np.flatnonzero(inside)] = 1.0
        return resp

    return resp_of


def nearest_center_resp(centers: np.ndarray) -> Callable[[int, np.ndarray], np.ndarray]:
    """One-hot responsibilities: each row to its nearest k-means centre."""
    n_components = centers.shape[0]
    no_weight = np.empty(0)

    def resp_of(start: int, chunk: np.ndarray) -> np.ndarray:
        labels = np.empty(chunk.shape[0], dtype=np.int64)
        K.lloyd_accumulate(chunk, no_weight, centers, np.zeros(n_components), np.zeros_like(centers), labels)
        resp = np.zeros((labels.size, n_components))
        resp[np.arange(labels.size), labels] = 1.0
        return resp

    return resp_of


def initial_params(
    method: str,
    chunks_of: Callable[[], Chunks],
    *,
    n_samples: int,
    dtype: np.dtype,
    n_components: int,
    covariance_type: str,
    reg_covar: float,
    rng: np.random.RandomState,
    sample_weight: np.ndarray | None = None,
) -> Params:
    """Params from one of INIT_METHODS, consuming rng as scikit-learn does where it can."""
    center = np.asarray(next(iter(chunks_of())), dtype=np.float64).mean(axis=0)
    if method == "random":
        resp_of = random_resp(rng, n_components)
    elif method == "random_from_data":
        resp_of = seed_resp(choose_rows(rng, n_samples, n_components), n_components)
    else:
        index, rows, weight = sample_rows(chunks_of(), n_samples, SEED_SAMPLE, rng, sample_weight)
        seeds = kmeans_plusplus(rows, n_components, rng, weight)
        if method == "k-means++":
            resp_of = seed_resp(index[seeds], n_components)
        else:
            tol = LLOYD_TOL * float(np.mean(np.var(rows, axis=0)))
            centers = best_sample_centers(rows, weight, seeds, n_components, rng, tol)
            resp_of = nearest_center_resp(lloyd(chunks_of, centers, sample_weight, tol))
    stats = resp_pass(chunks_of(), covariance_type, center, resp_of, n_components, sample_weight)
    eps = 10 * np.finfo(dtype).eps
    return m_step(stats, covariance_type, reg_covar, eps, weights_over=stats.weight)
