"""Fits in forked children, process pools and concurrent threads (fastem/_threads.py)."""

import multiprocessing
import os
import platform
import threading
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from conftest import blobs
from threadpoolctl import threadpool_info

from fastem import GaussianMixture, _threads

X = blobs(4000, 3, 3, np.random.default_rng(0))


def fit_means(seed: int = 0) -> np.ndarray:
    return GaussianMixture(3, random_state=seed).fit(X).means_


@pytest.fixture(scope="module")
def reference():
    return fit_means()  # also: this process has now run the parallel kernels


def test_the_threading_layer_is_tbb_where_it_is_installed(reference):
    import numba

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the tbb wheel (a dependency on x86-64 only) is not available here")
    assert _threads.LAYER_SELECTION == "tbb"
    assert numba.threading_layer() == "tbb"


def test_a_forked_child_fits(reference):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: fit, send the means, leave without running the parent's atexit
        try:
            os.write(write, fit_means().tobytes())
        finally:
            os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 1 << 16):
        data += chunk
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), status
    assert os.WEXITSTATUS(status) == 0
    np.testing.assert_array_equal(np.frombuffer(data).reshape(reference.shape), reference)


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_a_multiprocessing_pool_fits(reference, start):
    with multiprocessing.get_context(start).Pool(2) as pool:
        results = pool.map_async(fit_means, [0, 0]).get(timeout=300)  # a hang fails, it does not wait forever
    for means in results:
        np.testing.assert_array_equal(means, reference)


def test_a_process_pool_executor_fits(reference):
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        results = [f.result(timeout=300) for f in [pool.submit(fit_means, 0) for _ in range(2)]]
    for means in results:
        np.testing.assert_array_equal(means, reference)


def test_joblib_loky_fits(reference):
    joblib = pytest.importorskip("joblib")
    results = joblib.Parallel(n_jobs=2, backend="loky", timeout=300)(joblib.delayed(fit_means)(0) for _ in range(2))
    for means in results:
        np.testing.assert_array_equal(means, reference)


def blas_limits():
    return sorted((i["internal_api"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas")


def test_concurrent_threads_fit_alike_and_restore_blas(reference):
    before = blas_limits()
    for _ in range(3):
        results = [None] * 4

        def fit(i, results=results):
            results[i] = fit_means()

        workers = [threading.Thread(target=fit, args=(i,)) for i in range(4)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=300)
        for means in results:
            np.testing.assert_array_equal(means, reference)
        assert blas_limits() == before


def test_blas_limit_restored_whatever_the_interleaving():
    """Random overlaps of one_blas_thread from several threads: BLAS is on one thread while
    any is inside, and the original limits come back exactly when the last leaves."""
    before = blas_limits()
    if not before:
        pytest.skip("no BLAS library under threadpoolctl's control")
    rng = np.random.default_rng(7)
    for _ in range(20):
        order = rng.permutation(np.repeat(np.arange(3), 2))  # each thread: enter, then leave
        steps = {t: (threading.Event(), threading.Event()) for t in range(3)}
        done = {t: threading.Event() for t in range(3)}
        inside = []

        def worker(enter, leave, done, inside):
            enter.wait(60)
            with _threads.one_blas_thread():
                done.set()
                leave.wait(60)
                inside.append(all(n == 1 for _, n in blas_limits()))
            done.set()

        threads = [threading.Thread(target=worker, args=(*steps[t], done[t], inside)) for t in range(3)]
        for th in threads:
            th.start()
        seen = set()
        for t in order:
            t = int(t)
            phase = 1 if t in seen else 0
            seen.add(t)
            done[t].clear()
            steps[t][phase].set()
            done[t].wait(60)
        for th in threads:
            th.join(60)
        assert all(inside)
        assert blas_limits() == before
