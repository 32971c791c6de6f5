"""The estimator as scikit-learn users meet it: API, invariants and bad input."""

import pickle
import warnings

import numpy as np
import pytest
from conftest import blobs
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from fastem import BayesianGaussianMixture, GaussianMixture, InvalidParameterError
from fastem._engine import array_chunks


@pytest.mark.parametrize("estimator", [GaussianMixture, BayesianGaussianMixture])
def test_check_estimator_passes_every_check(estimator):
    results = check_estimator(estimator(), on_fail=None)
    assert len(results) >= 40
    failed = {r["check_name"]: f"{r['status']}: {r['exception']}" for r in results if r["status"] != "passed"}
    assert failed == {}


def test_pipeline_clone_and_grid_search(rng):
    X = blobs(600, 3, 3, rng)
    pipe = make_pipeline(StandardScaler(), GaussianMixture(random_state=0))
    search = GridSearchCV(pipe, {"gaussianmixture__n_components": [1, 3, 5],
                                 "gaussianmixture__covariance_type": ["full", "diag"]}, cv=3)
    search.fit(X)
    assert search.best_params_["gaussianmixture__n_components"] >= 3
    copy = clone(GaussianMixture(4, covariance_type="tied", chunk_size=100, n_jobs=1))
    assert copy.get_params()["chunk_size"] == 100
    assert copy.get_params()["covariance_type"] == "tied"
    assert not hasattr(copy, "means_")


def test_log_likelihood_never_decreases(covariance_type, rng):
    X = blobs(3000, 4, 5, rng, spread=2.0)
    gm = GaussianMixture(5, covariance_type=covariance_type, init_params="random", random_state=0,
                         tol=1e-12, max_iter=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    bounds = np.array(gm.lower_bounds_)
    assert len(bounds) > 5
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


@pytest.mark.parametrize("chunk_size", [1, 7, 1000, None])
def test_chunk_size_does_not_change_the_model(covariance_type, chunk_size, rng):
    X = blobs(1200, 3, 3, rng)
    kwargs = {"covariance_type": covariance_type, "random_state": 1, "init_params": "random_from_data"}
    whole = GaussianMixture(3, chunk_size=len(X), **kwargs).fit(X)
    chunked = GaussianMixture(3, chunk_size=chunk_size, **kwargs).fit(X)
    assert chunked.n_iter_ == whole.n_iter_
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-10, atol=1e-12)


def test_n_jobs_gives_bitwise_the_same_model(covariance_type, rng):
    X = blobs(40_000, 4, 4, rng)
    models = [GaussianMixture(4, covariance_type=covariance_type, random_state=0, n_jobs=n).fit(X) for n in (1, 2, -1)]
    for other in models[1:]:
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            np.testing.assert_array_equal(getattr(other, name), getattr(models[0], name))
        assert other.lower_bound_ == models[0].lower_bound_


def test_integer_sample_weights_equal_repeated_rows(covariance_type, rng):
    X = blobs(500, 3, 2, rng)
    counts = rng.integers(0, 4, size=len(X))
    precisions = {"full": np.stack([np.eye(3)] * 2), "tied": np.eye(3), "diag": np.ones((2, 3)), "spherical": np.ones(2)}
    init = {"means_init": X[:2].copy(), "weights_init": [0.5, 0.5], "precisions_init": precisions[covariance_type],
            "covariance_type": covariance_type}
    weighted = GaussianMixture(2, **init).fit(X, sample_weight=counts)
    repeated = GaussianMixture(2, **init).fit(np.repeat(X, counts, axis=0))
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-9)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-10)


def test_fit_predict_equals_fit_then_predict(covariance_type, rng):
    X = blobs(800, 2, 3, rng)
    kwargs = {"covariance_type": covariance_type, "random_state": 0}
    np.testing.assert_array_equal(GaussianMixture(3, **kwargs).fit_predict(X), GaussianMixture(3, **kwargs).fit(X).predict(X))


def test_kmeans_init_recovers_separated_clusters(covariance_type, rng):
    centers = np.array([[0, 0], [0, 10], [10, 0], [10, 10]], dtype=float)
    labels = rng.integers(4, size=4000)
    X = centers[labels] + rng.normal(size=(4000, 2))
    for init_params in ("kmeans", "k-means++"):
        gm = GaussianMixture(4, covariance_type=covariance_type, init_params=init_params, random_state=0).fit(X)
        order = np.lexsort(np.round(gm.means_).T[::-1])  # by first coordinate, then second: as centers
        np.testing.assert_allclose(gm.means_[order], centers, atol=0.15)
        assert gm.converged_


def test_float32_stays_float32_in_memory(rng):
    X = blobs(10_000, 4, 3, rng, dtype=np.float32)
    chunks = list(array_chunks(X, 1000))
    assert all(c.dtype == np.float32 and np.shares_memory(c, X) for c in chunks)
    gm = GaussianMixture(3, random_state=0).fit(X)
    assert gm.means_.dtype == np.float32  # as scikit-learn keeps it (tests/test_outputs.py)
    assert gm.score_samples(X).dtype == np.float32


def test_warm_start_continues_from_the_previous_fit(rng):
    X = blobs(2000, 3, 3, rng, spread=2.0)
    kwargs = {"random_state": 0, "init_params": "random", "tol": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        straight = GaussianMixture(3, max_iter=20, **kwargs).fit(X)
        warm = GaussianMixture(3, max_iter=10, warm_start=True, **kwargs).fit(X)
        warm.fit(X)
    np.testing.assert_allclose(warm.means_, straight.means_, rtol=1e-12)
    assert warm.lower_bound_ == pytest.approx(straight.lower_bound_, rel=1e-12)


def test_convergence_warning_and_max_iter_zero(rng):
    X = blobs(500, 2, 2, rng)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        gm = GaussianMixture(2, max_iter=1, tol=0.0, random_state=0).fit(X)
    assert not gm.converged_
    assert gm.n_iter_ == 1
    gm = GaussianMixture(2, max_iter=0, random_state=0).fit(X)  # initial parameters only, no warning
    assert gm.n_iter_ == 0
    assert gm.lower_bound_ == -np.inf
    assert np.all(np.isfinite(gm.means_))


def test_verbose_prints_progress(capsys, rng):
    X = blobs(500, 2, 2, rng)
    GaussianMixture(2, verbose=2, verbose_interval=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out
    assert "Iteration 1" in out
    assert "ll change" in out
    assert "Initialization converged." in out


def test_pickle_round_trip(rng):
    X = blobs(300, 2, 2, rng)
    gm = GaussianMixture(2, random_state=0).fit(X)
    again = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(again.predict_proba(X), gm.predict_proba(X))


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_input_names_the_row(value, rng):
    X = rng.normal(size=(5000, 3))
    X[3217, 1] = value
    with pytest.raises(ValueError, match=r"NaN or inf: row 3217, column 1"):
        GaussianMixture(2, chunk_size=1000).fit(X)
    gm = GaussianMixture(2).fit(rng.normal(size=(100, 3)))
    with pytest.raises(ValueError, match=r"row 3217, column 1"):
        gm.predict(X)


def test_wrong_number_of_features_at_predict(rng):
    gm = GaussianMixture(2).fit(rng.normal(size=(100, 3)))
    with pytest.raises(ValueError, match="X has 4 features, but GaussianMixture is expecting 3 features"):
        gm.score_samples(rng.normal(size=(10, 4)))


def test_fewer_samples_than_components(rng):
    with pytest.raises(ValueError, match="Expected n_samples >= n_components but got n_components = 5, n_samples = 3"):
        GaussianMixture(5).fit(rng.normal(size=(3, 2)))


@pytest.mark.parametrize(("X", "error"), [
    ([["a", "b"], ["c", "d"], ["e", "f"]], ValueError),
    (np.array([[{}, 1.0], [2.0, 3.0], [4.0, 5.0]], dtype=object), TypeError),
])
def test_non_numeric_data(X, error):
    with pytest.raises(error, match="X must hold numbers"):
        GaussianMixture(1).fit(X)


def test_complex_data_is_refused():
    with pytest.raises(ValueError, match=r"[Cc]omplex data not supported"):
        GaussianMixture(1).fit(np.ones((5, 2), dtype=complex))


@pytest.mark.parametrize(("name", "value"), [
    ("n_components", 0), ("n_components", 1.5), ("covariance_type", "banana"), ("tol", -1.0),
    ("reg_covar", -1e-6), ("reg_covar", np.nan), ("max_iter", -1), ("n_init", 0), ("init_params", "kmeans++"),
    ("warm_start", "yes"), ("verbose_interval", 0), ("n_jobs", 0), ("chunk_size", 0), ("chunk_size", 2.5),
])
def test_invalid_parameters(name, value, rng):
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of GaussianMixture must be"):
        GaussianMixture(**{name: value}).fit(rng.normal(size=(20, 2)))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"weights_init": [0.5, 0.6]}, "should be normalized"),
    ({"weights_init": [1.5, -0.5]}, r"should be in the range \[0, 1\]"),
    ({"weights_init": [1.0]}, "'weights' should have the shape of"),
    ({"means_init": np.zeros((2, 3))}, "'means' should have the shape of"),
    ({"precisions_init": np.array([np.eye(2), -np.eye(2)])}, "should be symmetric, positive-definite"),
    ({"precisions_init": np.ones((2, 2)), "covariance_type": "diag"} , None),
    ({"precisions_init": np.array([1.0, 0.0]), "covariance_type": "spherical"}, "should be positive"),
])
def test_invalid_initial_parameters(kwargs, message, rng):
    X = rng.normal(size=(50, 2))
    if message is None:  # a valid diag precision: fits
        assert GaussianMixture(2, **kwargs).fit(X).converged_
        return
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, **kwargs).fit(X)


@pytest.mark.parametrize(("weights", "message"), [
    (-np.ones(10), "row 0 holds -1.0"), (np.full(10, np.nan), "row 0 holds nan"),
    (np.zeros(10), "sums to zero"), (np.ones(9), r"shape \(10,\)"),
])
def test_invalid_sample_weight(weights, message, rng):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2).fit(rng.normal(size=(10, 2)), sample_weight=weights)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_overflowing_scale_is_an_error_not_nan(covariance_type):
    X = np.random.default_rng(0).normal(size=(200, 2))
    gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0, reg_covar=0.0)
    big = gm.fit(X * 1e150)  # squares up to about 1e301: still representable
    np.testing.assert_allclose(big.covariances_ / 1e300, gm.fit(X).covariances_, rtol=1e-6)
    with pytest.raises(ValueError, match="squared scale of the data overflows float64"):
        gm.fit(X * 1e200)
