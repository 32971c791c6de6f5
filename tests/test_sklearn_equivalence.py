"""Whole fits against scikit-learn from the same initialisation."""

import warnings

import numpy as np
import pytest
from conftest import blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from fastem import GaussianMixture

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def shared_init(X, covariance_type, n_components, seed=0):
    """weights_init, means_init, precisions_init from a short scikit-learn fit."""
    sk = SkGaussianMixture(n_components, covariance_type=covariance_type, max_iter=2, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X)
    return {"weights_init": sk.weights_, "means_init": sk.means_, "precisions_init": sk.precisions_}


def fit_both(X, covariance_type, n_components, max_iter, X_sklearn=None, **kwargs):
    init = shared_init(X if X_sklearn is None else X_sklearn, covariance_type, n_components)
    common = dict(covariance_type=covariance_type, max_iter=max_iter, **init, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkGaussianMixture(n_components, **common).fit(X if X_sklearn is None else X_sklearn)
        fe = GaussianMixture(n_components, **common).fit(X)
    return fe, sk


def assert_same_model(fe, sk, rtol):
    for name in ATTRIBUTES:
        a, b = getattr(fe, name), getattr(sk, name)
        scale = np.max(np.abs(b))
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale, err_msg=name)
    assert fe.lower_bound_ == pytest.approx(sk.lower_bound_, rel=rtol)
    np.testing.assert_allclose(fe.lower_bounds_, sk.lower_bounds_, rtol=rtol)
    assert fe.n_iter_ == sk.n_iter_
    assert fe.converged_ == sk.converged_


@pytest.mark.parametrize("max_iter", [1, 10, 100])
def test_same_model_as_sklearn_float64(covariance_type, max_iter, rng):
    X = blobs(3000, 5, 4, rng, spread=3.0)
    fe, sk = fit_both(X, covariance_type, 4, max_iter, tol=1e-10 if max_iter < 100 else 1e-3)
    assert_same_model(fe, sk, rtol=1e-7)


@pytest.mark.parametrize("max_iter", [1, 10, 100])
def test_same_model_as_sklearn_float32(covariance_type, max_iter, rng):
    """float32 data: fastem computes each block in float32 (as scikit-learn computes
    float32 data in float32), 8 lanes per vector, and adds the blocks' statistics in
    float64. Against scikit-learn on the same values in float64, the float32 rounding of
    the log-densities (about 1e-7 of ~10) moves responsibilities by ~1e-6 and the
    parameters by ~1e-6 per iteration at most: tolerance 1e-4. (tol=0 below 100
    iterations: float32 log-likelihoods cannot settle to 1e-10, so both run max_iter.)"""
    X = blobs(3000, 5, 4, rng, spread=3.0, dtype=np.float32)
    fe, sk = fit_both(X, covariance_type, 4, max_iter, X_sklearn=X.astype(np.float64),
                      tol=0.0 if max_iter < 100 else 1e-3)
    assert fe.means_.dtype == np.float32  # as scikit-learn's on float32 data (tests/test_outputs.py)
    assert_same_model(fe, sk, rtol=1e-4)


def test_same_model_with_offset_data(covariance_type, rng):
    """Data far from the origin (shifted statistics): the same model as the centred data."""
    X = blobs(2000, 3, 3, rng)
    init = shared_init(X, covariance_type, 3)
    centred = GaussianMixture(3, covariance_type=covariance_type, **init).fit(X)
    shifted_init = dict(init, means_init=init["means_init"] + 1e6)
    shifted = GaussianMixture(3, covariance_type=covariance_type, **shifted_init).fit(X + 1e6)
    np.testing.assert_allclose(shifted.means_ - 1e6, centred.means_, atol=1e-8)
    np.testing.assert_allclose(shifted.covariances_, centred.covariances_, rtol=1e-7)
    assert shifted.lower_bound_ == pytest.approx(centred.lower_bound_, rel=1e-9)


@pytest.mark.parametrize("init_params", ["random", "random_from_data"])
def test_random_inits_draw_what_sklearn_draws(covariance_type, init_params, rng):
    """'random' and 'random_from_data' consume the random state as scikit-learn does."""
    X = blobs(1500, 4, 3, rng)
    kwargs = {"covariance_type": covariance_type, "init_params": init_params, "random_state": 7, "max_iter": 5, "tol": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkGaussianMixture(3, **kwargs).fit(X)
        fe = GaussianMixture(3, **kwargs).fit(X)
    if covariance_type == "tied" and init_params == "random_from_data":
        # scikit-learn's tied estimate from one seed row per component is
        # (X^T X - sum_k mu_k mu_k^T) / K over ALL rows, which depends on where the origin
        # is; fastem's is the within-component scatter of the seeds (zero, so reg_covar I),
        # as for the other covariance types. Only the first iteration's start differs:
        fe_first = GaussianMixture(3, **dict(kwargs, max_iter=0)).fit(X)
        np.testing.assert_allclose(fe_first.covariances_, 1e-6 * np.eye(4), rtol=1e-6, atol=1e-11)
        np.testing.assert_allclose(fe_first.means_, sk.means_ * 0 + X[np.random.RandomState(7).choice(len(X), 3, replace=False)])
        return
    assert_same_model(fe, sk, rtol=1e-7)


def test_n_init_keeps_the_best_run(rng):
    X = blobs(2000, 2, 5, rng, spread=2.0)
    kwargs = {"init_params": "random_from_data", "random_state": 3, "max_iter": 200}
    best = GaussianMixture(5, n_init=4, **kwargs).fit(X)
    assert_same_model(best, SkGaussianMixture(5, n_init=4, **kwargs).fit(X), rtol=1e-7)
    assert best.lower_bound_ >= GaussianMixture(5, n_init=1, **kwargs).fit(X).lower_bound_


def test_bic_aic_score_match_sklearn(covariance_type, rng):
    X = blobs(1000, 3, 2, rng)
    fe, sk = fit_both(X, covariance_type, 2, 100)
    assert fe.bic(X) == pytest.approx(sk.bic(X), rel=1e-7)
    assert fe.aic(X) == pytest.approx(sk.aic(X), rel=1e-7)
    assert fe.score(X) == pytest.approx(sk.score(X), rel=1e-7)
    np.testing.assert_allclose(fe.score_samples(X), sk.score_samples(X), rtol=1e-7)
    np.testing.assert_allclose(fe.predict_proba(X), sk.predict_proba(X), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(fe.predict(X), sk.predict(X))


def test_sample_draws_what_sklearn_draws(covariance_type, rng):
    X = blobs(800, 3, 2, rng)
    fe, sk = fit_both(X, covariance_type, 2, 100, random_state=5)
    Xf, yf = fe.sample(500)
    Xs, ys = sk.sample(500)
    np.testing.assert_array_equal(yf, ys)
    np.testing.assert_allclose(Xf, Xs, rtol=1e-6, atol=1e-9)
