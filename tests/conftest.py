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

from fastem._covariance import COVARIANCE_TYPES
from fastem._engine import Params, precision_cholesky


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
    (initialisation passes are not counted)."""
    import fastem._engine as engine

    original, calls = engine.em_stats, []

    def stop(*args, **kw):
        calls.append(1)
        if len(calls) > after:
            raise KeyboardInterrupt
        return original(*args, **kw)

    engine.em_stats = stop
    try:
        with pytest.raises(KeyboardInterrupt):
            gm.fit(X, **kwargs)
    finally:
        engine.em_stats = original


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
