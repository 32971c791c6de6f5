"""Distributed fits on a real Dask cluster (2 worker processes) equal in-memory fits."""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from conftest import blobs, interrupted_fit, unit_precisions

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
    init = {"weights_init": np.full(3, 1 / 3), "means_init": data[[0, 10_000, 20_000]],
            "precisions_init": unit_precisions(covariance_type, 3, 4), "covariance_type": covariance_type}
    X = da.from_array(data, chunks=(4000, 4)).persist()
    distributed_fit = GaussianMixture(3, **init).fit(X)
    local_fit = GaussianMixture(3, **init).fit(data)
    assert_same(distributed_fit, local_fit)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random", "random_from_data"])
def test_every_initialisation_gives_the_local_model(client, data, init_params, covariance_type):
    """The same model as the local fit, with and without sample weights: initialisation
    (k-means++ on a row sample, Lloyd passes, random responsibilities drawn in row order)
    and EM run on the workers."""
    X = da.from_array(data[:12_000], chunks=(5000, 4)).persist()
    weight = np.random.default_rng(4).uniform(0.0, 3.0, size=12_000)
    for w in (None, weight):
        options = {"init_params": init_params, "covariance_type": covariance_type, "random_state": 3, "max_iter": 30}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            distributed_fit = GaussianMixture(3, **options).fit(X, sample_weight=w)
            local_fit = GaussianMixture(3, **options).fit(data[:12_000], sample_weight=w)
        assert_same(distributed_fit, local_fit)


def test_dask_sample_weights_are_validated(client, data):
    X = da.from_array(data, chunks=(5000, 4))
    w = np.ones(len(data))
    w[17_000] = -50.0
    for weights in (w, da.from_array(w, chunks=7000)):
        with pytest.raises(ValueError, match="sample_weight must be finite and >= 0; row 17000 holds -50"):
            GaussianMixture(3).fit(X, sample_weight=weights)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        GaussianMixture(3).fit(X, sample_weight=da.ones(10, chunks=5))


def test_nan_is_found_in_the_first_pass(client, data, monkeypatch):
    from fastem.dask import DaskBackend

    bad = data.copy()
    bad[12_345, 2] = np.nan
    passes = []
    reduce = DaskBackend.reduce
    monkeypatch.setattr(DaskBackend, "reduce", lambda self, *a, **k: passes.append(1) or reduce(self, *a, **k))
    with pytest.raises(ValueError, match="row 12345, column 2"):
        GaussianMixture(2, init_params="random_from_data").fit(da.from_array(bad, chunks=(5000, 4)))
    assert len(passes) == 1


def test_nan_at_prediction_is_an_error(client, data):
    gm = GaussianMixture(3, random_state=0).fit(data)
    bad = data.copy()
    bad[23_456, 0] = np.inf
    X = da.from_array(bad, chunks=(5000, 4))
    for method in ("predict", "score_samples", "predict_proba"):
        with pytest.raises(ValueError, match="row 23456, column 0 holds inf"):
            getattr(gm, method)(X).compute()


def test_scoring_float32_far_from_the_origin_computes_as_locally(client):
    rng = np.random.default_rng(8)
    X = (1e4 + 1e-2 * rng.standard_normal((6000, 3))).astype(np.float32)
    gm = GaussianMixture(2, random_state=0).fit(X)
    local = gm.score_samples(X)
    remote = gm.score_samples(da.from_array(X, chunks=2000)).compute()
    np.testing.assert_allclose(remote, local, rtol=1e-12)


def test_partial_fit_of_a_dask_array_stays_on_the_cluster(client, data, monkeypatch):
    X = da.from_array(data, chunks=(5000, 4)).persist()
    init = {"weights_init": np.full(3, 1 / 3), "means_init": data[[0, 10_000, 20_000]], "random_state": 0}
    local = GaussianMixture(3, **init).partial_fit(data[:15_000]).partial_fit(data[15_000:])

    def refuse(*args, **kwargs):
        raise AssertionError("the whole dask array was loaded into the client")

    monkeypatch.setattr(da.Array, "__array__", refuse)
    remote = GaussianMixture(3, **init).partial_fit(X[:15_000]).partial_fit(X[15_000:])
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(remote, name), getattr(local, name), rtol=1e-10, err_msg=name)


def test_checkpointed_fit_killed_and_resumed_gives_the_same_model(client, data, tmp_path):
    X = da.from_array(data, chunks=(7000, 4)).persist()
    options = {"random_state": 1, "max_iter": 12, "tol": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = GaussianMixture(3, **options).fit(X)
    checkpoint = tmp_path / "fit.ckpt.npz"
    interrupted_fit(GaussianMixture(3, **options), X, after=4, checkpoint=checkpoint)
    assert checkpoint.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = GaussianMixture(3, **options).fit(X, checkpoint=checkpoint)
    assert not checkpoint.exists()
    assert_same(resumed, reference)


def test_progress_shows_on_dask_passes(client, data, capsys):
    X = da.from_array(data, chunks=(5000, 4))
    GaussianMixture(3, random_state=0, max_iter=3, tol=1e9, progress=True).fit(X)
    err = capsys.readouterr().err
    assert "pass" in err
    assert "30.0k" in err.replace("30k", "30.0k")


def test_a_dask_array_fits_without_pandas(tmp_path):
    """dask[array] and no pandas: the backend must not import dask.dataframe."""
    import subprocess
    import sys

    script = tmp_path / "no_pandas.py"
    script.write_text(
        "import sys\n"
        "sys.modules['pandas'] = None  # import pandas now raises ImportError\n"
        "import numpy as np, dask, dask.array as da\n"
        "from fastem import GaussianMixture\n"
        "X = da.from_array(np.random.default_rng(0).normal(size=(2000, 3)), chunks=500)\n"
        "with dask.config.set(scheduler='sync'):\n"
        "    gm = GaussianMixture(2, random_state=0).fit(X)\n"
        "    print(gm.predict(X).compute().shape)\n"
    )
    done = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(2000,)"


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
    init = {"weights_init": np.full(3, 1 / 3), "means_init": data[[0, 10_000, 20_000]]}
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
    init = {"weights_init": np.full(3, 1 / 3), "means_init": data[[0, 10_000, 20_000]], "random_state": 0}
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

    from fastem.dask import PASS_ATTEMPTS, compute_pass

    def build(ref):
        leaves = [dask.delayed(lambda v, i: v * i)(ref, i) for i in range(4)]
        return leaves, dask.delayed(sum)(leaves)

    flaky = _LosesFirstPasses(PASS_ATTEMPTS - 1)
    assert compute_pass(10, flaky, build) == 60
    assert flaky.scattered == [10] * PASS_ATTEMPTS  # scattered afresh for every attempt
    hopeless = _LosesFirstPasses(PASS_ATTEMPTS)
    with pytest.raises(distributed.client.FutureCancelledError):
        compute_pass(10, hopeless, build)


@pytest.mark.slow  # 30 s; test_checkpointed_fit_killed_and_resumed_gives_the_same_model kills a fit too
def test_worker_killed_mid_fit_gives_the_same_model():
    import dask

    lazy = da.concatenate([da.from_delayed(dask.delayed(make_block)(i), shape=(20_000, 6), dtype=np.float64)
                           for i in range(20)])
    rows = lazy.compute(scheduler="sync")
    init = {"weights_init": np.full(4, 0.25), "means_init": rows[:4], "precisions_init": unit_precisions("full", 4, 6),
            "max_iter": 40, "tol": 0.0}
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
