"""Seconds per EM iteration of fastem and scikit-learn on the same data, in one run.

    python -m fastem.bench                      # N=1e6, D=16, K=16, float64, all covariance types
    python -m fastem.bench -n 200000 -d 64 -k 32 --covariance full

Both libraries start from the same parameters (weights_init, means_init,
precisions_init) and run a fixed number of iterations (tol=0); the time of one
iteration is (time of 1 + m iterations - time of 1 iteration) / m, which removes
validation and set-up. Peak memory beyond the data is measured per fit with Linux's
resettable high-water mark (/proc/self/clear_refs), in a fresh child process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def make_data(n: int, d: int, k: int, dtype: str, seed: int = 0) -> np.ndarray:
    """n rows from a mixture of k well-separated Gaussians in d dimensions."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5.0, size=(k, d))
    labels = rng.integers(k, size=n)
    X = rng.standard_normal((n, d))
    X += centers[labels]
    return X.astype(dtype, copy=False)


def starting_point(X: np.ndarray, k: int, covariance_type: str, seed: int = 0) -> dict:
    """weights_init, means_init, precisions_init from a short fit on a sample."""
    from sklearn.mixture import GaussianMixture

    sample = X[np.random.default_rng(seed).choice(X.shape[0], size=min(X.shape[0], 20000), replace=False)]
    gm = GaussianMixture(k, covariance_type=covariance_type, max_iter=5, random_state=seed).fit(sample.astype(np.float64))
    return {"weights_init": gm.weights_, "means_init": gm.means_, "precisions_init": gm.precisions_}


def _estimator(library: str, k: int, covariance_type: str, max_iter: int, init: dict):
    if library == "fastem":
        from fastem import GaussianMixture
    else:
        from sklearn.mixture import GaussianMixture
    return GaussianMixture(k, covariance_type=covariance_type, max_iter=max_iter, tol=0.0, **init)


def seconds_per_iteration(library: str, X, k: int, covariance_type: str, init: dict, m: int,
                          repeat: int = 2) -> float:
    """(time of a fit of 1 + m iterations - time of a fit of 1 iteration) / m, each time
    the best of repeat runs (the usual way to read through a noisy machine)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    def timed(max_iter: int) -> float:
        est = _estimator(library, k, covariance_type, max_iter, init)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            est.fit(X)
            return time.perf_counter() - start

    timed(1)  # warm-up: kernels loaded or compiled, caches filled
    one = min(timed(1) for _ in range(repeat))
    more = min(timed(1 + m) for _ in range(repeat))
    return max(more - one, 1e-9) / m


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _peak_child(args: argparse.Namespace, library: str, covariance_type: str) -> None:
    """In a child process: print the extra peak resident memory (MB) of one fit."""
    import warnings

    X = make_data(args.n, args.d, args.k, args.dtype)
    init = starting_point(X, args.k, covariance_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _estimator(library, args.k, covariance_type, 1, init).fit(X[:5000])  # load the kernels first
        est = _estimator(library, args.k, covariance_type, 2, init)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the high-water mark to the current resident size
        base = _rss_kib("VmRSS:")
        est.fit(X)
    print(json.dumps({"extra_mb": (_rss_kib("VmHWM:") - base) / 1024}))


def peak_extra_mb(args: argparse.Namespace, library: str, covariance_type: str) -> float:
    cmd = [sys.executable, "-m", "fastem.bench", "--peak-child", library, "--covariance", covariance_type,
           "-n", str(args.n), "-d", str(args.d), "-k", str(args.k), "--dtype", args.dtype]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])["extra_mb"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastem.bench", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument("-d", type=int, default=16, help="features (default 16)")
    parser.add_argument("-k", type=int, default=16, help="components (default 16)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--covariance", nargs="+", choices=COVARIANCE_TYPES, default=list(COVARIANCE_TYPES))
    parser.add_argument("--iterations", type=int, default=3, help="m timed iterations (default 3)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    parser.add_argument("--peak-child", choices=("fastem", "sklearn"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peak_child:
        _peak_child(args, args.peak_child, args.covariance[0])
        return 0

    import numba

    X = make_data(args.n, args.d, args.k, args.dtype)
    print(f"N={args.n:,} D={args.d} K={args.k} {args.dtype}, {numba.get_num_threads()} threads, "
          f"{args.iterations} timed iterations; extra peak memory beyond the data ({X.nbytes / 2**20:.0f} MB)")
    header = f"{'covariance':<10} {'fastem s/it':>12} {'sklearn s/it':>13} {'speed-up':>9}"
    if not args.no_memory:
        header += f" {'fastem MB':>10} {'sklearn MB':>11}"
    print(header)
    for cov in args.covariance:
        init = starting_point(X, args.k, cov)
        fe = seconds_per_iteration("fastem", X, args.k, cov, init, args.iterations)
        sk = seconds_per_iteration("sklearn", X, args.k, cov, init, args.iterations)
        line = f"{cov:<10} {fe:>12.4f} {sk:>13.4f} {sk / fe:>8.1f}x"
        if not args.no_memory:
            line += f" {peak_extra_mb(args, 'fastem', cov):>10.0f} {peak_extra_mb(args, 'sklearn', cov):>11.0f}"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
