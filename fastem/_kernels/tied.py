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

    prec: (1, D, D) upper-triangular Cholesky factor; work: (D, B) receives z. Four
    rows per pass over the block in both parts, so that each load and store of a
    row of sums feeds four multiply-adds; past the last feature a coefficient of 0 or
    a loop over the remaining features."""
    wide_vectors()
    n_features = xT.shape[0]
    half = xT.dtype.type(0.5)
    zero = xT.dtype.type(0)
    last = n_features - 1
    for j in range(n_features):  # z_j = sum_{i <= j} P[i, j] x_i
        for b in range(nb):
            work[j, b] = 0
        for i in range(0, j + 1, 4):
            i1, i2, i3 = min(i + 1, last), min(i + 2, last), min(i + 3, last)
            p0 = prec[0, i, j]
            p1 = prec[0, i1, j] if i + 1 <= j else zero
            p2 = prec[0, i2, j] if i + 2 <= j else zero
            p3 = prec[0, i3, j] if i + 3 <= j else zero
            x0, x1, x2, x3 = xT[i], xT[i1], xT[i2], xT[i3]
            for b in range(nb):
                work[j, b] += p0 * x0[b] + p1 * x1[b] + p2 * x2[b] + p3 * x3[b]
    whole = n_features - n_features % 4
    for k in range(loc.shape[0]):
        for b in range(nb):
            maha[b] = 0
        for d in range(0, whole, 4):
            m0, m1, m2, m3 = loc[k, d], loc[k, d + 1], loc[k, d + 2], loc[k, d + 3]
            z0, z1, z2, z3 = work[d], work[d + 1], work[d + 2], work[d + 3]
            for b in range(nb):
                t0, t1, t2, t3 = z0[b] - m0, z1[b] - m1, z2[b] - m2, z3[b] - m3
                maha[b] += t0 * t0 + t1 * t1 + t2 * t2 + t3 * t3
        for d in range(whole, n_features):
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
    last = n_features - 1
    for b in range(nb):
        rsum[b] = 0
    for k in range(resp.shape[0]):
        r = resp[k]
        total = zero
        for b in range(nb):
            total += r[b]
            rsum[b] += r[b]
        s0[k] += total
        for d in range(0, n_features, 4):  # four features per pass; past the last, dropped
            d1, d2, d3 = min(d + 1, last), min(d + 2, last), min(d + 3, last)
            x0, x1, x2, x3 = xT[d], xT[d1], xT[d2], xT[d3]
            a0 = a1 = a2 = a3 = zero
            for b in range(nb):
                a0 += r[b] * x0[b]
                a1 += r[b] * x1[b]
                a2 += r[b] * x2[b]
                a3 += r[b] * x3[b]
            sums = (a0, a1, a2, a3)
            for i in range(4):
                if d + i <= last:
                    s1[k, d + i] += sums[i]
    first = np.zeros(n_features)  # gram_upper's first moments: sum_k s1[k] already, not needed
    gram_upper(xT, nb, rsum, np.zeros(n_features, dtype=xT.dtype), scratch, first, s2[0])
