"""Exact EM for rows with missing entries (NaN): each row's marginal density over its
observed features, and the expected sufficient statistics given them (Ghahramani and
Jordan 1994). Same arguments as drivers.py, plus:

    lam      (K, D, D) full, (1, D, D) tied: the precisions, float64
    means    (K, D) float64: the components' means
    shift    (K, D) float64: the points the statistics are taken around (Stats.shift)
    log_w    (K,) float64: log weights
    var      (K, 1, D) float64 (diag): the variances 1 / prec^2
    h2       (K, 1, D) (diag, in X's precision): 2 log prec - log(2 pi) per feature

Diagonal families need no grouping: a missing feature drops its term from the
log-density, adds nothing to the shifted first moment (its expectation is the mean,
where the statistics are taken) and its variance to the second. Blocks without a NaN run
the complete-data block functions, so data without NaN gives bitwise the results of
drivers.py.

Full and tied: the rows of a chunk are grouped by missingness pattern (``patterns``), and
each pattern's marginal factors, regression and conditional covariance are computed once
per piece of at most PIECE_ROWS of its rows, never per row. A piece's rows, gathered to
their observed features, run the complete-data block functions in that dimension; their
statistics in observed coordinates (s0, g = sum r y, G = sum r y y^T with y = x_O - s_O)
are expanded to all features: with B = S_MO S_OO^-1, C = S_MM - B S_OM and e the
conditional mean's offset from the shift, x_M - s_M = B y + e given x_O, so
sum r (x - s) = [g; B g + s0 e] and the second moment is [G, G B^T + g e^T; B G + e g^T,
B G B^T + B g e^T + e g^T B^T + s0 (e e^T + C)].
"""

import numpy as np
from numba import njit, prange

from ._exp import log_positive
from ._options import FULL, JIT, PARALLEL_JIT, TIED, block_rows, n_groups, n_slots, wide_vectors
from .diag import diag_accumulate, diag_log_prob
from .drivers import load_block, normalize_block
from .full import full_accumulate, full_log_prob, locations
from .tied import center_block, tied_accumulate, tied_log_prob

PIECE_ROWS = 4096  # rows of one pattern per unit of parallel work; each piece computes its pattern once
RARE_ROWS = 8  # a piece of fewer rows takes each row's marginal directly (_rare_rows)
PATTERN_COST = 150  # a piece's pattern algebra and expansion, in rows' worth of block work (D=16, K=16: ~100 us)
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


@njit(**JIT)
def pieces_of(starts, n_rows, rows, n_components, s2_size, n_features):
    """Pieces (pattern, first, stop) of at most PIECE_ROWS rows (positions in the grouped
    order) and the groups over them, a function of the data only (never of the thread
    count): (piece (m, 3), group_first (groups + 1,)) with group g the pieces
    group_first[g]:group_first[g + 1]."""
    n_patterns = starts.shape[0] - 1
    total = 0
    for p in range(n_patterns):
        total += (starts[p + 1] - starts[p] + PIECE_ROWS - 1) // PIECE_ROWS
    piece = np.empty((total, 3), dtype=np.int64)
    i = 0
    for p in range(n_patterns):
        for a in range(starts[p], starts[p + 1], PIECE_ROWS):
            piece[i, 0], piece[i, 1], piece[i, 2] = p, a, min(a + PIECE_ROWS, starts[p + 1])
            i += 1
    n_blocks = (n_rows + rows - 1) // rows
    per_group = 8 * (s2_size + n_components * (n_features + 1) + 3)
    groups = n_groups(n_blocks, per_group)
    # groups of about equal work: a piece costs its rows plus PATTERN_COST rows for its
    # pattern's algebra; rare patterns come last in the grouped order, and groups of equal
    # rows left all of them to the last slot
    work = 0
    for i in range(total):
        work += piece[i, 2] - piece[i, 1] + PATTERN_COST
    group_first = np.empty(groups + 1, dtype=np.int64)
    g = 0
    done = 0
    for i in range(total):  # piece i goes to the group its first unit of work falls in
        while g <= groups and done * groups >= g * work:
            group_first[g] = i
            g += 1
        done += piece[i, 2] - piece[i, 1] + PATTERN_COST
    while g <= groups:
        group_first[g] = total
        g += 1
    return piece, group_first


@njit(**JIT)
def gather_block(X, weight, order, a, nb, observed, m, xT, wb):
    """xT[j, b] = X[order[a + b], observed[j]] for j < m (in xT's precision), and wb the
    rows' sample weights."""
    for j in range(m):
        d = observed[j]
        for b in range(nb):
            xT[j, b] = X[order[a + b], d]
    if weight.shape[0] == 0:
        for b in range(nb):
            wb[b] = 1.0
    else:
        for b in range(nb):
            wb[b] = weight[order[a + b]]


# ------------------------------------------------------------------------ one pattern's algebra
@njit(**JIT)
def inverse_block(lam, missing, r, L, C):
    """C[:r, :r] = the inverse of lam's block lam_MM (missing[:r] its rows and columns), by
    its Cholesky factor L (lower, in L[:r, :r]). Returns log det lam_MM (NaN where it is
    not positive definite)."""
    log_det = 0.0
    for a in range(r):  # lam_MM = L L^T, L lower
        for c in range(a + 1):
            t = lam[missing[a], missing[c]]
            for p in range(c):
                t -= L[a, p] * L[c, p]
            if a == c:
                L[a, a] = np.sqrt(t) if t > 0.0 else np.nan
                log_det += 2.0 * np.log(L[a, a])
            else:
                L[a, c] = t / L[c, c]
    for c in range(r):  # C = L^-T L^-1: solve L y = e_c, then L^T C[:, c] = y
        for a in range(r):
            t = 1.0 if a == c else 0.0
            for p in range(a):
                t -= L[a, p] * C[p, c]
            C[a, c] = t / L[a, a]
        for a in range(r - 1, -1, -1):
            t = C[a, c]
            for p in range(a + 1, r):
                t -= L[p, a] * C[p, c]
            C[a, c] = t / L[a, a]
    return log_det


@njit(**JIT)
def pattern_algebra(lam, observed, m, missing, r, W, L, Q, R, Bt, C):
    """For one precision lam (D, D) and a pattern with observed features observed[:m] and
    missing ones missing[:r], from the precision's blocks (Schur complement, no inverse of
    the observed block): C[:r, :r] = lam_MM^-1, the conditional covariance; R[:r, :m] =
    lam_MM^-1 lam_MO, so that E[x_M | x_O] = mu_M - R (x_O - mu_O) and Bt = -R^T; W = lam_OO
    - lam_OM R, the marginal's precision, and Q[:m, :m] upper triangular with Q Q^T = W.
    Returns log det Q. L (D, D) is scratch. A factor that is not positive definite gives
    NaN (the pass then reports a non-finite log-likelihood)."""
    inverse_block(lam, missing, r, L, C)
    for a in range(r):
        for j in range(m):
            t = 0.0
            for c in range(r):
                t += C[a, c] * lam[missing[c], observed[j]]
            R[a, j] = t
            Bt[j, a] = -t
    for i in range(m):
        for j in range(i, m):
            t = lam[observed[i], observed[j]]
            for a in range(r):
                t -= lam[observed[i], missing[a]] * R[a, j]
            W[i, j] = t
    log_det = 0.0
    for j in range(m - 1, -1, -1):  # Q Q^T = W, Q upper: the last column first
        t = W[j, j]
        for p in range(j + 1, m):
            t -= Q[j, p] * Q[j, p]
        Q[j, j] = np.sqrt(t) if t > 0.0 else np.nan
        log_det += np.log(Q[j, j])
        for i in range(j):
            t = W[i, j]
            for p in range(j + 1, m):
                t -= Q[i, p] * Q[j, p]
            Q[i, j] = t / Q[j, j]
        for i in range(j + 1, m):
            Q[i, j] = 0.0
    return log_det


@njit(**JIT)
def expand(observed, m, missing, r, Bt, C, e, s0, g, G, with_gram, Gs, BG, s1_out, s2_out):
    """Adds one component's statistics in observed coordinates (s0, g (m,) and, if
    with_gram, the upper triangle of G (m, m)) expanded to all features (see the module
    docstring) into s1_out (D,) and the upper triangle of s2_out (D, D). Gs (D, D) and
    BG (D, D) are scratch."""
    if with_gram:
        for a in range(m):
            for b in range(a, m):
                Gs[a, b] = G[a, b]
                Gs[b, a] = G[a, b]
        for a in range(r):  # BG = B Gs (r, m)
            for b in range(m):
                t = 0.0
                for p in range(m):
                    t += Bt[p, a] * Gs[p, b]
                BG[a, b] = t
        for a in range(m):
            for b in range(a, m):
                s2_out[observed[a], observed[b]] += Gs[a, b]
    for a in range(m):
        s1_out[observed[a]] += g[a]
    for a in range(r):
        bg = 0.0  # (B g)_a
        for p in range(m):
            bg += Bt[p, a] * g[p]
        s1_out[missing[a]] += bg + s0 * e[a]
        for b in range(m):  # F_MO[a, b], into whichever of (M_a, O_b), (O_b, M_a) is upper
            f = e[a] * g[b] + (BG[a, b] if with_gram else 0.0)
            i, j = missing[a], observed[b]
            if i < j:
                s2_out[i, j] += f
            else:
                s2_out[j, i] += f
        for c in range(a, r):
            bg_c = 0.0
            for p in range(m):
                bg_c += Bt[p, c] * g[p]
            f = bg * e[c] + e[a] * bg_c + s0 * (e[a] * e[c] + C[a, c])
            if with_gram:
                for p in range(m):
                    f += BG[a, p] * Bt[p, c]
            s2_out[missing[a], missing[c]] += f


@njit(**JIT)
def split_pattern(X, row, observed, missing):
    """observed and missing feature indices of X[row]: returns (m, r)."""
    m = r = 0
    for d in range(X.shape[1]):
        v = X[row, d]
        if not np.isnan(v):
            observed[m] = d
            m += 1
        else:
            missing[r] = d
            r += 1
    return m, r


@njit(**JIT)
def marginal_params(family, m, r, observed, missing, lam, means, shift, log_w, loc, center, alg, coef, m_loc,
                    log_norm_p, e):
    """One pattern's kernel parameters for its rows gathered to their m observed features
    (observed[:m]; missing[:r] the others), in X's precision: coef (K or 1, D4, D4) the
    marginals' factors (zero past m), m_loc (K, D) full: the statistics' shifts mu_k - c,
    tied: the whitened locations Q^T (mu_k - c) (in the first m columns), log_norm_p (K,);
    e (K, D) float64: the conditional means' offsets from the shift (first r columns).
    alg (K or 1, 6, D, D) receives each factor's (W, L, Q, R, Bt, C) (pattern_algebra)."""
    n_components = means.shape[0]
    ty = loc.dtype.type
    n_factors = n_components if family == FULL else 1
    for f in range(n_factors):
        a = alg[f]
        log_det = pattern_algebra(lam[f], observed, m, missing, r, a[0], a[1], a[2], a[3], a[4], a[5])
        for k in range(n_components if family == TIED else 1):
            kk = f if family == FULL else k
            log_norm_p[kk] = ty(log_w[kk] + log_det - 0.5 * m * LOG_2PI)
        Q = a[2]
        for i in range(coef.shape[1]):
            for j in range(coef.shape[2]):
                coef[f, i, j] = ty(Q[i, j]) if (i < m and j < m and i <= j) else ty(0)
    for k in range(n_components):
        Bt = alg[k if family == FULL else 0, 4]
        for a in range(r):  # e = (mu_M - s_M) + B (s_O - mu_O)
            t = means[k, missing[a]] - shift[k, missing[a]]
            for p in range(m):
                t += Bt[p, a] * (shift[k, observed[p]] - means[k, observed[p]])
            e[k, a] = t
        if family == FULL:
            for j in range(m):
                m_loc[k, j] = loc[k, observed[j]] - center[observed[j]]
        else:
            Q = alg[0, 2]
            for j in range(m):
                t = 0.0
                for i in range(j + 1):
                    t += Q[i, j] * (means[k, observed[i]] - float(center[observed[i]]))
                m_loc[k, j] = t


# ------------------------------------------------------------------------ the drivers
@njit(**JIT)
def add_groups(g_s, s):
    """s += g_s[0] + g_s[1] + ..., in group order (serially: see zeros)."""
    for g in range(g_s.shape[0]):
        s += g_s[g]


@njit(**JIT)
def aligned_empty(slots, m, rows, dtype):
    """_buffers.aligned_empty inside the pattern drivers, which size their scratch in jitted
    code (Numba's own arrays are aligned to 32 bytes only)."""
    size = slots * m * rows
    buf = np.empty(size + 64, dtype=dtype)
    skip = (-buf.ctypes.data % 64) // buf.itemsize
    return buf[skip:skip + size].reshape((slots, m, rows))


@njit(**JIT)
def _scratch(X, slots, rows, n_components):
    """_buffers.scratch in X's precision, inside the pattern drivers."""
    n_features = X.shape[1]
    xT = aligned_empty(slots, n_features, rows, X.dtype)
    work = aligned_empty(slots, n_features, rows, X.dtype)
    per_component = aligned_empty(slots, n_components, rows, X.dtype)
    vec = aligned_empty(slots, 6, rows, X.dtype)
    return xT, work, per_component, vec


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
                ll = 0.0
                lowest = g_low[g]
                below = 0
                for b in range(nb):  # as em_accumulate's, so that complete blocks add alike
                    density = float(top[b]) + log_positive(total[b])
                    ll += wb[b] * density
                    below += (density < lowest) & (wb[b] > 0.0)
                    factor[b] = wb[b] / total[b]
                if below > 0:
                    for b in range(nb):
                        density = float(top[b]) + log_positive(total[b])
                        if density < g_low[g] and wb[b] > 0.0:
                            g_low[g] = density
                            g_low_row[g] = r0 + b
                g_ll[g] += ll
                for k in range(n_components):
                    for b in range(nb):
                        logp[s, k, b] *= factor[b]
                if missing == 0:
                    diag_accumulate(xT[s], nb, loc, logp[s], g_s0[g], g_s1[g], g_s2[g])
                else:
                    diag_accumulate_masked(xT[s], obs[s], nb, loc, var, logp[s], g_s0[g], g_s1[g], g_s2[g])


@njit(**JIT)
def _finish(g_ll, g_low, g_low_row, X, worst):
    """The groups' log-likelihood in group order, and the worst row into worst."""
    total = 0.0
    for g in range(g_ll.shape[0]):
        total += g_ll[g]
        if g_low[g] < worst[0]:
            worst[0] = g_low[g]
            worst[1] = g_low_row[g]
            for d in range(X.shape[1]):
                worst[2 + d] = X[g_low_row[g], d]
    return total


@njit(**JIT)
def _pattern_scratch(slots, n_components, n_features, family, like):
    """Per-slot scratch of the pattern drivers (see marginal_params and expand)."""
    width = (n_features + 3) // 4 * 4
    n_factors = n_components if family == FULL else 1
    alg = np.zeros((slots, n_factors, 6, n_features, n_features))
    coef = np.zeros((slots, n_factors, width, width), dtype=like.dtype)
    m_loc = np.zeros((slots, n_components, n_features), dtype=like.dtype)
    log_norm_p = np.zeros((slots, n_components), dtype=like.dtype)
    e = np.zeros((slots, n_components, n_features))
    index = np.zeros((slots, 2, n_features), dtype=np.int64)
    c_obs = np.zeros((slots, n_features), dtype=like.dtype)
    return alg, coef, m_loc, log_norm_p, e, index, c_obs


@njit(**JIT)
def _piece_params(family, X, row, s, lam, means, shift, log_w, loc, center, prec, log_norm, coef_all, e_loc_all,
                  m_loc_all, alg, coef, m_loc, log_norm_p, e, index, c_obs):
    """(m, r, coef, e_loc, m_loc, log_norm, center) for the block functions over a piece
    whose pattern is X[row]'s: the complete-data parameters for a complete pattern."""
    observed, missing = index[s, 0], index[s, 1]
    m, r = split_pattern(X, row, observed, missing)
    if r == 0:
        return m, r, coef_all, e_loc_all, m_loc_all, log_norm, center
    marginal_params(family, m, r, observed, missing, lam, means, shift, log_w, loc, center, alg[s], coef[s],
                    m_loc[s], log_norm_p[s], e[s])
    for j in range(m):
        c_obs[s, j] = center[observed[j]]
    e_loc = locations(m_loc[s, :, :m], coef[s]) if family == FULL else m_loc[s].copy()
    return m, r, coef[s], e_loc, m_loc[s], log_norm_p[s], c_obs[s, :m].copy()


@njit(**JIT)
def _piece_log_prob(family, X, weight, order, a, nb, observed, m, xT, work, vec, cf, el, ln, cc, logp):
    """Gathers rows order[a:a + nb] to their m observed features into xT (centred) and
    computes their weighted log-densities into logp (K, B)."""
    z = xT[:m]
    gather_block(X, weight, order, a, nb, observed, m, z, vec[0])
    center_block(z, nb, cc)
    if family == FULL:
        full_log_prob(z, nb, el, cf, ln, vec[1:6], logp)
    else:
        tied_log_prob(z, nb, el, cf, ln, work, vec[1], logp)
    normalize_block(logp, nb, vec[2], vec[3], X, X.shape[0])


@njit(**PARALLEL_JIT)
def em_patterns(X, weight, family, loc, center, prec, log_norm, kernel, lam, means, shift, log_w, order, starts, first,
                s0, s1, s2, worst, threads):
    """drivers.em_accumulate for FULL and TIED over a chunk whose NaN entries are missing,
    its rows grouped by pattern (order, starts, first from ``patterns``). Returns sum_n
    w_n log p(x_n, observed); worst's row may hold NaN. Everything but the prange is in
    serial functions (_em_setup): each array expression of a parallel function becomes a
    parallel region of its own, compiled apart."""
    rows, piece, group_first, slots, sums, xT, work, logp, vec, scratch, local = _em_setup(X, family, loc, starts, s2,
                                                                                           worst, threads)
    g_s0, g_s1, g_s2, g_ll, g_low, g_low_row = sums
    groups = group_first.shape[0] - 1
    half_log_det = half_log_dets(lam)
    for slot in prange(slots):
        s = np.int64(slot)  # one type for the helpers, whatever the loop's index type
        for g in range(s * groups // slots, (s + 1) * groups // slots):
            _em_group(family, X, weight, order, first, piece, group_first[g], group_first[g + 1], s, rows, loc, center,
                      prec, log_norm, lam, means, shift, log_w, half_log_det, kernel, scratch, local, xT[s], work[s],
                      logp[s], vec[s], g_s0[g], g_s1[g], g_s2[g], g_ll[g:g + 1], g_low[g:g + 1], g_low_row[g:g + 1])
    return _em_finish(sums, s0, s1, s2, X, worst)


@njit(**JIT)
def _em_setup(X, family, loc, starts, s2, worst, threads):
    """em_patterns' pieces, groups, slots, per-group sums and scratch."""
    n, n_features = X.shape
    n_components = loc.shape[0]
    rows = block_rows(n_features, X.itemsize)
    piece, group_first = pieces_of(starts, n, rows, n_components, s2.size, n_features)
    groups = group_first.shape[0] - 1
    sums = (np.zeros((groups, n_components)), np.zeros((groups, n_components, n_features)),
            np.zeros((groups, *s2.shape)), np.zeros(groups), np.full(groups, worst[0]),
            np.full(groups, -1, dtype=np.int64))
    slots = n_slots(groups, threads)
    xT, work, logp, vec = _scratch(X, slots, rows, n_components)
    scratch = _pattern_scratch(slots, n_components, n_features, family, loc)
    local = (np.zeros((slots, n_components)), np.zeros((slots, n_components, n_features)),
             np.zeros((slots, s2.shape[0], n_features, n_features)), np.zeros((slots, 2, n_features, n_features)))
    return rows, piece, group_first, slots, sums, xT, work, logp, vec, scratch, local


@njit(**JIT)
def _em_finish(sums, s0, s1, s2, X, worst):
    """The groups' sums added in group order into s0, s1, s2; returns the log-likelihood."""
    g_s0, g_s1, g_s2, g_ll, g_low, g_low_row = sums
    add_groups(g_s0, s0)
    add_groups(g_s1, s1)
    add_groups(g_s2, s2)
    return _finish(g_ll, g_low, g_low_row, X, worst)


@njit(**JIT)
def half_log_dets(lam):
    """(log det lam_f) / 2 of each precision (F, D, D), by its Cholesky factor."""
    n_factors, n_features = lam.shape[0], lam.shape[1]
    out = np.zeros(n_factors)
    L = np.zeros((n_features, n_features))
    for f in range(n_factors):
        for j in range(n_features):
            t = lam[f, j, j]
            for p in range(j):
                t -= L[j, p] * L[j, p]
            L[j, j] = np.sqrt(t) if t > 0.0 else np.nan
            out[f] += np.log(L[j, j])
            for i in range(j + 1, n_features):
                t = lam[f, i, j]
                for p in range(j):
                    t -= L[i, p] * L[j, p]
                L[i, j] = t / L[j, j]
    return out


@njit(**JIT)
def _rare_rows(family, X, weight, order, a0, a1, lam, half_log_det, means, shift, log_w, observed, missing, alg, s0,
               s1, s2, ll_out, low, low_row):
    """em_patterns' path for a piece of fewer than RARE_ROWS rows of one pattern: each
    row's marginal density and expected statistics directly from the precision, with no
    factor of the observed block (whose m^3 / 6 a piece of one or two rows cannot share):
    with y = x_O - mu_O and v = lam_MO y, y^T W y = y^T lam_OO y - v^T lam_MM^-1 v, log det
    W = log det lam - log det lam_MM, and E[x_M | x_O] = mu_M - lam_MM^-1 v."""
    n_components, n_features = means.shape
    m, r = split_pattern(X, order[a0], observed, missing)
    n_factors = n_components if family == FULL else 1
    log_det_mm = np.empty(n_factors)
    for f in range(n_factors):
        log_det_mm[f] = inverse_block(lam[f], missing, r, alg[f, 1], alg[f, 5])
    lp = np.empty(n_components)
    dev = np.empty((n_components, n_features))
    y = np.empty(n_features)
    v = np.empty(n_features)
    for b in range(a0, a1):
        row = order[b]
        w = 1.0 if weight.shape[0] == 0 else weight[row]
        for k in range(n_components):
            f = k if family == FULL else 0
            lk, C = lam[f], alg[f, 5]
            for j in range(m):
                y[j] = float(X[row, observed[j]]) - means[k, observed[j]]
            quad = 0.0
            for i in range(m):
                t = 0.0
                for j in range(i + 1, m):
                    t += lk[observed[i], observed[j]] * y[j]
                quad += y[i] * (lk[observed[i], observed[i]] * y[i] + 2.0 * t)
            for a in range(r):
                t = 0.0
                for j in range(m):
                    t += lk[missing[a], observed[j]] * y[j]
                v[a] = t
            for a in range(r):
                u = 0.0
                for c in range(r):
                    u += C[a, c] * v[c]
                quad -= v[a] * u
                dev[k, missing[a]] = means[k, missing[a]] - u - shift[k, missing[a]]
            for j in range(m):
                dev[k, observed[j]] = float(X[row, observed[j]]) - shift[k, observed[j]]
            lp[k] = log_w[k] + half_log_det[f] - 0.5 * log_det_mm[f] - 0.5 * m * LOG_2PI - 0.5 * quad
        top = lp[0]
        for k in range(1, n_components):
            top = max(top, lp[k])
        if top == -np.inf:
            top = 0.0
        total = 0.0
        for k in range(n_components):
            lp[k] = np.exp(lp[k] - top)
            total += lp[k]
        density = top + log_positive(total)
        ll_out[0] += w * density
        if density < low[0] and w > 0.0:
            low[0] = density
            low_row[0] = row
        for k in range(n_components):
            f = k if family == FULL else 0
            rk = w * lp[k] / total
            s0[k] += rk
            for i in range(n_features):
                s1[k, i] += rk * dev[k, i]
                t = rk * dev[k, i]
                for j in range(i, n_features):
                    s2[f, i, j] += t * dev[k, j]
            C = alg[f, 5]
            for a in range(r):
                for c in range(a, r):
                    s2[f, missing[a], missing[c]] += rk * C[a, c]


@njit(**JIT)
def _em_group(family, X, weight, order, first, piece, i0, i1, s, rows, loc, center, prec, log_norm, lam, means,
              shift, log_w, half_log_det, kernel, scratch, local, xT, work, logp, vec, s0, s1, s2, ll_out, low,
              low_row):
    """em_patterns' work on pieces i0:i1 (one row group) in slot s: statistics into s0, s1,
    s2 and the log-likelihood into ll_out[0]; the least likely row into low, low_row."""
    wide_vectors()
    n_components = loc.shape[0]
    n_features = X.shape[1]
    coef_all, e_loc_all, m_loc_all = kernel
    alg, coef, m_loc, log_norm_p, e, index, c_obs = scratch
    l0, l1, l2, gram = local
    for i in range(i0, i1):
        p, a0, a1 = piece[i, 0], piece[i, 1], piece[i, 2]
        if a1 - a0 < RARE_ROWS:
            _rare_rows(family, X, weight, order, a0, a1, lam, half_log_det, means, shift, log_w, index[s, 0],
                       index[s, 1], alg[s], s0, s1, s2, ll_out, low, low_row)
            continue
        m, r, cf, el, ml, ln, cc = _piece_params(family, X, first[p], s, lam, means, shift, log_w, loc, center, prec,
                                                 log_norm, coef_all, e_loc_all, m_loc_all, alg, coef, m_loc,
                                                 log_norm_p, e, index, c_obs)
        observed, missing = index[s, 0], index[s, 1]
        if r == 0:  # a complete pattern: into the group's sums directly
            t0, t1, t2 = s0, s1, s2
        else:
            t0, t1, t2 = l0[s], l1[s], l2[s]
            t0[:] = 0.0
            t1[:] = 0.0
            t2[:] = 0.0
        for a in range(a0, a1, rows):
            nb = min(rows, a1 - a)
            wb, factor, top, total = vec[0], vec[1], vec[2], vec[3]
            _piece_log_prob(family, X, weight, order, a, nb, observed, m, xT, work, vec, cf, el, ln, cc, logp)
            ll = 0.0
            for b in range(nb):
                density = float(top[b]) + log_positive(total[b])
                ll += wb[b] * density
                factor[b] = wb[b] / total[b]
                if density < low[0] and wb[b] > 0.0:
                    low[0] = density
                    low_row[0] = order[a + b]
            ll_out[0] += ll
            for k in range(n_components):
                for b in range(nb):
                    logp[k, b] *= factor[b]
            z = xT[:m]
            if family == FULL:
                full_accumulate(z, nb, ml, logp, vec[2:6], t0, t1, t2)
            else:
                tied_accumulate(z, nb, logp, wb, vec[2:6], t0, t1, t2)
        if r == 0:
            continue
        for k in range(n_components):
            f = k if family == FULL else 0
            al = alg[s, f]
            s0[k] += t0[k]
            expand(observed, m, missing, r, al[4], al[5], e[s, k], t0[k], t1[k], t2[f], family == FULL, gram[s, 0],
                   gram[s, 1], s1[k], s2[f])
        if family == TIED:
            al = alg[s, 0]
            expand(observed, m, missing, r, al[4], al[5], e[s, 0], 0.0, np.zeros(m), t2[0], family == TIED, gram[s, 0],
                   gram[s, 1], np.zeros(n_features), s2[0])


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


@njit(**PARALLEL_JIT)
def score_patterns(X, family, loc, center, prec, log_norm, kernel, lam, means, log_w, order, starts, first,
                   log_density, labels, resp, threads):
    """drivers.score for FULL and TIED over a chunk whose NaN entries are missing, its
    rows grouped by pattern (see em_patterns)."""
    n, n_features = X.shape
    n_components = loc.shape[0]
    rows = block_rows(n_features, X.itemsize)
    piece, group_first = pieces_of(starts, n, rows, n_components, 0, n_features)
    groups = group_first.shape[0] - 1
    slots = n_slots(groups, threads)
    xT, work, logp, vec = _scratch(X, slots, rows, n_components)
    scratch = _pattern_scratch(slots, n_components, n_features, family, loc)
    for slot in prange(slots):
        s = np.int64(slot)
        for g in range(s * groups // slots, (s + 1) * groups // slots):
            _score_group(family, X, order, first, piece, group_first[g], group_first[g + 1], s, rows, loc, center,
                         prec, log_norm, lam, means, log_w, kernel, scratch, xT[s], work[s], logp[s], vec[s],
                         log_density, labels, resp)


@njit(**JIT)
def _score_group(family, X, order, first, piece, i0, i1, s, rows, loc, center, prec, log_norm, lam, means, log_w,
                 kernel, scratch, xT, work, logp, vec, log_density, labels, resp):
    """score_patterns' work on pieces i0:i1 in slot s."""
    wide_vectors()
    coef_all, e_loc_all, m_loc_all = kernel
    alg, coef, m_loc, log_norm_p, e, index, c_obs = scratch
    for i in range(i0, i1):
        p, a0, a1 = piece[i, 0], piece[i, 1], piece[i, 2]
        m, _r, cf, el, _ml, ln, cc = _piece_params(family, X, first[p], s, lam, means, means, log_w, loc, center,
                                                   prec, log_norm, coef_all, e_loc_all, m_loc_all, alg, coef, m_loc,
                                                   log_norm_p, e, index, c_obs)
        for a in range(a0, a1, rows):
            nb = min(rows, a1 - a)
            _piece_log_prob(family, X, X[:0, 0], order, a, nb, index[s, 0], m, xT, work, vec, cf, el, ln, cc, logp)
            for b in range(nb):
                _row_results(logp, b, vec[2], vec[3], order[a + b], log_density, labels, resp)
