"""Exact EM for rows with missing entries (NaN): each row's marginal density over its
observed features, and the expected sufficient statistics given them (Ghahramani and
Jordan 1994). Same arguments as drivers.py, plus:

    lam      (K, D, D) full, (1, D, D) tied: the precisions, float64
    means    (K, D) float64: the components' means
    var      (K, 1, D) float64 (diag): the variances 1 / prec^2
    h2       (K, 1, D) (diag, in X's precision): 2 log prec - log(2 pi) per feature

Diagonal families need no grouping: a missing feature drops its term from the
log-density, adds nothing to the shifted first moment (its expectation is the mean,
where the statistics are taken) and its variance to the second. Blocks without a NaN run
the complete-data block functions, so data without NaN gives bitwise the results of
drivers.py.

Full and tied, row by row (``masked_pass``): for each component k, every missing entry
of a row takes its conditional mean given the row's observed features,
x_M = mu_M - lam_MM^-1 lam_MO (x_O - mu_O), and the complete-data block functions run on
the filled block. Filled so, the row's distance from mu_k, (x - mu)^T lam (x - mu), is
its observed features' Mahalanobis distance under the marginal (whose precision is the
Schur complement lam_OO - lam_OM lam_MM^-1 lam_MO), computed as a sum of squares; the
marginal's normalisation adds |M|/2 log(2 pi) - log det lam_MM / 2. The filled rows'
moments are the expected ones but for the conditional covariance lam_MM^-1, which each
row adds to its missing block times its responsibility. A chunk's rows are grouped by
pattern in one hash-table pass (``patterns``), and each pattern's lam_MM^-1 and log
determinant are computed once per chunk for all components at once, the components in
vector lanes (``pattern_inverses``); so are each row's conditional means
(``conditional_means``).
"""

import numpy as np
from numba import njit, prange

from ._exp import log_positive
from ._options import JIT, PARALLEL_JIT, wide_vectors
from .diag import diag_accumulate, diag_log_prob
from .drivers import block_likelihood, load_block, normalize_block
from .full import full_log_prob, gram_upper
from .tied import center_block

LOG_2PI = np.log(2.0 * np.pi)


# ------------------------------------------------------------------------ checks
@njit(**JIT)
def first_bad_row(X, allow_nan):
    """(row, kind) of the first row of X (n, D) that no fit can take, or (-1, 0): kind 1
    a NaN (when not allow_nan), 2 an infinity, 3 every feature NaN (when allow_nan)."""
    n, n_features = X.shape
    for i in range(n):
        total = 0.0
        for d in range(n_features):
            total += X[i, d] * 0.0
        if total == 0.0:  # x * 0 is NaN exactly when x is NaN or inf
            continue
        seen = 0
        for d in range(n_features):
            v = X[i, d]
            if np.isnan(v):
                if not allow_nan:
                    return i, 1
            else:
                if np.isinf(v):
                    return i, 2
                seen += 1
        if seen == 0:
            return i, 3
    return -1, 0


# ------------------------------------------------------------------------ diagonal families
@njit(**JIT)
def load_block_masked(X, weight, r0, nb, xT, obs, wb):
    """load_block, then obs[:, :nb] = 1 where observed and 0 where NaN, whose entries of
    xT become 0. Returns the number of missing entries."""
    wide_vectors()
    load_block(X, weight, r0, nb, xT, wb)
    one, zero = xT.dtype.type(1), xT.dtype.type(0)
    missing = 0
    for d in range(xT.shape[0]):
        for b in range(nb):
            v = xT[d, b]
            seen = not np.isnan(v)
            obs[d, b] = one if seen else zero
            xT[d, b] = v if seen else zero
            missing += not seen
    return missing


@njit(**JIT)
def diag_log_prob_masked(xT, obs, nb, loc, prec, h2, log_norm, maha, logp):
    """diag_log_prob over each row's observed features: logp[k, b] = log_norm[k] - (H_k +
    sum_{d observed} (((x_bd - loc_kd) p_kd)^2 - h2_kd)) / 2, with H_k = sum_d h2_kd (the
    features' share of log_norm, times -2... see the module docstring)."""
    wide_vectors()
    n_features = xT.shape[0]
    half = xT.dtype.type(0.5)
    zero = xT.dtype.type(0)
    last = n_features - 1
    for k in range(loc.shape[0]):
        everything = zero
        for d in range(n_features):
            everything += h2[k, 0, d]
        for b in range(nb):
            maha[b] = 0
        for d in range(0, n_features, 4):
            d1, d2, d3 = min(d + 1, last), min(d + 2, last), min(d + 3, last)
            m0, m1, m2, m3 = loc[k, d], loc[k, d1], loc[k, d2], loc[k, d3]
            p0 = prec[k, 0, d]
            p1 = prec[k, 0, d1] if d + 1 <= last else zero
            p2 = prec[k, 0, d2] if d + 2 <= last else zero
            p3 = prec[k, 0, d3] if d + 3 <= last else zero
            g0 = h2[k, 0, d]
            g1 = h2[k, 0, d1] if d + 1 <= last else zero
            g2 = h2[k, 0, d2] if d + 2 <= last else zero
            g3 = h2[k, 0, d3] if d + 3 <= last else zero
            x0, x1, x2, x3 = xT[d], xT[d1], xT[d2], xT[d3]
            o0, o1, o2, o3 = obs[d], obs[d1], obs[d2], obs[d3]
            for b in range(nb):
                t0 = (x0[b] - m0) * p0
                t1 = (x1[b] - m1) * p1
                t2 = (x2[b] - m2) * p2
                t3 = (x3[b] - m3) * p3
                maha[b] += (o0[b] * (t0 * t0 - g0) + o1[b] * (t1 * t1 - g1)
                            + o2[b] * (t2 * t2 - g2) + o3[b] * (t3 * t3 - g3))
        c = log_norm[k]
        for b in range(nb):
            logp[k, b] = c - half * (everything + maha[b])


@njit(**JIT)
def diag_accumulate_masked(xT, obs, nb, loc, var, resp, s0, s1, s2):
    """diag_accumulate with each missing entry's expectations: it adds nothing to s1 and
    var_kd r to s2[k, 0, d] (the mean is where the statistics are taken)."""
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
            o0, o1, o2, o3 = obs[d], obs[d1], obs[d2], obs[d3]
            m0, m1, m2, m3 = loc[k, d], loc[k, d1], loc[k, d2], loc[k, d3]
            a0 = a1 = a2 = a3 = q0 = q1 = q2 = q3 = c0 = c1 = c2 = c3 = zero
            for b in range(nb):
                v0, v1, v2, v3 = r[b] * o0[b], r[b] * o1[b], r[b] * o2[b], r[b] * o3[b]
                t0, t1, t2, t3 = x0[b] - m0, x1[b] - m1, x2[b] - m2, x3[b] - m3
                u0, u1, u2, u3 = v0 * t0, v1 * t1, v2 * t2, v3 * t3
                a0 += u0
                a1 += u1
                a2 += u2
                a3 += u3
                q0 += u0 * t0
                q1 += u1 * t1
                q2 += u2 * t2
                q3 += u3 * t3
                c0 += v0
                c1 += v1
                c2 += v2
                c3 += v3
            first, second, seen = (a0, a1, a2, a3), (q0, q1, q2, q3), (c0, c1, c2, c3)
            for i in range(4):
                if d + i <= last:
                    s1[k, d + i] += first[i]
                    s2[k, 0, d + i] += second[i] + var[k, 0, d + i] * (float(total) - float(seen[i]))


# ------------------------------------------------------------------------ grouping by pattern
@njit(**JIT)
def patterns(X):
    """Rows grouped by missingness pattern, in order of each pattern's first row and, within
    a pattern, in row order: (order (n,), starts (P + 1,) so that pattern p's rows are
    order[starts[p]:starts[p + 1]], first (P,) each pattern's first row). One pass and a
    hash table: O(n D)."""
    n, n_features = X.shape
    n_words = (n_features + 63) // 64
    words = np.zeros((n, n_words), dtype=np.uint64)
    one = np.uint64(1)
    for i in range(n):
        for d in range(n_features):
            v = X[i, d]
            if np.isnan(v):
                words[i, d // 64] |= one << np.uint64(d % 64)
    size = 16
    while size < 2 * n:
        size *= 2
    mask = np.uint64(size - 1)
    table = np.full(size, -1, dtype=np.int64)
    ids = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    count = 0
    for i in range(n):
        h = np.uint64(1469598103934665603)
        for w in range(n_words):
            h = (h ^ words[i, w]) * np.uint64(1099511628211)
        h ^= h >> np.uint64(29)
        slot = h & mask
        while True:
            p = table[slot]
            if p < 0:
                table[slot] = count
                first[count] = i
                ids[i] = count
                count += 1
                break
            same = True
            for w in range(n_words):
                same = same and words[first[p], w] == words[i, w]
            if same:
                ids[i] = p
                break
            slot = (slot + one) & mask
    starts = np.zeros(count + 1, dtype=np.int64)
    for i in range(n):
        starts[ids[i] + 1] += 1
    for p in range(count):
        starts[p + 1] += starts[p]
    at = starts[:count].copy()
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        order[at[ids[i]]] = i
        at[ids[i]] += 1
    return order, starts, first[:count].copy()


# ------------------------------------------------------------------------ the drivers
@njit(**PARALLEL_JIT)
def em_diag(X, weight, rows, n_blocks, groups, slots, loc, prec, log_norm, var, h2, xT, obs, logp, vec, g_s0, g_s1,
            g_s2, g_ll, g_low, g_low_row):
    """The fused pass's statistics (drivers.family_drivers) for diagonal families (DIAG)
    over a chunk whose NaN entries are missing, with the same partition, scratch (obs in
    place of work) and group sums; blocks without NaN compute exactly as the fused pass's."""
    n = X.shape[0]
    n_components = loc.shape[0]
    for s in prange(slots):
        wide_vectors()
        for g in range(s * groups // slots, (s + 1) * groups // slots):
            for blk in range(g * n_blocks // groups, (g + 1) * n_blocks // groups):
                r0 = blk * rows
                nb = min(rows, n - r0)
                wb, factor, top, total = vec[s, 0], vec[s, 1], vec[s, 2], vec[s, 3]
                missing = load_block_masked(X, weight, r0, nb, xT[s], obs[s], wb)
                if missing == 0:
                    diag_log_prob(xT[s], nb, loc, prec, log_norm, vec[s, 1], logp[s])
                else:
                    diag_log_prob_masked(xT[s], obs[s], nb, loc, prec, h2, log_norm, vec[s, 1], logp[s])
                normalize_block(logp[s], nb, top, total, X, r0 + rows)
                ll, g_low[g], g_low_row[g] = block_likelihood(nb, r0, wb, top, total, factor, g_low[g], g_low_row[g])
                g_ll[g] += ll
                for k in range(n_components):
                    for b in range(nb):
                        logp[s, k, b] *= factor[b]
                if missing == 0:
                    diag_accumulate(xT[s], nb, loc, logp[s], g_s0[g], g_s1[g], g_s2[g])
                else:
                    diag_accumulate_masked(xT[s], obs[s], nb, loc, var, logp[s], g_s0[g], g_s1[g], g_s2[g])


@njit(**PARALLEL_JIT)
def score_diag(X, rows, n_blocks, groups, slots, loc, prec, log_norm, h2, xT, obs, logp, vec, log_density, labels,
               resp):
    """The fused pass's per-row outputs for DIAG over a chunk whose NaN entries are
    missing (partition and scratch as em_diag's)."""
    n = X.shape[0]
    for s in prange(slots):
        wide_vectors()
        for g in range(s * groups // slots, (s + 1) * groups // slots):
            for blk in range(g * n_blocks // groups, (g + 1) * n_blocks // groups):
                r0 = blk * rows
                nb = min(rows, n - r0)
                if load_block_masked(X, X[:0, 0], r0, nb, xT[s], obs[s], vec[s, 0]) == 0:
                    diag_log_prob(xT[s], nb, loc, prec, log_norm, vec[s, 1], logp[s])
                else:
                    diag_log_prob_masked(xT[s], obs[s], nb, loc, prec, h2, log_norm, vec[s, 1], logp[s])
                normalize_block(logp[s], nb, vec[s, 2], vec[s, 3], X, r0 + rows)
                for b in range(nb):
                    _row_results(logp[s], b, vec[s, 2], vec[s, 3], r0 + b, log_density, labels, resp)


@njit(**JIT)
def _row_results(logp, b, top, total, row, log_density, labels, resp):
    """Row row's log-density, label and (if resp has rows) responsibilities from the
    normalised block logp (K, B), as drivers.score computes them."""
    n_components = logp.shape[0]
    best = 0
    for k in range(1, n_components):
        if logp[k, b] > logp[best, b]:
            best = k
    labels[row] = best
    log_density[row] = float(top[b]) + log_positive(total[b])
    if resp.shape[0] > 0:
        row_total = 0.0
        for k in range(n_components):
            row_total += logp[k, b]
        inverse = 1.0 / row_total
        for k in range(n_components):
            resp[row, k] = logp[k, b] * inverse


# ------------------------------------------------------------------------ full and tied, row by row
@njit(**JIT)
def pattern_features(X, first, missing, n_missing, offset):
    """For each pattern p (its first row first[p]): its missing features, ascending, into
    missing[p, :m], their number m into n_missing[p], and offset[p + 1] = offset[p] + m^2
    (offset[0] = 0): where its blocks start in pattern_inverses' table."""
    offset[0] = 0
    for p in range(first.shape[0]):
        m = 0
        for d in range(X.shape[1]):
            if np.isnan(X[first[p], d]):
                missing[p, m] = d
                m += 1
        n_missing[p] = m
        offset[p + 1] = offset[p] + m * m


@njit(**PARALLEL_JIT)
def pattern_inverses(lam_t, missing, n_missing, offset, inverse, const):
    """For each pattern p (missing features missing[p, :m], m = n_missing[p]) and every
    component k at once (in vector lanes; lam_t (D, D, K8) the precisions, components
    last): inverse[offset[p] + a m + c, k] = (lam_MM^-1)[a, c], and const[p, k] =
    m/2 log(2 pi) - log det lam_MM / 2, by a Cholesky factorisation (the block of a
    positive definite matrix is one) L L^T = lam_MM, then L^-1, then L^-T L^-1."""
    width = lam_t.shape[2]
    n_components = const.shape[1]
    for p in prange(missing.shape[0]):
        wide_vectors()
        m = n_missing[p]
        L = np.zeros((m, m, width))
        t = np.empty(width)
        log_det = np.zeros(width)
        for a in range(m):
            for c in range(a + 1):
                for k in range(width):
                    t[k] = lam_t[missing[p, a], missing[p, c], k]
                for q in range(c):
                    for k in range(width):
                        t[k] -= L[a, q, k] * L[c, q, k]
                if a == c:
                    for k in range(width):
                        L[a, a, k] = np.sqrt(t[k]) if k < n_components else 1.0
                        log_det[k] += 2.0 * log_positive(L[a, a, k])
                else:
                    for k in range(width):
                        L[a, c, k] = t[k] / L[c, c, k]
        for a in range(m):  # L <- L^-1, in place, lower triangular
            for k in range(width):
                L[a, a, k] = 1.0 / L[a, a, k]
            for c in range(a):
                for k in range(width):
                    t[k] = 0.0
                for q in range(c, a):
                    for k in range(width):
                        t[k] -= L[a, q, k] * L[q, c, k]
                for k in range(width):
                    L[a, c, k] = t[k] * L[a, a, k]
        for a in range(m):  # lam_MM^-1 = L^-T L^-1
            for c in range(m):
                row = inverse[offset[p] + a * m + c]
                for k in range(width):
                    row[k] = 0.0
                for q in range(max(a, c), m):
                    for k in range(width):
                        row[k] += L[q, a, k] * L[q, c, k]
        for k in range(n_components):
            const[p, k] = 0.5 * m * LOG_2PI - 0.5 * log_det[k]


@njit(**JIT)
def holes_of(r0, nb, pid, n_missing, holes, entries):
    """holes[:count] = the rows b of the block starting at row r0 that miss a feature, and
    entries[h] = where hole h's missing entries start in a list of the block's (entries[count]
    their number); returns count."""
    count = 0
    entries[0] = 0
    for b in range(nb):
        m = n_missing[pid[r0 + b]]
        if m > 0:
            holes[count] = b
            entries[count + 1] = entries[count] + m
            count += 1
    return count


LANES = 8  # the component lanes are padded to a multiple of this: two 256-bit vectors of float64


@njit(**JIT)
def conditional_means(X, r0, holes, entries, count, lam_t, shift_t, lam_shift, center, pid, missing, n_missing,
                      offset, inverse, const, fills, where, const_h, xc, v):
    """For the block's rows holes[:count] (holes_of) and every component k at once (in
    vector lanes): each missing entry x_j's conditional mean given the row's observed
    features, minus c_j, into fills[e, k] with e running over holes_of's entries, and j
    into where[e]; const_h[k, h] = const[p, k] of the row's pattern p. With y = x - c
    (0 where missing) and s_k = mu_k - c: E[x_M | x_O] - c_M = s_M - lam_MM^-1 v,
    v = lam_MO (y_O - s_O) = (lam y)_M - (lam s)_M + lam_MM s_M.

    lam_t (D, D, K8) the precisions, shift_t (D, K8) the s_k and lam_shift (D, K8) the
    lam_k s_k, components last and padded to K8, a multiple of LANES; xc (D,) and v (D,
    K8) float64 scratch."""
    wide_vectors()
    n_features = X.shape[1]
    n_components = const_h.shape[0]
    width = shift_t.shape[1]
    whole = n_features - n_features % 8
    for h in range(count):
        b = holes[h]
        p = pid[r0 + b]
        m = n_missing[p]
        e = entries[h]
        for k in range(n_components):
            const_h[k, h] = const[p, k]
        for i in range(n_features):
            x = X[r0 + b, i]
            xc[i] = 0.0 if np.isnan(x) else float(x) - float(center[i])
        for a in range(m):
            j = missing[p, a]
            where[e + a] = j
            va, lj = v[a], lam_t[j]
            for k in range(width):
                va[k] = -lam_shift[j, k]
            for i in range(0, whole, 8):  # eight features per pass over the lanes
                y0, y1, y2, y3 = xc[i], xc[i + 1], xc[i + 2], xc[i + 3]
                y4, y5, y6, y7 = xc[i + 4], xc[i + 5], xc[i + 6], xc[i + 7]
                l0, l1, l2, l3 = lj[i], lj[i + 1], lj[i + 2], lj[i + 3]
                l4, l5, l6, l7 = lj[i + 4], lj[i + 5], lj[i + 6], lj[i + 7]
                for k in range(width):
                    va[k] += (((l0[k] * y0 + l1[k] * y1) + (l2[k] * y2 + l3[k] * y3))
                              + ((l4[k] * y4 + l5[k] * y5) + (l6[k] * y6 + l7[k] * y7)))
            for i in range(whole, n_features):
                y, li = xc[i], lj[i]
                for k in range(width):
                    va[k] += li[k] * y
            for c in range(m):
                jc = missing[p, c]
                li, sc = lj[jc], shift_t[jc]
                for k in range(width):
                    va[k] += li[k] * sc[k]
        for a in range(m):
            fa, sj = fills[e + a], shift_t[missing[p, a]]
            for k in range(width):
                fa[k] = sj[k]
            for c in range(m):
                ic, vc = inverse[offset[p] + a * m + c], v[c]
                for k in range(width):
                    fa[k] -= ic[k] * vc[k]


@njit(**JIT)
def put_fills(holes, entries, count, where, fills, k, xT):
    """xT[where[e], holes[h]] = fills[e, k] over each hole h's entries e (conditional_means)."""
    for h in range(count):
        b = holes[h]
        for e in range(entries[h], entries[h + 1]):
            xT[where[e], b] = fills[e, k]


@njit(**JIT)
def add_conditional_covariances(r0, holes, count, pid, missing, n_missing, offset, inverse, resp, s2):
    """s2[f] (upper triangle) += r_kb lam_MM^-1 on each hole row b's missing block, for
    every component k (f = k, or 0 when s2 holds one): the conditional covariance's share
    of the second moments. resp (K, B) final weights."""
    n_components = resp.shape[0]
    shared = s2.shape[0] == 1
    for h in range(count):
        b = holes[h]
        p = pid[r0 + b]
        m = n_missing[p]
        for a in range(m):
            j = missing[p, a]
            for c in range(a, m):
                jc = missing[p, c]
                ic = inverse[offset[p] + a * m + c]
                for k in range(n_components):
                    s2[0 if shared else k, j, jc] += float(resp[k, b]) * ic[k]


@njit(**PARALLEL_JIT)
def masked_pass(X, weight, rows, n_blocks, groups, slots, coef, e_loc, m_shift, center, log_norm, lam_t, shift_t,
                lam_shift, pid, missing, n_missing, offset, inverse, const, xT, logp, vec, fills, where, const_h, xc, v,
                holes, entries, g_s0, g_s1, g_s2, g_ll, g_low, g_low_row, log_density, labels, resp):
    """The fused pass (drivers.family_drivers) for FULL and TIED over a chunk whose NaN
    entries are missing, row by row: a row's missing entries take, for each component,
    their conditional means given its observed ones (conditional_means), and the
    complete-data block functions run on the block filled for that component. The
    filled row's distance from mu_k is the observed features' Mahalanobis distance
    (lam_OO - lam_OM lam_MM^-1 lam_MO is the marginal's precision), a sum of squares;
    const[p, k] = m/2 log(2 pi) - log det lam_MM / 2 adds the marginal's normalisation.
    The statistics are those of the filled rows plus r lam_MM^-1 on the missing block
    (the conditional covariance).

    coef (K, D4, D4), e_loc (K, D4) and m_shift (K, D) as full's block functions take
    them (tied: its factor for every k, and m_shift 0, its statistics around c); s2's
    groups (groups, K, D, D) full, (groups, 1, D, D) tied; pid (n,) each row's pattern,
    whose missing features, offsets into inverse and constants (P, K) come from
    pattern_inverses; lam_t, shift_t and lam_shift as conditional_means takes them.
    Scratch per slot: fills (D B, K8) float64, where (D B,), const_h (K, B) in X's
    precision, xc (D,) and v (D, K8) float64, holes (B,) and entries (B + 1,).
    Statistics when g_s0 has groups, else the per-row outputs."""
    n = X.shape[0]
    n_components = log_norm.shape[0]
    with_stats = g_s0.shape[0] > 0
    shared = g_s2.shape[1] == 1
    for s in prange(slots):
        wide_vectors()
        for g in range(s * groups // slots, (s + 1) * groups // slots):
            for blk in range(g * n_blocks // groups, (g + 1) * n_blocks // groups):
                r0 = blk * rows
                nb = min(rows, n - r0)
                wb, factor, top, total = vec[s, 0], vec[s, 1], vec[s, 2], vec[s, 3]
                load_block(X, weight, r0, nb, xT[s], wb)
                center_block(xT[s], nb, center)
                count = holes_of(r0, nb, pid, n_missing, holes[s], entries[s])
                conditional_means(X, r0, holes[s], entries[s], count, lam_t, shift_t, lam_shift, center, pid, missing,
                                  n_missing, offset, inverse, const, fills[s], where[s], const_h[s], xc[s], v[s])
                for k in range(n_components):
                    put_fills(holes[s], entries[s], count, where[s], fills[s], k, xT[s])
                    full_log_prob(xT[s], nb, e_loc[k:k + 1], coef[k:k + 1], log_norm[k:k + 1], vec[s, 1:6],
                                  logp[s, k:k + 1])
                    for h in range(count):
                        logp[s, k, holes[s, h]] += const_h[s, k, h]
                normalize_block(logp[s], nb, top, total, X, r0 + rows)
                if not with_stats:
                    for b in range(nb):
                        _row_results(logp[s], b, top, total, r0 + b, log_density, labels, resp)
                    continue
                ll, g_low[g], g_low_row[g] = block_likelihood(nb, r0, wb, top, total, factor, g_low[g], g_low_row[g])
                g_ll[g] += ll
                for k in range(n_components):
                    r = logp[s, k]
                    mass = r.dtype.type(0)
                    for b in range(nb):
                        r[b] *= factor[b]
                        mass += r[b]
                    g_s0[g, k] += mass
                    put_fills(holes[s], entries[s], count, where[s], fills[s], k, xT[s])
                    gram_upper(xT[s], nb, r, m_shift[k], vec[s, 2:6], g_s1[g, k], g_s2[g, 0 if shared else k])
                add_conditional_covariances(r0, holes[s], count, pid, missing, n_missing, offset, inverse, logp[s],
                                            g_s2[g])
