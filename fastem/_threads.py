"""Map an estimator's n_jobs to Numba's thread count, restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numba


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
    """Run the body with resolve_n_jobs(n_jobs) Numba threads."""
    previous = numba.get_num_threads()
    n = resolve_n_jobs(n_jobs)
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(previous)
