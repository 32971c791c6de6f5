"""Map an estimator's n_jobs to Numba's thread count, restored afterwards, with BLAS on
one thread meanwhile: the M-step's small factorisations gain nothing from BLAS threads,
and those threads keep spinning after each call, taking the cores from the next kernel
(measured: a 100,000-row full-covariance pass took 29 ms with one BLAS thread, a median
of 82 ms without the limit)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba
from threadpoolctl import threadpool_limits


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Threads for n_jobs as joblib reads it: None or -1 all cores, -2 all but one, ..."""
    available = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return available
    if n_jobs < 0:
        return max(1, available + 1 + n_jobs)
    return min(n_jobs, available)


@contextmanager
def threads(n_jobs: int | None) -> Iterator[int]:
    """Run the body with resolve_n_jobs(n_jobs) Numba threads and one BLAS thread."""
    previous = numba.get_num_threads()
    n = resolve_n_jobs(n_jobs)
    numba.set_num_threads(n)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield n
    finally:
        numba.set_num_threads(previous)
