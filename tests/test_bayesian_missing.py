"""BayesianGaussianMixture(missing="marginalize") against the slow reference of tests/naive.py:
variational EM for incomplete data, the missing entries in the mean-field factor q(z, x_M),
whose M-step is scikit-learn's own on the expected statistics."""

import contextlib
import functools
import io
import json
import re
import warnings

import naive
import numpy as np
import pytest
from conftest import interrupted_fit, mixture_data, sklearn_model_of, with_missing
from scipy.integrate import quad
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture

import fastem
from fastem import BayesianGaussianMixture
from fastem.cli import main as cli_main

N, D, K = 600, 4, 3
POSTERIOR = ("means_", "covariances_", "precisions_cholesky_", "mean_precision_", "degrees_of_freedom_")
ATTRIBUTES = ("weights_", *POSTERIOR, "precisions_", "mean_prior_", "covariance_prior_")


@functools.cache
def data(how):
    """X (N, D) with NaN as how says (see conftest.with_missing), the same rows for every how."""
    X, _ = mixture_data(N, D, K, np.random.default_rng(2024))
    X = with_missing(X, how, np.random.default_rng(7))
    X.setflags(write=False)
    return X


def quiet_fit(model, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kwargs)


def bgm(covariance_type, **kwargs):
    return BayesianGaussianMixture(K, covariance_type=covariance_type, missing="marginalize", random_state=0,
                                   tol=0.0, **kwargs)


def concentrations(model):
    wc = model.weight_concentration_
    return [np.asarray(a) for a in wc] if isinstance(wc, tuple) else [np.asarray(wc)]


def assert_same_posterior(fe, sk, rtol):
    for name in POSTERIOR:
        expected = np.asarray(getattr(sk, name), dtype=np.float64)
        np.testing.assert_allclose(getattr(fe, name), expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)),
                                   err_msg=name)
    for a, b in zip(concentrations(fe), concentrations(sk), strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, err_msg="weight_concentration_")


def against_the_reference(X, covariance_type, n_iter, sample_weight=None, **kwargs):
    """(fastem, the reference model, the reference's lower bounds): both go on for n_iter
    iterations from the posterior of fastem's first iteration (its initialisation and priors)."""
    fe = quiet_fit(bgm(covariance_type, max_iter=1, **kwargs), X, sample_weight=sample_weight)
    sk = sklearn_model_of(fe)
    bounds = [naive.variational_incomplete_step(X, sk, sample_weight) for _ in range(n_iter)]
    quiet_fit(fe.set_params(warm_start=True, max_iter=n_iter), X, sample_weight=sample_weight)
    return fe, sk, bounds


# ------------------------------------------------------------ the reference checks itself
@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
def test_reference_on_complete_data_is_sklearns_variational_step(covariance_type, prior_type):
    X = np.array(data("none"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = SkBayesianGaussianMixture(n_components=K, covariance_type=covariance_type, max_iter=1,
                                          weight_concentration_prior_type=prior_type, random_state=0).fit(X)
    ours, theirs = sklearn_model_of(start), sklearn_model_of(start)
    np.testing.assert_allclose(naive.variational_log_rho(X, ours), theirs._estimate_weighted_log_prob(X), rtol=1e-11)
    bound = naive.variational_incomplete_step(X, ours)
    log_prob_norm, log_resp = theirs._e_step(X)
    theirs._m_step(X, log_resp)
    assert bound == pytest.approx(float(np.squeeze(theirs._compute_lower_bound(log_resp, log_prob_norm))), rel=1e-11)
    assert_same_posterior(ours, theirs, rtol=1e-11)


def test_reference_integrates_the_missing_entry_out_as_quadrature_does():
    """log rho of a row with x_1 missing is log of the integral over x_1 of exp(E[log pi_k] +
    E[log N(x | mu_k, Lambda_k)]), the expectation written out from the Wishart's moments."""
    X = np.array(data("none"))[:, :2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SkBayesianGaussianMixture(n_components=2, max_iter=3, random_state=0).fit(X)
    scales, nu, beta = naive.variational_scales(model)
    row = np.array([[X[0, 0], np.nan]])
    log_rho = naive.variational_log_rho(row, model)[0]
    for k in range(2):
        constant = (model._estimate_log_weights()[k] + 0.5 * naive.expected_log_det_precision(scales[k], nu[k])
                    - np.log(2 * np.pi) - 1.0 / beta[k])

        def integrand(x1, k=k, constant=constant):
            d = np.array([row[0, 0], x1]) - model.means_[k]
            return np.exp(constant - 0.5 * nu[k] * d @ scales[k] @ d)

        value, _ = quad(integrand, -np.inf, np.inf, epsabs=0.0, epsrel=1e-12)
        assert log_rho[k] == pytest.approx(np.log(value), abs=1e-9)


# ------------------------------------------------------------------- fastem against it
@pytest.mark.parametrize("how", ["none", "mcar10", "mcar60", "block"])
@pytest.mark.parametrize("n_iter", [1, 20])
def test_same_posterior_as_the_reference(covariance_type, how, n_iter):
    fe, sk, bounds = against_the_reference(data(how), covariance_type, n_iter)
    assert_same_posterior(fe, sk, rtol=1e-9)
    np.testing.assert_allclose(fe.lower_bounds_, bounds, rtol=1e-9)
    assert fe.n_iter_ == n_iter


def test_sample_weights_and_a_dirichlet_distribution_as_the_reference(covariance_type):
    weight = np.random.default_rng(5).uniform(0.2, 3.0, size=N)
    fe, sk, bounds = against_the_reference(data("mcar30"), covariance_type, 5, sample_weight=weight,
                                           weight_concentration_prior_type="dirichlet_distribution")
    assert_same_posterior(fe, sk, rtol=1e-9)
    np.testing.assert_allclose(fe.lower_bounds_, bounds, rtol=1e-9)


def test_predictions_marginalise_as_the_reference(covariance_type):
    X = data("mcar30")
    fe = quiet_fit(bgm(covariance_type, max_iter=10), X)
    log_rho = naive.variational_log_rho(X, sklearn_model_of(fe))
    log_density = logsumexp(log_rho, axis=1)
    np.testing.assert_allclose(fe.score_samples(X), log_density, rtol=1e-10)
    np.testing.assert_allclose(fe.predict_proba(X), np.exp(log_rho - log_density[:, None]), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(fe.predict(X), np.argmax(log_rho, axis=1))
    assert fe.score(X) == pytest.approx(log_density.mean(), rel=1e-10)


def test_without_nan_marginalize_is_bitwise_the_default(covariance_type):
    X = data("none")
    a = quiet_fit(bgm(covariance_type, max_iter=15), X)
    b = quiet_fit(bgm(covariance_type, max_iter=15).set_params(missing="error"), X)
    for name in ATTRIBUTES:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.lower_bounds_ == b.lower_bounds_


def test_lower_bound_never_decreases(covariance_type):
    fe = quiet_fit(bgm(covariance_type, max_iter=150), data("mcar30"))
    steps = np.diff(fe.lower_bounds_)
    assert steps.min() >= -1e-10 * np.abs(fe.lower_bounds_).max(), steps.min()


def test_default_priors_take_the_observed_entries():
    """mean_prior_ is the observed means; each variance of covariance_prior_ is over its
    feature's observed entries (ddof=1), the correlations those of the data with missing
    entries filled by the observed means."""
    X = data("mcar30")
    mean = np.nanmean(X, axis=0)
    variance = np.nanvar(X, axis=0, ddof=1)
    filled = np.where(np.isnan(X), mean, X)
    correlation = np.corrcoef(filled, rowvar=False)
    for covariance_type, expected in (("full", correlation * np.sqrt(np.outer(variance, variance))),
                                      ("diag", variance), ("spherical", variance.mean())):
        fe = quiet_fit(bgm(covariance_type, max_iter=1), X)
        np.testing.assert_allclose(fe.mean_prior_, mean, rtol=1e-12)
        np.testing.assert_allclose(fe.covariance_prior_, expected, rtol=1e-10, err_msg=covariance_type)


def test_a_feature_observed_once_cannot_give_the_covariance_prior():
    X = np.array(data("none"))
    X[1:, 2] = np.nan
    with pytest.raises(ValueError, match=r"feature 2 has too few observed entries.*give covariance_prior"):
        bgm("diag").fit(X)
    quiet_fit(bgm("diag", max_iter=2, covariance_prior=np.ones(D)), X)  # a given prior needs no variance


def test_errors_name_the_row_or_the_feature():
    X = np.array(data("none"))
    X[345, 1] = np.nan
    with pytest.raises(ValueError, match=r"row 345, column 1.*missing='marginalize'"):
        BayesianGaussianMixture(K).fit(X)
    X[345] = np.nan
    with pytest.raises(ValueError, match=r"every feature missing \(NaN\) in row 345"):
        bgm("full").fit(X)
    X = np.array(data("mcar10"))
    X[:, 3] = np.nan
    with pytest.raises(ValueError, match=r"feature 3 is missing \(NaN\) in every row"):
        bgm("full").fit(X)
    X = np.array(data("mcar10"))
    X[17, 0] = np.inf
    with pytest.raises(ValueError, match=r"row 17"):
        bgm("full").fit(X)


# ------------------------------------------------------------------- every path, one model
def test_chunked_threads_and_dask_give_the_same_model(covariance_type):
    import dask.array as da

    X = data("mcar30")
    whole = quiet_fit(bgm(covariance_type, max_iter=10), X)
    chunked = quiet_fit(bgm(covariance_type, max_iter=10, chunk_size=97), X)
    one_thread = quiet_fit(bgm(covariance_type, max_iter=10, n_jobs=1), X)
    two_threads = quiet_fit(bgm(covariance_type, max_iter=10, n_jobs=2), X)
    dask = quiet_fit(bgm(covariance_type, max_iter=10), da.from_array(np.array(X), chunks=(150, D)))
    for name in ATTRIBUTES:
        expected = np.asarray(getattr(whole, name))
        for other in (chunked, dask):
            np.testing.assert_allclose(getattr(other, name), expected, rtol=1e-10,
                                       atol=1e-10 * np.max(np.abs(expected)), err_msg=name)
        assert np.array_equal(getattr(one_thread, name), getattr(two_threads, name)), name
    np.testing.assert_allclose(dask.lower_bounds_, whole.lower_bounds_, rtol=1e-10)


def test_partial_fit_first_step_is_one_iteration_of_fit(covariance_type):
    X = data("mcar30")
    fitted = quiet_fit(bgm(covariance_type, max_iter=1), X)
    stepped = bgm(covariance_type).partial_fit(X)
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(stepped, name), getattr(fitted, name), rtol=1e-12, atol=1e-12,
                                   err_msg=name)
    assert stepped.lower_bound_ == pytest.approx(fitted.lower_bound_, rel=1e-12)
    stepped.partial_fit(X[:200])  # a stream goes on through batches with holes
    assert np.all(np.isfinite(stepped.means_))


def test_float32_data_fits_close_to_float64():
    X = data("mcar30")
    a = quiet_fit(bgm("diag", max_iter=10), X)
    b = quiet_fit(bgm("diag", max_iter=10), X.astype(np.float32))
    assert b.means_.dtype == np.float32
    np.testing.assert_allclose(b.means_, a.means_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-5)


def test_model_file_keeps_the_policy_and_the_predictions(tmp_path):
    X = data("mcar30")
    fe = quiet_fit(bgm("full", max_iter=10), X)
    again = fastem.load(fe.save(tmp_path / "model.npz"))
    assert again.get_params() == fe.get_params()
    assert again.missing == "marginalize"
    assert np.array_equal(again.score_samples(X), fe.score_samples(X))
    assert np.array_equal(again.predict_proba(X), fe.predict_proba(X))


def test_an_interrupted_fit_resumes_to_the_same_model(tmp_path):
    X = data("mcar30")
    options = {"max_iter": 8, "chunk_size": 200}
    uninterrupted = quiet_fit(bgm("full", **options), X)
    checkpoint = tmp_path / "fit.ckpt.npz"
    interrupted_fit(bgm("full", **options), X, after=4, checkpoint=checkpoint)
    assert checkpoint.exists()
    resumed = quiet_fit(bgm("full", **options), X, checkpoint=checkpoint)
    for name in ATTRIBUTES:
        assert np.array_equal(getattr(resumed, name), getattr(uninterrupted, name)), name
    assert resumed.lower_bounds_ == uninterrupted.lower_bounds_


def run_cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_command_line_fits_a_bayesian_mixture_on_nan_data(tmp_path):
    X = data("mcar30")
    np.save(tmp_path / "x.npy", X)
    code, _, err = run_cli("fit", tmp_path / "x.npy", "-k", K, "--seed", 4, "-q", "--bayesian", "--missing",
                           "marginalize", "-o", tmp_path / "m.npz")
    assert code == 0, err
    model = fastem.load(tmp_path / "m.npz")
    assert isinstance(model, BayesianGaussianMixture)
    assert model.missing == "marginalize"
    same = quiet_fit(BayesianGaussianMixture(K, random_state=4, missing="marginalize"), X)
    np.testing.assert_allclose(model.score_samples(X), same.score_samples(X), rtol=1e-10)
    code, out, err = run_cli("info", tmp_path / "m.npz", "--json")
    assert code == 0, err
    assert json.loads(out)["missing"] == "marginalize"
    assert "missing values  marginalised (NaN entries)" in run_cli("info", tmp_path / "m.npz")[1]
    code, _, err = run_cli("fit", tmp_path / "x.npy", "-k", K, "-q", "--bayesian", "-o", tmp_path / "n.npz")
    assert code == 1
    assert re.search(r"\brow \d+\b", err), err
    assert "Traceback" not in err
