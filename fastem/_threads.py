"""Threads: Numba's threading layer, the kernels' thread count, and BLAS on one thread.

The threading layer is TBB where the ``tbb`` package is installed (a dependency on x86-64):
it is safe in forked children of a process that already ran parallel kernels (Numba's GNU
OpenMP layer terminates such a child: "fork() called from a process already using GNU
OpenMP", which breaks multiprocessing pools and ProcessPoolExecutor) and in concurrent
threads (the workqueue layer aborts there). pip puts libtbb in the environment's lib
folder, which the dynamic loader does not search, so it is loaded by its path here,
before the first parallel call. A layer the user chose (NUMBA_THREADING_LAYER or
numba.config.THREADING_LAYER) is left alone; without TBB, Numba's default stays.
Measured, 1e6 x 16, K=16, 2 threads, one layer per process, five alternating rounds:
diag 86.4 ms per pass with omp, 86.9 with tbb (medians); full 282.0 and 286.1.

During fits BLAS runs on one thread: the M-step's small factorisations gain nothing from
BLAS threads, and those threads keep spinning after each call, taking the cores from the
next kernel (measured: a 100,000-row full-covariance pass took 29 ms with one BLAS thread,
a median of 82 ms without the limit). The limit is process-wide, so one limiter serves all
fits in flight: the first to enter records the original limits, the last to leave
restores them, whatever the interleaving of threads.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numba
from threadpoolctl import threadpool_limits

TBB_MIN_INTERFACE = 12060  # the oldest TBB interface Numba's tbb layer accepts
_TBB_LIBRARY = {"linux": "libtbb.so.12", "win32": "tbb12.dll", "darwin": "libtbb.12.dylib"}


def _load_tbb() -> bool:
    """Load the tbb package's library by path (else one on the loader's path); whether
    one recent enough for Numba loaded."""
    name = _TBB_LIBRARY.get(sys.platform)
    try:
        files = importlib.metadata.files("tbb") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    paths = [str(f.locate()) for f in files if f.name == name] or [name]
    for path in paths:
        try:
            library = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            version = library.TBB_runtime_interface_version
        except (OSError, TypeError, AttributeError):
            continue
        version.restype = ctypes.c_int
        return version() >= TBB_MIN_INTERFACE
    return False


def select_threading_layer() -> str:
    """Choose TBB unless the layer is launched already or the user chose one; returns
    what was done: 'tbb', 'already-launched', 'user-choice' or 'no-tbb'."""
    from numba.np.ufunc import parallel

    if getattr(parallel, "_is_initialized", False):
        return "already-launched"
    have_tbb = _load_tbb()  # also lets a user's own 'tbb', 'safe' or 'threadsafe' find it
    if "NUMBA_THREADING_LAYER" in os.environ or str(numba.config.THREADING_LAYER).lower() != "default":
        return "user-choice"
    if not have_tbb:
        return "no-tbb"
    numba.config.THREADING_LAYER = "tbb"
    return "tbb"


LAYER_SELECTION = select_threading_layer()


def resolve_n_jobs(n_jobs: int | None) -> int:
    """Threads for n_jobs as joblib reads it: None or -1 all cores, -2 all but one, ..."""
    available = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        return available
    if n_jobs < 0:
        return max(1, available + 1 + n_jobs)
    return min(n_jobs, available)


# threadpoolctl >= 3.7 ignores OpenBLAS (pthreads) limits set from any thread but the one
# that set the first ("controlling") limit, and the last fit to leave may run in another
# thread than the first: so control is taken and given back around each change.
try:
    from threadpoolctl import OpenBLASController

    _release_control = getattr(OpenBLASController, "clear_controlling_thread", None)
except ImportError:  # older threadpoolctl: no controlling thread
    _release_control = None

_blas_lock = threading.Lock()
_blas_depth = 0
_blas_limiter = None


def _free_blas_control() -> None:
    if _release_control is not None:
        _release_control(force=True)


def _set_blas(limiter_or_none):
    """Set one BLAS thread (None: make and return the limiter) or restore limiter's originals."""
    _free_blas_control()
    if limiter_or_none is None:
        limiter = threadpool_limits(limits=1, user_api="blas")
    else:
        limiter_or_none.restore_original_limits()
        limiter = None
    _free_blas_control()
    return limiter


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while any fit of this process is in the body."""
    global _blas_depth, _blas_limiter
    with _blas_lock:
        if _blas_depth == 0:
            _blas_limiter = _set_blas(None)
        _blas_depth += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_depth -= 1
            if _blas_depth == 0:
                _blas_limiter = _set_blas(_blas_limiter)


def _after_fork_in_child() -> None:
    """A forked child has only the forking thread, which is in no fit: start clean."""
    global _blas_lock, _blas_depth, _blas_limiter
    _blas_lock = threading.Lock()
    if _blas_depth and _blas_limiter is not None:
        _set_blas(_blas_limiter)
    _blas_depth, _blas_limiter = 0, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def threads(n_jobs: int | None) -> Iterator[int]:
    """Run the body with resolve_n_jobs(n_jobs) Numba threads (per calling thread in the
    tbb and omp layers) and one BLAS thread."""
    previous = numba.get_num_threads()
    n = resolve_n_jobs(n_jobs)
    numba.set_num_threads(n)
    try:
        with one_blas_thread():
            yield n
    finally:
        numba.set_num_threads(previous)
