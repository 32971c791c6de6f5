"""The EM engine: pure functions on arrays and chunks, no user-input validation.

Vocabulary:
    Params  the model: weights (K,), means (K, D), covariances and their precision
            Cholesky factors in scikit-learn's shapes for the covariance type.
    Stats   additive sufficient statistics of data under responsibilities, shifted
            around per-component centres (see DESIGN.md): two Stats over two pieces of
            data add up to the Stats of both.
A pass feeds every chunk of a source through one kernel call and adds the Stats in
chunk order; the M-step turns Stats into Params.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg

from . import _kernels as K

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
FAMILY = {"full": K.FULL, "tied": K.TIED, "diag": K.DIAG, "spherical": K.DIAG}
LOG_2PI = np.log(2.0 * np.pi)

ILL_DEFINED_COVARIANCE = (
    "Fitting the mixture model failed because some components have ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed samples). "
    "Try to decrease the number of components, increase reg_covar, or scale the input data."
)

NON_FINITE_COVARIANCE = (
    "Fitting the mixture model failed because a covariance is not finite: the squared scale "
    "of the data overflows float64 (values beyond about 1e150). Scale the input data."
)

Chunks = Iterable[np.ndarray]


def array_chunks(X: np.ndarray, chunk_size: int) -> Iterator[np.ndarray]:
    """C-contiguous row chunks of X (n, D): views where X is C-contiguous, else copies
    of at most chunk_size rows each."""
    for start in range(0, X.shape[0], chunk_size):
        yield np.ascontiguousarray(X[start : start + chunk_size])


@dataclass
class Params:
    """A Gaussian mixture in scikit-learn's conventions for ``covariance_type``."""

    covariance_type: str
    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, D)
    covariances: np.ndarray | None  # full (K, D, D), tied (D, D), diag (K, D), spherical (K,)
    precisions_cholesky: np.ndarray  # same shape as covariances; upper-triangular factors

    @property
    def precisions(self) -> np.ndarray:
        P = self.precisions_cholesky
        if self.covariance_type == "full":
            return P @ np.swapaxes(P, 1, 2)
        if self.covariance_type == "tied":
            return P @ P.T
        return P**2


@dataclass
class KernelParams:
    """Params laid out for the kernels (see _kernels.drivers for the meaning)."""

    family: int
    loc: np.ndarray
    center: np.ndarray
    prec: np.ndarray
    log_norm: np.ndarray
    shift: np.ndarray  # (K, D): the centres the statistics are taken around

    @classmethod
    def from_params(cls, params: Params, dtype=np.float64) -> KernelParams:
        """The kernels' arrays in dtype (the data's precision). The statistics' shift is
        the means (the tied centre; full: the centre plus the means' offsets from it) as
        rounded to dtype, so that the M-step adds the shifted moments to exactly the point
        they were taken around."""
        cov_type, P = params.covariance_type, params.precisions_cholesky
        dtype = np.dtype(dtype)
        means = np.asarray(params.means, dtype=np.float64)
        n_components, n_features = means.shape
        rounded = means.astype(dtype).astype(np.float64)
        center = np.zeros(n_features)
        loc, shift = rounded, rounded
        if cov_type == "full":
            # the kernels centre rows on c and take moments around c + (mu_k - c). Not float32
            # rows: centring rounds each by eps |x - c|, which near-singular components feel
            # in float32 (x - mu_k of a row near mu_k is exact); see _kernels.full.full_log_prob
            if dtype == np.float64:
                center = means.mean(axis=0)
            shift = center + (rounded.astype(dtype) - center.astype(dtype)).astype(np.float64)
            prec = P
            log_det = np.log(np.diagonal(P, axis1=1, axis2=2)).sum(axis=1)
        elif cov_type == "tied":
            center = means.mean(axis=0).astype(dtype).astype(np.float64)
            loc = (means - center) @ P
            shift = np.broadcast_to(center, means.shape)
            prec = P[None]
            log_det = np.full(n_components, np.log(np.diag(P)).sum())
        elif cov_type == "diag":
            prec = P[:, None, :]
            log_det = np.log(P).sum(axis=1)
        else:
            prec = np.repeat(P[:, None, None], n_features, axis=2)
            log_det = n_features * np.log(P)
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        log_norm = log_weights + log_det - 0.5 * n_features * LOG_2PI
        return cls(
            FAMILY[cov_type],
            np.ascontiguousarray(loc, dtype=dtype),
            center.astype(dtype),
            np.ascontiguousarray(prec, dtype=dtype),
            np.ascontiguousarray(log_norm, dtype=dtype),
            np.array(shift, dtype=np.float64),
        )


@dataclass
class Stats:
    """Shifted sufficient statistics: s0 (K,) soft counts, s1 (K, D) sum r (x - shift_k),
    s2 sum r (x - shift_k)(x - shift_k)^T (upper triangle; (K, D, D) full, (1, D, D) tied
    summed over components, (K, 1, D) diagonal only), loglik sum w log p(x) under the
    params of the pass, weight the total sample weight, n_rows the rows seen."""

    shift: np.ndarray
    s0: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    loglik: float = 0.0
    weight: float = 0.0
    n_rows: int = 0
    worst: np.ndarray | None = field(default=None, compare=False)  # [log p, row, x...] of the least likely row

    @classmethod
    def zeros(cls, covariance_type: str, shift: np.ndarray) -> Stats:
        n_components, n_features = shift.shape
        s2_shape = {
            "full": (n_components, n_features, n_features),
            "tied": (1, n_features, n_features),
        }.get(covariance_type, (n_components, 1, n_features))
        return cls(shift, np.zeros(n_components), np.zeros((n_components, n_features)), np.zeros(s2_shape))

    def add_chunk_count(self, chunk: np.ndarray, weight: np.ndarray) -> None:
        self.n_rows += chunk.shape[0]
        self.weight += float(weight.sum()) if weight.size else float(chunk.shape[0])

    def rebased(self, shift: np.ndarray) -> Stats:
        """The same statistics taken around shift (K, D) instead (for tied, every row of
        shift must be the same point): with a = x - old and d = old - new,
        sum r (a + d) = s1 + s0 d and sum r (a + d)(a + d)^T = s2 + s1 d^T + d s1^T + s0 d d^T."""
        d = self.shift - shift
        s1 = self.s1 + self.s0[:, None] * d
        if self.s2.shape[1] == 1:  # diagonal family
            s2 = self.s2 + (2.0 * d * self.s1 + self.s0[:, None] * d**2)[:, None, :]
        elif self.s2.shape[0] == 1:  # tied: one global shift, s2 summed over components
            d0, t1, t0 = d[0], self.s1.sum(axis=0), self.s0.sum()
            s2 = _symmetric(self.s2) + (np.outer(t1, d0) + np.outer(d0, t1) + t0 * np.outer(d0, d0))[None]
        else:
            s2 = (_symmetric(self.s2) + self.s1[:, :, None] * d[:, None, :] + d[:, :, None] * self.s1[:, None, :]
                  + self.s0[:, None, None] * d[:, :, None] * d[:, None, :])
        return Stats(np.array(shift, dtype=np.float64), self.s0.copy(), s1, s2, self.loglik, self.weight,
                     self.n_rows)

    def blended(self, other: Stats, rho: float) -> Stats:
        """(1 - rho) self + rho other, each per unit of weight, around other's shift:
        the stepwise EM update (Cappe and Moulines 2009). The result has weight 1."""
        mine = self.rebased(other.shift)
        a, b = (1.0 - rho) / self.weight, rho / other.weight
        return Stats(
            other.shift, a * mine.s0 + b * other.s0, a * mine.s1 + b * other.s1, a * mine.s2 + b * other.s2,
            a * mine.loglik + b * other.loglik, 1.0, self.n_rows + other.n_rows,
        )


def chunk_weights(sample_weight: np.ndarray | None, start: int, stop: int) -> np.ndarray:
    if sample_weight is None:
        return np.empty(0)
    return sample_weight[start:stop]


def _raise_non_finite(chunk_index: int, start: int, what: str) -> None:
    raise FloatingPointError(
        f"the {what} became non-finite in chunk {chunk_index} (rows from {start}): "
        "the data overflows float64 in the model's scale; rescale X or increase reg_covar"
    )


def compute_dtype(params: Params, data_dtype: np.dtype) -> np.dtype:
    """The precision the kernels compute a pass in. float32 data computes in float32 (8
    lanes per vector) when the model survives rounding to float32: its means move by at
    most 1e-3 of the smallest standard deviation. Data far from the origin for its spread
    (say 1e4 +- 1e-3) computes in float64, chunk by converted chunk."""
    if np.dtype(data_dtype) != np.float32:
        return np.dtype(np.float64)
    P = params.precisions_cholesky
    if params.covariance_type in ("full", "tied"):
        stack = P if params.covariance_type == "full" else P[None]
        largest = max(np.linalg.norm(p, 2) for p in stack)  # 1 / the smallest standard deviation
    else:
        largest = float(np.max(P))
    moved = float(np.max(np.abs(params.means))) * 2.0**-24
    return np.dtype(np.float32) if moved * largest <= 1e-3 else np.dtype(np.float64)


def em_pass(chunks: Chunks, params: Params, sample_weight: np.ndarray | None = None) -> Stats:
    """One fused E-step and M-step accumulation over all chunks: Stats under params."""
    kp = stats = None
    start = 0
    for index, chunk in enumerate(chunks):
        if kp is None:  # the first chunk tells the data's precision
            dtype = compute_dtype(params, chunk.dtype)
            kp = KernelParams.from_params(params, dtype)
            stats = Stats.zeros(params.covariance_type, kp.shift)
            stats.worst = np.full(2 + kp.loc.shape[1], np.inf)
            stats.worst[1] = -1
        chunk = chunk.astype(dtype, copy=False)
        stop = start + chunk.shape[0]
        weight = chunk_weights(sample_weight, start, stop)
        worst = stats.worst.copy()
        worst[1] = -1
        ll = K.em_accumulate(
            chunk, weight, kp.family, kp.loc, kp.center, kp.prec, kp.log_norm, stats.s0, stats.s1, stats.s2, worst
        )
        if not np.isfinite(ll):
            _raise_non_finite(index, start, "log-likelihood")
        if worst[1] >= 0:
            worst[1] += start
            stats.worst = worst
        stats.loglik += ll
        stats.add_chunk_count(chunk, weight)
        start = stop
    if stats is None:
        raise ValueError("no data: the pass yielded no chunk")
    return stats


def resp_pass(
    chunks: Chunks,
    covariance_type: str,
    center: np.ndarray,
    resp_of: Callable[[int, np.ndarray], np.ndarray],
    n_components: int,
    sample_weight: np.ndarray | None = None,
) -> Stats:
    """Stats around the global centre (D,) under given responsibilities:
    resp_of(start_row, chunk) -> (rows, K)."""
    family = FAMILY[covariance_type]
    stats = None
    start = 0
    for chunk in chunks:
        if stats is None:  # the centre as rounded to the data's precision: exactly the shift used
            typed_center = np.asarray(center, dtype=np.float64).astype(chunk.dtype)
            typed_shift = np.tile(typed_center, (n_components, 1))
            stats = Stats.zeros(covariance_type, typed_shift.astype(np.float64))
        stop = start + chunk.shape[0]
        weight = chunk_weights(sample_weight, start, stop)
        resp = np.ascontiguousarray(resp_of(start, chunk), dtype=np.float64)
        K.resp_accumulate(chunk, weight, family, resp, typed_shift, typed_center, stats.s0, stats.s1, stats.s2)
        stats.add_chunk_count(chunk, weight)
        start = stop
    if stats is None:
        raise ValueError("no data: the pass yielded no chunk")
    return stats


def _symmetric(upper: np.ndarray) -> np.ndarray:
    """Full symmetric matrices (..., D, D) from their upper triangles."""
    lower = np.tril(np.swapaxes(upper, -1, -2), -1)
    return np.triu(upper) + lower


def precision_cholesky(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Upper-triangular P with P P^T = inverse(covariance), as scikit-learn computes it."""
    if not np.all(np.isfinite(covariances)):
        raise ValueError(NON_FINITE_COVARIANCE)
    if covariance_type in ("full", "tied"):
        stack = covariances if covariance_type == "full" else covariances[None]
        n_features = stack.shape[-1]
        out = np.empty_like(stack)
        for k, cov in enumerate(stack):
            try:
                cov_chol = linalg.cholesky(cov, lower=True)
            except linalg.LinAlgError:
                raise ValueError(ILL_DEFINED_COVARIANCE) from None
            out[k] = linalg.solve_triangular(cov_chol, np.eye(n_features), lower=True).T
        return out if covariance_type == "full" else out[0]
    if np.any(covariances <= 0.0):
        raise ValueError(ILL_DEFINED_COVARIANCE)
    return 1.0 / np.sqrt(covariances)


def precision_cholesky_from_precisions(precisions: np.ndarray, covariance_type: str) -> np.ndarray:
    """Upper-triangular P with P P^T = precisions (reverse-order Cholesky)."""
    if covariance_type == "full":
        return np.stack([np.linalg.cholesky(p[::-1, ::-1])[::-1, ::-1] for p in precisions])
    if covariance_type == "tied":
        return np.linalg.cholesky(precisions[::-1, ::-1])[::-1, ::-1]
    return np.sqrt(precisions)


def covariances_from_precision_cholesky(P: np.ndarray, covariance_type: str) -> np.ndarray:
    """The covariances whose precision Cholesky factors are P."""
    if covariance_type == "full":
        return np.stack([np.linalg.inv(p @ p.T) for p in P])
    if covariance_type == "tied":
        return np.linalg.inv(P @ P.T)
    return 1.0 / P**2


def m_step(
    stats: Stats, covariance_type: str, reg_covar: float, eps: float, weights_over: float | None = None
) -> Params:
    """Params from Stats. eps (10 machine epsilons of the data type, as scikit-learn) keeps
    empty components finite; weights are nk / sum(nk), or nk / weights_over if given."""
    nk = stats.s0 + eps
    delta = stats.s1 / nk[:, None]
    means = stats.shift + delta
    n_features = means.shape[1]
    if covariance_type == "full":
        scatter = _symmetric(stats.s2) / nk[:, None, None]
        cov = scatter - delta[:, :, None] * delta[:, None, :]
        cov[:, np.arange(n_features), np.arange(n_features)] += reg_covar
    elif covariance_type == "tied":
        between = np.einsum("k,ki,kj->ij", nk, delta, delta)
        cov = (_symmetric(stats.s2[0]) - between) / nk.sum()
        cov.flat[:: n_features + 1] += reg_covar
    else:
        cov = stats.s2[:, 0, :] / nk[:, None] - delta**2 + reg_covar
        if covariance_type == "spherical":
            cov = cov.mean(axis=1)
    weights = nk / (nk.sum() if weights_over is None else weights_over)
    return Params(covariance_type, weights, means, cov, precision_cholesky(cov, covariance_type))


class CollapseWarning(UserWarning):
    """A component's soft count fell below the collapse threshold during EM."""


COLLAPSE_POLICIES = ("reseed", "drop", "ignore")


def resolve_collapse(params: Params, stats: Stats, policy: str, threshold: float, n_iter: int) -> Params:
    """Handle components whose soft count (sample-weighted rows) in stats is below
    threshold, with a CollapseWarning: 'reseed' moves the first of them to the least
    likely row of the pass (the most poorly explained point), with the weight of
    threshold rows and the weighted mean covariance of the others; 'drop' removes them
    (the model then has fewer components); 'ignore' keeps them as scikit-learn does
    (their covariance is then reg_covar, never NaN)."""
    collapsed = np.flatnonzero(stats.s0 < threshold)
    if policy == "ignore" or collapsed.size == 0:
        return params
    cov_type = params.covariance_type
    alive = np.setdiff1d(np.arange(params.weights.size), collapsed)
    counts = ", ".join(f"{k}: {stats.s0[k]:.3g}" for k in collapsed)
    if alive.size == 0:
        raise ValueError(f"every component collapsed at iteration {n_iter} (soft counts {counts} < {threshold})")
    if policy == "drop":
        pick = (lambda a: a) if cov_type == "tied" else (lambda a: a[alive])
        weights = params.weights[alive] / params.weights[alive].sum()
        warnings.warn(f"components {collapsed.tolist()} collapsed at iteration {n_iter} (soft counts {counts} "
                      f"< {threshold} rows) and were dropped: {alive.size} remain", CollapseWarning, stacklevel=3)
        return Params(cov_type, weights, params.means[alive], pick(params.covariances),
                      pick(params.precisions_cholesky))
    if stats.worst is None or stats.worst[1] < 0:
        return params
    k = int(collapsed[0])
    weights, means = params.weights.copy(), params.means.copy()
    covariances, P = params.covariances.copy(), params.precisions_cholesky.copy()
    means[k] = stats.worst[2:]
    weights[k] = threshold / stats.weight
    weights /= weights.sum()
    if cov_type != "tied":
        share = params.weights[alive] / params.weights[alive].sum()
        covariances[k] = np.tensordot(share, params.covariances[alive], axes=1)
        P[k] = precision_cholesky(covariances[k : k + 1], cov_type)[0]
    warnings.warn(f"component {k} collapsed at iteration {n_iter} (soft count {stats.s0[k]:.3g} < {threshold} "
                  f"rows): re-seeded at row {int(stats.worst[1])}, the most poorly explained", CollapseWarning,
                  stacklevel=3)
    return Params(cov_type, weights, means, covariances, P)


def score_pass(
    chunks: Chunks, params: Params, n_samples: int, with_resp: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """log p(x) (n,), labels (n,) and, if asked, responsibilities (n, K) for every row."""
    n_components = params.weights.size
    log_density = np.empty(n_samples)
    labels = np.empty(n_samples, dtype=np.int64)
    resp = np.empty((n_samples, n_components)) if with_resp else None
    no_resp = np.empty((0, n_components))
    kernel_params = {}
    start = 0
    for chunk in chunks:
        if chunk.dtype not in kernel_params:
            kernel_params[chunk.dtype] = KernelParams.from_params(params, compute_dtype(params, chunk.dtype))
        kp = kernel_params[chunk.dtype]
        chunk = chunk.astype(kp.loc.dtype, copy=False)
        stop = start + chunk.shape[0]
        out_resp = resp[start:stop] if with_resp else no_resp
        K.score(
            chunk, kp.family, kp.loc, kp.center, kp.prec, kp.log_norm,
            log_density[start:stop], labels[start:stop], out_resp,
        )
        start = stop
    return log_density, labels, resp


@dataclass
class EMResult:
    params: Params
    lower_bound: float
    lower_bounds: list[float]
    n_iter: int
    converged: bool


def local_e_step(chunks_of: Callable[[], Chunks], sample_weight: np.ndarray | None = None
                 ) -> Callable[[Params], Stats]:
    """e_step for run_em: a pass over chunks_of() (a new pass every call) in this process."""
    return lambda params: em_pass(chunks_of(), params, sample_weight)


def run_em(
    e_step: Callable[[Params], Stats],
    params: Params,
    *,
    tol: float,
    max_iter: int,
    reg_covar: float,
    eps: float,
    lower_bound: float = -np.inf,
    lower_bounds: list[float] | None = None,
    on_iteration: Callable[[EMResult, float, bool], None] | None = None,
    on_collapse: str = "ignore",
    collapse_threshold: float = 1.0,
) -> EMResult:
    """EM from params until the mean log-likelihood changes by less than tol, in
    scikit-learn's order: each iteration's lower bound is the mean log-likelihood of the
    params before its M-step. e_step(params) returns the Stats of all the data under params
    (local_e_step: a pass over chunks here; fastem.dask: a pass over a Dask array).

    To resume a run, pass its params, lower_bound and lower_bounds after len(lower_bounds)
    iterations: the run goes on exactly as if it had not stopped. on_iteration(run, change,
    finished) is called after every M-step with the run so far as an EMResult."""
    lower_bounds = list(lower_bounds or [])
    converged = False
    n_iter = len(lower_bounds)
    for n_iter in range(len(lower_bounds) + 1, max_iter + 1):
        previous = lower_bound
        stats = e_step(params)
        params = m_step(stats, params.covariance_type, reg_covar, eps)
        params = resolve_collapse(params, stats, on_collapse, collapse_threshold, n_iter)
        lower_bound = stats.loglik / stats.weight
        lower_bounds.append(lower_bound)
        change = lower_bound - previous
        converged = abs(change) < tol
        if on_iteration is not None:
            run = EMResult(params, lower_bound, list(lower_bounds), n_iter, converged)
            on_iteration(run, change, converged or n_iter == max_iter)
        if converged:
            break
    return EMResult(params, lower_bound, lower_bounds, n_iter, converged)
