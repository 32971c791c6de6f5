"""Distributed fits on a real Dask cluster (2 worker processes) equal in-memory fits."""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from conftest import blobs, unit_precisions

from fastem import GaussianMixture

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def start_cluster():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    return cluster, distributed.Client(cluster)


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster, client = start_cluster()
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    return blobs(30_000, 4, 3, np.random.default_rng(21), spread=3.0)


def assert_same(a, b, rtol=1e-10):
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=rtol * 1e-3, err_msg=name)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=rtol)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_same_model_as_in_memory(client, data, covariance_type):
    init = dict(weights_init=np.full(3, 1 / 3), means_init=data[[0, 10_000, 20_000]],
                precisions_init=unit_precisions(covariance_type, 3, 4), covariance_type=covariance_type)
    X = da.from_array(data, chunks=(4000, 4)).persist()
    distributed_fit = GaussianMixture(3, **init).fit(X)
    local_fit = GaussianMixture(3, **init).fit(data)
    assert_same(distributed_fit, local_fit)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_initialisation_runs_on_the_cluster(client, data, init_params):
    X = da.from_array(data, chunks=(7000, 4)).persist()
    distributed_fit = GaussianMixture(3, init_params=init_params, random_state=3).fit(X)
    local_fit = GaussianMixture(3, init_params=init_params, random_state=3).fit(data)
    assert_same(distributed_fit, local_fit, rtol=1e-8)


def test_predictions_are_lazy_dask_arrays(client, data):
    X = da.from_array(data, chunks=(5000, 4))
    gm = GaussianMixture(3, random_state=0).fit(data)
    labels, proba, density = gm.predict(X), gm.predict_proba(X), gm.score_samples(X)
    assert all(isinstance(a, da.Array) for a in (labels, proba, density))
    np.testing.assert_array_equal(labels.compute(), gm.predict(data))
    np.testing.assert_allclose(proba.compute(), gm.predict_proba(data), rtol=1e-12)
    np.testing.assert_allclose(density.compute(), gm.score_samples(data), rtol=1e-12)
    assert gm.score(X) == pytest.approx(gm.score(data), rel=1e-12)
    assert gm.bic(X) == pytest.approx(gm.bic(data), rel=1e-12)


def test_dask_dataframe_numeric_columns(client, data):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data, columns=list("abcd")).assign(name="row")
    ddf = dd.from_pandas(frame, npartitions=4)
    init = dict(weights_init=np.full(3, 1 / 3), means_init=data[[0, 10_000, 20_000]])
    assert_same(GaussianMixture(3, random_state=0, **init).fit(ddf), GaussianMixture(3, random_state=0, **init).fit(data))


def test_nan_in_a_block_names_the_row(client, data):
    bad = data.copy()
    bad[12_345, 2] = np.nan
    with pytest.raises(ValueError, match="row 12345"):
        GaussianMixture(2, init_params="random_from_data", random_state=0).fit(da.from_array(bad, chunks=(5000, 4)))


def test_default_scheduler_without_a_client(data, monkeypatch):
    import dask

    import fastem.dask

    monkeypatch.setattr(fastem.dask, "_client", lambda: None)
    X = da.from_array(data, chunks=(6000, 4))
    init = dict(weights_init=np.full(3, 1 / 3), means_init=data[[0, 10_000, 20_000]], random_state=0)
    with dask.config.set(scheduler="threads"):
        assert_same(GaussianMixture(3, **init).fit(X), GaussianMixture(3, **init).fit(data))


CENTERS = np.random.default_rng(9).normal(scale=2.0, size=(4, 6))


def make_block(i, rows=20_000):
    """Block i of a dataset made on the workers (so no data travels in the graph)."""
    rng = np.random.default_rng(1000 + i)
    return CENTERS[rng.integers(4, size=rows)] + rng.standard_normal((rows, 6))


class _LosesFirstPasses:
    """A stand-in Client whose first passes are cancelled as when a worker dies holding
    the only copy of the scattered parameters."""

    def __init__(self, losses):
        self.losses, self.scattered = losses, []

    def scatter(self, value, **options):
        self.scattered.append(value)
        return value

    def compute(self, graph):
        client = self

        class Pending:
            def result(self):
                if client.losses > 0:
                    client.losses -= 1
                    raise distributed.client.FutureCancelledError("_add_stats-0", reason="lost dependencies")
                return graph.compute(scheduler="sync")

        return Pending()


def test_a_pass_that_lost_its_scattered_value_runs_again():
    import dask

    from fastem.dask import PASS_ATTEMPTS, _compute_pass

    def build(ref):
        return dask.delayed(sum)([dask.delayed(lambda v, i: v * i)(ref, i) for i in range(4)])

    flaky = _LosesFirstPasses(PASS_ATTEMPTS - 1)
    assert _compute_pass(10, flaky, build) == 60
    assert flaky.scattered == [10] * PASS_ATTEMPTS  # scattered afresh for every attempt
    hopeless = _LosesFirstPasses(PASS_ATTEMPTS)
    with pytest.raises(distributed.client.FutureCancelledError):
        _compute_pass(10, hopeless, build)


def test_worker_killed_mid_fit_gives_the_same_model():
    import dask

    lazy = da.concatenate([da.from_delayed(dask.delayed(make_block)(i), shape=(20_000, 6), dtype=np.float64)
                           for i in range(20)])
    rows = lazy.compute(scheduler="sync")
    init = dict(weights_init=np.full(4, 0.25), means_init=rows[:4], precisions_init=unit_precisions("full", 4, 6),
                max_iter=40, tol=0.0)
    reference = GaussianMixture(4, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(rows)
        cluster, client = start_cluster()
    try:
        X = lazy.persist()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            GaussianMixture(4, **dict(init, max_iter=2)).fit(X)  # the workers load their kernels
            start = time.perf_counter()
            GaussianMixture(4, **dict(init, max_iter=10)).fit(X)
            ten = time.perf_counter() - start  # how long 10 iterations take: when to kill
        victim = next(iter(client.run(os.getpid).values()))
        fit_done, killed_mid_fit = threading.Event(), threading.Event()

        def kill_unless_done():
            if not fit_done.is_set():
                os.kill(victim, signal.SIGKILL)
                killed_mid_fit.set()

        killer = threading.Timer(max(ten, 0.5), kill_unless_done)  # about a quarter into the 40 iterations
        killer.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            survived = GaussianMixture(4, **init).fit(X)
        fit_done.set()
        killer.join()
        assert killed_mid_fit.is_set(), "the fit ended before the worker was killed"
        assert victim not in client.run(os.getpid).values()  # the worker really died and was replaced
        assert_same(survived, reference)
    finally:
        client.close()
        cluster.close()
