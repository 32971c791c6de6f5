"""Block functions for full covariances: one component, one precision Cholesky factor each.

Layout shared by all block functions: a block of ``nb`` rows is held transposed,
``xT`` of shape (n_features, B), so that every inner loop runs over contiguous rows
and vectorises. Log-probabilities and responsibilities are (n_components, B). Blocks
compute in the data's precision (float32 data: 16 lanes per AVX-512 vector) with
parameters given in that precision; each block's sums are then added to float64 statistics.

Register tiling: an inner loop that reads one row and updates one accumulator row
(a load and a store per multiply-add) runs at a fraction of the FMA units' rate. Here
each pass over a block combines four input rows into four outputs (the triangular
product) or four rows against two (the Gram matrix), so that each load or store
feeds one or more multiply-adds. Rows past the end of a tile are stood in for
by the last row: with a zero coefficient in the product (exact: the rows are finite),
and their sums dropped in the Gram matrix.
"""

import numpy as np
from numba import njit

from ._options import JIT, single_precision, wide_vectors


@njit(**JIT)
def full_log_prob(xT, nb, loc, prec, log_norm, scratch, logp):
    """logp[k, b] = log_norm[k] - ||y_kb||^2 / 2 with y_kb = P_k^T (x_b - c - (mu_k - c)),
    for xT centred on c (the engine's c is 0 for float32 rows).

    prec: (K, D4, D4) the upper-triangular Cholesky factors of the precisions (P P^T =
    Lambda) from padded_upper, so that a tile reads its sixteen coefficients without a
    test; loc: (K, D4) from locations, zero in the padding. scratch: (5, B) scratch, logp:
    (K, B) output.

    float64 blocks: y = P^T (x - c) - loc with loc the whitened locations P_k^T (mu_k - c),
    each output's chain of multiply-adds starting at -loc_k, so that the rows need no
    per-component difference (a subtraction per row, component and feature in every tile
    pass; one thread, 1e6 x 16, K=16: a pass 219.9 -> 209.5 ms, 8 of 8 pairs faster). Its
    rounding, eps |P^T (x - c)|, grows with the row's distance from c in units of the
    component's spread: negligible in float64. float32 blocks: y = P^T ((x - c) - loc)
    with loc = mu_k - c, the difference formed as the tiles read the rows, exact for a row
    near its component (c = 0): in float32, rounding by eps |x - c| (the centring's, or the
    whitened form's) moved the log-likelihood of near-singular components by 1e-4 of
    itself, and EM cycled.
    """
    wide_vectors()
    n_features = xT.shape[0]
    ty = xT.dtype.type
    single = single_precision(xT)
    half, zero = ty(0.5), ty(0)
    last = n_features - 1
    maha, y0, y1, y2, y3 = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4]
    for k in range(loc.shape[0]):
        P = prec[k]
        for b in range(nb):
            maha[b] = 0
        # y_j = sum_{i <= j} P[i, j] (x_i - m_i) - l_j, four outputs j by four inputs i per
        # pass (coefficients past the end and below the diagonal are 0; the tiles on the
        # diagonal compute their upper triangle only, ten of sixteen products); maha +=
        # y_j^2. m = 0 for float64, l = 0 for float32: the constants fold away.
        for j in range(0, n_features, 4):
            l0 = zero if single else -loc[k, j]
            l1 = zero if single else -loc[k, j + 1]
            l2 = zero if single else -loc[k, j + 2]
            l3 = zero if single else -loc[k, j + 3]
            for i in range(0, j + 4, 4):
                c00, c01, c02, c03 = P[i, j], P[i, j + 1], P[i, j + 2], P[i, j + 3]
                c10, c11, c12, c13 = P[i + 1, j], P[i + 1, j + 1], P[i + 1, j + 2], P[i + 1, j + 3]
                c20, c21, c22, c23 = P[i + 2, j], P[i + 2, j + 1], P[i + 2, j + 2], P[i + 2, j + 3]
                c30, c31, c32, c33 = P[i + 3, j], P[i + 3, j + 1], P[i + 3, j + 2], P[i + 3, j + 3]
                i1, i2, i3 = min(i + 1, last), min(i + 2, last), min(i + 3, last)
                w0, w1, w2, w3 = xT[i], xT[i1], xT[i2], xT[i3]
                m0 = loc[k, i] if single else zero
                m1 = loc[k, i1] if single else zero
                m2 = loc[k, i2] if single else zero
                m3 = loc[k, i3] if single else zero
                if i == 0 and i == j:  # a tile on the diagonal: its upper triangle only
                    for b in range(nb):
                        a, e, f, g = w0[b] - m0, w1[b] - m1, w2[b] - m2, w3[b] - m3
                        t0 = l0 + c00 * a
                        t1 = l1 + c01 * a + c11 * e
                        t2 = l2 + c02 * a + c12 * e + c22 * f
                        t3 = l3 + c03 * a + c13 * e + c23 * f + c33 * g
                        maha[b] += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3)
                elif i == 0:
                    for b in range(nb):
                        a, e, f, g = w0[b] - m0, w1[b] - m1, w2[b] - m2, w3[b] - m3
                        y0[b] = l0 + c00 * a + c10 * e + c20 * f + c30 * g
                        y1[b] = l1 + c01 * a + c11 * e + c21 * f + c31 * g
                        y2[b] = l2 + c02 * a + c12 * e + c22 * f + c32 * g
                        y3[b] = l3 + c03 * a + c13 * e + c23 * f + c33 * g
                elif i == j:
                    for b in range(nb):
                        a, e, f, g = w0[b] - m0, w1[b] - m1, w2[b] - m2, w3[b] - m3
                        t0 = y0[b] + c00 * a
                        t1 = y1[b] + c01 * a + c11 * e
                        t2 = y2[b] + c02 * a + c12 * e + c22 * f
                        t3 = y3[b] + c03 * a + c13 * e + c23 * f + c33 * g
                        maha[b] += (t0 * t0 + t1 * t1) + (t2 * t2 + t3 * t3)
                else:
                    for b in range(nb):
                        a, e, f, g = w0[b] - m0, w1[b] - m1, w2[b] - m2, w3[b] - m3
                        y0[b] += c00 * a + c10 * e + c20 * f + c30 * g
                        y1[b] += c01 * a + c11 * e + c21 * f + c31 * g
                        y2[b] += c02 * a + c12 * e + c22 * f + c32 * g
                        y3[b] += c03 * a + c13 * e + c23 * f + c33 * g
        c = log_norm[k]
        for b in range(nb):
            logp[k, b] = c - half * maha[b]


@njit(**JIT)
def padded_upper(prec):
    """prec (K, D, D) -> (K, D4, D4), D4 = D rounded up to a multiple of four: the upper
    triangle of each factor, zeros below it and in the padding. Made once per kernel call:
    when each tile chose its sixteen coefficients by tests on its position (below the
    diagonal, past the end), every pass over a block paid for those branches; one thread,
    a block of 256 rows and 16 features, K=16: full_log_prob 34 -> 21.5 us, a whole pass
    over 1e6 rows 227 -> 215 ms."""
    n, n_features = prec.shape[0], prec.shape[1]
    width = (n_features + 3) // 4 * 4
    out = np.zeros((n, width, width), dtype=prec.dtype)
    for k in range(n):
        for i in range(n_features):
            for j in range(i, n_features):
                out[k, i, j] = prec[k, i, j]
    return out


@njit(**JIT)
def locations(shift, coef):
    """full_log_prob's loc: shift (K, D) = mu_k - c, coef (K, D4, D4) from padded_upper ->
    (K, D4), zero in the padding: for float64 the whitened locations P_k^T shift_k (summed in
    float64, rounded once), for float32 shift itself."""
    n, n_features = shift.shape
    single = single_precision(shift)
    out = np.zeros((n, coef.shape[1]), dtype=shift.dtype)
    for k in range(n):
        for j in range(n_features):
            if single:
                out[k, j] = shift[k, j]
            else:
                total = 0.0
                for i in range(j + 1):
                    total += float(coef[k, i, j]) * float(shift[k, i])
                out[k, j] = total
    return out


@njit(**JIT)
def gram_upper(z, nb, r, shift, scratch, s1, s2):
    """With t_b = z_b - shift: s1[i] += sum_b r_b t_ib and s2[i, j] += sum_b r_b t_ib t_jb
    for i <= j (the upper triangle): for each four rows i, u = r t and the tile on the
    diagonal, then tiles of four rows by two columns j (eight accumulators: six loads feed
    eight multiply-adds). Tiles of four by four columns (sixteen accumulators) outgrew
    AVX2's 16 vector registers: 6.2-7.1 G multiply-adds/s on one thread against 9.3-12.5
    (D = 16, K = 16 and D = 64, K = 32, interleaved). The differences are formed as the rows
    are read, never stored (see full_log_prob).
    z: (D, B), r: (B,), shift: (D,), scratch: (4, B), s1: (D,), s2: (D, D) float64."""
    wide_vectors()
    n_features = z.shape[0]
    zero = z.dtype.type(0)
    last = n_features - 1
    u0, u1, u2, u3 = scratch[0], scratch[1], scratch[2], scratch[3]
    for i in range(0, n_features, 4):
        i1, i2, i3 = min(i + 1, last), min(i + 2, last), min(i + 3, last)
        z0, z1, z2, z3 = z[i], z[i1], z[i2], z[i3]
        m0, m1, m2, m3 = shift[i], shift[i1], shift[i2], shift[i3]
        # u = r t for the four rows i, their sums, and the tile on the diagonal: its
        # upper triangle only (ten of sixteen products)
        a00 = a01 = a02 = a03 = a11 = a12 = a13 = a22 = a23 = a33 = zero
        f0 = f1 = f2 = f3 = zero
        for b in range(nb):
            x0, x1, x2, x3 = z0[b] - m0, z1[b] - m1, z2[b] - m2, z3[b] - m3
            v0, v1, v2, v3 = r[b] * x0, r[b] * x1, r[b] * x2, r[b] * x3
            u0[b] = v0
            u1[b] = v1
            u2[b] = v2
            u3[b] = v3
            f0 += v0
            f1 += v1
            f2 += v2
            f3 += v3
            a00 += v0 * x0
            a01 += v0 * x1
            a02 += v0 * x2
            a03 += v0 * x3
            a11 += v1 * x1
            a12 += v1 * x2
            a13 += v1 * x3
            a22 += v2 * x2
            a23 += v2 * x3
            a33 += v3 * x3
        first = (f0, f1, f2, f3)
        tile = ((a00, a01, a02, a03), (zero, a11, a12, a13), (zero, zero, a22, a23), (zero, zero, zero, a33))
        for t in range(4):  # rows past the end stood in for row `last`: dropped
            if i + t <= last:
                s1[i + t] += first[t]
                for q in range(t, 4):
                    if i + q <= last:
                        s2[i + t, i + q] += tile[t][q]
        for j in range(i + 4, n_features, 2):  # four rows by two columns: 8 accumulators, which
            # with their 4 + 2 operands and 2 shifts fit AVX2's 16 vector registers (see gram_upper)
            j1 = min(j + 1, last)
            w0, w1 = z[j], z[j1]
            n0, n1 = shift[j], shift[j1]
            a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = zero
            for b in range(nb):
                v0, v1, v2, v3 = u0[b], u1[b], u2[b], u3[b]
                x0, x1 = w0[b] - n0, w1[b] - n1
                a00 += v0 * x0
                a01 += v0 * x1
                a10 += v1 * x0
                a11 += v1 * x1
                a20 += v2 * x0
                a21 += v2 * x1
                a30 += v3 * x0
                a31 += v3 * x1
            tile = ((a00, a01), (a10, a11), (a20, a21), (a30, a31))
            for t in range(4):  # a column past the end stood in for row `last`: dropped
                for q in range(2):
                    if j + q <= last:
                        s2[i + t, j + q] += tile[t][q]


@njit(**JIT)
def full_accumulate(xT, nb, loc, resp, scratch, s0, s1, s2):
    """Adds the moments of nb rows around loc: s0[k] += sum r, s1[k] += sum r (x - loc_k),
    s2[k] (upper triangle) += sum r (x - loc_k)(x - loc_k)^T, with resp (K, B) final
    weights; scratch (4, B) is scratch."""
    wide_vectors()
    zero = xT.dtype.type(0)
    for k in range(loc.shape[0]):
        r = resp[k]
        total = zero
        for b in range(nb):
            total += r[b]
        s0[k] += total
        gram_upper(xT, nb, r, loc[k], scratch, s1[k], s2[k])
