"""Lloyd's k-means step, fused and parallel like the EM drivers: one pass over a chunk
assigns each row to its nearest centre and adds the shifted sums of each cluster."""

import numpy as np
from numba import njit, prange

from ._options import JIT, PARALLEL_JIT, wide_vectors
from .drivers import load_block


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
def lloyd_accumulate(X, weight, centers, rows, n_blocks, groups, slots, xT, vec, best, g_counts, g_sums, g_inertia,
                     labels):
    """Adds g_counts[g, k] += sum w and g_sums[g, k] += sum w (x - c_k) over group g's rows
    nearest to centre k, and g_inertia[g] += their weighted squared distances; writes labels
    (n,) when it has n rows. Partition and scratch as the EM drivers' (_buffers), the
    scratch float64: xT (slots, D, rows), vec (slots, 3, rows), best (slots, rows) int64."""
    n, n_features = X.shape
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
