"""Block functions for full covariances: one component, one precision Cholesky factor each.

Layout shared by all block functions: a block of ``nb`` rows is held transposed,
``xT`` of shape (n_features, B), so that every inner loop runs over contiguous rows
and vectorises. Log-probabilities and responsibilities are (n_components, B). Blocks
compute in the data's precision (float32 data: 16 lanes per AVX-512 vector) with
parameters given in that precision; each block's sums are then added to float64 statistics.

Register tiling: an inner loop that reads one row and updates one accumulator row
(a load and a store per multiply-add) runs at a fraction of the FMA units' rate. Here
each pass over a block combines four input rows into one output (the triangular
product), or four rows against four (the Gram matrix), so that each store or each
load feeds two or more multiply-adds. Rows past the end of a tile are stood in for
by the tile's first row with a zero coefficient (exact: the rows are finite).
"""

from numba import njit

from ._options import JIT


@njit(**JIT)
def full_log_prob(xT, nb, loc, prec, log_norm, work, scratch, logp):
    """logp[k, b] = log_norm[k] - ||P_k^T (x_b - loc_k)||^2 / 2.

    prec: (K, D, D) upper-triangular Cholesky factors of the precisions (P P^T = Lambda).
    work: (D, B) scratch, scratch: (2, B) scratch, logp: (K, B) output.
    """
    n_features = xT.shape[0]
    half = xT.dtype.type(0.5)
    zero = xT.dtype.type(0)
    maha, partial = scratch[0], scratch[1]
    for k in range(loc.shape[0]):
        P = prec[k]
        for d in range(n_features):
            m = loc[k, d]
            for b in range(nb):
                work[d, b] = xT[d, b] - m
        for b in range(nb):
            maha[b] = 0
        # y_j = sum_{i <= j} P[i, j] diff_i in passes of four terms; maha += y_j^2
        for j in range(n_features):
            for i in range(0, j + 1, 4):
                p0 = P[i, j]
                p1 = P[i + 1, j] if i + 1 <= j else zero
                p2 = P[i + 2, j] if i + 2 <= j else zero
                p3 = P[i + 3, j] if i + 3 <= j else zero
                w0 = work[i]
                w1 = work[i + 1] if i + 1 <= j else w0
                w2 = work[i + 2] if i + 2 <= j else w0
                w3 = work[i + 3] if i + 3 <= j else w0
                first, last = i == 0, i + 4 > j
                if first and last:
                    for b in range(nb):
                        y = p0 * w0[b] + p1 * w1[b] + p2 * w2[b] + p3 * w3[b]
                        maha[b] += y * y
                elif first:
                    for b in range(nb):
                        partial[b] = p0 * w0[b] + p1 * w1[b] + p2 * w2[b] + p3 * w3[b]
                elif last:
                    for b in range(nb):
                        y = partial[b] + p0 * w0[b] + p1 * w1[b] + p2 * w2[b] + p3 * w3[b]
                        maha[b] += y * y
                else:
                    for b in range(nb):
                        partial[b] += p0 * w0[b] + p1 * w1[b] + p2 * w2[b] + p3 * w3[b]
        c = log_norm[k]
        for b in range(nb):
            logp[k, b] = c - half * maha[b]


@njit(**JIT)
def gram_upper(z, nb, r, scratch, s2):
    """s2[i, j] += sum_b r_b z_ib z_jb for i <= j (the upper triangle), in tiles of four
    rows i by four columns j (sixteen accumulators: eight loads feed sixteen multiply-adds).
    z: (D, B), r: (B,), scratch: (4, B), s2: (D, D) float64."""
    n_features = z.shape[0]
    zero = z.dtype.type(0)
    last = n_features - 1
    u0, u1, u2, u3 = scratch[0], scratch[1], scratch[2], scratch[3]
    for i in range(0, n_features, 4):
        z0, z1, z2, z3 = z[i], z[min(i + 1, last)], z[min(i + 2, last)], z[min(i + 3, last)]
        for b in range(nb):
            u0[b] = r[b] * z0[b]
            u1[b] = r[b] * z1[b]
            u2[b] = r[b] * z2[b]
            u3[b] = r[b] * z3[b]
        for j in range(i, n_features, 4):
            w0, w1, w2, w3 = z[j], z[min(j + 1, last)], z[min(j + 2, last)], z[min(j + 3, last)]
            a00 = a01 = a02 = a03 = zero
            a10 = a11 = a12 = a13 = zero
            a20 = a21 = a22 = a23 = zero
            a30 = a31 = a32 = a33 = zero
            for b in range(nb):
                v0, v1, v2, v3 = u0[b], u1[b], u2[b], u3[b]
                x0, x1, x2, x3 = w0[b], w1[b], w2[b], w3[b]
                a00 += v0 * x0
                a01 += v0 * x1
                a02 += v0 * x2
                a03 += v0 * x3
                a10 += v1 * x0
                a11 += v1 * x1
                a12 += v1 * x2
                a13 += v1 * x3
                a20 += v2 * x0
                a21 += v2 * x1
                a22 += v2 * x2
                a23 += v2 * x3
                a30 += v3 * x0
                a31 += v3 * x1
                a32 += v3 * x2
                a33 += v3 * x3
            tile = ((a00, a01, a02, a03), (a10, a11, a12, a13), (a20, a21, a22, a23), (a30, a31, a32, a33))
            for t in range(4):  # rows and columns past the end stood in for row `last`: dropped
                for q in range(4):
                    if i + t <= j + q <= last:
                        s2[i + t, j + q] += tile[t][q]


@njit(**JIT)
def full_accumulate(xT, nb, loc, resp, work, scratch, s0, s1, s2):
    """Adds the moments of nb rows around loc: s0[k] += sum r, s1[k] += sum r (x - loc_k),
    s2[k] (upper triangle) += sum r (x - loc_k)(x - loc_k)^T, with resp (K, B) final
    weights; work (D, B) and scratch (4, B) are scratch."""
    n_features = xT.shape[0]
    zero = xT.dtype.type(0)
    for k in range(loc.shape[0]):
        r = resp[k]
        total = zero
        for b in range(nb):
            total += r[b]
        s0[k] += total
        for d in range(n_features):
            m = loc[k, d]
            acc = zero
            for b in range(nb):
                t = xT[d, b] - m
                work[d, b] = t
                acc += r[b] * t
            s1[k, d] += acc
        gram_upper(work, nb, r, scratch, s2[k])
