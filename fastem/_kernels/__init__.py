"""Numba kernels: arrays in, preallocated outputs passed in; no validation here.

The parallel drivers are exported with Numba's current thread count appended to their
arguments (read per call: a jitted function that reads it could not be cached on disk).
"""

import numba
import numpy as np

from . import drivers, kmeans, missing
from ._options import DIAG, FULL, TIED, block_rows
from .drivers import first_nonfinite
from .missing import first_bad_row

__all__ = [
    "DIAG",
    "FULL",
    "TIED",
    "block_rows",
    "em_accumulate",
    "em_accumulate_missing",
    "first_bad_row",
    "first_nonfinite",
    "lloyd_accumulate",
    "resp_accumulate",
    "score",
    "score_missing",
]


def em_accumulate(X, weight, family, loc, center, prec, log_norm, s0, s1, s2, worst):
    """See drivers.em_accumulate."""
    return drivers.em_accumulate(X, weight, family, loc, center, prec, log_norm, s0, s1, s2, worst,
                                 numba.get_num_threads())


def resp_accumulate(X, weight, family, resp, shift, center, s0, s1, s2):
    """See drivers.resp_accumulate."""
    drivers.resp_accumulate(X, weight, family, resp, shift, center, s0, s1, s2, numba.get_num_threads())


def score(X, family, loc, center, prec, log_norm, log_density, labels, resp):
    """See drivers.score."""
    drivers.score(X, family, loc, center, prec, log_norm, log_density, labels, resp, numba.get_num_threads())


def lloyd_accumulate(X, weight, centers, counts, sums, labels):
    """See kmeans.lloyd_accumulate."""
    return kmeans.lloyd_accumulate(X, weight, centers, counts, sums, labels, numba.get_num_threads())


def em_accumulate_missing(X, weight, family, loc, center, prec, log_norm, marginal, s0, s1, s2, worst):
    """em_accumulate for a chunk whose NaN entries are missing (see missing.py); marginal:
    (lam: the precisions, means, shift, log_w, var, h2) float64 but h2. A chunk without NaN computes
    exactly as em_accumulate."""
    lam, means, shift, log_w, var, h2 = marginal
    threads = numba.get_num_threads()
    if family == DIAG:
        return missing.em_diag(X, weight, loc, prec, log_norm, var, h2, s0, s1, s2, worst, threads)
    order, starts, first = missing.patterns(X)
    if starts.shape[0] == 2 and not np.isnan(X[first[0]]).any():
        return drivers.em_accumulate(X, weight, family, loc, center, prec, log_norm, s0, s1, s2, worst, threads)
    return missing.em_patterns(X, weight, family, loc, center, prec, log_norm, lam, means, shift, log_w, order,
                               starts, first, s0, s1, s2, worst, threads)


def score_missing(X, family, loc, center, prec, log_norm, marginal, log_density, labels, resp):
    """score for a chunk whose NaN entries are missing (marginal as em_accumulate_missing's)."""
    lam, means, _shift, log_w, _var, h2 = marginal
    threads = numba.get_num_threads()
    if family == DIAG:
        missing.score_diag(X, loc, prec, log_norm, h2, log_density, labels, resp, threads)
        return
    order, starts, first = missing.patterns(X)
    if starts.shape[0] == 2 and not np.isnan(X[first[0]]).any():
        drivers.score(X, family, loc, center, prec, log_norm, log_density, labels, resp, threads)
        return
    missing.score_patterns(X, family, loc, center, prec, log_norm, lam, means, log_w, order, starts, first,
                           log_density, labels, resp, threads)
