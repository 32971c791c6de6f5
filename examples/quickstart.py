"""Quickstart
==========

Fit a mixture in memory, use it like scikit-learn's, save and load it. A million rows
(20,000 with ``--quick``) drawn from 8 Gaussians in 10 dimensions, fitted with full
covariances; then what scikit-learn's estimator offers (weights, labels, BIC, AIC) and a
model file saved and loaded back.

Run: ``python examples/quickstart.py [--quick]``
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import fastem

parser = argparse.ArgumentParser(description="Quickstart: fit a mixture in memory, use it like scikit-learn's, "
                                             "save and load it.")
parser.add_argument("--quick", action="store_true", help="a small dataset (CI)")
args = parser.parse_args()

# %%
# The data: 8 clusters in 10 dimensions.
rng = np.random.default_rng(0)
n = 20_000 if args.quick else 1_000_000
centers = rng.normal(scale=4.0, size=(8, 10))
X = centers[rng.integers(8, size=n)] + rng.standard_normal((n, 10))

# %%
# Fit, as with :class:`sklearn.mixture.GaussianMixture`: each EM iteration is one fused,
# parallel pass over ``X``.
start = time.perf_counter()
gm = fastem.GaussianMixture(n_components=8, covariance_type="full", random_state=0).fit(X)
print(f"fit {n:,} x 10 in {time.perf_counter() - start:.2f} s: {gm.n_iter_} iterations, "
      f"converged={gm.converged_}, mean log-likelihood {gm.lower_bound_:.4f}")
print("weights:", np.round(np.sort(gm.weights_), 3))
print("labels of the first rows:", gm.predict(X[:10]))
print(f"BIC {gm.bic(X):.1f}, AIC {gm.aic(X):.1f}")

# %%
# A model file (``save``, :func:`fastem.load`): loading never unpickles, and the loaded
# model predicts bitwise the same.
with tempfile.TemporaryDirectory() as folder:
    path = gm.save(Path(folder) / "model.npz")
    again = fastem.load(path)
    assert np.array_equal(again.predict_proba(X[:1000]), gm.predict_proba(X[:1000]))
    print(f"saved to and loaded from {path.name}: identical predictions")
