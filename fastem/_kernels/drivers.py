"""The fused pass: row groups, each running the block functions over its own blocks into
its own slot of a (n_groups, ...) buffer, which the caller adds in group order; a
``prange`` over scratch slots (one per thread, see _options.n_slots) runs the groups. The
partition depends on the data shape only, so the result is bitwise the same for any
thread count.

The driver holds its parallel loop and nothing else: the partition, the scratch and the
group sums come from the caller (_buffers, called by the package's wrappers). Numba
compiles every jitted function a driver calls on its own, then links, optimises and
code-generates it again inside the driver, so what the driver does not call costs
nothing; and each family gets a driver of its own (family_drivers), so that a fit
compiles one family's block functions.

Arguments shared by the block functions (parameters in X's precision, statistics float64):
    X        (n, D) float32 or float64, C-contiguous: the chunk
    weight   (n,) float64 sample weights, or (0,) for unit weights
    family   FULL, TIED or DIAG (see _options)
    loc      (K, D) component locations: the means (full, diag), P^T (mu_k - c) (tied)
    center   (D,) the global shift c (full, tied: blocks are centred on it; diag: the
             blocks that run the expanded form are); full's statistics are around
             c + (loc_k - c), the difference rounded to X's precision
    prec     (K, D, D) full, (1, D, D) tied, (K, 1, D) diag: precision Cholesky factors
             (the drivers' coef: _buffers.block_params)
    log_norm (K,) log weight_k + log det P_k - D log(2 pi) / 2
Statistics (outputs, added to): s0 (K,), s1 (K, D), s2 shaped like prec.
"""

import numpy as np
from numba import njit, prange

from ._exp import exp_shifted, log_positive
from ._options import DIAG, EXPANDED, FULL, JIT, PARALLEL_JIT, SHIFTED, TIED, wide_vectors
from ._tile import prefetch_line, transpose8
from .diag import diag_accumulate, diag_expanded_accumulate, diag_expanded_log_prob, diag_log_prob, expand_block
from .full import full_accumulate, full_log_prob
from .tied import center_block, tied_accumulate, tied_log_prob


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
    place; loc and prec from _buffers.block_params; work (D, B) and scratch (5, B) are scratch."""
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
    shifts from _buffers.block_params; wb (B,) and scratch (4, B) are scratch here."""
    if family == FULL:
        full_accumulate(xT, nb, loc, resp, scratch, s0, s1, s2)
    elif family == TIED:
        tied_accumulate(xT, nb, resp, wb, scratch, s0, s1, s2)
    else:
        diag_accumulate(xT, nb, loc, resp, s0, s1, s2)


def family_drivers(family, form=SHIFTED):
    """The drivers of one covariance family, ``(fused_pass,)``: a closure over ``family``
    and ``form`` (SHIFTED, or EXPANDED for diag), constants to Numba, which prunes the other
    families' and forms' branches before typing, so that a fit compiles one family's block
    functions in one form. (Branches in a called function are not pruned, even with the
    family passed as a literal: so the driver holds log_prob_block's and
    accumulate_block's branches itself.) A closure over ints is cached on disk like a
    module function, once per family and form."""

    @njit(**PARALLEL_JIT)
    def fused_pass(X, weight, resp, rows, n_blocks, groups, slots, e_loc, center, coef, log_norm, m_loc, xT, work,
                   logp, vec, g_s0, g_s1, g_s2, g_ll, g_low, g_low_row, log_density, labels, resp_out):
        """One pass over a chunk: the E-step (or given responsibilities), then the chosen
        outputs, each computed only when its array has rows.

        resp     (n, K) float64 given responsibilities: no E-step; (0, K) computes them
        rows, n_blocks, groups, slots: the partition (_buffers.layout)
        e_loc, coef: the E-step's locations and factors, m_loc: the M-step's shifts
                 (_buffers.block_params; unused with given responsibilities)
        xT, work (slots, D, rows), logp (slots, K, rows), vec (slots, 6, rows): scratch
                 in X's precision (_buffers.scratch)
        g_s0 (G, K), g_s1 (G, K, D), g_s2 (G, ...) float64: each group's statistics,
                 added to (G = 0 rows: no statistics)
        g_ll (G,): each group's sum_n w_n log p(x_n); g_low (G,), g_low_row (G,): each
                 group's least likely row of positive weight below g_low's start
        log_density (n,), labels (n,), resp_out (n, K): per-row log p(x), argmax_k and
                 p(k | x), each written when it has n rows
        """
        n = X.shape[0]
        n_components = logp.shape[1]
        given = resp.shape[0] > 0
        want_stats = g_s0.shape[0] > 0
        want_density = log_density.shape[0] == n
        want_labels = labels.shape[0] == n
        want_resp = resp_out.shape[0] == n
        for s in prange(slots):
            wide_vectors()
            for g in range(s * groups // slots, (s + 1) * groups // slots):
                for blk in range(g * n_blocks // groups, (g + 1) * n_blocks // groups):
                    r0 = blk * rows
                    nb = min(rows, n - r0)
                    wb, factor, top, total = vec[s, 0], vec[s, 1], vec[s, 2], vec[s, 3]
                    load_block(X, weight, r0, nb, xT[s], wb)
                    centred = False  # by expand_block: the block runs the expanded form
                    if given:  # the statistics under resp: tied's moments are around c
                        if family == TIED:
                            center_block(xT[s], nb, center)
                        for k in range(n_components):
                            for b in range(nb):
                                logp[s, k, b] = wb[b] * resp[r0 + b, k]
                    else:
                        if family != DIAG:  # log_prob_block's branches, written here for the pruning
                            center_block(xT[s], nb, center)
                        if family == FULL:
                            full_log_prob(xT[s], nb, e_loc, coef, log_norm, vec[s, 1:6], logp[s])
                        elif family == TIED:
                            tied_log_prob(xT[s], nb, e_loc, coef, log_norm, work[s], vec[s, 1], logp[s])
                        elif form == SHIFTED:
                            diag_log_prob(xT[s], nb, e_loc, coef, log_norm, vec[s, 1], logp[s])
                        elif expand_block(xT[s], nb, center, coef, work[s]):
                            centred = True
                            diag_expanded_log_prob(xT[s], work[s], nb, coef, log_norm, logp[s])
                        else:
                            diag_log_prob(xT[s], nb, e_loc, coef, log_norm, vec[s, 1], logp[s])
                        normalize_block(logp[s], nb, top, total, X, r0 + rows)
                        if want_labels:
                            for b in range(nb):
                                best = 0
                                for k in range(1, n_components):
                                    if logp[s, k, b] > logp[s, best, b]:
                                        best = k
                                labels[r0 + b] = best
                        if want_density:
                            for b in range(nb):
                                log_density[r0 + b] = float(top[b]) + log_positive(total[b])
                        if want_resp:
                            for b in range(nb):
                                row_total = 0.0  # in float64, so that rows sum to one to float64 precision
                                for k in range(n_components):
                                    row_total += logp[s, k, b]
                                inverse = 1.0 / row_total
                                for k in range(n_components):
                                    resp_out[r0 + b, k] = logp[s, k, b] * inverse
                        if not want_stats:
                            continue
                        ll, g_low[g], g_low_row[g] = block_likelihood(nb, r0, wb, top, total, factor, g_low[g],
                                                                      g_low_row[g])
                        g_ll[g] += ll
                        for k in range(n_components):
                            for b in range(nb):
                                logp[s, k, b] *= factor[b]
                    if family == FULL:  # accumulate_block's
                        full_accumulate(xT[s], nb, m_loc, logp[s], vec[s, 2:6], g_s0[g], g_s1[g], g_s2[g])
                    elif family == TIED:
                        tied_accumulate(xT[s], nb, logp[s], wb, vec[s, 2:6], g_s0[g], g_s1[g], g_s2[g])
                    elif form == EXPANDED and centred:
                        diag_expanded_accumulate(xT[s], work[s], nb, m_loc, center, logp[s], g_s0[g], g_s1[g], g_s2[g])
                    else:
                        diag_accumulate(xT[s], nb, m_loc, logp[s], g_s0[g], g_s1[g], g_s2[g])

    return (fused_pass,)


@njit(**JIT)
def block_likelihood(nb, r0, wb, top, total, factor, lowest, lowest_row):
    """(sum_b w_b log p(x_b) of a normalised block (normalize_block's top and total), the
    least likely row of positive weight so far and its index: lowest and lowest_row, or
    the block's first row below them), and factor[b] = w_b / total[b], which turns
    exp(logp - top) into w r."""
    ll = 0.0
    below = 0  # rows of positive weight below the lowest log-density so far
    for b in range(nb):  # branch-free: vectorises
        density = float(top[b]) + log_positive(total[b])
        ll += wb[b] * density
        below += (density < lowest) & (wb[b] > 0.0)
        factor[b] = wb[b] / total[b]
    if below > 0:  # which row
        for b in range(nb):
            density = float(top[b]) + log_positive(total[b])
            if density < lowest and wb[b] > 0.0:
                lowest = density
                lowest_row = r0 + b
    return ll, lowest, lowest_row


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
