"""Slow, obvious NumPy/SciPy references for every kernel (independent of fastem's code)."""

import numpy as np
from scipy.special import digamma, logsumexp
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


# ----------------------------------------------------------- incomplete data (NaN = missing at random)
# Exact EM for a Gaussian mixture with entries missing at random (Ghahramani and Jordan 1994),
# computed per missingness pattern: the rows that observe the same features share the marginal
# of each component and the conditional covariance of their missing entries.

SOFT_COUNT_EPS = 10 * np.finfo(np.float64).eps  # added to each soft count nk, as scikit-learn does


def observed_patterns(X):
    """The rows of X (n, D) grouped by the features they observe: a list of (observed (D,) bool,
    rows (m,) int) pairs covering every row once. A row with every feature missing is a ValueError."""
    observed = ~np.isnan(np.asarray(X, dtype=np.float64))
    empty = np.flatnonzero(~observed.any(axis=1))
    if empty.size:
        raise ValueError(f"row {empty[0]} has every feature missing")
    patterns, inverse = np.unique(observed, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [(pattern, np.flatnonzero(inverse == i)) for i, pattern in enumerate(patterns)]


def marginal_weighted_log_prob(X, weights, means, cov, covariance_type):
    """log(weight_k) + log N(x_O | mu_k[O], Sigma_k[O, O]) over each row's observed features O,
    shape (n, K), by scipy.stats on the observed sub-vectors. X (n, D) holds NaN where missing."""
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    covs = full_covariances(cov, covariance_type, len(weights), X.shape[1])
    lp = np.empty((len(X), len(weights)))
    for o, rows in observed_patterns(X):
        x = X[np.ix_(rows, o)]
        for k in range(len(weights)):
            log_density = multivariate_normal.logpdf(x, mean=means[k][o], cov=covs[k][np.ix_(o, o)])
            lp[rows, k] = np.log(weights[k]) + np.reshape(log_density, -1)
    return lp


def marginal_e_step(X, weights, means, cov, covariance_type):
    """E-step on incomplete data: (log p(x_O) (n,), responsibilities (n, K)), with the NaN entries of
    X (n, D) marginalised out; cov in scikit-learn's shape for covariance_type."""
    lp = marginal_weighted_log_prob(X, weights, means, cov, covariance_type)
    norm = logsumexp(lp, axis=1)
    return norm, np.exp(lp - norm[:, None])


def conditional_moments(X, means, cov, covariance_type):
    """Per component k and row n, given the row's observed features O (missing M):
    E[x | x_O, k] (K, n, D), observed entries as given, missing ones mu_M + S_MO S_OO^-1 (x_O - mu_O);
    Cov[x | x_O, k] (K, n, D, D), S_MM - S_MO S_OO^-1 S_OM on the missing block and 0 elsewhere."""
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    n, d = X.shape
    n_components = len(means)
    covs = full_covariances(cov, covariance_type, n_components, d)
    expected = np.repeat(X[None], n_components, axis=0)
    conditional = np.zeros((n_components, n, d, d))
    for o, rows in observed_patterns(X):
        m = ~o
        if not m.any():
            continue
        x_o = X[rows][:, o]
        for k in range(n_components):
            S = covs[k]
            S_oo, S_mo, S_mm = S[o][:, o], S[m][:, o], S[m][:, m]
            x_m = means[k][m] + np.linalg.solve(S_oo, (x_o - means[k][o]).T).T @ S_mo.T  # (rows, |M|)
            fill = expected[k, rows]
            fill[:, m] = x_m
            expected[k, rows] = fill
            block = np.zeros((d, d))
            block[np.outer(m, m)] = (S_mm - S_mo @ np.linalg.solve(S_oo, S_mo.T)).reshape(-1)
            conditional[k, rows] = block
    return expected, conditional


def expected_m_step(X, resp, means, cov, covariance_type, reg_covar, sample_weight=None,
                    eps=SOFT_COUNT_EPS):
    """M-step on incomplete data from the expected sufficient statistics given the observed entries.

    X (n, D) with NaN where missing; resp (n, K); means (K, D) and cov (scikit-learn's shape) are the
    CURRENT parameters, which give the conditional expectations of the missing entries. Soft counts
    nk = sum_n w_n r_nk + eps (as scikit-learn's 10 * machine epsilon). Returns (weights (K,),
    means (K, D), covariances in scikit-learn's shape): per component the expected scatter
    sum_n w_n r_nk (E[(x - mu_k)(x - mu_k)^T | x_O]) / nk; tied their nk-weighted mean, diag its
    diagonal, spherical the mean of that; reg_covar on the diagonal."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    r = resp * w[:, None]
    nk = r.sum(axis=0) + eps
    expected, conditional = conditional_moments(X, means, cov, covariance_type)
    new_means = np.stack([r[:, k] @ expected[k] for k in range(len(nk))]) / nk[:, None]
    scatter = []
    for k, mu in enumerate(new_means):
        centred = expected[k] - mu
        scatter.append(((centred.T * r[:, k]) @ centred + np.einsum("n,nij->ij", r[:, k], conditional[k])) / nk[k])
    full = np.stack(scatter)
    if covariance_type == "full":
        new_cov = full + reg_covar * np.eye(d)
    elif covariance_type == "tied":
        new_cov = np.einsum("k,kij->ij", nk, full) / nk.sum() + reg_covar * np.eye(d)
    elif covariance_type == "diag":
        new_cov = np.diagonal(full, axis1=1, axis2=2) + reg_covar
    else:
        new_cov = np.diagonal(full, axis1=1, axis2=2).mean(axis=1) + reg_covar
    return nk / nk.sum(), new_means, new_cov


def incomplete_em(X, weights, means, cov, covariance_type, n_iter, reg_covar, sample_weight=None,
                  eps=SOFT_COUNT_EPS):
    """n_iter iterations of exact EM on X (n, D) with NaN where missing, from (weights (K,), means (K, D),
    cov in scikit-learn's shape). Returns (weights, means, covariances, lower_bounds): lower_bounds[i] is
    the (sample-weighted) mean log p(x_O) under the parameters before iteration i's M-step, as
    scikit-learn's lower_bounds_."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    weights, means, cov = (np.asarray(a, dtype=np.float64) for a in (weights, means, cov))
    lower_bounds = []
    for _ in range(n_iter):
        log_p, resp = marginal_e_step(X, weights, means, cov, covariance_type)
        lower_bounds.append(float(w @ log_p / w.sum()))
        weights, means, cov = expected_m_step(X, resp, means, cov, covariance_type, reg_covar, sample_weight, eps)
    return weights, means, cov, lower_bounds


# ------------------------------------------------------ variational EM for incomplete data
def variational_scales(model):
    """Per component of a scikit-learn-style BayesianGaussianMixture model's posterior: (W_k
    (K, D, D), the Wishart scale, from covariances_ = (nu_k W_k)^-1; nu (K,); beta (K,))."""
    n_components, n_features = model.means_.shape
    covs = full_covariances(model.covariances_, model.covariance_type, n_components, n_features)
    nu = np.broadcast_to(np.asarray(model.degrees_of_freedom_, dtype=np.float64), (n_components,))
    scales = np.stack([np.linalg.inv(c * n) for c, n in zip(covs, nu, strict=True)])
    return scales, nu, np.asarray(model.mean_precision_, dtype=np.float64)


def expected_log_det_precision(scale, nu):
    """E[log det Lambda] under Wishart(scale (D, D), nu): sum_i digamma((nu + 1 - i) / 2) + D log 2
    + log det scale."""
    n_features = scale.shape[0]
    return float(np.sum(digamma((nu + 1 - np.arange(1, n_features + 1)) / 2)) + n_features * np.log(2.0)
                 + np.linalg.slogdet(scale)[1])


def variational_log_rho(X, model):
    """log rho_nk (n, K) of the mean-field factor q(z, x_M): E[log pi_k] + log of the integral over
    the missing entries x_M of exp(E[log N(x | mu_k, Lambda_k)]), under the model's posterior, with
    E[log N(x | mu, Lambda)] = E[log det Lambda] / 2 - D/2 log 2 pi - D / (2 beta) - nu/2 (x - m)^T W
    (x - m) and the Gaussian integral over x_M in closed form (from the precision nu W, not the
    covariance). X (n, D) holds NaN where missing."""
    X = np.asarray(X, dtype=np.float64)
    n_features = X.shape[1]
    scales, nu, beta = variational_scales(model)
    log_pi = model._estimate_log_weights()
    out = np.empty((len(X), len(nu)))
    for o, rows in observed_patterns(X):
        m = ~o
        y = X[np.ix_(rows, o)]
        for k in range(len(nu)):
            A = nu[k] * scales[k]  # the precision of exp(E[log N]) as a function of x
            schur = A[np.ix_(o, o)]
            log_det_mm = 0.0
            if m.any():
                A_mm = A[np.ix_(m, m)]
                schur = schur - A[np.ix_(o, m)] @ np.linalg.solve(A_mm, A[np.ix_(m, o)])
                log_det_mm = np.linalg.slogdet(A_mm)[1]
            d = y - model.means_[k][o]
            maha = np.einsum("ni,ij,nj->n", d, schur, d)
            out[rows, k] = (log_pi[k] + 0.5 * expected_log_det_precision(scales[k], nu[k])
                            - 0.5 * n_features * np.log(2 * np.pi) - 0.5 * n_features / beta[k]
                            + 0.5 * m.sum() * np.log(2 * np.pi) - 0.5 * log_det_mm - 0.5 * maha)
    return out


def variational_conditionals(X, model):
    """q(x_M | z = k) for every row and component: (expected rows (K, n, D), observed entries as given,
    missing ones m_M - A_MM^-1 A_MO (x_O - m_O); covariances (K, n, D, D), A_MM^-1 on the missing
    block, 0 elsewhere; entropies (n, K)), A = nu_k W_k."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    scales, nu, _ = variational_scales(model)
    n_components = len(nu)
    expected = np.repeat(X[None], n_components, axis=0)
    covariances = np.zeros((n_components, n, d, d))
    entropy = np.zeros((n, n_components))
    for o, rows in observed_patterns(X):
        m = ~o
        if not m.any():
            continue
        for k in range(n_components):
            A = nu[k] * scales[k]
            A_mm = A[np.ix_(m, m)]
            fill = expected[k, rows]
            fill[:, m] = model.means_[k][m] - np.linalg.solve(
                A_mm, A[np.ix_(m, o)] @ (X[np.ix_(rows, o)] - model.means_[k][o]).T).T
            expected[k, rows] = fill
            block = np.zeros((d, d))
            block[np.ix_(m, m)] = np.linalg.inv(A_mm)
            covariances[k, rows] = block
            entropy[rows, k] = 0.5 * m.sum() * (1 + np.log(2 * np.pi)) - 0.5 * np.linalg.slogdet(A_mm)[1]
    return expected, covariances, entropy


def variational_incomplete_step(X, model, sample_weight=None, eps=SOFT_COUNT_EPS):
    """One iteration of variational EM on incomplete data X (n, D) (NaN where missing) for a
    scikit-learn BayesianGaussianMixture model holding the priors and posterior: the E-step's q(z,
    x_M), then scikit-learn's own M-step functions (_estimate_weights, _estimate_means,
    _estimate_precisions, which update model) on the expected statistics, sample-weighted (weights
    rescaled to mean 1). Returns the lower bound: scikit-learn's _compute_lower_bound of the new
    posterior with the responsibilities' entropy - sum_n w_n sum_k r log r, plus the entropy of q(x_M |
    z), sum_nk w_n r_nk H[q(x_M | z = k)]."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = w / w.mean()
    log_rho = variational_log_rho(X, model)
    log_resp = log_rho - logsumexp(log_rho, axis=1)[:, None]
    resp = np.exp(log_resp)
    expected, covariances, entropy = variational_conditionals(X, model)
    r = resp * w[:, None]
    nk = r.sum(axis=0) + eps
    xk = np.stack([r[:, k] @ expected[k] for k in range(len(nk))]) / nk[:, None]
    full = np.stack([((expected[k] - xk[k]).T * r[:, k]) @ (expected[k] - xk[k])
                     + np.einsum("n,nij->ij", r[:, k], covariances[k]) for k in range(len(nk))]) / nk[:, None, None]
    reg = model.reg_covar
    sk = {"full": lambda: full + reg * np.eye(d),
          "tied": lambda: np.einsum("k,kij->ij", nk, full) / nk.sum() + reg * np.eye(d),
          "diag": lambda: np.diagonal(full, axis1=1, axis2=2) + reg,
          "spherical": lambda: np.diagonal(full, axis1=1, axis2=2).mean(axis=1) + reg}[model.covariance_type]()
    model._estimate_weights(nk)
    model._estimate_means(nk, xk)
    model._estimate_precisions(nk, xk, sk)
    rest = float(np.squeeze(model._compute_lower_bound(np.zeros((1, len(nk))), 0.0)))
    return rest - float(np.sum(w[:, None] * resp * log_resp)) + float(np.sum(r * entropy))
