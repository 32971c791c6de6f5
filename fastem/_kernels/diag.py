"""Block functions for diagonal covariances (and spherical ones, whose single precision
per component is repeated over the features by the caller)."""

from numba import njit

from ._options import JIT, wide_vectors


@njit(**JIT)
def diag_log_prob(xT, nb, loc, prec, log_norm, maha, logp):
    """logp[k, b] = log_norm[k] - sum_d ((x_bd - loc_kd) p_kd)^2 / 2 with prec (K, 1, D).

    Four features per pass over the block, so that each load and store of maha feeds four
    squares; past the last feature the first of the four stands in with precision 0."""
    wide_vectors()
    n_features = xT.shape[0]
    half = xT.dtype.type(0.5)
    zero = xT.dtype.type(0)
    last = n_features - 1
    for k in range(loc.shape[0]):
        for b in range(nb):
            maha[b] = 0
        for d in range(0, n_features, 4):
            d1, d2, d3 = min(d + 1, last), min(d + 2, last), min(d + 3, last)
            m0, m1, m2, m3 = loc[k, d], loc[k, d1], loc[k, d2], loc[k, d3]
            p0 = prec[k, 0, d]
            p1 = prec[k, 0, d1] if d + 1 <= last else zero
            p2 = prec[k, 0, d2] if d + 2 <= last else zero
            p3 = prec[k, 0, d3] if d + 3 <= last else zero
            x0, x1, x2, x3 = xT[d], xT[d1], xT[d2], xT[d3]
            for b in range(nb):
                t0 = (x0[b] - m0) * p0
                t1 = (x1[b] - m1) * p1
                t2 = (x2[b] - m2) * p2
                t3 = (x3[b] - m3) * p3
                maha[b] += t0 * t0 + t1 * t1 + t2 * t2 + t3 * t3
        c = log_norm[k]
        for b in range(nb):
            logp[k, b] = c - half * maha[b]


@njit(**JIT)
def diag_accumulate(xT, nb, loc, resp, s0, s1, s2):
    """s0[k] += sum r, s1[k, d] += sum r (x_d - loc_kd), s2[k, 0, d] += sum r (x_d - loc_kd)^2."""
    wide_vectors()
    n_features = xT.shape[0]
    zero = xT.dtype.type(0)
    for k in range(loc.shape[0]):
        total = zero
        for b in range(nb):
            total += resp[k, b]
        s0[k] += total
        for d in range(n_features):
            m = loc[k, d]
            a1 = zero
            a2 = zero
            for b in range(nb):
                t = xT[d, b] - m
                rt = resp[k, b] * t
                a1 += rt
                a2 += rt * t
            s1[k, d] += a1
            s2[k, 0, d] += a2
