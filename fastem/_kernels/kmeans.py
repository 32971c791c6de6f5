"""Lloyd's k-means step, fused and parallel like the EM drivers: one pass over a chunk
assigns each row to its nearest centre and adds the shifted sums of each cluster."""

import numpy as np
from numba import njit, prange

from ._options import JIT, PARALLEL_JIT, block_rows, n_groups, n_slots, wide_vectors
from .drivers import add_groups, aligned_empty, load_block, zeros


@njit(**JIT)
def nearest_block(xT, nb, centers, dist, best, best_dist):
    """best[b] = argmin_k ||x_b - c_k||^2 and best_dist[b] its value; dist (B,) scratch."""
    wide_vectors()
    n_features = xT.shape[0]
    for b in range(nb):
        best[b] = 0
        best_dist[b] = np.inf
    for k in range(centers.shape[0]):
        for b in range(nb):
            dist[b] = 0.0
        for d in range(n_features):
            c = centers[k, d]
            for b in range(nb):
                t = xT[d, b] - c
                dist[b] += t * t
        for b in range(nb):
            if dist[b] < best_dist[b]:
                best_dist[b] = dist[b]
                best[b] = k


@njit(**PARALLEL_JIT)
def lloyd_accumulate(X, weight, centers, counts, sums, labels, threads):
    """Adds counts[k] += sum w and sums[k] += sum w (x - c_k) over the rows nearest to
    centre k; writes labels (n,) when it has n rows. Returns the weighted inertia."""
    n, n_features = X.shape
    n_clusters = centers.shape[0]
    rows = block_rows(n_features, 8)  # its scratch is float64
    n_blocks = (n + rows - 1) // rows
    groups = n_groups(n_blocks, 8 * (n_clusters * (n_features + 1) + 1))
    g_counts, g_sums, g_inertia = zeros((groups, *counts.shape)), zeros((groups, *sums.shape)), zeros((groups,))
    slots = n_slots(groups, threads)
    xT = aligned_empty(slots, n_features, rows, np.float64)
    vec = aligned_empty(slots, 3, rows, np.float64)
    best = np.empty((slots, rows), dtype=np.int64)
    want_labels = labels.shape[0] == n
    for s in prange(slots):
        wide_vectors()
        for g in range(s * groups // slots, (s + 1) * groups // slots):
            for blk in range(g * n_blocks // groups, (g + 1) * n_blocks // groups):
                r0 = blk * rows
                nb = min(rows, n - r0)
                wb = vec[s, 0]
                load_block(X, weight, r0, nb, xT[s], wb)
                nearest_block(xT[s], nb, centers, vec[s, 1], best[s], vec[s, 2])
                inertia = 0.0
                for b in range(nb):
                    k = best[s, b]
                    w = wb[b]
                    inertia += w * vec[s, 2, b]
                    g_counts[g, k] += w
                    for d in range(n_features):
                        g_sums[g, k, d] += w * (xT[s, d, b] - centers[k, d])
                    if want_labels:
                        labels[r0 + b] = k
                g_inertia[g] += inertia
    add_groups(g_counts, counts)
    add_groups(g_sums, sums)
    total = 0.0
    for g in range(groups):
        total += g_inertia[g]
    return total
