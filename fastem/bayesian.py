"""fastem.BayesianGaussianMixture: variational EM (scikit-learn's) on the fused kernels.

The variational E-step is the EM E-step with other per-component constants. Under the
Normal-Wishart posterior (mean m_k, mean precision beta_k, degrees of freedom nu_k, scale
W_k) scikit-learn keeps ``covariances_ = (nu_k W_k)^-1``, so ``precisions_cholesky_`` P_k
already factors E[Lambda_k] = nu_k W_k (the "sqrt(nu_k) scaling" of W_k's factor is in
it), and

    E[log pi_k] + E[log N(x | mu_k, Lambda_k^-1)]
        = log_norm_k - 0.5 || P_k^T (x - m_k) ||^2,
    log_norm_k = E[log pi_k] + log det P_k - D/2 log(2 pi) - D/2 log nu_k
                 + 0.5 (D log 2 + sum_i digamma((nu_k - i) / 2)) - D / (2 beta_k),

(scikit-learn's ``_estimate_log_prob`` plus ``_estimate_log_weights``; tied: one nu and
one P for all k, diag and spherical: log det P from the diagonal factors). So one
``EMStats`` pass under ``KernelParams`` with these constants gives the statistics Stats
(s0, s1, s2 around a shift) and sum_n log sum_k exp(.); the M-step
(``_estimate_weights``, ``_estimate_means``, ``_estimate_precisions``) takes nk, xk, Sk
from them as ``_estimate_gaussian_parameters`` gives them.

The lower bound (``_compute_lower_bound``) needs sum_nk r_nk log r_nk, without an (N, K)
array. With lp_nk = log_norm_k - 0.5 q_nk the kernels' weighted log-densities and L_n =
log sum_k exp(lp_nk), log r_nk = lp_nk - L_n and sum_k r_nk = 1, so

    sum_nk r_nk log r_nk = sum_k log_norm_k s0_k - 0.5 sum_nk r_nk q_nk - sum_n L_n,
    sum_n r_nk q_nk = tr(P_k P_k^T M_k),  M_k = sum_n r_nk (x_n - m_k)(x_n - m_k)^T
                    = s2_k + s1_k d_k^T + d_k s1_k^T + s0_k d_k d_k^T,  d_k = shift_k - m_k

(tied: only the sum over k of M_k, which its summed s2 gives; diag and spherical: the
diagonal of M_k). Every sum over rows is weighted by the sample weights.

Missing values (``missing="marginalize"``): a row's missing entries x_M join the
responsibilities in the mean-field factor q(z, x_M), the posterior staying q(pi, mu,
Lambda). With E[Lambda_k] = nu_k W_k = P_k P_k^T, the optimal q(x_M | z = k) is the
Gaussian conditional of N(m_k, (nu_k W_k)^-1) given the observed x_O, and integrating it
out leaves

    log rho_nk = log_norm_k - log det P_k + D/2 log(2 pi) + log N(x_O | m_k[O], (nu_k W_k)^-1[O, O]):

the constants above, with the marginal over the observed features in place of the full
density: log_norm_k plus the marginal's |M|/2 log(2 pi) - log det (nu_k W_k)[M, M] / 2,
what the missing-value kernels add to any log_norm; and their statistics are the
expected ones under q(x_M | z). The lower bound gains the entropy of q(x_M | z),
sum_nk r_nk (|M_n| (1 + log 2 pi) / 2 - log det (nu_k W_k)[M, M] / 2), but the sum above
needs no new term: from the expected statistics, sum_nk r_nk q_nk counts each missing
entry once more (tr(Lambda Cov[x_M]) = |M_n|), and the log-densities' |M_n| / 2 log(2 pi)
and log det terms cancel the entropy's, so the same three terms give sum_nk r_nk log r_nk
minus the entropy of q(x_M | z).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, gammaln
from sklearn.utils import check_array, check_random_state

from ._covariance import covariance, symmetric
from ._engine import (
    LOG_2PI,
    EMResult,
    EMStats,
    KernelParams,
    Params,
    RespSpec,
    RespStats,
    Stats,
    compute_dtype,
    fill_missing,
    marginal_arrays,
    precision_cholesky,
)
from ._init import CENTER_ROWS, initial_params, observed_means
from ._runs import EMSettings, fit_runs
from ._threads import threads
from .mixture import _PARAMETERS, InvalidParameterError, _BaseMixture, _is_real

PRIOR_TYPES = ("dirichlet_distribution", "dirichlet_process")


def _positive_or_none(v) -> bool:
    return v is None or (_is_real(v) and v > 0)


def _array_like(v) -> bool:
    return isinstance(v, list | tuple | np.ndarray) or hasattr(v, "__array__")


_SHARED = ("n_components", "covariance_type", "tol", "reg_covar", "max_iter", "n_init", "init_params",
           "warm_start", "verbose", "verbose_interval", "learning_decay", "learning_offset", "n_jobs", "chunk_size",
           "progress", "checkpoint", "missing")
# parameter -> (test, what it must be), in scikit-learn's words for the priors
_BAYESIAN_PARAMETERS = {
    **{name: _PARAMETERS[name] for name in _SHARED},
    "weight_concentration_prior_type": (lambda v: isinstance(v, str) and v in PRIOR_TYPES,
                                        "a str among {'dirichlet_distribution', 'dirichlet_process'}"),
    "weight_concentration_prior": (_positive_or_none, "None or a float in the range (0.0, inf)"),
    "mean_precision_prior": (_positive_or_none, "None or a float in the range (0.0, inf)"),
    "mean_prior": (lambda v: v is None or _array_like(v), "None or an array-like"),
    "degrees_of_freedom_prior": (_positive_or_none, "None or a float in the range (0.0, inf)"),
    "covariance_prior": (lambda v: v is None or _array_like(v) or (_is_real(v) and v > 0),
                         "None, an array-like or a float in the range (0.0, inf)"),
    "total_samples": (lambda v: v is None or (_is_real(v) and math.isfinite(v) and v > 0),
                      "None or a float in the range (0.0, inf)"),
}


# ----------------------------------------------------------------------------- the model
@dataclass
class Priors:
    """The priors as fitted (scikit-learn's ``*_prior_`` attributes), float64."""

    prior_type: str
    weight_concentration: float
    mean_precision: float
    mean: np.ndarray  # (D,)
    degrees_of_freedom: float
    covariance: np.ndarray | float  # (D, D) full and tied, (D,) diag, float spherical


@dataclass
class Posterior:
    """The variational posterior in scikit-learn's attributes, float64:
    weight_concentration ((K,), (K,)) Beta parameters (dirichlet_process) or (K,);
    mean_precision (K,); means (K, D); degrees_of_freedom (K,) (tied: a float);
    covariances and precisions_cholesky in the covariance type's shapes."""

    covariance_type: str
    weight_concentration: tuple | np.ndarray
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: np.ndarray | float
    covariances: np.ndarray
    precisions_cholesky: np.ndarray


def expected_log_weights(weight_concentration, prior_type: str) -> np.ndarray:
    """E[log pi_k] (K,) (scikit-learn's ``_estimate_log_weights``)."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        digamma_sum = digamma(a + b)
        return digamma(a) - digamma_sum + np.hstack((0, np.cumsum(digamma(b) - digamma_sum)[:-1]))
    return digamma(weight_concentration) - digamma(np.sum(weight_concentration))


def posterior_weights(weight_concentration, prior_type: str) -> np.ndarray:
    """The expected weights (K,) (scikit-learn's ``weights_``)."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        total = a + b
        weights = a / total * np.hstack((1, np.cumprod((b / total)[:-1])))
        return weights / np.sum(weights)
    return weight_concentration / np.sum(weight_concentration)


def log_det_cholesky(P: np.ndarray, covariance_type: str, n_features: int) -> np.ndarray | float:
    """log det of the precision factors: (K,), or a float for tied (scikit-learn's
    ``_compute_log_det_cholesky``)."""
    if covariance_type == "full":
        return np.log(np.diagonal(P, axis1=1, axis2=2)).sum(axis=1)
    if covariance_type == "tied":
        return float(np.log(np.diag(P)).sum())
    if covariance_type == "diag":
        return np.log(P).sum(axis=1)
    return n_features * np.log(P)


def log_norms(post: Posterior, prior_type: str) -> np.ndarray:
    """The kernels' per-component constants log_norm_k (K,) float64 (module docstring)."""
    n_components, n_features = post.means.shape
    nu = np.asarray(post.degrees_of_freedom, dtype=np.float64)
    log_lambda = n_features * np.log(2.0) + np.sum(digamma(0.5 * (nu - np.arange(n_features)[:, None])), 0)
    log_det = np.broadcast_to(log_det_cholesky(post.precisions_cholesky, post.covariance_type, n_features),
                              (n_components,))
    return (expected_log_weights(post.weight_concentration, prior_type) + log_det - 0.5 * n_features * LOG_2PI
            - 0.5 * n_features * np.log(nu) + 0.5 * (log_lambda - n_features / post.mean_precision))


def kernel_params(post: Posterior, prior_type: str, data_dtype, marginalize: bool = False
                  ) -> tuple[KernelParams, np.ndarray]:
    """(the KernelParams of the variational E-step in the precision a pass computes in,
    its log_norm (K,) in float64). marginalize: NaN entries are missing values (module
    docstring)."""
    cov = covariance(post.covariance_type)
    params = Params(cov.name, np.ones(post.means.shape[0]), post.means, post.covariances, post.precisions_cholesky)
    dtype = compute_dtype(params, data_dtype)
    means = np.asarray(post.means, dtype=np.float64)
    rounded = means.astype(dtype).astype(np.float64)
    loc, center, shift, prec, _ = cov.layout(means, rounded, post.precisions_cholesky, dtype)
    log_norm = log_norms(post, prior_type)
    marginal = marginal_arrays(cov, cov.precisions(post.precisions_cholesky), means, prec, dtype) \
        if marginalize else None
    kp = KernelParams(cov.name, cov.family, np.ascontiguousarray(loc, dtype=dtype),
                      np.ascontiguousarray(center, dtype=dtype), np.ascontiguousarray(prec, dtype=dtype),
                      np.ascontiguousarray(log_norm, dtype=dtype), np.array(shift, dtype=np.float64), marginal)
    return kp, log_norm


def weighted_quadratic(stats: Stats, post: Posterior) -> float:
    """sum_nk r_nk || P_k^T (x_n - m_k) ||^2 from the statistics (module docstring)."""
    cov = covariance(post.covariance_type)
    d = stats.shift - post.means  # (K, D)
    P = post.precisions_cholesky
    if cov.name == "tied":
        scatter = symmetric(stats.s2[0]) + (stats.s1.T @ d + d.T @ stats.s1
                                            + np.einsum("k,ki,kj->ij", stats.s0, d, d))
        return float(np.sum((P @ P.T) * scatter))
    scatter = cov.rebase_s2(stats.s0, stats.s1, stats.s2, d)
    if cov.name == "full":
        return float(np.sum(cov.precisions(P) * scatter))
    precisions = P**2 if cov.name == "diag" else np.repeat((P**2)[:, None], post.means.shape[1], axis=1)
    return float(np.sum(precisions * scatter[:, 0, :]))


def variational_m_step(nk: np.ndarray, xk: np.ndarray, sk: np.ndarray, priors: Priors,
                       covariance_type: str) -> Posterior:
    """The posterior from soft counts nk (K,), means xk (K, D) and covariances sk (the
    type's shape, with reg_covar), as ``_estimate_weights``, ``_estimate_means`` and
    ``_estimate_precisions``."""
    n_components = xk.shape[0]
    if priors.prior_type == "dirichlet_process":
        weight_concentration = (1.0 + nk, priors.weight_concentration + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0)))
    else:
        weight_concentration = priors.weight_concentration + nk
    beta0, m0, nu0, cov0 = priors.mean_precision, priors.mean, priors.degrees_of_freedom, priors.covariance
    mean_precision = beta0 + nk
    means = (beta0 * m0 + nk[:, None] * xk) / mean_precision[:, None]
    diff = xk - m0
    if covariance_type == "full":
        nu = nu0 + nk
        covariances = (cov0 + nk[:, None, None] * sk
                       + (nk * beta0 / mean_precision)[:, None, None] * diff[:, :, None] * diff[:, None, :])
        covariances /= nu[:, None, None]
    elif covariance_type == "tied":
        nu = nu0 + nk.sum() / n_components
        covariances = cov0 + sk * nk.sum() / n_components + beta0 / n_components * np.dot(
            (nk / mean_precision) * diff.T, diff)
        covariances /= nu
    elif covariance_type == "diag":
        nu = nu0 + nk
        covariances = cov0 + nk[:, None] * (sk + (beta0 / mean_precision)[:, None] * np.square(diff))
        covariances /= nu[:, None]
    else:
        nu = nu0 + nk
        covariances = cov0 + nk * (sk + beta0 / mean_precision * np.mean(np.square(diff), 1))
        covariances /= nu
    return Posterior(covariance_type, weight_concentration, mean_precision, means, nu, covariances,
                     precision_cholesky(covariances, covariance_type))


def m_step_from_stats(stats: Stats, priors: Priors, covariance_type: str, reg_covar: float,
                      eps: float) -> Posterior:
    """The posterior from a pass's Stats: nk = s0 + eps, xk = shift + s1 / nk and Sk the
    covariances around xk (plus reg_covar), as ``_estimate_gaussian_parameters``."""
    nk = stats.s0 + eps
    delta = stats.s1 / nk[:, None]
    sk = covariance(covariance_type).m_step(nk, delta, stats.s2, reg_covar)
    return variational_m_step(nk, stats.shift + delta, sk, priors, covariance_type)


def lower_bound(post: Posterior, priors: Priors, sum_r_log_r: float) -> float:
    """scikit-learn's ``_compute_lower_bound`` from sum_nk r log r and the new posterior."""
    n_components, n_features = post.means.shape
    nu = post.degrees_of_freedom
    log_det = log_det_cholesky(post.precisions_cholesky, post.covariance_type, n_features) \
        - 0.5 * n_features * np.log(nu)
    log_wishart = -(nu * log_det + nu * n_features * 0.5 * math.log(2.0)
                    + np.sum(gammaln(0.5 * (nu - np.arange(n_features)[:, None])), 0))
    log_wishart = n_components * float(np.squeeze(log_wishart)) if post.covariance_type == "tied" \
        else float(np.sum(log_wishart))
    if priors.prior_type == "dirichlet_process":
        log_norm_weight = -float(np.sum(betaln(*post.weight_concentration)))
    else:
        wc = post.weight_concentration
        log_norm_weight = float(gammaln(np.sum(wc)) - np.sum(gammaln(wc)))
    return float(-sum_r_log_r - log_wishart - log_norm_weight - 0.5 * n_features * np.sum(np.log(post.mean_precision)))


def e_step(backend, post: Posterior, prior_type: str) -> tuple[Stats, float]:
    """The E-step pass under post: (its Stats, sum_nk r_nk log r_nk)."""
    kp, log_norm = kernel_params(post, prior_type, backend.dtype, backend.marginalize)
    stats = backend.reduce(EMStats, kp)
    return stats, float(log_norm @ stats.s0) - 0.5 * weighted_quadratic(stats, post) - stats.loglik


def variational_pass(backend, post: Posterior, priors: Priors, reg_covar: float, eps: float
                     ) -> tuple[Posterior, float, Stats]:
    """One iteration: the E-step pass under post, the M-step, and the lower bound (in
    scikit-learn's order: the responsibilities of post, the normalisers of the new one);
    also the pass's Stats, whose M-step the new posterior is."""
    stats, sum_r_log_r = e_step(backend, post, priors.prior_type)
    new = m_step_from_stats(stats, priors, post.covariance_type, reg_covar, eps)
    return new, lower_bound(new, priors, sum_r_log_r), stats


@dataclass
class StochasticState:
    """Where a stream of stochastic variational inference stands: t, the position in the
    step-size schedule; running, the statistics per unit of weight (None before the first
    step); seen, the weight of the rows behind the posterior (the fit's, then the
    stream's)."""

    t: float = 0.0
    running: Stats | None = None
    seen: float = 0.0

    def step(self, backend, post: Posterior, priors: Priors, *, decay: float, offset: float, reg_covar: float,
             total_samples: float | None) -> tuple[Posterior, float]:
        """One step on the backend's batch of b rows (Hoffman et al. 2013): its statistics
        under post, per unit of weight, blended into the running ones with rho_t = (t +
        offset) ** -decay, scaled to the data size N (total_samples, else the weight seen
        so far), and the posterior of prior + N x running (the variational M-step, linear
        in them as the natural parameters are). The first step of a new stream takes its
        batch whole; the first after a fit on n rows gets rho = b / (n + b), and the
        schedule goes on from the t where rho_t equals that. Returns the new posterior and
        its lower bound for N rows like the batch."""
        stats, sum_r_log_r = e_step(backend, post, priors.prior_type)
        if self.running is None:
            self.running = stats.blended(stats, 1.0)
        else:
            if self.t == 0.0:  # the first step after a fit
                share = stats.weight / (stats.weight + self.seen)
                self.t = max(share ** (-1.0 / decay) - offset, 0.0)
            self.running = self.running.blended(stats, (self.t + offset) ** -decay)
        self.t += 1.0
        self.seen += stats.weight
        size = float(total_samples) if total_samples is not None else self.seen
        r = self.running
        scaled = Stats(r.covariance_type, r.shift, size * r.s0, size * r.s1, size * r.s2, weight=size)
        new = m_step_from_stats(scaled, priors, post.covariance_type, reg_covar, 10 * np.finfo(backend.dtype).eps)
        return new, lower_bound(new, priors, sum_r_log_r * size / stats.weight)


def data_moments(backend, covariance_type: str, with_covariance: bool = True
                 ) -> tuple[np.ndarray, np.ndarray | None, float]:
    """One pass: (the weighted mean (D,), the sample covariance (ddof=1) (D, D) for full
    and tied, its diagonal (D,) for diag and spherical, the total weight), taken around
    the mean of the first rows. With missing values (backend.marginalize), one more pass
    finds each feature's observed mean, which fills its missing entries: the mean is
    the observed one, each variance is over the observed entries (ddof=1, by weight),
    and the off-diagonal entries are the filled data's, scaled with the variances (data
    without NaN gives the complete formula, bitwise). with_covariance=False: None for the
    covariance."""
    fill, unseen = observed_means(backend) if backend.marginalize else (None, None)
    center = fill_missing(backend.head(CENTER_ROWS), fill).mean(axis=0)
    layout = "full" if covariance_type in ("full", "tied") else "diag"
    spec = RespSpec(layout, 1, center, backend.dtype, "labels", center[None], fill=fill)
    stats = backend.reduce(RespStats, spec, "data moments")[0]
    delta = stats.s1[0] / stats.s0[0]
    if layout == "full":
        scatter = symmetric(stats.s2[0]) - stats.s0[0] * np.outer(delta, delta)
    else:
        scatter = stats.s2[0, 0] - stats.s0[0] * delta**2
    sample_cov = scatter / (stats.weight - 1.0)
    if not with_covariance:
        return stats.shift[0] + delta, None, stats.weight
    if unseen is None or not unseen.any():
        return stats.shift[0] + delta, sample_cov, stats.weight
    observed = stats.weight - unseen  # each feature's weight of observed entries
    few = np.flatnonzero(observed <= 1.0)
    if few.size:
        raise ValueError(f"{backend.name}: feature {int(few[0])} has too few observed entries (weight "
                         f"{observed[few[0]]:.3g} <= 1) for the covariance prior's variance; give covariance_prior")
    scale = (stats.weight - 1.0) / (observed - 1.0)
    scale = np.sqrt(np.outer(scale, scale)) if layout == "full" else scale
    return stats.shift[0] + delta, sample_cov * scale, stats.weight


class PosteriorCodec:
    """A Posterior as named float64 arrays and back (checkpoints): weight_concentration
    (dirichlet_distribution) or weight_concentration_a and _b (dirichlet_process),
    mean_precision, means, degrees_of_freedom ((1,) for tied), covariances,
    precisions_cholesky."""

    def __init__(self, covariance_type: str, prior_type: str):
        self.covariance_type, self.prior_type = covariance_type, prior_type

    def arrays(self, post: Posterior) -> dict[str, np.ndarray]:
        wc = post.weight_concentration
        concentration = {"weight_concentration_a": wc[0], "weight_concentration_b": wc[1]} \
            if self.prior_type == "dirichlet_process" else {"weight_concentration": wc}
        named = {**concentration, "mean_precision": post.mean_precision, "means": post.means,
                 "degrees_of_freedom": np.atleast_1d(post.degrees_of_freedom), "covariances": post.covariances,
                 "precisions_cholesky": post.precisions_cholesky}
        return {name: np.asarray(a, dtype=np.float64) for name, a in named.items()}

    def params(self, arrays: dict[str, np.ndarray]) -> Posterior:
        wc = (arrays["weight_concentration_a"], arrays["weight_concentration_b"]) \
            if self.prior_type == "dirichlet_process" else arrays["weight_concentration"]
        dof = arrays["degrees_of_freedom"]
        return Posterior(self.covariance_type, wc, arrays["mean_precision"], arrays["means"],
                         float(dof[0]) if self.covariance_type == "tied" else dof, arrays["covariances"],
                         arrays["precisions_cholesky"])

    def shapes(self, arrays: dict[str, np.ndarray], n_components: int, n_features: int) -> dict[str, tuple]:
        """The shape each array must have (K = n_components)."""
        k, shape = n_components, covariance(self.covariance_type).shape(n_components, n_features)
        concentration = ("weight_concentration_a", "weight_concentration_b") \
            if self.prior_type == "dirichlet_process" else ("weight_concentration",)
        return {**dict.fromkeys(concentration, (k,)), "mean_precision": (k,), "means": (k, n_features),
                "degrees_of_freedom": (1,) if self.covariance_type == "tied" else (k,), "covariances": shape,
                "precisions_cholesky": shape}


# ----------------------------------------------------------------------------- the estimator
class BayesianGaussianMixture(_BaseMixture):
    """Variational Bayesian Gaussian mixture on fused, parallel Numba kernels.

    The same parameters, attributes and results as
    ``sklearn.mixture.BayesianGaussianMixture`` (from the same initialisation), plus
    ``sample_weight`` in ``fit``, ``partial_fit`` (stochastic variational inference),
    ``n_jobs``, ``chunk_size`` and ``progress``, and any data
    ``fastem.GaussianMixture`` takes (arrays, sources bigger than memory, Dask arrays).
    Each iteration is one pass over the data in chunks with no (n_samples, n_components)
    temporary.

    Parameters
    ----------
    n_components : int, default=1
        Components K (an upper bound: the fit may leave some with ~0 weight).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Shape of the covariances, as for ``fastem.GaussianMixture``.
    tol : float, default=1e-3
        The fit stops when the lower bound changes by less than tol.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, in the data's units squared.
    max_iter : int, default=100
        Iterations of variational EM at most.
    n_init : int, default=1
        Initialisations; the one with the highest lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        The initial responsibilities, as for ``fastem.GaussianMixture``; 'random' and
        'random_from_data' draw scikit-learn's numbers from the same random_state (tied
        from seed rows: reg_covar I, not scikit-learn's origin-dependent estimate).
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, default='dirichlet_process'
        The prior on the weights: a stick-breaking Dirichlet process, or a Dirichlet
        distribution.
    weight_concentration_prior : float > 0 or None, default=None
        The Dirichlet concentration of each component; smaller leaves fewer components
        with weight. None: 1 / n_components.
    mean_precision_prior : float > 0 or None, default=None
        The precision of the prior on the means (how far they may move from
        mean_prior). None: 1.
    mean_prior : array-like of shape (D,) or None, default=None
        The prior's mean of the means. None: the (sample-weighted) mean of X.
    degrees_of_freedom_prior : float > D - 1 or None, default=None
        The Wishart prior's degrees of freedom. None: D, the number of features.
    covariance_prior : float or array-like, default=None
        The Wishart prior's covariance: (D, D) full and tied, (D,) diag, a float
        spherical. None: the covariance of X (ddof=1; its diagonal for diag, their
        mean for spherical).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and ``sample``; an int gives the same model on every
        run and for any n_jobs.
    warm_start : bool, default=False
        Start fit from the previous fit's posterior (then n_init is 1).
    verbose : int, default=0
        1 prints each initialisation and every verbose_interval iterations, 2 also the
        time and the lower bound's change.
    verbose_interval : int, default=10
        Iterations between two messages of verbose output.
    learning_decay : float in (0.5, 1], default=0.6
        The exponent of partial_fit's step sizes rho_t = (t + learning_offset) **
        -learning_decay.
    learning_offset : float >= 0, default=1.0
        The offset of partial_fit's step sizes, in steps; larger damps the first steps.
    total_samples : float > 0 or None, default=None
        The data size N that partial_fit scales each batch's statistics to, in rows
        (None: the rows seen so far, the effective size of an endless stream).
    n_jobs : int or None, default=None
        Kernel threads; the model is bitwise the same for any value.
    chunk_size : int or None, default=None
        Rows per kernel call (None: about 16 MiB of X).
    progress : bool, default=False
        A progress bar for every pass.
    checkpoint : path or None, default=None
        Where fit keeps its state (the posterior, lower bounds, random state) after every
        iteration; a fit started with an existing checkpoint of the same data and
        settings resumes from it and ends with the same model as an uninterrupted fit.
    missing : {'error', 'marginalize'}, default='error'
        What a NaN entry of X is: an error naming its row, or a value missing at random.
        'marginalize' treats each row's missing entries as latent, beside its component:
        the E-step takes the marginal over the observed features, the M-step the
        expected statistics given them (variational EM for incomplete data). inf, a
        feature missing in every row and a row with every feature missing stay errors.
        Data without NaN gives the same model under both. The same holds for predict,
        predict_proba, score_samples and score. The default priors take each feature's
        mean and variance over its observed entries; initialisation takes each missing
        entry as its feature's observed mean.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    means_ : ndarray of shape (K, D)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical.
    weight_concentration_ : tuple of two (K,) arrays (dirichlet_process) or ndarray (K,)
    mean_precision_ : ndarray of shape (K,)
    degrees_of_freedom_ : ndarray of shape (K,) (tied: a float)
    weight_concentration_prior_, mean_precision_prior_, mean_prior_, degrees_of_freedom_prior_, covariance_prior_
        The priors used.
    converged_ : bool
    n_iter_ : int
        Iterations of fit, or steps of partial_fit (also ``n_steps_``).
    lower_bound_ : float
    lower_bounds_ : list of float
        Of fit's iterations.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, when X has column names

    Notes
    -----
    Sample weights are rescaled to mean 1, so the data weigh as n_samples rows against
    the priors whatever the weights' scale.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import BayesianGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
    ...                rng.normal(3, 1, size=(100, 2))])
    >>> bgm = BayesianGaussianMixture(n_components=5, random_state=0,
    ...                               weight_concentration_prior=0.01).fit(X)
    >>> np.sort(bgm.weights_)[::-1].round(2)   # the components the data kept
    array([0.66, 0.34, 0.  , 0.  , 0.  ])
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        learning_decay=0.6,
        learning_offset=1.0,
        total_samples=None,
        n_jobs=None,
        chunk_size=None,
        progress=False,
        checkpoint=None,
        missing="error",
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.total_samples = total_samples
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.progress = progress
        self.checkpoint = checkpoint
        self.missing = missing

    # ----------------------------------------------------------------- validation
    def _check_params(self) -> None:
        for name, (valid, what) in _BAYESIAN_PARAMETERS.items():
            value = getattr(self, name)
            if not valid(value):
                raise InvalidParameterError(
                    f"The '{name}' parameter of {type(self).__name__} must be {what}. Got {value!r} instead.")

    def _priors(self, backend) -> tuple[Priors, float]:
        """The priors (scikit-learn's defaults from one pass over the data, and its
        checks and messages), and the data's total weight."""
        n_features, cov = backend.n_features, covariance(self.covariance_type)
        mean, sample_cov, weight = data_moments(backend, cov.name, self.covariance_prior is None)
        if self.mean_prior is None:
            mean_prior = mean
        else:
            mean_prior = check_array(self.mean_prior, dtype=[np.float64, np.float32], ensure_2d=False)
            _check_shape(mean_prior, (n_features,), "means")
        if self.degrees_of_freedom_prior is None:
            dof = float(n_features)
        elif self.degrees_of_freedom_prior > n_features - 1.0:
            dof = float(self.degrees_of_freedom_prior)
        else:
            raise ValueError(f"The parameter 'degrees_of_freedom_prior' should be greater than {n_features - 1:d}, "
                             f"but got {self.degrees_of_freedom_prior:.3f}.")
        if self.covariance_prior is None:
            covariance_prior = {"full": np.atleast_2d(sample_cov), "tied": np.atleast_2d(sample_cov),
                                "diag": sample_cov, "spherical": float(np.mean(sample_cov))}[cov.name]
        elif cov.name == "spherical":
            if not (_is_real(self.covariance_prior) and self.covariance_prior > 0):
                raise ValueError("The parameter 'spherical covariance_prior' should be a float > 0, "
                                 f"but got {self.covariance_prior!r}")
            covariance_prior = float(self.covariance_prior)
        else:
            covariance_prior = check_array(self.covariance_prior, dtype=[np.float64, np.float32], ensure_2d=False)
            shape = (n_features, n_features) if cov.name in ("full", "tied") else (n_features,)
            _check_shape(covariance_prior, shape, f"{cov.name} covariance_prior")
            covariance_prior = np.asarray(covariance_prior, dtype=np.float64)
            if cov.name == "full":
                cov.check_precisions(covariance_prior[None])
            else:
                cov.check_precisions(covariance_prior)
        concentration = 1.0 / self.n_components if self.weight_concentration_prior is None \
            else float(self.weight_concentration_prior)
        mean_precision = 1.0 if self.mean_precision_prior is None else float(self.mean_precision_prior)
        priors = Priors(self.weight_concentration_prior_type, concentration, mean_precision,
                        np.asarray(mean_prior, dtype=np.float64), dof, covariance_prior)
        return priors, weight

    # ----------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None, checkpoint=None):
        """Fit the variational posterior (n_init runs, the best lower bound kept).

        Each iteration is one pass over the data; the fit stops when the lower bound
        changes by less than ``tol``, or after ``max_iter`` iterations. The priors left
        at None take their defaults from the data in one more pass.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, Source or Dask array
            The data, as for :meth:`fastem.GaussianMixture.fit`: an array, anything
            :func:`fastem.source` opens, or a Dask array or DataFrame. NaN entries are
            errors unless ``missing="marginalize"``.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows, rescaled to mean 1.
        checkpoint : str or path-like, default=None
            Overrides the ``checkpoint`` parameter: where to keep the fit's state after
            every iteration, to resume an interrupted fit to the same model.

        Returns
        -------
        BayesianGaussianMixture
            The fitted estimator (self).

        Raises
        ------
        InvalidParameterError
            If a constructor parameter has a wrong type or value.
        ValueError
            If the data cannot be fitted (NaN unless ``missing="marginalize"``, inf,
            fewer rows than ``n_components``, a one-shot iterator, bad sample weights)
            or a given prior has the wrong shape or value; the message says which.

        Warns
        -----
        sklearn.exceptions.ConvergenceWarning
            If the best run did not converge within ``max_iter`` iterations.

        Notes
        -----
        If fit fails or is interrupted, the estimator is left as it was.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import BayesianGaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> bgm = BayesianGaussianMixture(n_components=4, random_state=0)
        >>> bgm = bgm.fit(X)
        >>> bgm.converged_, bgm.weights_.round(2)
        (True, array([0.67, 0.33, 0.  , 0.  ]))
        """
        before = dict(self.__dict__)
        try:
            return self._fit(X, sample_weight, checkpoint if checkpoint is not None else self.checkpoint)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, X, sample_weight, checkpoint):
        self._check_params()
        warm = self.warm_start and hasattr(self, "converged_")
        backend = self._open(X, reset=not warm, sample_weight=sample_weight, min_samples=2)
        if warm and backend.n_features != self.means_.shape[1]:
            raise ValueError(f"X has {backend.n_features} features, but {type(self).__name__} is expecting "
                             f"{self.means_.shape[1]} features as input.")
        if not backend.reiterable:
            raise ValueError(f"fit makes several passes over the data, but {backend.name} is a one-shot iterator: "
                             "pass a callable that returns a new iterator for each pass")
        n_samples = backend.count()
        if n_samples < self.n_components:
            raise ValueError(f"Expected n_samples >= n_components but got n_components = {self.n_components}, "
                             f"n_samples = {n_samples}")
        eps = 10 * np.finfo(backend.dtype).eps
        settings = EMSettings(self.covariance_type, self.n_init, self.tol, self.max_iter, self.reg_covar,
                              verbose=self.verbose, verbose_interval=self.verbose_interval)
        with threads(self.n_jobs), np.errstate(over="ignore", invalid="ignore"):
            priors, total_weight = self._priors(backend)
            previous = EMResult(self._fitted_posterior(), self.lower_bound_, [], 0, False) if warm else None

            def make_initial(rng) -> Posterior:
                return self._initial_posterior(backend, priors, total_weight, rng)

            def run(post, bound, bounds, on_iteration) -> EMResult:
                return self._run(backend, post, priors, bound, bounds, eps, on_iteration)

            best = fit_runs(backend, settings, make_initial, check_random_state(self.random_state), warm=previous,
                            checkpoint=checkpoint, fingerprint_settings=self._model_settings(), run=run,
                            codec=PosteriorCodec(self.covariance_type, self.weight_concentration_prior_type))
        self._warn_unless_converged(best)
        best_stats = best.stats
        self._set_priors(priors)
        self._set_posterior(best.params, backend.dtype)
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        self.lower_bound_ = best.lower_bound if self.max_iter > 0 else -np.inf
        self.lower_bounds_ = best.lower_bounds
        # partial_fit goes on from the statistics whose M-step the posterior is
        self._stochastic = None if best_stats is None else StochasticState(
            running=best_stats.blended(best_stats, 1.0), seen=best_stats.weight)
        self.__dict__.pop("n_steps_", None)
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the posterior by stochastic variational inference on a batch or a stream.

        Stochastic variational inference is Hoffman, Blei, Wang and Paisley's (2013).
        Each step takes the batch's statistics under the current posterior, per row,
        S_batch, blends them into the running ones, S <- (1 - rho_t) S + rho_t S_batch
        with rho_t = (t + learning_offset) ** -learning_decay, and sets the posterior to
        the prior plus N S, N the data size: ``total_samples``, or by default the rows
        seen so far (the fit's and the stream's), the effective size of an endless
        stream. Since the posterior's natural parameters are linear in the statistics,
        this is the natural-parameter step of stochastic variational inference. The first
        call on a new model takes the priors (the defaults from its first batch) and the
        initial posterior (init_params) from its first batch and takes that batch whole;
        after ``fit`` on n rows, the first batch of b rows gets rho = b / (n + b). A
        loaded model (a file holds the posterior, not the statistics behind it) goes on
        from its posterior and takes its first batch whole.

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features), Dask array, Source, callable or iterator
            An array (in memory or Dask) is one step; a source, path, callable or
            iterator of chunks is one step per chunk, in one pass.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like of shape (n_batch,), default=None
            Non-negative weights of the batch's rows, rescaled to mean 1 within the
            batch; only with an array X.

        Returns
        -------
        BayesianGaussianMixture
            The updated estimator (self). After each step ``lower_bound_`` is the lower
            bound of the new posterior for N rows like the batch (its entropy term
            scaled from the batch), and ``n_steps_`` the steps taken.

        Raises
        ------
        ValueError
            If the first batch of a new model has fewer than ``n_components`` rows, or
            sample_weight comes with a source.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import BayesianGaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> bgm = BayesianGaussianMixture(n_components=2, covariance_type="diag",
        ...                               total_samples=300, random_state=0)
        >>> for batch in np.array_split(X[rng.permutation(len(X))], 3):
        ...     bgm = bgm.partial_fit(batch)
        >>> bgm.n_steps_
        3
        """
        self._check_params()
        return self._partial_fit(X, sample_weight)

    def _online_step(self, batch) -> None:
        state = getattr(self, "_stochastic", None)
        if state is None and hasattr(self, "means_"):  # a loaded model: from its posterior, the batch taken whole
            state = StochasticState()
        if state is None:  # a new stream: priors and posterior from its first batch
            if batch.count() < self.n_components:
                raise ValueError(
                    f"partial_fit initialises from its first batch, which needs n_samples >= n_components "
                    f"but got n_components = {self.n_components}, n_samples = {batch.n_samples}")
            priors, weight = self._priors(batch)
            size = weight if self.total_samples is None else float(self.total_samples)
            post = self._initial_posterior(batch, priors, size, check_random_state(self.random_state))
            self._set_priors(priors)
            state, dtype = StochasticState(), batch.dtype
        else:
            post, priors, dtype = self._fitted_posterior(), self._fitted_priors(), self.means_.dtype
        post, bound = state.step(batch, post, priors, decay=self.learning_decay, offset=self.learning_offset,
                                 reg_covar=self.reg_covar, total_samples=self.total_samples)
        self._stochastic = state
        self._set_posterior(post, dtype)
        self.n_steps_ = getattr(self, "n_steps_", 0) + 1
        self.n_iter_ = self.n_steps_
        self.lower_bound_ = bound
        self.converged_ = False

    def _fitted_priors(self) -> Priors:
        return Priors(self.weight_concentration_prior_type, float(self.weight_concentration_prior_),
                      float(self.mean_precision_prior_), np.asarray(self.mean_prior_, dtype=np.float64),
                      float(self.degrees_of_freedom_prior_),
                      self.covariance_prior_ if np.ndim(self.covariance_prior_) == 0
                      else np.asarray(self.covariance_prior_, dtype=np.float64))

    def _initial_posterior(self, backend, priors: Priors, total_weight: float, rng) -> Posterior:
        """scikit-learn's ``_initialize``: the variational M-step on the initial
        responsibilities of init_params. fastem._init gives their M-step's Params (weights
        nk / total weight, means xk, covariances Sk with reg_covar), which hold nk, xk, Sk."""
        params = initial_params(self.init_params, backend, n_components=self.n_components,
                                covariance_type=self.covariance_type, reg_covar=self.reg_covar, rng=rng)
        return variational_m_step(params.weights * total_weight, params.means, params.covariances, priors,
                                  self.covariance_type)

    def _run(self, backend, post: Posterior, priors: Priors, bound: float, bounds: list, eps: float,
             on_iteration) -> EMResult:
        """Variational EM from post until the lower bound changes by less than tol (a
        resumed run goes on after its len(bounds) iterations, as run_em does)."""
        bounds, converged, n_iter, stats = list(bounds), False, len(bounds), None
        for n_iter in range(len(bounds) + 1, self.max_iter + 1):
            previous = bound
            post, bound, stats = variational_pass(backend, post, priors, self.reg_covar, eps)
            bounds.append(bound)
            change = bound - previous
            converged = abs(change) < self.tol
            on_iteration(EMResult(post, bound, list(bounds), n_iter, converged), change,
                         converged or n_iter == self.max_iter)
            if converged:
                break
        return EMResult(post, bound, bounds, n_iter, converged, stats)

    # ----------------------------------------------------------------- the fitted model
    def _set_priors(self, priors: Priors) -> None:
        self.weight_concentration_prior_ = priors.weight_concentration
        self.mean_precision_prior_ = priors.mean_precision
        self.mean_prior_ = priors.mean
        self.degrees_of_freedom_prior_ = priors.degrees_of_freedom
        self.covariance_prior_ = priors.covariance

    def _set_posterior(self, post: Posterior, dtype) -> None:
        """The fitted attributes from the float64 posterior, in float32 for float32 data
        (as fastem.GaussianMixture); the float64 posterior is kept for predictions."""
        dtype = np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)
        self._posterior = post

        def typed(a):
            return np.asarray(a, dtype=dtype) if np.ndim(a) else dtype.type(a)

        wc = post.weight_concentration
        self.weight_concentration_ = tuple(typed(a) for a in wc) if isinstance(wc, tuple) else typed(wc)
        self.mean_precision_ = typed(post.mean_precision)
        self.means_ = typed(post.means)
        self.degrees_of_freedom_ = typed(post.degrees_of_freedom)
        self.covariances_ = typed(post.covariances)
        self.precisions_cholesky_ = typed(post.precisions_cholesky)
        self.weights_ = typed(posterior_weights(wc, self.weight_concentration_prior_type))
        self.precisions_ = typed(covariance(self.covariance_type).precisions(post.precisions_cholesky))

    def _fitted_posterior(self) -> Posterior:
        """The float64 posterior: the one fit set while the attributes are unchanged, else
        the attributes'."""
        own = getattr(self, "_posterior", None)
        names = ("mean_precision_", "means_", "covariances_", "precisions_cholesky_")
        if own is not None and all(np.array_equal(np.asarray(getattr(self, n)),
                                                  np.asarray(v, dtype=np.asarray(getattr(self, n)).dtype))
                                   for n, v in zip(names, (own.mean_precision, own.means, own.covariances,
                                                           own.precisions_cholesky), strict=True)):
            return own

        def f64(a):
            return np.asarray(a, dtype=np.float64)

        wc = self.weight_concentration_
        wc = tuple(f64(a) for a in wc) if isinstance(wc, tuple) else f64(wc)
        dof = self.degrees_of_freedom_
        return Posterior(self.covariance_type, wc, f64(self.mean_precision_), f64(self.means_),
                         float(dof) if np.ndim(dof) == 0 else f64(dof), f64(self.covariances_),
                         f64(self.precisions_cholesky_))

    def _kernel_params(self, backend) -> KernelParams:
        return kernel_params(self._fitted_posterior(), self.weight_concentration_prior_type, backend.dtype,
                             backend.marginalize)[0]


def _check_shape(param: np.ndarray, shape: tuple, name: str) -> None:
    if param.shape != shape:
        raise ValueError(f"The parameter '{name}' should have the shape of {shape}, but got {param.shape}")


__all__ = ["BayesianGaussianMixture"]
