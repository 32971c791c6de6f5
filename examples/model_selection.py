"""Model selection by BIC
======================

Choose the number of components by BIC (lowest wins). Data from 5 Gaussians in 4
dimensions (500,000 rows; 5,000 with ``--quick``), fitted with K = 1 ... 8 components
and full or diagonal covariances. The Bayesian information criterion, -2 log-likelihood
+ (free parameters) log(rows), charges each model for its parameters: the lowest wins.

Run: ``python examples/model_selection.py [--quick]``

The same from the shell: ``fastem select data.npy -k 1..10 --criterion bic``
"""

import argparse

import numpy as np

from fastem import GaussianMixture

parser = argparse.ArgumentParser(description="Model selection: choose the number of components by BIC (lowest wins).")
parser.add_argument("--quick", action="store_true", help="a small dataset (CI)")
args = parser.parse_args()

rng = np.random.default_rng(1)
true_k = 5
n = 5_000 if args.quick else 500_000
centers = rng.normal(scale=3.0, size=(true_k, 4))
X = centers[rng.integers(true_k, size=n)] + rng.standard_normal((n, 4))

# %%
# One fit per K and covariance type; :meth:`~fastem.GaussianMixture.bic` takes one pass
# over the data.
print(f"{'K':>3} {'covariance':>10} {'BIC':>14}")
results = {}
for covariance_type in ("full", "diag"):
    for k in range(1, 9):
        gm = GaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(X)
        results[(k, covariance_type)] = gm.bic(X)
        print(f"{k:>3} {covariance_type:>10} {results[(k, covariance_type)]:>14.1f}")
best = min(results, key=results.get)
print(f"best by BIC: K={best[0]}, {best[1]} covariance (the data has {true_k} components)")

# %%
# The BIC curves (drawn where matplotlib is installed): both fall steeply until K
# reaches the true 5, then rise slowly as every further component costs parameters
# without explaining more of the data. The data's clusters are spherical, so the diagonal
# model explains them as well as the full one with fewer parameters.
try:
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
if plt is not None:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    for covariance_type, marker in (("full", "o"), ("diag", "s")):
        ks = range(1, 9)
        ax.plot(ks, [results[(k, covariance_type)] for k in ks], marker=marker, label=f"{covariance_type}")
    ax.plot(best[0], results[best], marker="*", markersize=16, color="crimson", linestyle="none",
            label=f"best: K={best[0]}, {best[1]}")
    ax.axvline(true_k, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("number of components K")
    ax.set_ylabel("BIC (lower is better)")
    ax.set_title(f"BIC of {n:,} rows from {true_k} Gaussians")
    ax.legend()
