import os

# scikit-learn's check_array_api_input runs (instead of skipping) only when SciPy's
# array API mode is switched on before SciPy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
# Child processes (python -m fastem ...) import the fastem this process tests, not a copy in
# the working directory: else a non-editable install has two copies, each compiling its
# kernels into a cache of its own (Python 3.11+; earlier ones ignore it).
os.environ.setdefault("PYTHONSAFEPATH", "1")

import numpy as np
import pytest
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture

from fastem import _kernels
from fastem._covariance import COVARIANCE_TYPES
from fastem._engine import Params, precision_cholesky


@pytest.fixture(autouse=True)
def expanded_form_on_any_cpu(monkeypatch):
    """Diag's expanded form runs wherever a test's shapes call for it, on any CPU: fits on
    AMD's Zen cores run the shifted form alone (_kernels.EXPANDED_PAYS), which the tests
    of fewer components check, and the expanded one must stay right for the others."""
    monkeypatch.setattr(_kernels, "EXPANDED_PAYS", True)


def random_covariances(covariance_type, n_components, n_features, rng):
    if covariance_type in ("full", "tied"):
        count = n_components if covariance_type == "full" else 1
        A = rng.normal(size=(count, n_features, n_features))
        cov = A @ np.swapaxes(A, 1, 2) / n_features + 0.5 * np.eye(n_features)
        return cov if covariance_type == "full" else cov[0]
    if covariance_type == "diag":
        return rng.uniform(0.5, 2.0, size=(n_components, n_features))
    return rng.uniform(0.5, 2.0, size=n_components)


def random_params(covariance_type, n_components, n_features, rng, offset=0.0):
    """A valid random mixture in fastem's Params form."""
    weights = rng.dirichlet(np.full(n_components, 2.0))
    means = rng.normal(scale=2.0, size=(n_components, n_features)) + offset
    cov = random_covariances(covariance_type, n_components, n_features, rng)
    return Params(covariance_type, weights, means, cov, precision_cholesky(cov, covariance_type))


def blobs(n, n_features, n_components, rng, spread=6.0, dtype=np.float64):
    """n rows from well-separated Gaussian blobs."""
    centers = rng.normal(scale=spread, size=(n_components, n_features))
    labels = rng.integers(n_components, size=n)
    scales = rng.uniform(0.5, 1.5, size=(n_components, n_features))
    return (centers[labels] + scales[labels] * rng.standard_normal((n, n_features))).astype(dtype)


def interrupted_fit(gm, X, after: int, **kwargs) -> None:
    """gm.fit(X) stopped by a KeyboardInterrupt as its EM pass number after + 1 begins
    (initialisation passes are not counted; a BayesianGaussianMixture's passes are its
    variational iterations)."""
    import fastem._engine as engine
    from fastem import BayesianGaussianMixture, bayesian

    module, name = (bayesian, "variational_pass") if isinstance(gm, BayesianGaussianMixture) else (engine, "em_stats")
    original, calls = getattr(module, name), []

    def stop(*args, **kw):
        calls.append(1)
        if len(calls) > after:
            raise KeyboardInterrupt
        return original(*args, **kw)

    setattr(module, name, stop)
    try:
        with pytest.raises(KeyboardInterrupt):
            gm.fit(X, **kwargs)
    finally:
        setattr(module, name, original)


@pytest.fixture(params=COVARIANCE_TYPES)
def covariance_type(request):
    return request.param


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def unit_precisions(covariance_type, n_components, n_features):
    """Identity precisions in scikit-learn's shape for covariance_type."""
    return {
        "full": np.stack([np.eye(n_features)] * n_components),
        "tied": np.eye(n_features),
        "diag": np.ones((n_components, n_features)),
        "spherical": np.ones(n_components),
    }[covariance_type]


def mixture_data(n, n_features, n_components, rng, spread=3.0):
    """(X (n, D) complete, centres (K, D)): correlated, overlapping Gaussian blobs."""
    centers = rng.normal(scale=spread, size=(n_components, n_features))
    mixing = rng.normal(size=(n_components, n_features, n_features)) / np.sqrt(n_features) + 0.7 * np.eye(n_features)
    labels = rng.choice(n_components, size=n, p=rng.dirichlet(np.full(n_components, 5.0)))
    X = centers[labels] + np.einsum("nij,nj->ni", mixing[labels], rng.standard_normal((n, n_features)))
    return X, centers


def mcar(X, fraction, rng):
    """X with each entry NaN with probability fraction (missing completely at random); a row
    that lost every entry gets one back."""
    X = np.array(X, dtype=np.float64)
    mask = rng.random(X.shape) < fraction
    empty = np.flatnonzero(mask.all(axis=1))
    mask[empty, rng.integers(X.shape[1], size=empty.size)] = False
    X[mask] = np.nan
    return X


def with_missing(X, how, rng):
    """'none'; 'mcarNN': NN% of entries MCAR (no row fully missing); 'block': feature 0
    missing from a random half of the rows."""
    if how == "none":
        return X.copy()
    if how == "block":
        X = X.copy()
        X[rng.permutation(len(X))[: len(X) // 2], 0] = np.nan
        return X
    return mcar(X, int(how.removeprefix("mcar")) / 100, rng)


def sklearn_model_of(fe):
    """A scikit-learn BayesianGaussianMixture holding fe's priors and posterior, for its
    E-step (``_estimate_log_prob_resp``) and M-step pieces as a reference."""
    sk = SkBayesianGaussianMixture(n_components=fe.n_components, covariance_type=fe.covariance_type,
                                   weight_concentration_prior_type=fe.weight_concentration_prior_type,
                                   reg_covar=fe.reg_covar)
    for name in ("weight_concentration_prior_", "mean_precision_prior_", "mean_prior_", "degrees_of_freedom_prior_",
                 "covariance_prior_", "mean_precision_", "means_", "degrees_of_freedom_", "covariances_",
                 "precisions_cholesky_"):
        setattr(sk, name, getattr(fe, name))
    wc = fe.weight_concentration_
    sk.weight_concentration_ = tuple(np.asarray(a) for a in wc) if isinstance(wc, tuple) else np.asarray(wc)
    sk.n_features_in_ = fe.n_features_in_
    return sk
