"""What a driver call needs besides its inputs, made in Python: the row partition, the
scratch, each group's sums, and their reduction in group order.

Kept out of the jitted drivers on purpose: every jitted helper a driver calls is compiled
on its own and then linked, optimised and code-generated again inside each driver that
calls it, so a driver that holds only its parallel loop compiles in a fraction of the
time. NumPy does these few allocations and additions at the same speed.
"""

import numpy as np

from ._options import DIAG, FULL, block_rows, n_groups, n_slots
from .full import locations, padded_upper

# The partition's rules, run as Python (the same functions the jitted code calls).
_block_rows, _n_groups, _n_slots = block_rows.py_func, n_groups.py_func, n_slots.py_func


def layout(n_rows, n_features, itemsize, group_sums, threads):
    """(rows per block, blocks, groups, slots) for a chunk of n_rows x n_features whose
    blocks compute in itemsize-byte floats, with group_sums float64 sums per group (scratch
    is per slot): the groups are a function of the shape only (see _options)."""
    rows = _block_rows(n_features, itemsize)
    n_blocks = (n_rows + rows - 1) // rows
    groups = _n_groups(n_blocks, 8 * group_sums)
    return rows, n_blocks, groups, _n_slots(groups, threads)


def aligned_empty(slots, m, rows, dtype):
    """np.empty((slots, m, rows), dtype) starting on a 64-byte boundary, so that with rows a
    multiple of 16 every row is too: a 512-bit load that straddles two cache lines costs
    two (a register-tiled product ran at 21 G multiply-adds/s on rows 32 bytes off, 36 on
    aligned ones)."""
    itemsize = np.dtype(dtype).itemsize
    size = slots * m * rows
    buf = np.empty(size + 64 // itemsize, dtype=dtype)
    skip = (-buf.ctypes.data % 64) // itemsize
    return buf[skip:skip + size].reshape((slots, m, rows))


def scratch(dtype, n_features, slots, rows, n_components):
    """Per-slot scratch in the blocks' precision: xT and work (slots, D, rows), per-component
    rows (slots, K, rows), and six vectors (slots, 6, rows): 0 sample weights; 1-5
    log_prob_block's scratch, then 2, 3 top and total and 1 the rows' factor from
    exp(logp - top) to w r, then 2-5 accumulate_block's."""
    return (aligned_empty(slots, n_features, rows, dtype), aligned_empty(slots, n_features, rows, dtype),
            aligned_empty(slots, n_components, rows, dtype), aligned_empty(slots, 6, rows, dtype))


def block_params(family, loc, center, prec):
    """The parameters as the block functions take them: (factors, E-step locations, M-step
    shifts). Full: the blocks are centred on c as tied's are; the factors padded
    (full.padded_upper), the log-densities' locations from full.locations, and the moments
    taken around mu_k - c (in X's precision, as the engine's Stats.shift records). Tied:
    (prec, loc, loc). Diag: (coef, loc, loc) with coef (K, 4, D) = [p, -p^2 / 2,
    p^2 (m - c), p (m - c)] in X's precision, p = prec[:, 0]: the shifted kernel's factors
    and the expanded form's (diag.expand_block)."""
    if family == DIAG:
        p = prec[:, 0].astype(np.float64)
        reach = p * (loc.astype(np.float64) - center)
        return np.stack([p, -0.5 * p * p, p * reach, reach], axis=1).astype(prec.dtype), loc, loc
    if family != FULL:
        return prec, loc, loc
    shift = loc - center  # in loc's precision, elementwise: as the kernels round it
    coef = padded_upper(prec)
    return coef, locations(shift, coef), shift


def group_sums(groups, s0, s1, s2):
    """Zeroed float64 sums, one slot per group, shaped like s0, s1 and s2."""
    return np.zeros((groups, *s0.shape)), np.zeros((groups, *s1.shape)), np.zeros((groups, *s2.shape))


def add_groups(sums, totals):
    """Each total += its groups' sums, added in group order (NumPy reduces the leading
    axis one group after another), so that the result never depends on the thread count."""
    for g_s, s in zip(sums, totals, strict=True):
        s += g_s.sum(axis=0)


def worst_row(g_low, g_low_row, X, worst):
    """The least likely row over the groups, into worst [log p(x), row, x...] if it is
    lower than worst's (the first group's on a tie)."""
    if g_low.shape[0] == 0:
        return
    g = int(np.argmin(g_low))
    if g_low[g] < worst[0]:
        worst[0] = g_low[g]
        worst[1] = g_low_row[g]
        worst[2:] = X[g_low_row[g]]
