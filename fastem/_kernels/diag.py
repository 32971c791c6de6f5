"""Block functions for diagonal covariances (and spherical ones, whose single precision
per component is repeated over the features by the caller)."""

from numba import njit

from ._options import JIT, wide_vectors


@njit(**JIT)
def diag_log_prob(xT, nb, loc, prec, log_norm, maha, logp):
    """logp[k, b] = log_norm[k] - sum_d ((x_bd - loc_kd) p_kd)^2 / 2 with prec (K, 1, D).

    Four features per pass over the block, so that each load and store of maha feeds four
    squares; the last D % 4 features in a pass of two and one of one (padded to four, as
    they were, D = 2 did twice the work)."""
    wide_vectors()
    n_features = xT.shape[0]
    half = xT.dtype.type(0.5)
    whole = n_features - n_features % 4
    for k in range(loc.shape[0]):
        m, p = loc[k], prec[k, 0]
        for b in range(nb):
            maha[b] = 0
        for d in range(0, whole, 4):
            m0, m1, m2, m3 = m[d], m[d + 1], m[d + 2], m[d + 3]
            p0, p1, p2, p3 = p[d], p[d + 1], p[d + 2], p[d + 3]
            x0, x1, x2, x3 = xT[d], xT[d + 1], xT[d + 2], xT[d + 3]
            for b in range(nb):
                t0 = (x0[b] - m0) * p0
                t1 = (x1[b] - m1) * p1
                t2 = (x2[b] - m2) * p2
                t3 = (x3[b] - m3) * p3
                maha[b] += t0 * t0 + t1 * t1 + t2 * t2 + t3 * t3
        if n_features - whole >= 2:
            d = whole
            m0, m1, p0, p1, x0, x1 = m[d], m[d + 1], p[d], p[d + 1], xT[d], xT[d + 1]
            for b in range(nb):
                t0 = (x0[b] - m0) * p0
                t1 = (x1[b] - m1) * p1
                maha[b] += t0 * t0 + t1 * t1
        if n_features % 2:
            d = n_features - 1
            m0, p0, x0 = m[d], p[d], xT[d]
            for b in range(nb):
                t0 = (x0[b] - m0) * p0
                maha[b] += t0 * t0
        c = log_norm[k]
        for b in range(nb):
            logp[k, b] = c - half * maha[b]


@njit(**JIT)
def diag_accumulate(xT, nb, loc, resp, s0, s1, s2):
    """s0[k] += sum r, s1[k, d] += sum r (x_d - loc_kd), s2[k, 0, d] += sum r (x_d - loc_kd)^2.

    Four features per pass over the block, as in diag_log_prob: each load of r feeds
    four features, and a quarter as many loops pay their setup and final reductions
    (a block's accumulation: 13.8 -> 12.7 us); the last D % 4 features in passes of two
    and one."""
    wide_vectors()
    n_features = xT.shape[0]
    zero = xT.dtype.type(0)
    whole = n_features - n_features % 4
    for k in range(loc.shape[0]):
        r, m = resp[k], loc[k]
        total = zero
        for b in range(nb):
            total += r[b]
        s0[k] += total
        for d in range(0, whole, 4):
            x0, x1, x2, x3 = xT[d], xT[d + 1], xT[d + 2], xT[d + 3]
            m0, m1, m2, m3 = m[d], m[d + 1], m[d + 2], m[d + 3]
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
            s1[k, d] += a0
            s1[k, d + 1] += a1
            s1[k, d + 2] += a2
            s1[k, d + 3] += a3
            s2[k, 0, d] += q0
            s2[k, 0, d + 1] += q1
            s2[k, 0, d + 2] += q2
            s2[k, 0, d + 3] += q3
        if n_features - whole >= 2:
            d = whole
            x0, x1, m0, m1 = xT[d], xT[d + 1], m[d], m[d + 1]
            a0 = a1 = q0 = q1 = zero
            for b in range(nb):
                t0, t1 = x0[b] - m0, x1[b] - m1
                u0, u1 = r[b] * t0, r[b] * t1
                a0 += u0
                a1 += u1
                q0 += u0 * t0
                q1 += u1 * t1
            s1[k, d] += a0
            s1[k, d + 1] += a1
            s2[k, 0, d] += q0
            s2[k, 0, d + 1] += q1
        if n_features % 2:
            d = n_features - 1
            x0, m0 = xT[d], m[d]
            a0 = q0 = zero
            for b in range(nb):
                t0 = x0[b] - m0
                u0 = r[b] * t0
                a0 += u0
                q0 += u0 * t0
            s1[k, d] += a0
            s2[k, 0, d] += q0
