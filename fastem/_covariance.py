"""One object per covariance type: everything that differs between full, tied, diag and
spherical covariances, in one place.

Each object knows the shapes (scikit-learn's: covariances and precision Cholesky factors
(K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical), the kernel family that computes
its passes, the layout of its second moment s2 in ``Stats`` ((K, D, D) full, (1, D, D)
tied, (K, 1, D) diag and spherical), the M-step's covariances, the precision Cholesky
factors from covariances and from precisions, the checks of a user's ``precisions_init``,
the free-parameter count, sampling, and the rebasing of statistics to another shift.
``covariance(name)`` returns the object for a name; ``COVARIANCE_TYPES`` lists the names.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from . import _kernels as K

ILL_DEFINED_COVARIANCE = (
    "Fitting the mixture model failed because some components have ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed samples). "
    "Try to decrease the number of components, increase reg_covar, or scale the input data."
)

NON_FINITE_COVARIANCE = (
    "Fitting the mixture model failed because a covariance is not finite: the squared scale "
    "of the data overflows float64 (values beyond about 1e150). Scale the input data."
)


def symmetric(upper: np.ndarray) -> np.ndarray:
    """Full symmetric matrices (..., D, D) from their upper triangles."""
    lower = np.tril(np.swapaxes(upper, -1, -2), -1)
    return np.triu(upper) + lower


def _cholesky_of_inverse(stack: np.ndarray) -> np.ndarray:
    """Upper-triangular P (k, D, D) with P P^T = inverse(C) for each C of stack (k, D, D),
    as scikit-learn computes it."""
    n_features = stack.shape[-1]
    out = np.empty_like(stack)
    for k, cov in enumerate(stack):
        try:
            cov_chol = linalg.cholesky(cov, lower=True)
        except linalg.LinAlgError:
            raise ValueError(ILL_DEFINED_COVARIANCE) from None
        out[k] = linalg.solve_triangular(cov_chol, np.eye(n_features), lower=True).T
    return out


def _reverse_cholesky(precision: np.ndarray) -> np.ndarray:
    """Upper-triangular P with P P^T = precision (D, D)."""
    return np.linalg.cholesky(precision[::-1, ::-1])[::-1, ::-1]


def _is_positive_definite(p: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(p)) and np.allclose(p, p.T) and np.all(np.linalg.eigvalsh(p) > 0.0))


class Covariance:
    """The interface; the four types below implement it."""

    name: str
    family: int  # the kernels' family (see _kernels._options)

    def shape(self, n_components: int, n_features: int) -> tuple[int, ...]:
        """The shape of covariances, precisions and their Cholesky factors."""
        raise NotImplementedError

    def s2_shape(self, n_components: int, n_features: int) -> tuple[int, int, int]:
        raise NotImplementedError

    def precision_cholesky(self, covariances: np.ndarray) -> np.ndarray:
        """Upper-triangular factors P with P P^T = inverse(covariance)."""
        raise NotImplementedError

    def cholesky_from_precisions(self, precisions: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def covariances_from_cholesky(self, P: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def precisions(self, P: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def m_step(self, nk: np.ndarray, delta: np.ndarray, s2: np.ndarray, reg_covar: float) -> np.ndarray:
        """Covariances from soft counts nk (K,), mean offsets delta = s1 / nk (K, D) and
        the second moments s2 around the shift (this type's s2 layout)."""
        raise NotImplementedError

    def check_precisions(self, precisions: np.ndarray) -> None:
        """Raise scikit-learn's ValueError unless precisions (of the right shape) are valid."""
        raise NotImplementedError

    def n_parameters(self, n_components: int, n_features: int) -> int:
        """Free parameters of a mixture: covariances, means and weights."""
        return int(self._covariance_parameters(n_components, n_features) + n_features * n_components
                   + n_components - 1)

    def _covariance_parameters(self, n_components: int, n_features: int) -> float:
        raise NotImplementedError

    def sample(self, rng: np.random.RandomState, means: np.ndarray, covariances: np.ndarray,
               counts: np.ndarray) -> list[np.ndarray]:
        """counts[k] rows of each component k, as scikit-learn draws them."""
        raise NotImplementedError

    def rebase_s2(self, s0: np.ndarray, s1: np.ndarray, s2: np.ndarray, d: np.ndarray) -> np.ndarray:
        """s2 around shift - d instead of shift: sum r (a + d)(a + d)^T with a = x - shift."""
        raise NotImplementedError

    def multiply_adds(self, n_rows: int, n_components: int, n_features: int) -> int:
        """The performance model's multiply-adds of one EM pass (E-step and accumulation)."""
        return 3 * n_rows * n_components * n_features

    def largest_precision(self, P: np.ndarray) -> float:
        """The largest 1 / standard deviation of any component along any direction."""
        return float(np.max(P))

    def select(self, array: np.ndarray, alive: np.ndarray) -> np.ndarray:
        """Covariance-shaped array restricted to components alive (tied: shared, unchanged)."""
        return array[alive]

    def layout(self, means: np.ndarray, rounded: np.ndarray, P: np.ndarray, dtype: np.dtype):
        """The kernels' view of the components (see _kernels.drivers): (loc (K, D),
        center (D,), shift (K, D), prec, log det P (K,)). means are float64, rounded the
        means as rounded to dtype (the data's precision); shift is where the statistics
        are taken around, exactly as the kernels compute it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"covariance({self.name!r})"


class Full(Covariance):
    name, family = "full", K.FULL

    def multiply_adds(self, n_rows, n_components, n_features):
        return n_rows * n_components * n_features * (n_features + 3)

    def shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def s2_shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def precision_cholesky(self, covariances):
        return _cholesky_of_inverse(covariances)

    def cholesky_from_precisions(self, precisions):
        return np.stack([_reverse_cholesky(p) for p in precisions])

    def covariances_from_cholesky(self, P):
        return np.stack([np.linalg.inv(p @ p.T) for p in P])

    def precisions(self, P):
        return P @ np.swapaxes(P, 1, 2)

    def m_step(self, nk, delta, s2, reg_covar):
        n_features = delta.shape[1]
        cov = symmetric(s2) / nk[:, None, None] - delta[:, :, None] * delta[:, None, :]
        cov[:, np.arange(n_features), np.arange(n_features)] += reg_covar
        return cov

    def check_precisions(self, precisions):
        if not all(_is_positive_definite(p) for p in precisions):
            raise ValueError(f"'{self.name} precision' should be symmetric, positive-definite")

    def _covariance_parameters(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) / 2.0

    def sample(self, rng, means, covariances, counts):
        return [rng.multivariate_normal(m, c, int(s)) for m, c, s in zip(means, covariances, counts, strict=False)]

    def rebase_s2(self, s0, s1, s2, d):
        return (symmetric(s2) + s1[:, :, None] * d[:, None, :] + d[:, :, None] * s1[:, None, :]
                + s0[:, None, None] * d[:, :, None] * d[:, None, :])

    def largest_precision(self, P):
        return max(np.linalg.norm(p, 2) for p in P)

    def layout(self, means, rounded, P, dtype):
        # the kernels centre rows on c and take moments around c + (mu_k - c). Not float32
        # rows: centring rounds each by eps |x - c|, which near-singular components feel
        # in float32 (x - mu_k of a row near mu_k is exact); see _kernels.full.full_log_prob
        center = means.mean(axis=0) if dtype == np.float64 else np.zeros(means.shape[1])
        shift = center + (rounded.astype(dtype) - center.astype(dtype)).astype(np.float64)
        return rounded, center, shift, P, np.log(np.diagonal(P, axis1=1, axis2=2)).sum(axis=1)


class Tied(Covariance):
    name, family = "tied", K.TIED

    def multiply_adds(self, n_rows, n_components, n_features):
        return n_rows * (n_features * (n_features + 1) + 3 * n_components * n_features)

    def shape(self, n_components, n_features):
        return (n_features, n_features)

    def s2_shape(self, n_components, n_features):
        return (1, n_features, n_features)

    def precision_cholesky(self, covariances):
        return _cholesky_of_inverse(covariances[None])[0]

    def cholesky_from_precisions(self, precisions):
        return _reverse_cholesky(precisions)

    def covariances_from_cholesky(self, P):
        return np.linalg.inv(P @ P.T)

    def precisions(self, P):
        return P @ P.T

    def m_step(self, nk, delta, s2, reg_covar):
        between = np.einsum("k,ki,kj->ij", nk, delta, delta)
        cov = (symmetric(s2[0]) - between) / nk.sum()
        cov.flat[:: delta.shape[1] + 1] += reg_covar
        return cov

    def check_precisions(self, precisions):
        if not _is_positive_definite(precisions):
            raise ValueError(f"'{self.name} precision' should be symmetric, positive-definite")

    def _covariance_parameters(self, n_components, n_features):
        return n_features * (n_features + 1) / 2.0

    def sample(self, rng, means, covariances, counts):
        return [rng.multivariate_normal(m, covariances, int(s)) for m, s in zip(means, counts, strict=False)]

    def rebase_s2(self, s0, s1, s2, d):
        # one shift shared by all components (every row of d is the same); s2 summed over them
        d0, t1, t0 = d[0], s1.sum(axis=0), s0.sum()
        return symmetric(s2) + (np.outer(t1, d0) + np.outer(d0, t1) + t0 * np.outer(d0, d0))[None]

    def largest_precision(self, P):
        return float(np.linalg.norm(P, 2))

    def layout(self, means, rounded, P, dtype):
        center = means.mean(axis=0).astype(dtype).astype(np.float64)
        log_det = np.full(means.shape[0], np.log(np.diag(P)).sum())
        return (means - center) @ P, center, np.broadcast_to(center, means.shape), P[None], log_det

    def select(self, array, alive):
        return array


class Diag(Covariance):
    name, family = "diag", K.DIAG

    def shape(self, n_components, n_features):
        return (n_components, n_features)

    def s2_shape(self, n_components, n_features):
        return (n_components, 1, n_features)

    def precision_cholesky(self, covariances):
        if np.any(covariances <= 0.0):
            raise ValueError(ILL_DEFINED_COVARIANCE)
        return 1.0 / np.sqrt(covariances)

    def cholesky_from_precisions(self, precisions):
        return np.sqrt(precisions)

    def covariances_from_cholesky(self, P):
        return 1.0 / P**2

    def precisions(self, P):
        return P**2

    def m_step(self, nk, delta, s2, reg_covar):
        return s2[:, 0, :] / nk[:, None] - delta**2 + reg_covar

    def check_precisions(self, precisions):
        if not (np.all(precisions > 0.0) and np.all(np.isfinite(precisions))):
            raise ValueError(f"'{self.name} precision' should be positive")

    def _covariance_parameters(self, n_components, n_features):
        return n_components * n_features

    def sample(self, rng, means, covariances, counts):
        n_features = means.shape[1]
        variances = covariances if covariances.ndim == 2 else covariances[:, None]
        return [m + rng.standard_normal(size=(s, n_features)) * np.sqrt(c)
                for m, c, s in zip(means, variances, counts, strict=False)]

    def rebase_s2(self, s0, s1, s2, d):
        return s2 + (2.0 * d * s1 + s0[:, None] * d**2)[:, None, :]

    def layout(self, means, rounded, P, dtype):
        # c: where float64 blocks that pass diag.expand_block's bound are centred
        return rounded, means.mean(axis=0), rounded, P[:, None, :], np.log(P).sum(axis=1)


class Spherical(Diag):
    """One variance per component: the diag kernel with every feature's factor equal."""

    name = "spherical"

    def shape(self, n_components, n_features):
        return (n_components,)

    def m_step(self, nk, delta, s2, reg_covar):
        return super().m_step(nk, delta, s2, reg_covar).mean(axis=1)

    def _covariance_parameters(self, n_components, n_features):
        return n_components

    def layout(self, means, rounded, P, dtype):
        n_features = means.shape[1]
        prec = np.repeat(P[:, None, None], n_features, axis=2)
        return rounded, means.mean(axis=0), rounded, prec, n_features * np.log(P)


_TYPES = {c.name: c for c in (Full(), Tied(), Diag(), Spherical())}
COVARIANCE_TYPES = tuple(_TYPES)


def covariance(name: str) -> Covariance:
    """The object for covariance type name ('full', 'tied', 'diag' or 'spherical')."""
    try:
        return _TYPES[name]
    except KeyError:
        raise ValueError(f"covariance_type must be one of {COVARIANCE_TYPES}, got {name!r}") from None
