"""Numba kernels: arrays in, preallocated outputs passed in; no validation here.

These wrappers are the kernels' face: each makes its driver's partition, scratch and group
sums (_buffers), reads Numba's current thread count per call (a jitted function that reads
it could not be cached on disk), and adds the groups' sums in group order.
"""

import llvmlite.binding
import numba
import numpy as np

from . import _buffers, drivers, kmeans, missing
from ._options import DIAG, EXPANDED, FULL, SHIFTED, TIED, block_rows
from .diag import EXPANDED_MIN_COMPONENTS
from .drivers import first_nonfinite
from .full import locations, padded_upper
from .missing import first_bad_row

_FUSED = {(family, SHIFTED): drivers.family_drivers(family)[0] for family in (FULL, TIED, DIAG)}
_FUSED[DIAG, EXPANDED] = drivers.family_drivers(DIAG, EXPANDED)[0]


def expanded_pays(cpu_name):
    """Whether a CPU of LLVM's name ``cpu_name`` runs diag's expanded form faster. On
    Intel's cores the shifted form's subtractions take the multiply-add units' turns, and
    the expanded form's EM pass was up to 1.22x faster; AMD's Zen cores (``znver*``)
    subtract on adders of their own, and there it was no faster in an EM pass and
    1.2-1.3x slower in predict (docs/user_guide/performance.rst)."""
    return not cpu_name.startswith("znver")


EXPANDED_PAYS = expanded_pays(llvmlite.binding.get_host_cpu_name())


def expanded_form(family, dtype, n_components):
    """Whether chunks of this family, dtype and component count run the driver with diag's
    expanded form (diag.expand_block): float64 diag with EXPANDED_MIN_COMPONENTS or more
    components, on a CPU where it pays (EXPANDED_PAYS). Below that count, the bound's pass
    over each block costs about what the form saves, and the driver compiles without it."""
    return (EXPANDED_PAYS and family == DIAG and np.dtype(dtype) == np.float64
            and n_components >= EXPANDED_MIN_COMPONENTS)


__all__ = [
    "DIAG",
    "EXPANDED_PAYS",
    "FULL",
    "TIED",
    "block_rows",
    "em_accumulate",
    "em_accumulate_missing",
    "expanded_form",
    "expanded_pays",
    "first_bad_row",
    "first_nonfinite",
    "lloyd_accumulate",
    "resp_accumulate",
    "score",
    "score_missing",
]


_EMPTY_RESP = np.zeros((0, 0))
_NO_ROWS = (np.zeros(0), np.zeros(0, dtype=np.int64), _EMPTY_RESP)  # no per-row outputs: density, labels, resp


def _setup(X, n_components, stats, worst):
    """A driver call's partition (rows, n_blocks, groups, slots), scratch (xT, work, logp,
    vec) in X's precision, and each group's sums (g_s0, g_s1, g_s2), log-likelihood and
    least likely row (below worst's, if given); no sums if stats is ()."""
    n, n_features = X.shape
    s2_size = stats[2].size if stats else 0
    rows, n_blocks, groups, slots = _buffers.layout(n, n_features, X.itemsize,
                                                   s2_size + n_components * (n_features + 1) + 3,
                                                   numba.get_num_threads())
    scratch = _buffers.scratch(X.dtype, n_features, slots, rows, n_components)
    if not stats:
        sums = (np.zeros((0, 1)), np.zeros((0, 1, 1)), np.zeros((0, 1, 1, 1)))
        return rows, n_blocks, groups, slots, scratch, sums, np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    lowest = np.inf if worst is None else worst[0]  # only rows below the lowest of earlier chunks matter
    return (rows, n_blocks, groups, slots, scratch, _buffers.group_sums(groups, *stats), np.zeros(groups),
            np.full(groups, lowest), np.full(groups, -1, dtype=np.int64))


def _finish(stats, sums, g_ll, g_low, g_low_row, X, worst):
    """The groups' sums added to stats in group order, the least likely row into worst (if
    given); returns the chunk's log-likelihood."""
    _buffers.add_groups(sums, stats)
    if worst is not None:
        _buffers.worst_row(g_low, g_low_row, X, worst)
    return float(g_ll.sum())


def _pass(X, weight, family, resp, e_loc, center, coef, log_norm, m_loc, stats, worst, outputs):
    """Runs family's fused pass (drivers.family_drivers) over chunk X; stats (s0, s1, s2)
    are added to, and the return is sum_n w_n log p(x_n) (0 with given responsibilities)."""
    n_components = log_norm.shape[0] if resp.shape[0] == 0 else resp.shape[1]
    rows, n_blocks, groups, slots, scratch, sums, g_ll, g_low, g_low_row = _setup(X, n_components, stats, worst)
    form = EXPANDED if expanded_form(family, X.dtype, n_components) else SHIFTED
    _FUSED[family, form](X, weight, resp, rows, n_blocks, groups, slots, e_loc, center, coef, log_norm, m_loc,
                         *scratch, *sums, g_ll, g_low, g_low_row, *outputs)
    return _finish(stats, sums, g_ll, g_low, g_low_row, X, worst) if stats else 0.0


def em_accumulate(X, weight, family, loc, center, prec, log_norm, s0, s1, s2, worst):
    """One fused E-step and M-step accumulation over chunk X (see drivers): adds to s0, s1,
    s2 and returns sum_n w_n log p(x_n). worst (D + 2,): the least likely row of positive
    weight so far, [log p(x), row index in this chunk, x...], updated in place if this
    chunk has a lower one; start it at [inf, -1, ...]."""
    coef, e_loc, m_loc = _buffers.block_params(family, loc, center, prec)
    return _pass(X, weight, family, _EMPTY_RESP, e_loc, center, coef, log_norm, m_loc, (s0, s1, s2), worst,
                 _NO_ROWS)


def resp_accumulate(X, weight, family, resp, shift, center, s0, s1, s2):
    """Statistics of chunk X under given responsibilities resp (n, K) float64, around shift
    (K, D) (full, diag) or center (D,) (tied), added to s0, s1, s2."""
    dtype = X.dtype
    n_features = X.shape[1]
    none2, none3 = np.zeros((0, 0), dtype=dtype), np.zeros((0, 0, 0), dtype=dtype)
    _pass(X, weight, family, resp, none2, center.astype(dtype, copy=False), none3, np.zeros(0, dtype=dtype),
          shift.reshape(-1, n_features), (s0, s1, s2), None, _NO_ROWS)


def score(X, family, loc, center, prec, log_norm, log_density, labels, resp):
    """Per row of chunk X: log_density (n,) = log p(x), labels (n,) = argmax_k p(k | x), and,
    when resp has n rows, resp (n, K) = p(k | x). Pass resp of shape (0, K) to skip it."""
    coef, e_loc, _ = _buffers.block_params(family, loc, center, prec)
    _pass(X, X[:0, 0].astype(np.float64), family, _EMPTY_RESP, e_loc, center, coef, log_norm, e_loc[:0], (), None,
          (log_density, labels, resp))


def lloyd_accumulate(X, weight, centers, counts, sums, labels):
    """Lloyd's step over chunk X (see kmeans): adds counts (K,) += sum w and sums (K, D) +=
    sum w (x - c_k) over the rows nearest to each centre; writes labels (n,) when it has n
    rows. Returns the weighted inertia."""
    n, n_features = X.shape
    n_clusters = centers.shape[0]
    rows, n_blocks, groups, slots = _buffers.layout(n, n_features, 8, n_clusters * (n_features + 1) + 1,
                                                   numba.get_num_threads())  # its scratch is float64
    xT = _buffers.aligned_empty(slots, n_features, rows, np.float64)
    vec = _buffers.aligned_empty(slots, 3, rows, np.float64)
    best = np.empty((slots, rows), dtype=np.int64)
    g_counts, g_sums, g_inertia = np.zeros((groups, *counts.shape)), np.zeros((groups, *sums.shape)), np.zeros(groups)
    kmeans.lloyd_accumulate(X, weight, centers, rows, n_blocks, groups, slots, xT, vec, best, g_counts, g_sums,
                            g_inertia, labels)
    _buffers.add_groups((g_counts, g_sums), (counts, sums))
    return float(g_inertia.sum())


def em_accumulate_missing(X, weight, family, loc, center, prec, log_norm, marginal, s0, s1, s2, worst):
    """em_accumulate for a chunk whose NaN entries are missing (see missing.py); marginal:
    (lam: the precisions, means, var, h2), float64 but h2. A chunk without NaN computes
    exactly as em_accumulate."""
    lam, means, var, h2 = marginal
    if family == DIAG:
        rows, n_blocks, groups, slots, scratch, sums, g_ll, g_low, g_low_row = _setup(X, loc.shape[0], (s0, s1, s2),
                                                                                     worst)
        missing.em_diag(X, weight, rows, n_blocks, groups, slots, loc, prec, log_norm, var, h2, *scratch, *sums, g_ll,
                        g_low, g_low_row)
        return _finish((s0, s1, s2), sums, g_ll, g_low, g_low_row, X, worst)
    order, starts, first = missing.patterns(X)
    if starts.shape[0] == 2 and not np.isnan(X[first[0]]).any():
        return em_accumulate(X, weight, family, loc, center, prec, log_norm, s0, s1, s2, worst)
    rows, n_blocks, groups, slots, scratch, sums, g_ll, g_low, g_low_row = _setup(X, loc.shape[0], (s0, s1, s2),
                                                                                 worst)
    _masked(X, weight, family, loc, center, prec, log_norm, lam, means, (order, starts, first), rows, n_blocks, groups,
            slots, scratch, sums, (g_ll, g_low, g_low_row), _NO_ROWS)
    return _finish((s0, s1, s2), sums, g_ll, g_low, g_low_row, X, worst)


def score_missing(X, family, loc, center, prec, log_norm, marginal, log_density, labels, resp):
    """score for a chunk whose NaN entries are missing (marginal as em_accumulate_missing's)."""
    lam, means, _var, h2 = marginal
    if family == DIAG:
        rows, n_blocks, groups, slots, scratch, *_ = _setup(X, loc.shape[0], (), None)
        missing.score_diag(X, rows, n_blocks, groups, slots, loc, prec, log_norm, h2, *scratch, log_density, labels,
                           resp)
        return
    order, starts, first = missing.patterns(X)
    if starts.shape[0] == 2 and not np.isnan(X[first[0]]).any():
        score(X, family, loc, center, prec, log_norm, log_density, labels, resp)
        return
    rows, n_blocks, groups, slots, scratch, sums, g_ll, g_low, g_low_row = _setup(X, loc.shape[0], (), None)
    _masked(X, X[:0, 0].astype(np.float64), family, loc, center, prec, log_norm, lam, means, (order, starts, first),
            rows, n_blocks, groups, slots, scratch, sums, (g_ll, g_low, g_low_row), (log_density, labels, resp))


def _lanes(n_components):
    """n_components rounded up to a multiple of missing.LANES."""
    return -(-n_components // missing.LANES) * missing.LANES


def _masked(X, weight, family, loc, center, prec, log_norm, lam, means, grouped, rows, n_blocks, groups, slots,
            scratch, sums, likelihood, outputs):
    """Runs missing.masked_pass over chunk X, its rows grouped by pattern (missing.patterns):
    full's block parameters (tied: its factor for every component, the locations of its
    means, statistics around c); the precisions lam, the means' offsets from c and their
    products with lam, components last (conditional_means); each row's pattern, and each
    pattern's missing features and tables (pattern_features, pattern_inverses); scratch."""
    n_components, n_features = loc.shape
    if family == FULL:
        coef, e_loc, m_shift = _buffers.block_params(FULL, loc, center, prec)
    else:
        coef = padded_upper(np.ascontiguousarray(np.repeat(prec, n_components, axis=0)))
        shift = means.astype(loc.dtype) - center
        e_loc, m_shift = locations(shift, coef), np.zeros_like(shift)
    width = _lanes(n_components)
    lam_t = np.zeros((n_features, n_features, width))
    lam_t[:, :, :n_components] = np.moveaxis(lam, 0, -1)
    shift_t = np.zeros((n_features, width))
    shift_t[:, :n_components] = (means - center.astype(np.float64)).T
    lam_shift = np.einsum("jik,ik->jk", lam_t, shift_t)
    order, starts, first = grouped
    n_patterns = first.shape[0]
    where = np.empty((n_patterns, n_features), dtype=np.int64)
    n_missing = np.empty(n_patterns, dtype=np.int64)
    offset = np.empty(n_patterns + 1, dtype=np.int64)
    missing.pattern_features(X, first, where, n_missing, offset)
    inverse = np.empty((max(int(offset[-1]), 1), width))
    const = np.empty((n_patterns, n_components), dtype=X.dtype)
    missing.pattern_inverses(lam_t, where, n_missing, offset, inverse, const)
    pid = np.empty(X.shape[0], dtype=np.int64)
    pid[order] = np.repeat(np.arange(n_patterns), np.diff(starts))
    xT, _work, logp, vec = scratch
    per_slot = (np.empty((slots, n_features * rows, width)), np.empty((slots, n_features * rows), dtype=np.int64),
                np.empty((slots, n_components, rows), dtype=X.dtype), np.empty((slots, n_features)),
                np.empty((slots, n_features, width)), np.empty((slots, rows), dtype=np.int64),
                np.empty((slots, rows + 1), dtype=np.int64))
    missing.masked_pass(X, weight, rows, n_blocks, groups, slots, coef, e_loc, m_shift, center, log_norm, lam_t,
                        shift_t, lam_shift, pid, where, n_missing, offset, inverse, const, xT, logp, vec, *per_slot,
                        *sums, *likelihood, *outputs)
