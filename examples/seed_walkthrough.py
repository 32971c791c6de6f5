"""The seed walkthrough
====================

One E-step and one M-step of a 1-D, two-component mixture, computed by fastem's own
kernels.

The worked example fastem started from prints, for component 2, the variance
2.5598879676788537. That number comes from a typo in its last cell, which centres the
second variance on the FIRST component's new mean (``x - new_mu1``). Centred on its
own mean, as EM requires, the second variance is 1.0752479631618015, which is what
fastem computes. Everything else (posteriors, priors, means, the first variance)
agrees with the walkthrough to the last printed digit.

This example calls the engine's internals (``fastem._engine``), which are not a public
API: they may change between releases.

Run: ``python examples/seed_walkthrough.py``
"""

import numpy as np

from fastem._engine import Params, array_chunks, em_pass, m_step, precision_cholesky, score_pass

# %%
# Five points and the starting mixture: two components of variance 4 at -3 and 2, equal
# weights.
x = np.array([[0.2], [-0.9], [-1.0], [1.2], [1.8]])
variances = np.array([4.0, 4.0])  # 1-D: spherical covariance = the variance
prior = Params(
    "spherical",
    weights=np.array([0.5, 0.5]),
    means=np.array([[-3.0], [2.0]]),
    covariances=variances,
    precisions_cholesky=precision_cholesky(variances, "spherical"),
)


# %%
# The kernels give the posteriors (the E-step) and, in one fused pass, the statistics
# from which the M-step computes the new weights, means and variances.
def walkthrough():
    """(posteriors (5, 2), the M-step's Params) through the fused kernels."""
    _, _, posteriors = score_pass(array_chunks(x, 5), prior, len(x), with_resp=True)
    stats = em_pass(array_chunks(x, 5), prior)  # E-step and M-step statistics in one pass
    return posteriors, m_step(stats, "spherical", reg_covar=0.0, eps=0.0)


if __name__ == "__main__":
    posteriors, new = walkthrough()
    np.set_printoptions(precision=8)
    print("Posterior Probabilities Cluster 1:", posteriors[:, 0])
    print("Posterior Probabilities Cluster 2:", posteriors[:, 1])
    for k in range(2):
        print(f"Component {k + 1}: prior {float(new.weights[k])!r}, mean {float(new.means[k, 0])!r}, variance {float(new.covariances[k])!r}")
    print("(the walkthrough's 2.5598879676788537 for the second variance centres it on the first mean: a typo)")

# %%
# The mixture before and after the step (drawn where matplotlib is installed): each point
# coloured by its posterior probability of component 2.
if __name__ == "__main__":
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt is not None:
        grid = np.linspace(-7.0, 6.0, 600)

        def density(weight, mean, variance):
            return weight * np.exp(-0.5 * (grid - mean) ** 2 / variance) / np.sqrt(2 * np.pi * variance)

        fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
        for k, color in ((0, "tab:blue"), (1, "tab:orange")):
            ax.plot(grid, density(prior.weights[k], prior.means[k, 0], prior.covariances[k]), color=color,
                    linestyle="--", label=f"component {k + 1} before")
            ax.plot(grid, density(new.weights[k], new.means[k, 0], new.covariances[k]), color=color,
                    label=f"component {k + 1} after one EM step")
        ax.scatter(x[:, 0], np.zeros(len(x)), c=posteriors[:, 1], cmap="coolwarm", vmin=0, vmax=1, s=60,
                   edgecolor="black", zorder=3, label="the five points")
        ax.set_xlabel("x")
        ax.set_ylabel("weighted density")
        ax.legend(fontsize="small")
