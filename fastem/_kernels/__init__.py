"""Numba kernels: arrays in, preallocated outputs passed in; no validation here.

The parallel drivers are exported with Numba's current thread count appended to their
arguments (read per call: a jitted function that reads it could not be cached on disk).
"""

import numba

from . import drivers, kmeans
from ._options import DIAG, FULL, TIED, block_rows
from .drivers import first_nonfinite

__all__ = [
    "DIAG",
    "FULL",
    "TIED",
    "block_rows",
    "em_accumulate",
    "first_nonfinite",
    "lloyd_accumulate",
    "resp_accumulate",
    "score",
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
