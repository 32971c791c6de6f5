"""Model selection: choose the number of components by BIC (lowest wins).

Run: python examples/model_selection.py [--quick]
The same from the shell: fastem select data.npy -k 1..10 --criterion bic
"""

import argparse

import numpy as np

from fastem import GaussianMixture

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="a small dataset (CI)")
args = parser.parse_args()

rng = np.random.default_rng(1)
true_k = 5
n = 5_000 if args.quick else 500_000
centers = rng.normal(scale=3.0, size=(true_k, 4))
X = centers[rng.integers(true_k, size=n)] + rng.standard_normal((n, 4))

print(f"{'K':>3} {'covariance':>10} {'BIC':>14}")
results = {}
for covariance_type in ("full", "diag"):
    for k in range(1, 9):
        gm = GaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(X)
        results[(k, covariance_type)] = gm.bic(X)
        print(f"{k:>3} {covariance_type:>10} {results[(k, covariance_type)]:>14.1f}")
best = min(results, key=results.get)
print(f"best by BIC: K={best[0]}, {best[1]} covariance (the data has {true_k} components)")
