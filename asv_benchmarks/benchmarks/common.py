"""Seeded data, shared starting points and the one-iteration estimator of the benchmarks."""

import warnings

import numpy as np

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
DTYPES = ["float64", "float32"]


def make_data(n, d, k, dtype="float64", seed=0):
    """n rows from k well-separated Gaussians in d dimensions."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5.0, size=(k, d))
    X = rng.standard_normal((n, d)) + centers[rng.integers(k, size=n)]
    return X.astype(dtype)


def starting_point(X, k, covariance_type, seed=0):
    """weights_init, means_init, precisions_init shared by fastem and scikit-learn."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    sample = X[rng.choice(len(X), size=min(len(X), 5000), replace=False)].astype(np.float64)
    gm = GaussianMixture(k, covariance_type=covariance_type, max_iter=3, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(sample)
    return {"weights_init": gm.weights_, "means_init": gm.means_, "precisions_init": gm.precisions_}


def one_iteration(X, k, covariance_type):
    """A fastem GaussianMixture whose ``fit`` runs one EM iteration from its current
    parameters (max_iter=1, warm_start), started at starting_point and fitted once on X,
    which compiles or loads the kernels. Public API only, so every commit runs it."""
    from fastem import GaussianMixture

    gm = GaussianMixture(k, covariance_type=covariance_type, max_iter=1, tol=0.0, warm_start=True,
                         **starting_point(X, k, covariance_type))
    fit_quietly(gm, X)
    return gm


def fit_quietly(gm, X):
    """gm.fit(X) without the ConvergenceWarning that max_iter=1 raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
