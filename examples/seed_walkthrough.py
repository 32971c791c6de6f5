"""The seed walkthrough: one E-step and one M-step of a 1-D, two-component mixture,
computed by fastem's own kernels.

The worked example fastem started from prints, for component 2, the variance
2.5598879676788537. That number comes from a typo in its last cell, which centres the
second variance on the FIRST component's new mean (``x - new_mu1``). Centred on its
own mean, as EM requires, the second variance is 1.0752479631618015, which is what
fastem computes. Everything else (posteriors, priors, means, the first variance)
agrees with the walkthrough to the last printed digit.

Run: python examples/seed_walkthrough.py
"""

import numpy as np

from fastem._engine import Params, array_chunks, em_pass, m_step, precision_cholesky, score_pass

x = np.array([[0.2], [-0.9], [-1.0], [1.2], [1.8]])
variances = np.array([4.0, 4.0])  # 1-D: spherical covariance = the variance
prior = Params(
    "spherical",
    weights=np.array([0.5, 0.5]),
    means=np.array([[-3.0], [2.0]]),
    covariances=variances,
    precisions_cholesky=precision_cholesky(variances, "spherical"),
)


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
