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
    """s0[k] += sum r, s1[k, d] += sum r (x_d - loc_kd), s2[k, 0, d] += sum r (x_d - loc_kd)^2.

    Four features per pass over the block, as in diag_log_prob: each load of r feeds
    four features, and a quarter as many loops pay their setup and final reductions
    (a block's accumulation: 13.8 -> 12.7 us); past the last feature the last stands
    in, its sums dropped."""
    wide_vectors()
    n_features = xT.shape[0]
    zero = xT.dtype.type(0)
    last = n_features - 1
    for k in range(loc.shape[0]):
        r = resp[k]
        total = zero
        for b in range(nb):
            total += r[b]
        s0[k] += total
        for d in range(0, n_features, 4):
            d1, d2, d3 = min(d + 1, last), min(d + 2, last), min(d + 3, last)
            x0, x1, x2, x3 = xT[d], xT[d1], xT[d2], xT[d3]
            m0, m1, m2, m3 = loc[k, d], loc[k, d1], loc[k, d2], loc[k, d3]
            a0 = a1 = a2 = a3 = q0 = q1 = q2 = q3 = zero
            for b in range(nb):
                t0, t1, t2, t3 = x0[b] - m0, x1[b] - m1, x2[b] - m2, x3[b] - m3
                u0, u1, u2, u3 = r[b] * t0, r[b] * t1, r[b] * t2, r[b] * t3
                a0 += u0
                a1 += u1
                a2 += u2
                a3 += u3
                q0 += u0 * t0
                q1 += u1 * t1
                q2 += u2 * t2
                q3 += u3 * t3
            first, second = (a0, a1, a2, a3), (q0, q1, q2, q3)
            for i in range(4):
                if d + i <= last:
                    s1[k, d + i] += first[i]
                    s2[k, 0, d + i] += second[i]
