"""BayesianGaussianMixture against scikit-learn's, and the engine's invariants."""

import warnings

import numpy as np
import pytest
from conftest import blobs, sklearn_model_of
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture
from sklearn.mixture._gaussian_mixture import _estimate_gaussian_parameters
from sklearn.utils import check_random_state

from fastem import InvalidParameterError
from fastem.bayesian import BayesianGaussianMixture

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "mean_precision_",
              "degrees_of_freedom_", "mean_prior_", "covariance_prior_")


def concentrations(model) -> list[np.ndarray]:
    wc = model.weight_concentration_
    return [np.asarray(a) for a in wc] if isinstance(wc, tuple) else [np.asarray(wc)]


def fit_both(X, X_sklearn=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkBayesianGaussianMixture(**kwargs).fit(X if X_sklearn is None else X_sklearn)
        fe = BayesianGaussianMixture(**kwargs).fit(X)
    return fe, sk


def assert_same_model(fe, sk, rtol):
    for name in ATTRIBUTES:
        a, b = np.asarray(getattr(fe, name), dtype=np.float64), np.asarray(getattr(sk, name), dtype=np.float64)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(b)), err_msg=name)
    for a, b in zip(concentrations(fe), concentrations(sk), strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.max(np.abs(b)), err_msg="weight_concentration_")
    # scikit-learn's tied lower bound is an array of shape (1,)
    assert fe.lower_bound_ == pytest.approx(float(np.squeeze(sk.lower_bound_)), rel=rtol)
    np.testing.assert_allclose(fe.lower_bounds_, np.ravel(sk.lower_bounds_), rtol=rtol)
    assert fe.n_iter_ == sk.n_iter_
    assert fe.converged_ == sk.converged_


@pytest.fixture(scope="module")
def X():
    return blobs(2000, 3, 4, np.random.default_rng(7), spread=3.0)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("max_iter", [1, 10, 100])
def test_same_model_as_sklearn_float64(X, covariance_type, prior_type, max_iter):
    fe, sk = fit_both(X, n_components=4, covariance_type=covariance_type, weight_concentration_prior_type=prior_type,
                      init_params="random", random_state=0, max_iter=max_iter, tol=1e-10 if max_iter < 100 else 1e-3)
    assert_same_model(fe, sk, rtol=1e-7)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_same_model_from_random_rows_and_given_priors(X, covariance_type):
    """'random_from_data' (not tied: fastem's tied start from seed rows differs, see
    fastem._init), user priors, and n_init: the best run is scikit-learn's."""
    priors = {"full": np.diag([2.0, 1.0, 0.5]), "diag": np.array([2.0, 1.0, 0.5]), "spherical": 1.5}
    fe, sk = fit_both(X, n_components=5, covariance_type=covariance_type, init_params="random_from_data",
                      random_state=3, n_init=3, weight_concentration_prior=0.3, mean_precision_prior=0.5,
                      mean_prior=[1.0, -1.0, 0.0], degrees_of_freedom_prior=4.5,
                      covariance_prior=priors[covariance_type], max_iter=50)
    assert_same_model(fe, sk, rtol=1e-7)


@pytest.mark.parametrize("max_iter", [10, 100])
def test_same_model_as_sklearn_float32(covariance_type, max_iter):
    """float32 data compute their E-step passes in float32 (8 lanes per vector) with the
    statistics added in float64, against scikit-learn on the same values in float64. The
    log-densities (about 10 in size) carry float32 rounding of ~1e-6, which moves the
    responsibilities, and so every posterior parameter, by ~1e-6 relative per iteration:
    as GaussianMixture's float32 test, tolerance 1e-4. (tol=0 below 100 iterations: a
    float32 lower bound cannot settle to 1e-10, so both run max_iter.)"""
    X = blobs(2000, 3, 4, np.random.default_rng(8), spread=3.0, dtype=np.float32)
    fe, sk = fit_both(X, X.astype(np.float64), n_components=4, covariance_type=covariance_type,
                      init_params="random", random_state=0, max_iter=max_iter, tol=0.0 if max_iter < 100 else 1e-3)
    assert fe.means_.dtype == np.float32
    assert_same_model(fe, sk, rtol=1e-4)


def test_predictions_and_samples_match_sklearn(X, covariance_type):
    fe, sk = fit_both(X, n_components=4, covariance_type=covariance_type, init_params="random", random_state=5)
    np.testing.assert_allclose(fe.score_samples(X), sk.score_samples(X), rtol=1e-9)
    assert fe.score(X) == pytest.approx(sk.score(X), rel=1e-9)
    np.testing.assert_allclose(fe.predict_proba(X), sk.predict_proba(X), rtol=1e-7, atol=1e-12)
    np.testing.assert_array_equal(fe.predict(X), sk.predict(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_array_equal(fe.fit_predict(X), sk.fit_predict(X))
    Xf, yf = fe.sample(300)
    Xs, ys = sk.sample(300)
    np.testing.assert_array_equal(yf, ys)
    np.testing.assert_allclose(Xf, Xs, rtol=1e-7, atol=1e-9)


def test_chunked_equals_one_chunk(X, covariance_type):
    kwargs = {"n_components": 4, "covariance_type": covariance_type, "init_params": "random", "random_state": 1,
              "max_iter": 40}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = BayesianGaussianMixture(chunk_size=len(X), **kwargs).fit(X)
        chunked = BayesianGaussianMixture(chunk_size=7, **kwargs).fit(X)
    assert chunked.n_iter_ == whole.n_iter_
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), rtol=1e-12, atol=1e-12)
    assert chunked.lower_bound_ == pytest.approx(whole.lower_bound_, rel=1e-12)


def test_n_jobs_gives_bitwise_the_same_model(covariance_type):
    X = blobs(40_000, 4, 4, np.random.default_rng(9))
    kwargs = {"n_components": 4, "covariance_type": covariance_type, "init_params": "random", "random_state": 0,
              "max_iter": 10}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = [BayesianGaussianMixture(n_jobs=n, **kwargs).fit(X) for n in (1, -1)]
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(models[1], name), getattr(models[0], name))
    assert models[1].lower_bound_ == models[0].lower_bound_


def test_npy_source_and_dask_array_give_the_in_memory_model(X, tmp_path):
    da = pytest.importorskip("dask.array")
    import dask

    path = tmp_path / "X.npy"
    np.save(path, X)
    weight = np.random.default_rng(2).uniform(0.0, 3.0, size=len(X))
    kwargs = {"n_components": 4, "covariance_type": "full", "init_params": "random", "random_state": 2, "max_iter": 30}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for w in (None, weight):
            memory = BayesianGaussianMixture(**kwargs).fit(X, sample_weight=w)
            source = BayesianGaussianMixture(chunk_size=300, **kwargs).fit(str(path), sample_weight=w)
            with dask.config.set(scheduler="sync"):
                distributed = BayesianGaussianMixture(**kwargs).fit(da.from_array(X, chunks=(700, 3)), sample_weight=w)
                labels = np.asarray(distributed.predict(da.from_array(X, chunks=(700, 3))))
            for other in (source, distributed):
                for name in ATTRIBUTES:
                    np.testing.assert_allclose(getattr(other, name), getattr(memory, name), rtol=1e-10, atol=1e-12)
                assert other.lower_bound_ == pytest.approx(memory.lower_bound_, rel=1e-10)
            np.testing.assert_array_equal(labels, memory.predict(X))


def test_lower_bound_never_decreases(covariance_type):
    X = blobs(2000, 4, 5, np.random.default_rng(3), spread=2.0)
    for prior_type in PRIOR_TYPES:
        bgm = BayesianGaussianMixture(n_components=6, covariance_type=covariance_type, init_params="random",
                                      weight_concentration_prior_type=prior_type, random_state=0, tol=1e-12,
                                      max_iter=60)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            bgm.fit(X)
        bounds = np.array(bgm.lower_bounds_)
        assert len(bounds) > 5
        assert np.all(np.diff(bounds) >= -1e-10 * np.abs(bounds[1:]))


def test_dirichlet_process_prunes_to_the_true_number_of_components():
    rng = np.random.default_rng(11)
    centers = np.array([[0, 0], [0, 12], [12, 0], [12, 12], [6, 6]], dtype=float)
    X = centers[rng.integers(5, size=2000)] + rng.normal(size=(2000, 2))
    kwargs = {"n_components": 20, "weight_concentration_prior": 0.01, "random_state": 0, "max_iter": 300,
              "init_params": "random_from_data"}
    fe, sk = fit_both(X, **kwargs)
    assert np.sum(sk.weights_ > 0.01) == 5
    assert np.sum(fe.weights_ > 0.01) == 5
    assert fe.converged_
    assert_same_model(fe, sk, rtol=1e-7)
    big = np.sort(fe.means_[fe.weights_ > 0.01], axis=0)
    np.testing.assert_allclose(big, np.sort(centers, axis=0), atol=0.2)


def test_convergence_warning_and_max_iter_zero(X):
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        bgm = BayesianGaussianMixture(n_components=2, max_iter=1, tol=0.0, random_state=0).fit(X)
    assert not bgm.converged_
    assert bgm.n_iter_ == 1
    bgm = BayesianGaussianMixture(n_components=2, max_iter=0, random_state=0).fit(X)
    assert bgm.n_iter_ == 0
    assert bgm.lower_bound_ == -np.inf
    assert np.all(np.isfinite(bgm.means_))


def test_warm_start_continues_the_fit(X):
    kwargs = {"n_components": 4, "init_params": "random", "random_state": 0, "tol": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        straight = BayesianGaussianMixture(max_iter=20, **kwargs).fit(X)
        warm = BayesianGaussianMixture(max_iter=10, warm_start=True, **kwargs).fit(X)
        warm.fit(X)
    np.testing.assert_allclose(warm.means_, straight.means_, rtol=1e-12)
    assert warm.lower_bound_ == pytest.approx(straight.lower_bound_, rel=1e-12)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"weight_concentration_prior": -1.0}, InvalidParameterError,
     (r"The 'weight_concentration_prior' parameter of BayesianGaussianMixture must be None or a float in the range "
     r"\(0.0, inf\). Got -1.0 instead.")),
    ({"weight_concentration_prior_type": "dirichlet"}, InvalidParameterError,
     "The 'weight_concentration_prior_type' parameter of BayesianGaussianMixture must be a str among"),
    ({"mean_precision_prior": 0}, InvalidParameterError, "The 'mean_precision_prior' parameter"),
    ({"degrees_of_freedom_prior": 0.5}, ValueError,
     r"The parameter 'degrees_of_freedom_prior' should be greater than 1, but got 0.500."),
    ({"covariance_prior": np.eye(3)}, ValueError,
     r"The parameter 'full covariance_prior' should have the shape of \(2, 2\), but got \(3, 3\)"),
    ({"covariance_prior": -np.eye(2)}, ValueError, "'full precision' should be symmetric, positive-definite"),
    ({"covariance_prior": [1.0, -1.0], "covariance_type": "diag"}, ValueError, "'diag precision' should be positive"),
    ({"covariance_prior": "a"}, InvalidParameterError, "The 'covariance_prior' parameter"),
    ({"mean_prior": [1.0, 2.0, 3.0]}, ValueError, r"The parameter 'means' should have the shape of \(2,\), but got"),
    ({"n_components": 0}, InvalidParameterError, "The 'n_components' parameter"),
])
def test_bad_priors_get_sklearns_errors(kwargs, error, message):
    X = np.random.default_rng(0).normal(size=(50, 2))
    with pytest.raises(error, match=message):
        BayesianGaussianMixture(**kwargs).fit(X)
    if error is ValueError:  # scikit-learn says the same
        with pytest.raises(ValueError, match=message):
            SkBayesianGaussianMixture(**kwargs).fit(X)


def test_kernel_constants_and_lower_bound_terms_against_a_dense_reference(X, covariance_type):
    """The per-component constants, the quadratic term from the statistics and
    sum_nk r log r from the identity, against scikit-learn's dense (n, K) arrays."""
    from fastem._engine import EMStats
    from fastem.bayesian import kernel_params, weighted_quadratic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = SkBayesianGaussianMixture(n_components=4, covariance_type=covariance_type, random_state=0,
                                       max_iter=3).fit(X)
    fe = BayesianGaussianMixture(n_components=4, covariance_type=covariance_type)
    fe._posterior = post = _posterior_of(sk)
    kp, log_norm = kernel_params(post, sk.weight_concentration_prior_type, X.dtype)
    dense = sk._estimate_weighted_log_prob(X)  # (n, K): log_norm_k - 0.5 q_nk
    quadratic = np.stack([np.sum(((X - m) @ _factor(post, k)) ** 2, axis=1) for k, m in enumerate(post.means)], 1)
    np.testing.assert_allclose(log_norm[None, :] - 0.5 * quadratic, dense, rtol=1e-12, atol=1e-10)

    from fastem._data import open_data

    stats = open_data(fe, X, reset=True, chunk_size=333).reduce(EMStats, kp)
    log_prob_norm, log_resp = sk._estimate_log_prob_resp(X)
    resp = np.exp(log_resp)
    assert stats.loglik == pytest.approx(log_prob_norm.sum(), rel=1e-12)
    assert weighted_quadratic(stats, post) == pytest.approx(np.sum(resp * quadratic), rel=1e-10)
    sum_r_log_r = float(log_norm @ stats.s0) - 0.5 * weighted_quadratic(stats, post) - stats.loglik
    assert sum_r_log_r == pytest.approx(np.sum(resp * log_resp), rel=1e-9, abs=1e-9 * len(X))


def _posterior_of(sk):
    from fastem.bayesian import Posterior

    dof = sk.degrees_of_freedom_
    return Posterior(sk.covariance_type, sk.weight_concentration_, sk.mean_precision_, sk.means_,
                     float(dof) if np.ndim(dof) == 0 else dof, sk.covariances_, sk.precisions_cholesky_)


def _factor(post, k) -> np.ndarray:
    """Component k's precision factor as a (D, D) matrix."""
    P, n_features = post.precisions_cholesky, post.means.shape[1]
    return {"full": lambda: P[k], "tied": lambda: P, "diag": lambda: np.diag(P[k]),
            "spherical": lambda: P[k] * np.eye(n_features)}[post.covariance_type]()


def test_verbose_prints_progress(X, capsys):
    BayesianGaussianMixture(n_components=2, verbose=2, verbose_interval=1, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out
    assert "Iteration 1" in out
    assert "Initialization converged." in out


def test_integer_sample_weights_of_mean_one_equal_repeated_rows(covariance_type):
    """Weights are rescaled to mean 1, so counts of mean 1 weigh as the repeated rows do,
    priors from the data included (k-means finds the same separated clusters in both)."""
    rng = np.random.default_rng(5)
    X = blobs(900, 2, 3, rng, spread=8.0)
    counts = rng.permutation(np.repeat([0, 1, 2], 300))
    # tol 1e-10: a lower bound of -2094 moves by a few ulp (4.5e-13) from one iteration to
    # the next at its optimum, so a tol of 1e-12 can end in a two-value cycle
    kwargs = {"n_components": 3, "covariance_type": covariance_type, "random_state": 0, "tol": 1e-10,
              "max_iter": 500}
    weighted = BayesianGaussianMixture(**kwargs).fit(X, sample_weight=counts)
    repeated = BayesianGaussianMixture(**kwargs).fit(np.repeat(X, counts, axis=0))
    order = [np.argsort(m.means_[:, 0]) for m in (weighted, repeated)]
    for name in ("weights_", "means_", "mean_precision_", "mean_prior_", "covariance_prior_"):
        a, b = getattr(weighted, name), getattr(repeated, name)
        if name in ("weights_", "means_", "mean_precision_"):
            a, b = a[order[0]], b[order[1]]
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=name)
    assert weighted.lower_bound_ == pytest.approx(repeated.lower_bound_, rel=1e-8)


def test_non_finite_data_names_the_row():
    X = np.random.default_rng(0).normal(size=(3000, 2))
    X[2345, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf: row 2345, column 1"):
        BayesianGaussianMixture(n_components=2, chunk_size=1000).fit(X)


# ----------------------------------------------------------------------------- partial_fit
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_one_partial_fit_step_is_one_iteration_of_fit(X, covariance_type, prior_type):
    """A new stream's first batch, taken whole at its own size, is fit's first iteration."""
    kwargs = {"n_components": 4, "covariance_type": covariance_type, "weight_concentration_prior_type": prior_type,
              "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = BayesianGaussianMixture(max_iter=1, **kwargs).fit(X)
    stepped = BayesianGaussianMixture(**kwargs).partial_fit(X)
    assert stepped.n_steps_ == 1
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(stepped, name), getattr(fitted, name), rtol=1e-12, atol=1e-12,
                                   err_msg=name)
    assert stepped.lower_bound_ == pytest.approx(fitted.lower_bound_, rel=1e-12)


def initial_model(kwargs, batch, size):
    """A model holding the priors of batch and the initial posterior of init_params at
    size rows, as partial_fit starts a stream."""
    model = BayesianGaussianMixture(**kwargs)
    backend = model._open(batch, reset=True)
    priors, _ = model._priors(backend)
    model._set_priors(priors)
    model._set_posterior(model._initial_posterior(backend, priors, size, check_random_state(model.random_state)),
                         np.float64)
    return model


@pytest.mark.parametrize("total_samples", [None, 50_000.0])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_stochastic_steps_against_a_natural_parameter_reference(covariance_type, prior_type, total_samples):
    """Five steps of partial_fit against stochastic variational inference written out:
    the blended statistics of all batches so far are those of the batches with their
    responsibilities (scikit-learn's E-step under the posterior of the step) weighted by
    c_i N / b_i (c_i: the batch's share of the blend), and the posterior is scikit-learn's
    M-step (_estimate_weights, _estimate_means, _estimate_precisions) of them."""
    rng = np.random.default_rng(3)
    batches = [blobs(n, 3, 3, rng, spread=3.0) for n in (400, 250, 300, 500, 350)]
    kwargs = {"n_components": 3, "covariance_type": covariance_type, "weight_concentration_prior_type": prior_type,
              "random_state": 0, "learning_decay": 0.7, "learning_offset": 2.0, "total_samples": total_samples}
    fe = BayesianGaussianMixture(**kwargs)
    first = len(batches[0]) if total_samples is None else total_samples
    sk = sklearn_model_of(initial_model(kwargs, batches[0], first))
    shares, resps = [], []
    for t, batch in enumerate(batches):
        _, log_resp = sk._estimate_log_prob_resp(batch)
        rho = 1.0 if t == 0 else (t + kwargs["learning_offset"]) ** -kwargs["learning_decay"]
        shares = [(1.0 - rho) * c for c in shares] + [rho]
        resps.append(np.exp(log_resp))
        size = total_samples if total_samples is not None else sum(len(b) for b in batches[: t + 1])
        X_all = np.vstack(batches[: t + 1])
        r_all = np.vstack([c * size / len(b) * r for c, b, r in zip(shares, batches[: t + 1], resps, strict=True)])
        nk, xk, sk_cov = _estimate_gaussian_parameters(X_all, r_all, sk.reg_covar, covariance_type)
        if covariance_type == "tied":  # scikit-learn's takes X^T X, for rows whose r sums to 1
            sk_cov = (np.einsum("n,ni,nj->ij", r_all.sum(1), X_all, X_all) - np.einsum("k,ki,kj->ij", nk, xk, xk)
                      ) / nk.sum() + sk.reg_covar * np.eye(X_all.shape[1])
        sk._estimate_weights(nk)
        sk._estimate_means(nk, xk)
        sk._estimate_precisions(nk, xk, sk_cov)
        fe.partial_fit(batch)
        for name in ("means_", "covariances_", "precisions_cholesky_", "mean_precision_", "degrees_of_freedom_"):
            np.testing.assert_allclose(getattr(fe, name), getattr(sk, name), rtol=1e-9, atol=1e-10,
                                       err_msg=f"{name}, step {t + 1}")
        for a, b in zip(concentrations(fe), concentrations(sk), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, err_msg=f"weight_concentration_, step {t + 1}")
    assert fe.n_steps_ == len(batches)


def test_fit_leaves_the_statistics_of_its_posterior_for_partial_fit(X, covariance_type):
    """After fit, the running statistics scaled to the fitted rows give its posterior back,
    and the first step after it blends with rho = b / (n + b)."""
    from fastem.bayesian import Stats, m_step_from_stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fe = BayesianGaussianMixture(n_components=4, covariance_type=covariance_type, random_state=0,
                                     max_iter=20).fit(X)
    state = fe._stochastic
    assert state.seen == len(X)
    r = state.running
    scaled = Stats(r.covariance_type, r.shift, len(X) * r.s0, len(X) * r.s1, len(X) * r.s2, weight=len(X))
    again = m_step_from_stats(scaled, fe._fitted_priors(), covariance_type, fe.reg_covar, 10 * np.finfo(float).eps)
    np.testing.assert_allclose(again.means, fe.means_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(again.covariances, fe.covariances_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(again.mean_precision, fe.mean_precision_, rtol=1e-12)
    fe.partial_fit(X[:500])
    share = 500 / (len(X) + 500)
    assert (state.t - 1 + fe.learning_offset) ** -fe.learning_decay == pytest.approx(share, rel=1e-12)
    assert state.seen == len(X) + 500


def test_partial_fit_streams_and_threads(X):
    """One step per chunk of a stream, the same as the steps on its chunks; bitwise the
    same model for any n_jobs; bad settings are clear errors."""
    kwargs = {"n_components": 4, "covariance_type": "full", "random_state": 0, "total_samples": 1e5}
    by_chunk = BayesianGaussianMixture(**kwargs)
    for start in range(0, len(X), 500):
        by_chunk.partial_fit(X[start : start + 500])
    streamed = BayesianGaussianMixture(**kwargs).partial_fit(iter(np.array_split(X, 4)))
    assert streamed.n_steps_ == by_chunk.n_steps_ == 4
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(streamed, name), getattr(by_chunk, name))
    big = blobs(40_000, 4, 4, np.random.default_rng(9))
    models = [BayesianGaussianMixture(n_jobs=n, **kwargs).partial_fit(big[:20_000]).partial_fit(big[20_000:])
              for n in (1, -1)]
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(models[1], name), getattr(models[0], name))
    with pytest.raises(InvalidParameterError, match="The 'total_samples' parameter"):
        BayesianGaussianMixture(total_samples=0).partial_fit(X)
    with pytest.raises(InvalidParameterError, match="The 'learning_decay' parameter"):
        BayesianGaussianMixture(learning_decay=0.3).partial_fit(X)
    with pytest.raises(ValueError, match="needs n_samples >= n_components"):
        BayesianGaussianMixture(n_components=5).partial_fit(X[:3])


def stream_of(n_rows: int, seed: int, chunk: int = 100_000):
    """A callable giving the same n_rows of a 5-component mixture in 4 dimensions at
    every call, chunk rows at a time (each chunk from its own seed)."""
    centers = np.random.default_rng(0).normal(scale=4.0, size=(5, 4))
    weights = np.array([0.35, 0.25, 0.2, 0.12, 0.08])

    def chunks():
        for i, start in enumerate(range(0, n_rows, chunk)):
            rng = np.random.default_rng([seed, i])
            m = min(chunk, n_rows - start)
            yield centers[rng.choice(5, size=m, p=weights)] + rng.standard_normal((m, 4))

    return chunks


@pytest.mark.parametrize("n_rows", [pytest.param(10_000_000, marks=pytest.mark.slow), 1_000_000])
def test_one_pass_of_a_stream_reaches_the_batch_likelihood(n_rows):
    """partial_fit over one pass of the stream (batches of 100,000 rows) reaches a held-out
    log-likelihood within 1% of batch variational EM on all of it (50 iterations)."""
    import fastem

    held_out = np.vstack(list(stream_of(100_000, seed=99)()))
    kwargs = {"n_components": 8, "covariance_type": "full", "weight_concentration_prior": 0.01, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = BayesianGaussianMixture(max_iter=50, **kwargs).fit(fastem.source(stream_of(n_rows, seed=1)))
    online = BayesianGaussianMixture(total_samples=n_rows, **kwargs).partial_fit(
        fastem.source(stream_of(n_rows, seed=1)))
    assert online.n_steps_ == n_rows // 100_000
    batch_score, online_score = batch.score(held_out), online.score(held_out)
    assert abs(online_score - batch_score) <= 0.01 * abs(batch_score), (online_score, batch_score)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_interrupted_fit_resumes_from_its_checkpoint(X, covariance_type, prior_type, tmp_path, monkeypatch):
    """A fit stopped in its second run's fifth iteration resumes from the checkpoint to
    bitwise the model of an uninterrupted fit; other data or settings are refused."""
    from fastem import bayesian
    from fastem._persist import read_archive

    kwargs = {"n_components": 3, "covariance_type": covariance_type, "weight_concentration_prior_type": prior_type,
              "random_state": 0, "tol": 0.0, "max_iter": 12, "n_init": 2, "init_params": "random"}
    checkpoint = tmp_path / "fit.ckpt.npz"
    calls, original = [], bayesian.variational_pass

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 12 + 5:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(bayesian, "variational_pass", interrupted)
    stopped = BayesianGaussianMixture(checkpoint=str(checkpoint), **kwargs)
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(X)
    monkeypatch.undo()
    assert not hasattr(stopped, "means_")
    header, _ = read_archive(checkpoint, "checkpoint", "fastem-checkpoint")
    assert (header["init_index"], header["current"]["n_iter"]) == (1, 4)
    with pytest.raises(ValueError, match="other data or other parameters"):
        BayesianGaussianMixture(**kwargs).fit(X * 2, checkpoint=str(checkpoint))
    with pytest.raises(ValueError, match="other data or other parameters"):
        BayesianGaussianMixture(**{**kwargs, "mean_precision_prior": 2.0}).fit(X, checkpoint=str(checkpoint))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        resumed = BayesianGaussianMixture(**kwargs).fit(X, checkpoint=str(checkpoint))
        straight = BayesianGaussianMixture(**kwargs).fit(X)
    assert len(calls) == 12 + 5
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(resumed, name), getattr(straight, name), err_msg=name)
    for a, b in zip(concentrations(resumed), concentrations(straight), strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed.lower_bounds_ == straight.lower_bounds_
    assert not checkpoint.exists()  # removed once the fit completed


def test_partial_fit_on_dask_arrays_takes_the_in_memory_steps(X):
    """A Dask array is one step, computed on its blocks: the same posterior as the step on
    the array in memory, with and without sample weights."""
    da = pytest.importorskip("dask.array")
    import dask

    weight = np.random.default_rng(4).uniform(0.5, 2.0, size=len(X))
    kwargs = {"n_components": 4, "covariance_type": "diag", "random_state": 0, "init_params": "random",
              "total_samples": 1e5}
    halves = (slice(0, 1000), slice(1000, None))
    memory, distributed = BayesianGaussianMixture(**kwargs), BayesianGaussianMixture(**kwargs)
    with dask.config.set(scheduler="sync"):
        for rows in halves:
            memory.partial_fit(X[rows], sample_weight=weight[rows])
            distributed.partial_fit(da.from_array(X[rows], chunks=(300, 3)), sample_weight=weight[rows])
    assert distributed.n_steps_ == memory.n_steps_ == 2
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(distributed, name), getattr(memory, name), rtol=1e-10, atol=1e-12,
                                   err_msg=name)
