"""Dask: fit on a cluster
======================

Fit on a cluster, with the same kernels and the same model as one machine. Runs on a
LocalCluster of 2 worker processes. On a real cluster, replace the LocalCluster by the
scheduler's address: ``client = Client("tcp://scheduler-host:8786")``. The blocks of the
Dask array are made on the workers and stay there: each EM iteration sends the
parameters to the workers and brings back only the blocks' statistics.

Run: ``python examples/dask_cluster.py [--quick] [--rows N]``
"""

import argparse
import time
import warnings

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

from fastem import GaussianMixture

parser = argparse.ArgumentParser(description="Dask: fit on a cluster, with the same kernels and the same model as "
                                             "one machine.")
parser.add_argument("--quick", action="store_true", help="200,000 rows (CI)")
parser.add_argument("--rows", type=int, default=10_000_000)
parser.add_argument("--iterations", type=int, default=5, help="timed EM iterations")
args = parser.parse_args()
rows = 200_000 if args.quick else args.rows
K, D, BLOCK = 16, 16, 500_000 if not args.quick else 50_000
CENTERS = np.random.default_rng(0).normal(scale=4.0, size=(K, D))


# %%
# The data: a Dask array whose blocks are made where they are computed, on the workers.
def make_block(i: int, n: int) -> np.ndarray:
    """Block i of the dataset, made where it is computed: on a worker."""
    rng = np.random.default_rng(i)
    return CENTERS[rng.integers(K, size=n)] + rng.standard_normal((n, D))


# %%
# The fit on the cluster, lazy predictions, and the seconds per EM iteration on the
# cluster against the same fit in this process, from the same start: the two models agree
# to 1e-10 relative.
def main() -> None:
    sizes = [min(BLOCK, rows - s) for s in range(0, rows, BLOCK)]
    X = da.concatenate([da.from_delayed(dask.delayed(make_block)(i, n), shape=(n, D), dtype=np.float64)
                        for i, n in enumerate(sizes)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LocalCluster start-up chatter
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, Client(cluster) as client:
        print(f"cluster: {client}")
        X = X.persist()  # the blocks live on the workers from now on
        start = time.perf_counter()
        gm = GaussianMixture(K, covariance_type="diag", random_state=0).fit(X)
        print(f"fitted {rows:,} x {D}, K={K} diag on the cluster in {time.perf_counter() - start:.1f} s: "
              f"{gm.n_iter_} iterations, log-likelihood {gm.lower_bound_:.5f} per row")
        labels = gm.predict(X)  # lazy: a Dask array
        print(f"labels: {labels!r}; first ten: {labels[:10].compute()}")

        init = {"weights_init": gm.weights_, "means_init": gm.means_, "precisions_init": gm.precisions_}
        timed = GaussianMixture(K, covariance_type="diag", max_iter=args.iterations, tol=0.0, **init)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            timed.fit(X)
            on_cluster = (time.perf_counter() - start) / args.iterations
            local_X = X.compute()
            local = GaussianMixture(K, covariance_type="diag", max_iter=args.iterations, tol=0.0, **init)
            start = time.perf_counter()
            local.fit(local_X)
            in_process = (time.perf_counter() - start) / args.iterations
        same = np.allclose(timed.means_, local.means_, rtol=1e-10) and np.allclose(
            timed.covariances_, local.covariances_, rtol=1e-10)
        print(f"seconds per EM iteration: cluster {on_cluster:.3f}, single process {in_process:.3f}, "
              f"scheduler overhead {on_cluster - in_process:+.3f}")
        print(f"same model as the single-process fit (relative 1e-10): {same}")
        assert same


if __name__ == "__main__":
    main()
