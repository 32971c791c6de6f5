"""Property-based tests over random mixtures, shapes and dtypes (hypothesis)."""

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import naive
from fastem import GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mixtures(draw):
    """(X, n_components, covariance_type, seed): rows drawn from a random mixture."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n_components = draw(st.integers(1, 5))
    n_features = draw(st.integers(1, 6))
    n = draw(st.integers(max(20, 4 * n_components), 800))
    true_k = draw(st.integers(1, 5))
    spread = draw(st.floats(0.0, 8.0))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    offset = draw(st.sampled_from([0.0, 1e4]))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    centers = rng.normal(scale=spread, size=(true_k, n_features))
    X = centers[rng.integers(true_k, size=n)] + rng.uniform(0.2, 2.0, size=(true_k, n_features))[
        rng.integers(true_k, size=n)] * rng.standard_normal((n, n_features))
    X = (X * scale + offset).astype(dtype)
    return X, n_components, draw(st.sampled_from(COVARIANCE_TYPES)), seed % 10_000


def fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X)


@PROPERTY_SETTINGS
@given(mixtures())
def test_fitted_model_is_finite_and_monotone(case):
    X, k, covariance_type, seed = case
    scale = float(np.std(X.astype(np.float64))) or 1.0
    gm = fit(GaussianMixture(k, covariance_type=covariance_type, random_state=seed, tol=1e-9, max_iter=40,
                             on_collapse="ignore", reg_covar=1e-6 * scale**2), X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    assert np.isfinite(gm.lower_bound_)
    bounds = np.array(gm.lower_bounds_)
    # EM never lowers the likelihood; reg_covar makes each M-step a penalised one, which
    # allows changes of the order of the regularisation, far below this tolerance
    assert np.all(np.diff(bounds) >= -1e-7 * (1.0 + np.abs(bounds[1:]))), np.diff(bounds).min()
    resp = gm.predict_proba(X)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-10)
    assert np.all(resp >= 0)
    np.testing.assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-12)


@PROPERTY_SETTINGS
@given(mixtures())
def test_not_worse_than_sklearn_from_the_same_start(case):
    X, k, covariance_type, seed = case
    X = X.astype(np.float64)
    scale = float(np.std(X)) or 1.0
    kwargs = dict(covariance_type=covariance_type, random_state=seed, init_params="random", max_iter=30, tol=1e-6,
                  reg_covar=1e-6 * scale**2)
    # scikit-learn fits the centred data (the same EM: a random start does not depend on
    # X's location), since on offset data with small variances its x^2 - 2 x mu + mu^2
    # arithmetic loses the digits that matter and its EM stops being monotone (offset 1e4,
    # spread 1e-3: its exact log-likelihood fell from 11.268 to 11.252 over more iterations).
    center = X.mean(axis=0)
    try:
        sk = fit(SkGaussianMixture(k, **kwargs), X - center)
    except ValueError:  # scikit-learn's ill-defined covariance: nothing to compare against
        return
    fe = fit(GaussianMixture(k, on_collapse="ignore", **kwargs), X)
    # Judged by the exact log-likelihood of each final model (SciPy, on centred data).
    fe_ll = naive.e_step(X, fe.weights_, fe.means_, fe.covariances_, covariance_type)[0].mean()
    sk_ll = naive.e_step(X, sk.weights_, sk.means_ + center, sk.covariances_, covariance_type)[0].mean()
    assert fe_ll >= sk_ll - 1e-6 * (1.0 + abs(sk_ll))
