"""Block functions for a tied covariance: one precision Cholesky factor shared by all
components. Rows are shifted by a global centre c (``center_block``) before use, so
data far from the origin keeps its precision; the kernels then work in whitened
coordinates z = P^T (x - c), where component k sits at loc_k = P^T (mu_k - c).
"""

import numpy as np
from numba import njit

from ._options import JIT, wide_vectors
from .full import gram_upper


@njit(**JIT)
def center_block(xT, nb, center):
    """xT[:, :nb] -= center[:, None] in place."""
    wide_vectors()
    for d in range(xT.shape[0]):
        c = center[d]
        for b in range(nb):
            xT[d, b] -= c


@njit(**JIT)
def tied_log_prob(xT, nb, loc, prec, log_norm, work, maha, logp):
    """logp[k, b] = log_norm[k] - ||z_b - loc_k||^2 / 2 with z = P^T x for centred xT.

    prec: (1, D, D) upper-triangular Cholesky factor; work: (D, B) receives z.
    """
    wide_vectors()
    n_features = xT.shape[0]
    half = xT.dtype.type(0.5)
    for j in range(n_features):
        p = prec[0, j, j]
        for b in range(nb):
            work[j, b] = p * xT[j, b]
        for i in range(j):
            p = prec[0, i, j]
            for b in range(nb):
                work[j, b] += p * xT[i, b]
    for k in range(loc.shape[0]):
        for b in range(nb):
            maha[b] = 0
        for d in range(n_features):
            m = loc[k, d]
            for b in range(nb):
                t = work[d, b] - m
                maha[b] += t * t
        c = log_norm[k]
        for b in range(nb):
            logp[k, b] = c - half * maha[b]


@njit(**JIT)
def tied_accumulate(xT, nb, resp, rsum, scratch, s0, s1, s2):
    """For centred xT: s0[k] += sum r, s1[k] += sum r x, and the one shared
    s2[0] (upper triangle) += sum_b (sum_k r_kb) x_b x_b^T. Weighting s2 by the row's
    total responsibility (its sample weight when responsibilities sum to one) keeps
    the tied estimate sum_k sum_b r_kb (x_b - mu_k)(x_b - mu_k)^T translation invariant.
    rsum: (B,) scratch, overwritten with sum_k r_kb; scratch: (4, B)."""
    wide_vectors()
    n_features = xT.shape[0]
    zero = xT.dtype.type(0)
    for b in range(nb):
        rsum[b] = 0
    for k in range(resp.shape[0]):
        total = zero
        for b in range(nb):
            total += resp[k, b]
            rsum[b] += resp[k, b]
        s0[k] += total
        for d in range(n_features):
            acc = zero
            for b in range(nb):
                acc += resp[k, b] * xT[d, b]
            s1[k, d] += acc
    first = np.zeros(n_features)  # gram_upper's first moments: sum_k s1[k] already, not needed
    gram_upper(xT, nb, rsum, np.zeros(n_features, dtype=xT.dtype), scratch, first, s2[0])
