"""Slow, obvious NumPy/SciPy references for every kernel (independent of fastem's code)."""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal


def full_covariances(cov, covariance_type, n_components, n_features):
    """Covariances in any scikit-learn shape as (K, D, D) matrices."""
    cov = np.asarray(cov, dtype=np.float64)
    if covariance_type == "full":
        return cov
    if covariance_type == "tied":
        return np.repeat(cov[None], n_components, axis=0)
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(n_features) * c for c in cov])


def weighted_log_prob(X, weights, means, cov, covariance_type):
    """log(weight_k) + log N(x | mu_k, Sigma_k), shape (n, K), by scipy.stats."""
    X = np.asarray(X, dtype=np.float64)
    covs = full_covariances(cov, covariance_type, len(weights), X.shape[1])
    return np.column_stack(
        [np.log(w) + multivariate_normal(m, c).logpdf(X).reshape(-1) for w, m, c in zip(weights, means, covs, strict=False)]
    )


def e_step(X, weights, means, cov, covariance_type):
    """(log p(x) (n,), responsibilities (n, K))."""
    lp = weighted_log_prob(X, weights, means, cov, covariance_type)
    norm = logsumexp(lp, axis=1)
    return norm, np.exp(lp - norm[:, None])


def moments(X, resp, shift, sample_weight=None):
    """s0 (K,), s1 (K, D), full s2 (K, D, D) of X under resp around shift (K, D)."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    r = resp * w[:, None]
    s0 = r.sum(axis=0)
    s1 = np.stack([r[:, k] @ (X - shift[k]) for k in range(resp.shape[1])])
    s2 = np.stack([(X - shift[k]).T @ (r[:, k, None] * (X - shift[k])) for k in range(resp.shape[1])])
    return s0, s1, s2


def m_step(X, resp, covariance_type, reg_covar, sample_weight=None):
    """weights, means, covariances from responsibilities, the textbook way."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    r = resp * w[:, None]
    nk = r.sum(axis=0)
    means = (r.T @ X) / nk[:, None]
    n_features = X.shape[1]
    full = np.stack([((X - m).T * r[:, k]) @ (X - m) / nk[k] for k, m in enumerate(means)])
    if covariance_type == "full":
        cov = full + reg_covar * np.eye(n_features)
    elif covariance_type == "tied":
        cov = np.einsum("k,kij->ij", nk, full) / nk.sum() + reg_covar * np.eye(n_features)
    elif covariance_type == "diag":
        cov = np.diagonal(full, axis1=1, axis2=2) + reg_covar
    else:
        cov = np.diagonal(full, axis1=1, axis2=2).mean(axis=1) + reg_covar
    return nk / nk.sum(), means, cov


def lloyd_step(X, centers, sample_weight=None):
    """labels, weighted counts, new centres (empty clusters keep theirs), inertia."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    d2 = ((X[:, None, :] - centers[None]) ** 2).sum(axis=2)
    labels = d2.argmin(axis=1)
    counts = np.bincount(labels, weights=w, minlength=len(centers))
    new = centers.copy()
    for k in range(len(centers)):
        if counts[k] > 0:
            new[k] = (w[labels == k] @ X[labels == k]) / counts[k]
    return labels, counts, new, float((w * d2[np.arange(len(X)), labels]).sum())
