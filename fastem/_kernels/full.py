"""Block functions for full covariances: one component, one precision Cholesky factor each.

Layout shared by all block functions: a block of ``nb`` rows is held transposed,
``xT`` of shape (n_features, B), so that every inner loop runs over contiguous rows
and vectorises. Log-probabilities and responsibilities are (n_components, B). Blocks
compute in the data's precision (float32 data: 8 lanes per AVX2 vector) with parameters
given in that precision; each block's sums are then added to float64 statistics.
"""

from numba import njit

from ._options import JIT


@njit(**JIT)
def full_log_prob(xT, nb, loc, prec, log_norm, work, maha, logp):
    """logp[k, b] = log_norm[k] - ||P_k^T (x_b - loc_k)||^2 / 2.

    prec: (K, D, D) upper-triangular Cholesky factors of the precisions (P P^T = Lambda).
    work: (D, B) scratch, maha: (B,) scratch, logp: (K, B) output.
    """
    n_features = xT.shape[0]
    half = xT.dtype.type(0.5)
    for k in range(loc.shape[0]):
        for d in range(n_features):
            m = loc[k, d]
            for b in range(nb):
                work[d, b] = xT[d, b] - m
        for b in range(nb):
            maha[b] = 0
        # y_j = sum_{i <= j} P[i, j] diff_i, accumulated in place from the last row
        # of the triangle up, so that work[j] is read before it is overwritten.
        for j in range(n_features - 1, -1, -1):
            p = prec[k, j, j]
            for b in range(nb):
                work[j, b] *= p
            for i in range(j):
                p = prec[k, i, j]
                for b in range(nb):
                    work[j, b] += p * work[i, b]
            for b in range(nb):
                maha[b] += work[j, b] * work[j, b]
        c = log_norm[k]
        for b in range(nb):
            logp[k, b] = c - half * maha[b]


@njit(**JIT)
def full_accumulate(xT, nb, loc, resp, work, wvec, s0, s1, s2):
    """Adds the moments of nb rows around loc: s0[k] += sum r, s1[k] += sum r (x - loc_k),
    s2[k] (upper triangle) += sum r (x - loc_k)(x - loc_k)^T, with resp (K, B) final weights."""
    n_features = xT.shape[0]
    zero = xT.dtype.type(0)
    for k in range(loc.shape[0]):
        total = zero
        for b in range(nb):
            total += resp[k, b]
        s0[k] += total
        for d in range(n_features):
            m = loc[k, d]
            acc = zero
            for b in range(nb):
                t = xT[d, b] - m
                work[d, b] = t
                acc += resp[k, b] * t
            s1[k, d] += acc
        for i in range(n_features):
            for b in range(nb):
                wvec[b] = resp[k, b] * work[i, b]
            for j in range(i, n_features):
                acc = zero
                for b in range(nb):
                    acc += wvec[b] * work[j, b]
                s2[k, i, j] += acc
