"""Block functions for diagonal covariances (and spherical ones, whose single precision
per component is repeated over the features by the caller): the shifted form, around
each component's mean, and the expanded form, a matrix product's multiply-adds on a
block centred once on c, which a float64 block runs where expand_block's bound allows."""

import numpy as np
from numba import njit

from ._exp import bits_float64, float64_bits
from ._options import JIT, single_precision, wide_vectors


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


# The expanded form (below) against the shifted one (above). Its log-densities and moments
# are sums of terms as large as (p (|x - c| + |m - c|))^2 / 2, where the shifted form's
# are of ((x - m) p)^2 / 2: its rounding error, eps times the largest such sum over a
# block's rows and components, is kept below EXPANDED_ERROR, or the block runs the shifted
# kernels (float32 blocks always do: eps = 6e-8 leaves no room). Below
# EXPANDED_MIN_COMPONENTS components the bound's pass over the block costs about what the
# form saves (docs/how_it_works.rst, "The expanded diag form"), and fits run drivers
# without it.
EXPANDED_ERROR = 1e-9
EXPANDED_MIN_COMPONENTS = 32
EXPANDED_LIMIT = EXPANDED_ERROR / float(np.finfo(np.float64).eps)  # the largest sum allowed
ABS_BITS = (1 << 63) - 1  # an int64's bits of a float64 without its sign


@njit(**JIT)
def expand_block(xT, nb, center, coef, sq):
    """Whether the expanded form keeps this block's log-densities and moments to
    EXPANDED_ERROR for every component; if so, xT[:, :nb] is centred on c and
    sq[:, :nb] holds its squares. coef (K, 4, D): _buffers.block_params' diag factors.
    Always False for float32 blocks. Called by the EXPANDED drivers only, which a fit
    runs from EXPANDED_MIN_COMPONENTS components (_kernels.expanded_form)."""
    if single_precision(xT):
        return False
    wide_vectors()
    n_features = xT.shape[0]
    for d in range(n_features):  # reach_d = max_b |x_bd - c_d|, as the largest square's bits (vectorises)
        c = center[d]
        top = 0
        for b in range(nb):
            t = xT[d, b] - c
            top = max(top, float64_bits(np.float64(t * t)) & ABS_BITS)
        sq[d, 0] = np.sqrt(bits_float64(top))
    for k in range(coef.shape[0]):
        total = 0.0
        for d in range(n_features):
            v = coef[k, 0, d] * sq[d, 0] + abs(coef[k, 3, d])
            total += v * v
        if not total <= EXPANDED_LIMIT:  # NaN fails too
            return False
    for d in range(n_features):
        c = center[d]
        for b in range(nb):
            t = xT[d, b] - c
            xT[d, b] = t
            sq[d, b] = t * t
    return True


@njit(**JIT)
def diag_expanded_log_prob(xc, sq, nb, coef, log_norm, logp):
    """diag_log_prob for a block centred on c (expand_block): logp[k, b] = const_k +
    sum_d (q_kd sq_db + l_kd xc_db), q = -p^2 / 2, l = p^2 (m - c), const = log_norm -
    sum_d (p (m - c))^2 / 2, coef = [p, q, l, p (m - c)] (K, 4, D).

    The multiply-adds of a matrix product, four components by two features per pass over
    the block: each load of a row feeds four multiply-adds, each load and store of logp
    eight (the shifted kernel's subtract, multiply and multiply-add per feature ran at the
    same pace as these two multiply-adds with one component per pass). Past the last
    feature a coefficient of 0; the last K % 4 components one at a time."""
    wide_vectors()
    n_features, n_components = xc.shape[0], coef.shape[0]
    zero, half = xc.dtype.type(0), xc.dtype.type(0.5)
    last = n_features - 1
    for k in range(n_components):
        const = log_norm[k]
        for d in range(n_features):
            const -= half * coef[k, 3, d] * coef[k, 3, d]
        row = logp[k]
        for b in range(nb):
            row[b] = const
    whole = n_components - n_components % 4
    for k in range(0, whole, 4):
        l0, l1, l2, l3 = logp[k], logp[k + 1], logp[k + 2], logp[k + 3]
        q0, q1, q2, q3 = coef[k, 1], coef[k + 1, 1], coef[k + 2, 1], coef[k + 3, 1]
        m0, m1, m2, m3 = coef[k, 2], coef[k + 1, 2], coef[k + 2, 2], coef[k + 3, 2]
        for d in range(0, n_features, 2):
            e = min(d + 1, last)
            on = d + 1 <= last
            a0, a1, a2, a3 = q0[d], q1[d], q2[d], q3[d]
            c0, c1, c2, c3 = m0[d], m1[d], m2[d], m3[d]
            f0 = q0[e] if on else zero
            f1 = q1[e] if on else zero
            f2 = q2[e] if on else zero
            f3 = q3[e] if on else zero
            g0 = m0[e] if on else zero
            g1 = m1[e] if on else zero
            g2 = m2[e] if on else zero
            g3 = m3[e] if on else zero
            u0, u1, v0, v1 = sq[d], sq[e], xc[d], xc[e]
            for b in range(nb):
                s, t, x, y = u0[b], u1[b], v0[b], v1[b]
                l0[b] += a0 * s + c0 * x + f0 * t + g0 * y
                l1[b] += a1 * s + c1 * x + f1 * t + g1 * y
                l2[b] += a2 * s + c2 * x + f2 * t + g2 * y
                l3[b] += a3 * s + c3 * x + f3 * t + g3 * y
    for k in range(whole, n_components):
        row, q, m = logp[k], coef[k, 1], coef[k, 2]
        for d in range(n_features):
            a, c, u, v = q[d], m[d], sq[d], xc[d]
            for b in range(nb):
                row[b] += a * u[b] + c * v[b]


@njit(inline="always", **JIT)
def add_moved(s1, s2, k, d, total, a, q, delta):
    """Adds the moments a = sum r (x - c), q = sum r (x - c)^2 of weight total to s1[k, d]
    and s2[k, 0, d] as moments around c + delta."""
    s1[k, d] += a - total * delta
    s2[k, 0, d] += q - delta * (2.0 * a - total * delta)


@njit(**JIT)
def diag_expanded_accumulate(xc, sq, nb, loc, center, resp, s0, s1, s2):
    """diag_accumulate's sums for a block centred on c (expand_block): the moments around
    c, sum r (x - c) and sum r (x - c)^2, four components by two features per pass (each
    load of r feeds four multiply-adds), then moved to around loc_k (add_moved)."""
    wide_vectors()
    n_features, n_components = xc.shape[0], resp.shape[0]
    zero = xc.dtype.type(0)
    last = n_features - 1
    whole = n_components - n_components % 4
    for k in range(0, whole, 4):
        r0, r1, r2, r3 = resp[k], resp[k + 1], resp[k + 2], resp[k + 3]
        t0 = t1 = t2 = t3 = zero
        for b in range(nb):
            t0 += r0[b]
            t1 += r1[b]
            t2 += r2[b]
            t3 += r3[b]
        s0[k] += t0
        s0[k + 1] += t1
        s0[k + 2] += t2
        s0[k + 3] += t3
        for d in range(0, n_features, 2):
            e = min(d + 1, last)
            x0, x1, y0, y1 = xc[d], xc[e], sq[d], sq[e]
            a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = zero
            q00 = q01 = q10 = q11 = q20 = q21 = q30 = q31 = zero
            for b in range(nb):
                p0, p1, p2, p3 = r0[b], r1[b], r2[b], r3[b]
                u, v, w, z = x0[b], x1[b], y0[b], y1[b]
                a00 += p0 * u
                a01 += p0 * v
                a10 += p1 * u
                a11 += p1 * v
                a20 += p2 * u
                a21 += p2 * v
                a30 += p3 * u
                a31 += p3 * v
                q00 += p0 * w
                q01 += p0 * z
                q10 += p1 * w
                q11 += p1 * z
                q20 += p2 * w
                q21 += p2 * z
                q30 += p3 * w
                q31 += p3 * z
            add_moved(s1, s2, k, d, t0, a00, q00, loc[k, d] - center[d])
            add_moved(s1, s2, k + 1, d, t1, a10, q10, loc[k + 1, d] - center[d])
            add_moved(s1, s2, k + 2, d, t2, a20, q20, loc[k + 2, d] - center[d])
            add_moved(s1, s2, k + 3, d, t3, a30, q30, loc[k + 3, d] - center[d])
            if e > d:
                add_moved(s1, s2, k, e, t0, a01, q01, loc[k, e] - center[e])
                add_moved(s1, s2, k + 1, e, t1, a11, q11, loc[k + 1, e] - center[e])
                add_moved(s1, s2, k + 2, e, t2, a21, q21, loc[k + 2, e] - center[e])
                add_moved(s1, s2, k + 3, e, t3, a31, q31, loc[k + 3, e] - center[e])
    for k in range(whole, n_components):
        r = resp[k]
        total = zero
        for b in range(nb):
            total += r[b]
        s0[k] += total
        for d in range(n_features):
            x, y = xc[d], sq[d]
            a = q = zero
            for b in range(nb):
                a += r[b] * x[b]
                q += r[b] * y[b]
            add_moved(s1, s2, k, d, total, a, q, loc[k, d] - center[d])
