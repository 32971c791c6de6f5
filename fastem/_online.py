"""Online EM state: stepwise EM (Cappe and Moulines 2009) over batches.

Each step takes the sufficient statistics of a batch under the current model, S_batch,
and blends them into running statistics per unit of weight,
S <- (1 - rho_t) S + rho_t S_batch, with rho_t = (t + offset) ** -decay, then runs the
M-step. A stream's first batch is taken whole (rho = 1). A model fitted by EM on n rows
stands for those rows: the first batch of b rows after it gets rho = b / (n + b), and the
schedule goes on from the t where rho_t equals that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._engine import Params, Stats, em_stats, m_step


@dataclass
class OnlineState:
    """Where a stream stands: t, the position in the step-size schedule; the running
    statistics (None before the first step); fitted_rows, the (sample-weighted) rows a
    model fitted by EM stands for (0 for a model that starts from its first batch)."""

    t: float = 0.0
    running: Stats | None = None
    fitted_rows: float = 0.0

    def step(self, backend, params: Params, *, decay: float, offset: float, reg_covar: float
             ) -> tuple[Params, float]:
        """One step on the backend's batch: (new params, the batch's mean log-likelihood
        under params, before the step)."""
        stats = em_stats(backend, params)
        if self.running is None and self.fitted_rows > 0:
            share = stats.weight / (stats.weight + self.fitted_rows * stats.weight / stats.n_rows)
            self.t = max(share ** (-1.0 / decay) - offset, 0.0)
            self.running = fitted_stats(params, reg_covar, stats.shift)
        if self.running is None:
            self.running = stats.blended(stats, 1.0)
        else:
            self.running = self.running.blended(stats, (self.t + offset) ** -decay)
        self.t += 1.0
        eps = 10 * np.finfo(backend.dtype).eps
        return m_step(self.running, params.covariance_type, reg_covar, eps), stats.loglik / stats.weight


def fitted_stats(params: Params, reg_covar: float, like_shift: np.ndarray) -> Stats:
    """Statistics of weight 1 whose M-step gives params back: s0 = the weights, around the
    means (tied: around like_shift's one point, with s1 = w_k (mu_k - c)), s2 = w_k times
    the covariances less reg_covar (tied: plus the means' spread around c)."""
    cov = params.cov
    n_components, n_features = params.means.shape
    w = np.asarray(params.weights, dtype=np.float64)
    means = np.asarray(params.means, dtype=np.float64)
    inner = np.array(params.covariances, dtype=np.float64)
    if cov.name in ("full", "tied"):
        inner[..., np.arange(n_features), np.arange(n_features)] -= reg_covar
    else:
        inner = inner - reg_covar
    if cov.name == "tied":
        c = np.asarray(like_shift, dtype=np.float64)[0]
        d = means - c
        s2 = (w.sum() * inner + np.einsum("k,ki,kj->ij", w, d, d))[None]
        return Stats(cov.name, np.tile(c, (n_components, 1)), w.copy(), w[:, None] * d, s2, 0.0, 1.0, 0)
    if cov.name == "full":
        s2 = w[:, None, None] * inner
    else:
        variances = inner if inner.ndim == 2 else np.repeat(inner[:, None], n_features, axis=1)
        s2 = (w[:, None] * variances)[:, None, :]
    return Stats(cov.name, means.copy(), w.copy(), np.zeros((n_components, n_features)), s2, 0.0, 1.0, 0)
