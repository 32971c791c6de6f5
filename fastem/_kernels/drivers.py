"""Parallel drivers: row groups, each running the block functions over its own blocks
into its own slot of a (n_groups, ...) buffer, then a serial reduction in group order;
a ``prange`` over scratch slots (one per thread, see _options.n_slots) runs the groups.
The partition depends on the data shape only, so the result is bitwise the same for any
thread count.

Arguments shared by the drivers (parameters in X's precision, statistics float64):
    X        (n, D) float32 or float64, C-contiguous: the chunk
    weight   (n,) float64 sample weights, or (0,) for unit weights
    family   FULL, TIED or DIAG (see _options)
    loc      (K, D) component locations: the means (full, diag), P^T (mu_k - c) (tied)
    center   (D,) the global shift c (full, tied: blocks are centred on it; ignored for
             diag); full's statistics are around c + (loc_k - c), the difference rounded
             to X's precision
    prec     (K, D, D) full, (1, D, D) tied, (K, 1, D) diag: precision Cholesky factors
    log_norm (K,) log weight_k + log det P_k - D log(2 pi) / 2
Statistics (outputs, added to): s0 (K,), s1 (K, D), s2 shaped like prec.
    threads  Numba's thread count for the call (the package's wrappers pass it)
"""

import numpy as np
from numba import njit, prange

from ._exp import exp_shifted, log_positive
from ._options import DIAG, FULL, JIT, PARALLEL_JIT, TIED, block_rows, n_groups, n_slots, wide_vectors
from ._tile import prefetch_line, transpose8
from .diag import diag_accumulate, diag_log_prob
from .full import full_accumulate, full_log_prob, locations, padded_upper
from .tied import center_block, tied_accumulate, tied_log_prob


@njit(**JIT)
def block_params(family, loc, center, prec):
    """The parameters as the block functions take them: (factors, E-step locations,
    M-step shifts). Full: the blocks are centred on c as tied's are; the factors padded
    (full.padded_upper), the log-densities' locations from full.locations, and the moments
    taken around mu_k - c (in X's precision, as the engine's Stats.shift records). Tied and
    diag: (prec, loc, loc)."""
    if family != FULL:
        return prec, loc, loc
    shift = np.empty_like(loc)
    for k in range(loc.shape[0]):
        for d in range(loc.shape[1]):
            shift[k, d] = loc[k, d] - center[d]
    coef = padded_upper(prec)
    return coef, locations(shift, coef), shift


@njit(**JIT)
def load_block(X, weight, r0, nb, xT, wb):
    """xT[:, :nb] = X[r0:r0+nb].T (in xT's precision); wb[:nb] = the rows' sample weights."""
    wide_vectors()
    n_features = X.shape[1]
    whole_d = n_features - n_features % 8
    whole_b = nb - nb % 8
    for b in range(0, whole_b, 8):  # 8x8 tiles, transposed in registers
        for d in range(0, whole_d, 8):
            transpose8(X, r0 + b, d, xT, b)
    for d in range(whole_d, n_features):  # the features past the tiles
        for b in range(whole_b):
            xT[d, b] = X[r0 + b, d]
    for b in range(whole_b, nb):  # the rows past the tiles
        for d in range(n_features):
            xT[d, b] = X[r0 + b, d]
    if weight.shape[0] == 0:
        for b in range(nb):
            wb[b] = 1.0
    else:
        for b in range(nb):
            wb[b] = weight[r0 + b]


@njit(**JIT)
def log_prob_block(family, xT, nb, loc, center, prec, log_norm, work, scratch, logp):
    """Weighted log-densities logp (K, B) of a loaded block, which full and tied centre in
    place; loc and prec from block_params; work (D, B) and scratch (5, B) are scratch."""
    if family != DIAG:
        center_block(xT, nb, center)
    if family == FULL:
        full_log_prob(xT, nb, loc, prec, log_norm, scratch, logp)
    elif family == TIED:
        tied_log_prob(xT, nb, loc, prec, log_norm, work, scratch[0], logp)
    else:
        diag_log_prob(xT, nb, loc, prec, log_norm, scratch[0], logp)


@njit(**JIT)
def prefetch_rows(X, r0, nb, part, parts):
    """Asks for the part-th of ``parts`` slices of the bytes of X[r0:r0+nb] (rows past X's
    end are left out), so that the next block streams in while this one computes."""
    n_bytes = max(0, min(nb, X.shape[0] - r0)) * X.shape[1] * X.itemsize
    for offset in range(n_bytes * part // parts // 64 * 64, n_bytes * (part + 1) // parts, 64):
        prefetch_line(X, r0, offset)


@njit(**JIT)
def normalize_block(logp, nb, top, total, X, r_next):
    """Max-shifted log-sum-exp: logp[k, b] <- exp(logp[k, b] - top[b]) with top[b] the
    max over k, and total[b] = sum_k of those; so log p(x_b) = top[b] + log(total[b]).
    A row no component gives any density ends with total 0 (log-density -inf).

    After each component's exps it asks for a K-th of the next block, X[r_next:r_next+B],
    from memory: the next load then finds its rows in L2. Loading a block from memory took
    3.0 us against 1.15 in cache (diag, 256 rows); the whole next block asked for at once
    made a pass 3% slower, a sixteenth after each component 2-6% faster (one thread, 1e6
    rows: diag 81.4 -> 78.6 ms, tied 79.9 -> 75.4, full 221.6 -> 217.1)."""
    wide_vectors()
    n_components = logp.shape[0]
    for b in range(nb):
        top[b] = logp[0, b]
        total[b] = 0
    for k in range(1, n_components):
        for b in range(nb):
            top[b] = max(top[b], logp[k, b])
    for b in range(nb):
        if top[b] == -np.inf:
            top[b] = 0
    for k in range(n_components):
        row = logp[k]
        exp_shifted(row, nb, top)
        prefetch_rows(X, r_next, logp.shape[1], k, n_components)
        for b in range(nb):
            total[b] += row[b]


@njit(**JIT)
def accumulate_block(family, xT, nb, loc, resp, wb, scratch, s0, s1, s2):
    """Adds the block's statistics under final weights resp (K, B), for full around the
    shifts from block_params; wb (B,) and scratch (4, B) are scratch here."""
    if family == FULL:
        full_accumulate(xT, nb, loc, resp, scratch, s0, s1, s2)
    elif family == TIED:
        tied_accumulate(xT, nb, resp, wb, scratch, s0, s1, s2)
    else:
        diag_accumulate(xT, nb, loc, resp, s0, s1, s2)


@njit(**JIT)
def zeros(shape):
    """np.zeros(shape) in float64, outside the parallel drivers: there every array
    expression (np.zeros, s += g_s[g]) becomes a parallel region of its own, and the
    launches of ~200 such regions per call (the zeroing and the group-order reduction)
    cost 0.4-0.7 ms a call: a pass over 16 MiB chunks ran 15-30% slower than one call."""
    return np.zeros(shape)


@njit(**JIT)
def add_groups(g_s, s):
    """s += g_s[0] + g_s[1] + ..., in group order (serially: see zeros)."""
    for g in range(g_s.shape[0]):
        s += g_s[g]


@njit(**JIT)
def _layout(X, n_components, s2_size):
    n, n_features = X.shape
    rows = block_rows(n_features, X.itemsize)
    n_blocks = (n + rows - 1) // rows
    per_group = 8 * (s2_size + n_components * (n_features + 1) + 3)  # the group's sums (scratch is per slot)
    return rows, n_blocks, n_groups(n_blocks, per_group)


@njit(**JIT)
def aligned_empty(slots, m, rows, dtype):
    """np.empty((slots, m, rows), dtype) starting on a 64-byte boundary, so that with rows a
    multiple of 16 every row is too: a 512-bit load that straddles two cache lines costs
    two (a register-tiled product ran at 21 G multiply-adds/s on rows 32 bytes off, 36 on
    aligned ones; Numba's own arrays are aligned to 32 bytes)."""
    size = slots * m * rows
    buf = np.empty(size + 64, dtype=dtype)
    skip = (-buf.ctypes.data % 64) // buf.itemsize
    return buf[skip:skip + size].reshape((slots, m, rows))


@njit(**JIT)
def _scratch(X, slots, rows, n_components):
    """Per-slot scratch in X's precision (blocks compute in the data's precision): xT and
    work (slots, D, rows), per-component rows (slots, K, rows), and six vectors (slots, 6,
    rows): 0 sample weights; 1-5 log_prob_block's scratch, then 2, 3 top and total and 1
    the rows' factor from exp(logp - top) to w r, then 2-5 accumulate_block's."""
    n_features = X.shape[1]
    xT = aligned_empty(slots, n_features, rows, X.dtype)
    work = aligned_empty(slots, n_features, rows, X.dtype)
    per_component = aligned_empty(slots, n_components, rows, X.dtype)
    vec = aligned_empty(slots, 6, rows, X.dtype)
    return xT, work, per_component, vec


@njit(**PARALLEL_JIT)
def em_accumulate(X, weight, family, loc, center, prec, log_norm, s0, s1, s2, worst, threads):
    """One fused E-step and M-step accumulation over a chunk. Returns sum_n w_n log p(x_n).

    worst (D + 2,): the most poorly explained row so far, updated in place if this chunk
    has a lower log-density among rows of positive weight: [log p(x), row index in this
    chunk, x...]. Start it at [inf, -1, ...]."""
    n, n_features = X.shape
    n_components = loc.shape[0]
    rows, n_blocks, groups = _layout(X, n_components, s2.size)
    g_s0, g_s1, g_s2 = zeros((groups, *s0.shape)), zeros((groups, *s1.shape)), zeros((groups, *s2.shape))
    g_ll = zeros((groups,))
    g_low = np.full(groups, worst[0])  # only rows below the lowest of earlier chunks matter
    g_low_row = np.full(groups, -1, dtype=np.int64)
    slots = n_slots(groups, threads)
    xT, work, logp, vec = _scratch(X, slots, rows, n_components)
    coef, e_loc, m_loc = block_params(family, loc, center, prec)
    for s in prange(slots):
        wide_vectors()
        for g in range(s * groups // slots, (s + 1) * groups // slots):
            for blk in range(g * n_blocks // groups, (g + 1) * n_blocks // groups):
                r0 = blk * rows
                nb = min(rows, n - r0)
                wb, factor, top, total = vec[s, 0], vec[s, 1], vec[s, 2], vec[s, 3]
                load_block(X, weight, r0, nb, xT[s], wb)
                log_prob_block(family, xT[s], nb, e_loc, center, coef, log_norm, work[s], vec[s, 1:6], logp[s])
                normalize_block(logp[s], nb, top, total, X, r0 + rows)
                ll = 0.0
                lowest = g_low[g]
                below = 0  # rows of positive weight below the group's lowest log-density so far
                for b in range(nb):  # branch-free: vectorises
                    density = float(top[b]) + log_positive(total[b])
                    ll += wb[b] * density
                    below += (density < lowest) & (wb[b] > 0.0)
                    factor[b] = wb[b] / total[b]  # turns exp(logp - top) into w r
                if below > 0:  # which row
                    for b in range(nb):
                        density = float(top[b]) + log_positive(total[b])
                        if density < g_low[g] and wb[b] > 0.0:
                            g_low[g] = density
                            g_low_row[g] = r0 + b
                g_ll[g] += ll
                for k in range(n_components):
                    for b in range(nb):
                        logp[s, k, b] *= factor[b]
                accumulate_block(family, xT[s], nb, m_loc, logp[s], wb, vec[s, 2:6], g_s0[g], g_s1[g], g_s2[g])
    add_groups(g_s0, s0)
    add_groups(g_s1, s1)
    add_groups(g_s2, s2)
    total = 0.0
    for g in range(groups):
        total += g_ll[g]
        if g_low[g] < worst[0]:
            worst[0] = g_low[g]
            worst[1] = g_low_row[g]
            for d in range(n_features):
                worst[2 + d] = X[g_low_row[g], d]
    return total


@njit(**PARALLEL_JIT)
def resp_accumulate(X, weight, family, resp, shift, center, s0, s1, s2, threads):
    """Statistics of a chunk under given responsibilities resp (n, K), around shift (K, D)
    (full, diag) or center (D,) (tied)."""
    n, _n_features = X.shape
    n_components = resp.shape[1]
    rows, n_blocks, groups = _layout(X, n_components, s2.size)
    g_s0, g_s1, g_s2 = zeros((groups, *s0.shape)), zeros((groups, *s1.shape)), zeros((groups, *s2.shape))
    slots = n_slots(groups, threads)
    xT, _, r, vec = _scratch(X, slots, rows, n_components)
    for s in prange(slots):
        wide_vectors()
        for g in range(s * groups // slots, (s + 1) * groups // slots):
            for blk in range(g * n_blocks // groups, (g + 1) * n_blocks // groups):
                r0 = blk * rows
                nb = min(rows, n - r0)
                wb = vec[s, 0]
                load_block(X, weight, r0, nb, xT[s], wb)
                if family == TIED:
                    center_block(xT[s], nb, center)
                for k in range(n_components):
                    for b in range(nb):
                        r[s, k, b] = wb[b] * resp[r0 + b, k]
                accumulate_block(family, xT[s], nb, shift, r[s], wb, vec[s, 2:6], g_s0[g], g_s1[g], g_s2[g])
    add_groups(g_s0, s0)
    add_groups(g_s1, s1)
    add_groups(g_s2, s2)


@njit(**PARALLEL_JIT)
def score(X, family, loc, center, prec, log_norm, log_density, labels, resp, threads):
    """Per row: log_density (n,) = log p(x), labels (n,) = argmax_k p(k | x), and, when
    resp has n rows, resp (n, K) = p(k | x). Pass resp of shape (0, K) to skip it."""
    n = X.shape[0]
    n_components = loc.shape[0]
    rows, n_blocks, groups = _layout(X, n_components, 0)
    want_resp = resp.shape[0] == n
    slots = n_slots(groups, threads)
    xT, work, logp, vec = _scratch(X, slots, rows, n_components)
    coef, e_loc, _ = block_params(family, loc, center, prec)
    for s in prange(slots):
        wide_vectors()
        for g in range(s * groups // slots, (s + 1) * groups // slots):
            for blk in range(g * n_blocks // groups, (g + 1) * n_blocks // groups):
                r0 = blk * rows
                nb = min(rows, n - r0)
                top, total = vec[s, 2], vec[s, 3]
                load_block(X, X[:0, 0], r0, nb, xT[s], vec[s, 0])
                log_prob_block(family, xT[s], nb, e_loc, center, coef, log_norm, work[s], vec[s, 1:6], logp[s])
                normalize_block(logp[s], nb, top, total, X, r0 + rows)
                for b in range(nb):
                    best = 0
                    for k in range(1, n_components):
                        if logp[s, k, b] > logp[s, best, b]:
                            best = k
                    labels[r0 + b] = best
                for b in range(nb):
                    log_density[r0 + b] = float(top[b]) + log_positive(total[b])
                if want_resp:
                    for b in range(nb):
                        row_total = 0.0  # in float64, so that rows sum to one to float64 precision
                        for k in range(n_components):
                            row_total += logp[s, k, b]
                        inverse = 1.0 / row_total
                        for k in range(n_components):
                            resp[r0 + b, k] = logp[s, k, b] * inverse


@njit(**JIT)
def first_nonfinite(X):
    """Index of the first row of X (n, D) holding NaN or +-inf, or -1."""
    wide_vectors()
    n, n_features = X.shape
    for i in range(n):
        total = 0.0
        for d in range(n_features):
            total += X[i, d] * 0.0
        if total != 0.0:  # x * 0 is NaN exactly when x is NaN or inf
            return i
    return -1
