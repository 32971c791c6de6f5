"""Exact EM with missing values: GaussianMixture(missing="marginalize") against the slow
reference of tests/naive.py (the E-step on each row's observed features, the M-step on the
expected sufficient statistics given them; Ghahramani and Jordan 1994), and NaN as an error
otherwise."""

import contextlib
import functools
import io
import re
import warnings

import naive
import numpy as np
import pytest
from conftest import interrupted_fit, mcar, mixture_data, random_covariances, with_missing
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import fastem
from fastem import GaussianMixture
from fastem.cli import main as cli_main

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
N, D, K = 800, 5, 3  # the problems compared with the reference
REG = 1e-6


# ----------------------------------------------------------------------------- helpers
def start_near(centers, covariance_type, rng):
    """(weights, means, covariances in scikit-learn's shape): a start near the centres."""
    n_components, n_features = centers.shape
    weights = rng.dirichlet(np.full(n_components, 5.0))
    means = centers + rng.normal(scale=0.5, size=centers.shape)
    return weights, means, random_covariances(covariance_type, n_components, n_features, rng)


def precisions_of(cov, covariance_type):
    """The precisions_init of covariances in scikit-learn's shape."""
    if covariance_type in ("full", "tied"):
        p = np.linalg.inv(cov)
        return (p + np.swapaxes(p, -1, -2)) / 2
    return 1.0 / np.asarray(cov)


@functools.cache
def problem(how, covariance_type):
    """(X (N, D) with NaN as how says, start) — the same X for every covariance type."""
    X, centers = mixture_data(N, D, K, np.random.default_rng(2024))
    X = with_missing(X, how, np.random.default_rng(7))
    X.setflags(write=False)
    return X, start_near(centers, covariance_type, np.random.default_rng(11))


@functools.cache
def reference(how, covariance_type, n_iter, weighted=False):
    X, start = problem(how, covariance_type)
    return naive.incomplete_em(X, *start, covariance_type, n_iter, REG,
                               sample_weight=row_weights() if weighted else None)


def row_weights():
    return np.random.default_rng(5).uniform(0.2, 3.0, size=N)


def from_start(start, covariance_type, n_iter, **kwargs):
    """fastem from start (weights, means, covariances), exactly n_iter EM iterations (tol=0)."""
    weights, means, cov = start
    return GaussianMixture(len(weights), covariance_type=covariance_type, missing="marginalize", tol=0.0,
                           max_iter=n_iter, reg_covar=REG, weights_init=weights, means_init=means,
                           precisions_init=precisions_of(cov, covariance_type), **kwargs)


def quiet_fit(gm, X, **kwargs):
    """gm.fit(X) with scikit-learn's ConvergenceWarning (tol=0 never converges) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return gm.fit(X, **kwargs)


def assert_close(actual, expected, rtol, name):
    """rtol of each entry, or of the largest one for entries near zero (off-diagonals)."""
    expected = np.asarray(expected)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)), err_msg=name)


def assert_params(gm, weights, means, cov, rtol):
    assert_close(gm.weights_, weights, rtol, "weights_")
    assert_close(gm.means_, means, rtol, "means_")
    assert_close(gm.covariances_, cov, rtol, "covariances_")
    assert_close(gm.precisions_, precisions_of(cov, gm.covariance_type), 10 * rtol, "precisions_")


def assert_matches_reference(gm, ref, rtol=1e-9):
    weights, means, cov, lower_bounds = ref
    assert_params(gm, weights, means, cov, rtol)
    assert gm.n_iter_ == len(lower_bounds)
    np.testing.assert_allclose(gm.lower_bounds_, lower_bounds, rtol=rtol)
    assert gm.lower_bound_ == pytest.approx(lower_bounds[-1], rel=rtol)


def assert_same_models(a, b, rtol):
    for name in ATTRIBUTES:
        assert_close(getattr(a, name), getattr(b, name), rtol, name)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)
    assert a.n_iter_ == b.n_iter_


def assert_bitwise_same(a, b):
    for name in ATTRIBUTES:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    assert list(a.lower_bounds_) == list(b.lower_bounds_)
    assert a.lower_bound_ == b.lower_bound_
    assert (a.n_iter_, a.converged_) == (b.n_iter_, b.converged_)


def n_free_parameters(covariance_type, n_components, n_features):
    """scikit-learn's count of free parameters (BIC, AIC)."""
    cov = {"full": n_components * n_features * (n_features + 1) / 2, "tied": n_features * (n_features + 1) / 2,
           "diag": n_components * n_features, "spherical": n_components}[covariance_type]
    return int(cov + n_components * n_features + n_components - 1)


def nan_error(row):
    """A pattern matching an error message that names row (and not e.g. row 12 for row 1)."""
    return rf"\brow {row}\b"


# ------------------------------------------------------------ the reference checks itself
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_reference_on_complete_data_is_textbook_em_and_sklearn(covariance_type):
    """No NaN: the marginal E-step is naive.e_step, the expected-statistics M-step is
    naive.m_step, and incomplete_em is scikit-learn's EM from the same start."""
    X, (weights, means, cov) = problem("none", covariance_type)
    log_p, resp = naive.marginal_e_step(X, weights, means, cov, covariance_type)
    log_p0, resp0 = naive.e_step(X, weights, means, cov, covariance_type)
    np.testing.assert_allclose(log_p, log_p0, rtol=1e-12)
    np.testing.assert_allclose(resp, resp0, rtol=1e-10, atol=1e-14)
    for got, want in zip(naive.expected_m_step(X, resp, means, cov, covariance_type, REG),
                         naive.m_step(X, resp, covariance_type, REG), strict=True):
        assert_close(got, want, 1e-10, "m-step")

    n_iter = 5
    ref = naive.incomplete_em(X, weights, means, cov, covariance_type, n_iter, REG)
    sk = SkGaussianMixture(K, covariance_type=covariance_type, tol=0.0, max_iter=n_iter, reg_covar=REG,
                           weights_init=weights, means_init=means, precisions_init=precisions_of(cov, covariance_type))
    with pytest.warns(ConvergenceWarning):
        sk.fit(X)
    for got, want in zip(ref[:3], (sk.weights_, sk.means_, sk.covariances_), strict=True):
        assert_close(got, want, 1e-10, "sklearn")
    np.testing.assert_allclose(ref[3], sk.lower_bounds_, rtol=1e-10)


def test_reference_marginal_of_a_diagonal_model_is_a_product_of_observed_normals():
    """A diagonal Gaussian's marginal over the observed features is the product of their
    univariate normals: an independent check of the reference's marginal E-step."""
    X, (weights, means, cov) = problem("mcar60", "diag")
    lp = naive.marginal_weighted_log_prob(X, weights, means, cov, "diag")
    observed = ~np.isnan(X)
    for k in range(K):
        terms = norm(means[k], np.sqrt(cov[k])).logpdf(np.where(observed, X, 0.0))
        np.testing.assert_allclose(lp[:, k], np.log(weights[k]) + np.where(observed, terms, 0.0).sum(axis=1),
                                   rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_reference_em_converges_to_a_stationary_point_of_the_observed_likelihood(covariance_type):
    """The reference's EM on incomplete data is EM for the observed-data likelihood: the
    lower bound never decreases, and where it stops the gradient of sum_n log p(x_O) with
    respect to every free parameter (finite differences) is nil. Imputing conditional
    means without their conditional covariance, say, would stop elsewhere."""
    rng = np.random.default_rng(3)
    X, centers = mixture_data(300, 3, 2, rng, spread=4.0)
    X = mcar(X, 0.3, rng)
    start = start_near(centers, covariance_type, rng)
    *end, lower_bounds = naive.incomplete_em(X, *start, covariance_type, 80, reg_covar=0.0)
    assert np.all(np.diff(lower_bounds) >= -1e-12 * np.abs(lower_bounds[1:]))
    assert lower_bounds[-1] > lower_bounds[0] + 0.01

    def loglik(weights, means, cov):
        return naive.marginal_e_step(X, weights, means, cov, covariance_type)[0].sum()

    def gradient(weights, means, cov, h=1e-5):
        directions = [(np.array([1.0, -1.0]), 0 * means, 0 * cov)]  # mass from component 1 to 0
        for i in np.ndindex(means.shape):
            dm = np.zeros_like(means)
            dm[i] = 1.0
            directions.append((0 * weights, dm, 0 * cov))
        for i in np.ndindex(cov.shape):
            if covariance_type in ("full", "tied") and i[-2] > i[-1]:
                continue
            dc = np.zeros_like(cov)
            dc[i] = 1.0
            if covariance_type in ("full", "tied"):
                dc[(*i[:-2], i[-1], i[-2])] = 1.0
            directions.append((0 * weights, 0 * means, dc))
        return np.array([(loglik(weights + h * dw, means + h * dm, cov + h * dc)
                          - loglik(weights - h * dw, means - h * dm, cov - h * dc)) / (2 * h)
                         for dw, dm, dc in directions])

    at_start, at_end = gradient(*start), gradient(*end)
    assert np.max(np.abs(at_start)) > 1.0
    assert np.max(np.abs(at_end)) < 1e-5 * np.max(np.abs(at_start)), (at_end, at_start)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_reference_sample_weights_are_repeated_rows(covariance_type):
    rng = np.random.default_rng(8)
    X, centers = mixture_data(200, 4, 2, rng)
    X = mcar(X, 0.3, rng)
    counts = rng.integers(0, 4, size=len(X))
    start = start_near(centers, covariance_type, rng)
    weighted = naive.incomplete_em(X, *start, covariance_type, 3, REG, sample_weight=counts.astype(float))
    repeated = naive.incomplete_em(np.repeat(X, counts, axis=0), *start, covariance_type, 3, REG)
    for got, want in zip(weighted[:3], repeated[:3], strict=True):
        assert_close(got, want, 1e-10, "weighted")
    np.testing.assert_allclose(weighted[3], repeated[3], rtol=1e-12)


# ------------------------------------------------------------------- fastem = reference
@pytest.mark.parametrize("n_iter", [1, 20])
@pytest.mark.parametrize("how", ["none", "mcar10", "mcar60", "block"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_model_as_the_reference(covariance_type, how, n_iter):
    X, start = problem(how, covariance_type)
    assert how != "mcar60" or 0.55 < np.isnan(X).mean() < 0.6
    gm = quiet_fit(from_start(start, covariance_type, n_iter), X)
    assert_matches_reference(gm, reference(how, covariance_type, n_iter))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_without_nan_marginalize_is_bitwise_the_default(covariance_type):
    X, _ = problem("none", covariance_type)
    default = quiet_fit(GaussianMixture(K, covariance_type=covariance_type, random_state=0), X)
    marginalize = quiet_fit(GaussianMixture(K, covariance_type=covariance_type, random_state=0,
                                            missing="marginalize"), X)
    assert_bitwise_same(marginalize, default)
    assert np.array_equal(marginalize.predict_proba(X), default.predict_proba(X))
    assert np.array_equal(marginalize.score_samples(X), default.score_samples(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_weight_as_the_reference(covariance_type):
    X, start = problem("mcar30", covariance_type)
    gm = quiet_fit(from_start(start, covariance_type, 10), X, sample_weight=row_weights())
    assert_matches_reference(gm, reference("mcar30", covariance_type, 10, weighted=True))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_predictions_marginalise_as_the_reference(covariance_type):
    X, start = problem("mcar30", covariance_type)
    gm = quiet_fit(from_start(start, covariance_type, 10), X)
    Y = mcar(problem("none", covariance_type)[0], 0.3, np.random.default_rng(99))  # other NaN than the fit's
    log_p, resp = naive.marginal_e_step(Y, gm.weights_, gm.means_, gm.covariances_, covariance_type)
    np.testing.assert_allclose(gm.score_samples(Y), log_p, rtol=1e-9)
    np.testing.assert_allclose(gm.predict_proba(Y), resp, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(gm.predict(Y), gm.predict_proba(Y).argmax(axis=1))
    np.testing.assert_array_equal(gm.predict(Y), resp.argmax(axis=1))
    assert gm.score(Y) == pytest.approx(log_p.mean(), rel=1e-9)
    assert gm.score(Y) == pytest.approx(gm.score_samples(Y).mean(), rel=1e-12)
    p = n_free_parameters(covariance_type, K, D)
    assert gm.bic(Y) == pytest.approx(-2 * len(Y) * gm.score(Y) + p * np.log(len(Y)), rel=1e-10)
    assert gm.aic(Y) == pytest.approx(-2 * len(Y) * gm.score(Y) + 2 * p, rel=1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_fit_first_step_is_one_em_iteration(covariance_type):
    """A fresh estimator's first partial_fit takes its batch whole: fit with max_iter=1."""
    X, start = problem("mcar30", covariance_type)
    online = from_start(start, covariance_type, 1).partial_fit(X)
    batch = quiet_fit(from_start(start, covariance_type, 1), X)
    for name in ATTRIBUTES:
        assert_close(getattr(online, name), getattr(batch, name), 1e-10, name)
    assert online.lower_bound_ == pytest.approx(batch.lower_bounds_[0], rel=1e-10)
    weights, means, cov, lower_bounds = reference("mcar30", covariance_type, 1)
    assert_params(online, weights, means, cov, 1e-9)
    assert online.lower_bound_ == pytest.approx(lower_bounds[0], rel=1e-9)
    online.partial_fit(X[: N // 2])  # a later step on a NaN batch blends, and stays finite
    assert online.n_steps_ == 2
    assert all(np.all(np.isfinite(getattr(online, name))) for name in ATTRIBUTES)


# ------------------------------------------------------------------- EM's own properties
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_lower_bound_never_decreases(covariance_type):
    rng = np.random.default_rng(17)
    X, _ = mixture_data(1500, 5, 3, rng)
    X = mcar(X, 0.25, rng)
    gm = quiet_fit(GaussianMixture(3, covariance_type=covariance_type, missing="marginalize", random_state=0,
                                   tol=0.0, max_iter=40), X)
    lower_bounds = np.asarray(gm.lower_bounds_)
    assert len(lower_bounds) == 40
    assert np.all(np.isfinite(lower_bounds))
    assert np.all(np.diff(lower_bounds) >= -1e-12 * np.abs(lower_bounds[1:])), np.diff(lower_bounds).min()
    assert lower_bounds[-1] > lower_bounds[0]


def test_recovers_a_known_mixture_from_incomplete_data():
    """20,000 x 4 rows of three well-separated components, 30% of the entries missing.
    Tolerances from the sample size: a mean's standard error is at most
    sd / sqrt(4000 rows x 0.7 observed) ~ 0.02 sd (the smallest component), a weight's
    sqrt(0.2 x 0.8 / 20000) ~ 0.003, a covariance's ~ sqrt(2 / (4000 x 0.49)) ~ 0.03 in units
    of sqrt(S_ii S_jj) (a pair is observed together in 49% of the rows); the bounds below are
    4-5 of those (the missing entries cost some information beyond the counts)."""
    rng = np.random.default_rng(31)
    n, d = 20_000, 4
    weights = np.array([0.5, 0.3, 0.2])
    means = np.array([[0.0, 0.0, 0.0, 0.0], [8.0, -8.0, 0.0, 8.0], [-8.0, 0.0, 8.0, -8.0]])
    covs = random_covariances("full", 3, d, rng)
    labels = rng.choice(3, size=n, p=weights)
    X = means[labels] + np.einsum("nij,nj->ni", np.linalg.cholesky(covs)[labels], rng.standard_normal((n, d)))
    X = mcar(X, 0.3, rng)
    gm = GaussianMixture(3, missing="marginalize", random_state=0, tol=1e-6, max_iter=500).fit(X)
    assert gm.converged_
    order = np.array([np.argmin(((gm.means_ - m) ** 2).sum(axis=1)) for m in means])
    assert sorted(order) == [0, 1, 2]
    sd = np.sqrt(np.diagonal(covs, axis1=1, axis2=2))  # (3, d)
    np.testing.assert_array_less(np.abs(gm.means_[order] - means) / sd, 0.08)
    np.testing.assert_array_less(np.abs(gm.weights_[order] - weights), 0.015)
    np.testing.assert_array_less(np.abs(gm.covariances_[order] - covs) / (sd[:, :, None] * sd[:, None, :]), 0.15)


@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_initialisation_sees_missing_entries_as_observed_means(init_params):
    """The start on incomplete data is the start on the data with each NaN replaced by its
    feature's observed mean (max_iter=0 keeps the start)."""
    X, _ = problem("mcar30", "full")
    imputed = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    options = {"init_params": init_params, "random_state": 3, "max_iter": 0}
    marginalize = GaussianMixture(K, missing="marginalize", **options).fit(X)
    default = GaussianMixture(K, **options).fit(imputed)
    for name in ATTRIBUTES:
        assert_close(getattr(marginalize, name), getattr(default, name), 1e-10, name)


# ------------------------------------------------------------------------ errors
def test_nan_is_an_error_naming_the_row_by_default():
    X = np.array(problem("none", "full")[0])
    X[345, 2] = np.nan
    for options in ({}, {"missing": "error"}):
        with pytest.raises(ValueError, match=nan_error(345)):
            GaussianMixture(2, chunk_size=100, **options).fit(X)
    gm = GaussianMixture(2, random_state=0).fit(problem("none", "full")[0])
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score):
        with pytest.raises(ValueError, match=nan_error(345)):
            method(X)


def test_an_unknown_missing_policy_is_refused():
    X = problem("none", "full")[0]
    with pytest.raises(ValueError, match="missing"):
        GaussianMixture(2, missing="impute").fit(X)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_inf_is_an_error_naming_the_row_when_marginalizing(value):
    X = np.array(problem("mcar10", "full")[0])
    X[345, 1] = value  # after NaN in earlier rows
    with pytest.raises(ValueError, match=nan_error(345)):
        GaussianMixture(2, missing="marginalize", chunk_size=100).fit(X)
    gm = quiet_fit(GaussianMixture(2, missing="marginalize", random_state=0, max_iter=5), problem("mcar10", "full")[0])
    for method in (gm.predict, gm.predict_proba, gm.score_samples):
        with pytest.raises(ValueError, match=nan_error(345)):
            method(X)


def assert_every_feature_missing(row, call, *args):
    with pytest.raises(ValueError, match="every feature missing") as error:
        call(*args)
    assert re.search(nan_error(row), str(error.value)), str(error.value)


def test_a_row_with_every_feature_missing_is_an_error_in_fit_and_scoring():
    X = np.array(problem("mcar10", "full")[0])
    X[345] = np.nan  # in the fourth chunk of 100: the row's index in X, not in its chunk
    assert_every_feature_missing(345, GaussianMixture(2, missing="marginalize", chunk_size=100).fit, X)
    complete = np.array(problem("none", "full")[0])
    complete[345] = np.nan
    with pytest.raises(ValueError, match=nan_error(345)):  # missing="error": the row's NaN
        GaussianMixture(2, chunk_size=100).fit(complete)
    gm = quiet_fit(GaussianMixture(2, missing="marginalize", random_state=0, max_iter=5, chunk_size=100),
                   problem("mcar10", "full")[0])
    for method in (gm.predict, gm.predict_proba, gm.score_samples, gm.score):
        assert_every_feature_missing(345, method, X)


# ---------------------------------------------------------- the same model on every path
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_chunked_is_one_chunk(covariance_type):
    X, start = problem("mcar30", covariance_type)
    whole = quiet_fit(from_start(start, covariance_type, 20), X)
    chunked = quiet_fit(from_start(start, covariance_type, 20, chunk_size=97), X)
    assert_same_models(chunked, whole, 1e-10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_threads_change_no_bit(covariance_type):
    X, _ = problem("mcar30", covariance_type)
    fits = [quiet_fit(GaussianMixture(K, covariance_type=covariance_type, missing="marginalize", random_state=0,
                                      tol=0.0, max_iter=15, chunk_size=150, n_jobs=n_jobs), X) for n_jobs in (1, 2)]
    assert_bitwise_same(*fits)
    assert np.array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_a_dask_array_fits_the_same_model(covariance_type):
    da = pytest.importorskip("dask.array")
    X, start = problem("mcar30", covariance_type)
    local = quiet_fit(from_start(start, covariance_type, 20), X)
    blocks = da.from_array(X, chunks=(N // 3, D))
    remote = quiet_fit(from_start(start, covariance_type, 20), blocks)
    assert_same_models(remote, local, 1e-10)
    np.testing.assert_allclose(local.score_samples(blocks).compute(), local.score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(local.predict_proba(blocks).compute(), local.predict_proba(X), rtol=1e-12, atol=1e-15)
    assert local.score(blocks) == pytest.approx(local.score(X), rel=1e-12)


def test_a_npy_file_fits_the_same_model(tmp_path):
    X, start = problem("mcar30", "tied")
    np.save(tmp_path / "x.npy", X)
    local = quiet_fit(from_start(start, "tied", 20), X)
    from_file = quiet_fit(from_start(start, "tied", 20), str(tmp_path / "x.npy"))
    assert_same_models(from_file, local, 1e-10)
    np.testing.assert_allclose(local.score_samples(str(tmp_path / "x.npy")), local.score_samples(X), rtol=1e-12)
    local.predict_proba(X, out=tmp_path / "proba.npy")  # written chunk by chunk
    np.testing.assert_allclose(np.load(tmp_path / "proba.npy"), local.predict_proba(X), rtol=1e-12, atol=1e-15)


# float32 compiles every missing-value driver once more (minutes of a cold run, too many for
# CI's 20): the slow run's (pytest -m slow)
@pytest.mark.slow
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_data_fits_a_float32_model_close_to_float64(covariance_type):
    """float32 blocks of NaN data: each block in float32, statistics added in float64, as for
    complete data (tests/test_sklearn_equivalence.py): within 1e-4 of the float64 fit."""
    X, start = problem("mcar30", covariance_type)
    fit64 = quiet_fit(from_start(start, covariance_type, 10), X)
    fit32 = quiet_fit(from_start(start, covariance_type, 10), X.astype(np.float32))
    for name in ATTRIBUTES:
        assert getattr(fit32, name).dtype == np.float32, name
        assert_close(getattr(fit32, name), getattr(fit64, name), 1e-4, name)
    np.testing.assert_allclose(fit32.lower_bounds_, fit64.lower_bounds_, rtol=1e-4)


# ------------------------------------------------- model files, the command line, checkpoints
def test_model_file_keeps_the_policy_and_the_predictions(tmp_path):
    X, _ = problem("mcar30", "full")
    gm = quiet_fit(GaussianMixture(K, missing="marginalize", random_state=0, tol=0.0, max_iter=10), X)
    again = fastem.load(gm.save(tmp_path / "model.npz"))
    assert again.get_params()["missing"] == "marginalize"
    assert again.get_params() == gm.get_params()
    for name in ATTRIBUTES:
        assert np.array_equal(getattr(again, name), getattr(gm, name)), name
    assert np.array_equal(again.predict_proba(X), gm.predict_proba(X))
    assert np.array_equal(again.score_samples(X), gm.score_samples(X))


def run_cli(*args):
    """The fastem command in this process: (returncode, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main([str(a) for a in args])
        except SystemExit as exc:  # argparse
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_command_line_fits_nan_data_with_missing_marginalize(tmp_path):
    X, _ = problem("mcar30", "full")
    np.save(tmp_path / "x.npy", X)
    code, _, err = run_cli("fit", tmp_path / "x.npy", "-k", K, "--seed", 4, "-q", "--missing", "marginalize",
                           "-o", tmp_path / "m.npz")
    assert code == 0, err
    model = fastem.load(tmp_path / "m.npz")
    assert model.get_params()["missing"] == "marginalize"
    same = quiet_fit(GaussianMixture(K, random_state=4, missing="marginalize"), X)
    np.testing.assert_allclose(model.predict_proba(X), same.predict_proba(X), rtol=1e-10, atol=1e-12)
    code, _, err = run_cli("predict", tmp_path / "m.npz", tmp_path / "x.npy", "-o", tmp_path / "labels.npy")
    assert code == 0, err
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), same.predict(X))
    code, out, err = run_cli("score", tmp_path / "m.npz", tmp_path / "x.npy")
    assert code == 0, err
    assert "log-likelihood" in out


def test_command_line_without_the_flag_names_the_nan_row(tmp_path):
    X = np.array(problem("none", "full")[0])
    X[456, 3] = np.nan
    np.save(tmp_path / "x.npy", X)
    code, _, err = run_cli("fit", tmp_path / "x.npy", "-k", 2, "-q", "-o", tmp_path / "m.npz")
    assert code == 1
    assert re.search(nan_error(456), err), err
    assert "Traceback" not in err
    assert not (tmp_path / "m.npz").exists()


def test_an_interrupted_fit_on_nan_data_resumes_to_the_same_model(tmp_path):
    X, _ = problem("mcar30", "diag")
    options = {"covariance_type": "diag", "missing": "marginalize", "random_state": 1, "max_iter": 12, "tol": 0.0,
               "chunk_size": 200}
    uninterrupted = quiet_fit(GaussianMixture(K, **options), X)
    checkpoint = tmp_path / "fit.ckpt.npz"
    interrupted_fit(GaussianMixture(K, **options), X, after=5, checkpoint=checkpoint)
    assert checkpoint.exists()
    resumed = quiet_fit(GaussianMixture(K, **options), X, checkpoint=checkpoint)
    assert not checkpoint.exists()
    assert_bitwise_same(resumed, uninterrupted)
