"""`fastem demo`: fit a built-in dataset drawn from a known mixture, show the recovered
parameters against the true ones, the speed against scikit-learn, and a picture."""

from __future__ import annotations

import time
import warnings

import numpy as np

N_COMPONENTS, N_FEATURES = 5, 6


def true_mixture(seed: int = 2024):
    """The known mixture: weights (K,), means (K, D), full covariances (K, D, D)."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.35, 0.25, 0.2, 0.12, 0.08])
    means = rng.uniform(-3, 3, size=(N_COMPONENTS, N_FEATURES))
    A = rng.normal(size=(N_COMPONENTS, N_FEATURES, N_FEATURES)) / np.sqrt(N_FEATURES)
    covariances = A @ np.swapaxes(A, 1, 2) + 0.3 * np.eye(N_FEATURES)
    return weights, means, covariances


def make_dataset(rows: int, seed: int = 0):
    """rows draws from true_mixture(): (X (rows, D) float64, true labels)."""
    weights, means, covariances = true_mixture()
    rng = np.random.default_rng(seed)
    labels = rng.choice(N_COMPONENTS, size=rows, p=weights)
    X = rng.standard_normal((rows, N_FEATURES))
    chol = np.linalg.cholesky(covariances)
    for k in range(N_COMPONENTS):
        rows_k = labels == k
        X[rows_k] = X[rows_k] @ chol[k].T + means[k]
    return X, labels


def _match(fitted_means: np.ndarray, true_means: np.ndarray) -> np.ndarray:
    """order[k] = the fitted component that matches true component k."""
    from scipy.optimize import linear_sum_assignment

    cost = ((true_means[:, None, :] - fitted_means[None]) ** 2).sum(axis=2)
    return linear_sum_assignment(cost)[1]


def _plot(X, gm, order, output: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse

    _weights, means, covariances = true_mixture()
    show = X[np.random.default_rng(1).choice(len(X), size=min(len(X), 30_000), replace=False)]
    labels = gm.predict(show)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    ax.scatter(show[:, 0], show[:, 1], color=plt.cm.tab10(labels % 10), s=1, alpha=0.4, rasterized=True)

    def ellipse(mean, cov, **style):
        values, vectors = np.linalg.eigh(cov[:2, :2])
        angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
        for n_std in (1, 2):
            ax.add_patch(Ellipse(mean[:2], 2 * n_std * np.sqrt(values[1]), 2 * n_std * np.sqrt(values[0]),
                                 angle=angle, fill=False, **style))

    for k in range(N_COMPONENTS):
        ellipse(means[k], covariances[k], edgecolor="black", linestyle="--", linewidth=1.2)
        ellipse(gm.means_[order[k]], gm.covariances_[order[k]], edgecolor="crimson", linewidth=1.0)
    ax.set_title(f"fastem: {len(X):,} rows, K={N_COMPONENTS}, D={N_FEATURES} (features 0 and 1)\n"
                 "true components dashed black, fitted solid red (1 and 2 standard deviations)")
    ax.set_xlabel("feature 0")
    ax.set_ylabel("feature 1")
    fig.tight_layout()
    fig.savefig(output)
    plt.close(fig)


def run_demo(rows: int = 3_000_000, quick: bool = False, output: str = "fastem-demo.png",
             compare: bool = True, plot: bool = True) -> None:
    from . import GaussianMixture
    from .bench import seconds_per_iteration

    if quick:
        rows = 200_000
    print(f"fastem demo: {rows:,} rows drawn from a known mixture of {N_COMPONENTS} Gaussians "
          f"in {N_FEATURES} dimensions (full covariances)", flush=True)
    start = time.perf_counter()
    X, _ = make_dataset(rows)
    print(f"  generated in {time.perf_counter() - start:.1f} s ({X.nbytes / 2**20:.0f} MB)", flush=True)

    gm = GaussianMixture(N_COMPONENTS, covariance_type="full", random_state=0, progress=True,
                         verbose=2, verbose_interval=1)
    start = time.perf_counter()
    gm.fit(X)
    seconds = time.perf_counter() - start
    print(f"\nfitted in {seconds:.2f} s: {gm.n_iter_} EM iterations, "
          f"{'converged' if gm.converged_ else 'not converged'}, log-likelihood {gm.lower_bound_:.5f} per row")

    weights, means, covariances = true_mixture()
    order = _match(gm.means_, means)
    print("\ncomponent  true weight  fitted weight  |mean error|  covariance error (relative)")
    for k in range(N_COMPONENTS):
        j = order[k]
        mean_error = np.linalg.norm(gm.means_[j] - means[k])
        cov_error = np.linalg.norm(gm.covariances_[j] - covariances[k]) / np.linalg.norm(covariances[k])
        print(f"{k:>9}  {weights[k]:>11.4f}  {gm.weights_[j]:>13.4f}  {mean_error:>12.4f}  {cov_error:>11.4f}")

    if compare:
        init = {"weights_init": gm.weights_, "means_init": gm.means_ + 0.5, "precisions_init": gm.precisions_}
        print("\nseconds per EM iteration on the same data from the same start (best of 2 runs of 3 iterations each):",
              flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fast = seconds_per_iteration("fastem", X, N_COMPONENTS, "full", init, 3)
            slow = seconds_per_iteration("sklearn", X, N_COMPONENTS, "full", init, 3)
        print(f"  fastem        {fast:.4f} s\n  scikit-learn  {slow:.4f} s\n  fastem is {slow / fast:.1f}x faster")

    if plot:
        try:
            _plot(X, gm, order, output)
            print(f"\npicture of the fit: {output}")
        except ImportError:
            print("\n(no picture: matplotlib is not installed; pip install 'fastem[plot]')")
