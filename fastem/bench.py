"""Seconds per EM iteration of fastem and scikit-learn on the same data, in one run.

    python -m fastem.bench                      # N=1e6, D=16, K=16, float64, all covariance types
    python -m fastem.bench -n 200000 -d 64 -k 32 --covariance full
    python -m fastem.bench --scaling plot.png   # seconds per iteration against N, log-log
    python -m fastem.bench --threads            # 1 thread against all threads
    python -m fastem.bench --bayesian --covariance diag full   # BayesianGaussianMixture, both libraries
    python -m fastem.bench --missing 0.1 --covariance diag full  # 10% NaN, missing="marginalize", vs complete
    python -m fastem.bench --missing 0.1 --pygmmis -n 20000 -d 7 -k 4   # fastem against pygmmis on NaN data
    python -m fastem.bench --matrix             # the shape matrix, with oneDAL where installed (fastem._matrix)
    python -m fastem.bench --matrix 5 12 --baseline ../fastem-0.1   # two of its rows, and another fastem

Next to each fastem time it prints this machine's floor for the iteration, measured in
the same run (fastem's performance model): the largest of the data's bytes over the
memory read bandwidth, the multiply-adds over the peak rate of a square matrix product
(BLAS), and the N x K exponentials over the rate of fastem's vectorised exp; and
fastem's time as a multiple of that floor. The rates are measured just before and just
after each row's fastem timing and the faster of each pair sets that row's floor (the
lowest floor: a machine whose pace changes mid-run is never credited to fastem); the
row's square-product rate is printed beside it, and fastem's time as a multiple of the
multiply-adds' time plus the exps' time (``x madd+exp``: both run on the same vector
units, see compute_seconds). pomegranate and torchgmm join the table when installed.

Both libraries start from the same parameters (weights_init, means_init,
precisions_init) and run a fixed number of iterations (tol=0); the time of one
iteration is (time of 1 + m iterations - time of 1 iteration) / m, which removes
validation and set-up. Peak memory beyond the data is measured per fit with Linux's
resettable high-water mark (/proc/self/clear_refs), in a fresh child process.

--bayesian measures fastem's and scikit-learn's BayesianGaussianMixture the same way (and
--scaling and --threads, fastem's). BayesianGaussianMixture takes no initial parameters:
both start from init_params='random_from_data' with the same random_state, which draws
the same seed rows in both libraries ('random' for tied: fastem's tied covariance from
seed rows differs from scikit-learn's on purpose, see fastem._init; 'random' draws the
same responsibilities in both). An iteration is the same pass as an EM iteration (the
variational E-step is the E-step with other per-component constants), so the floor is
the same; the M-step and the lower bound add no pass over the data. That both runs
followed the same path is checked: the last column is the relative difference of
fastem's lower bound after 1 + m iterations and scikit-learn's (its last timed fit).
The peers have no variational mixture and are left out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from ._covariance import COVARIANCE_TYPES, covariance


def make_data(n: int, d: int, k: int, dtype: str, seed: int = 0) -> np.ndarray:
    """n rows from a mixture of k well-separated Gaussians in d dimensions."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=5.0, size=(k, d))
    labels = rng.integers(k, size=n)
    X = rng.standard_normal((n, d))
    X += centers[labels]
    return X.astype(dtype, copy=False)


def starting_point(X: np.ndarray, k: int, covariance_type: str, seed: int = 0, bayesian: bool = False) -> dict:
    """The keywords that give both libraries the same start: weights_init, means_init,
    precisions_init from a short fit on a sample; for BayesianGaussianMixture (which has
    no such parameters), init_params and random_state (see the module doc)."""
    if bayesian:
        return {"init_params": "random" if covariance_type == "tied" else "random_from_data", "random_state": seed}
    from sklearn.mixture import GaussianMixture

    sample = X[np.random.default_rng(seed).choice(X.shape[0], size=min(X.shape[0], 20000), replace=False)]
    gm = GaussianMixture(k, covariance_type=covariance_type, max_iter=5, random_state=seed).fit(sample.astype(np.float64))
    return {"weights_init": gm.weights_, "means_init": gm.means_, "precisions_init": gm.precisions_}


def _estimator(library: str, k: int, covariance_type: str, max_iter: int, init: dict, n_jobs=None,
               bayesian: bool = False):
    """The library's GaussianMixture, or BayesianGaussianMixture, for a fixed max_iter (tol=0)."""
    name = "BayesianGaussianMixture" if bayesian else "GaussianMixture"
    if library == "fastem":
        import fastem

        cls, own = getattr(fastem, name), {"n_jobs": n_jobs}
    else:
        import sklearn.mixture

        cls, own = getattr(sklearn.mixture, name), {}
    # n_components by keyword: scikit-learn's BayesianGaussianMixture takes no positional argument
    return cls(n_components=k, covariance_type=covariance_type, max_iter=max_iter, tol=0.0, **own, **init)


FASTEM_ITERATIONS = 5  # fastem times 5x as many iterations as the others: its are short, and the
# difference of two fits' times over 3 of them moved diag's figure by a third between runs


def seconds_per_iteration(library: str, X, k: int, covariance_type: str, init: dict, m: int,
                          repeat: int = 2, n_jobs=None, bayesian: bool = False) -> float:
    """(time of a fit of 1 + m iterations - time of a fit of 1 iteration) / m, each time
    the best of repeat runs (the usual way to read through a noisy machine), the two fits
    taken in turn so that both see the machine in the same mood (one after the other, a
    change of pace in between once showed full covariance at 0.061 s against 0.093 s for
    the pass alone)."""
    return timed_fits(library, X, k, covariance_type, init, m, repeat, n_jobs, bayesian)[0]


def timed_fits(library: str, X, k: int, covariance_type: str, init: dict, m: int,
               repeat: int = 2, n_jobs=None, bayesian: bool = False) -> tuple[float, object]:
    """(seconds_per_iteration, the last fitted estimator of 1 + m iterations)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    def timed(max_iter: int) -> tuple[float, object]:
        est = _estimator(library, k, covariance_type, max_iter, init, n_jobs, bayesian)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            est.fit(X)
            return time.perf_counter() - start, est

    timed(1)  # warm-up: kernels loaded or compiled, caches filled
    one, more = [], []
    for _ in range(repeat):
        one.append(timed(1)[0])
        seconds, fitted = timed(1 + m)
        more.append(seconds)
    return max(min(more) - min(one), 1e-9) / m, fitted


def bound_difference(fastem_fit, sklearn_fit, m: int) -> float:
    """|fastem's lower bound after 1 + m iterations - scikit-learn's| / |scikit-learn's|
    (fastem's fit ran more iterations: its lower_bounds_ holds every one)."""
    theirs = float(np.ravel(sklearn_fit.lower_bound_)[0])  # an array of one for tied
    return abs(fastem_fit.lower_bounds_[m] - theirs) / abs(theirs)


def best_seconds(fn, repeat: int = 5) -> float:
    """The fastest of repeat calls of fn(), in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def machine_rates(dtype: str = "float64") -> dict:
    """Measured now: read bandwidth (bytes/s, all threads), multiply-adds/s of a square
    matrix product (the machine's practical peak) and of a tall-skinny one (the rate
    scikit-learn's products get), and vectorised exps/s (all threads, on values in cache)."""
    from numba import njit, prange

    from ._kernels._exp import exp_shifted

    @njit(parallel=True, cache=False)
    def read_all(a):
        total = 0.0
        for i in prange(a.shape[0]):
            total += a[i]
        return total

    @njit(parallel=True, cache=False)
    def exp_all(x, ones, repeats):
        # each thread's 1024-value slices stay in its cache, as a block's do in the kernels:
        # over a long array the rate would be the memory's (16 bytes read and written per exp)
        for i in prange(x.shape[0] // 1024):
            for _ in range(repeats):
                exp_shifted(x[i * 1024:(i + 1) * 1024], 1024, ones)

    big = np.ones(64 * 2**20 // 8 * 8, dtype=np.float64)  # 512 MB: beyond every cache
    read_all(big[:1024])
    bandwidth = big.nbytes / best_seconds(lambda: read_all(big))
    A, B = np.ones((1_000_000, 16), dtype=dtype), np.ones((16, 16), dtype=dtype)
    skinny = A.shape[0] * 16 * 16 / best_seconds(lambda: A @ B)
    S = np.ones((2048, 2048), dtype=dtype)
    peak = 2048**3 / best_seconds(lambda: S @ S, repeat=3)
    x = -np.random.default_rng(0).uniform(0, 30, size=2**14).astype(dtype)  # 128 KiB
    ones = np.ones(1024, dtype=dtype)  # x <- exp(x - 1) in place: x stays in (1/e, 1] over repeats
    exp_all(x[:1024], ones, 1)
    exps = x.size * 1024 / best_seconds(lambda: exp_all(x, ones, 1024))
    return {"bandwidth": bandwidth, "multiply_adds": peak, "skinny_multiply_adds": skinny, "exps": exps}


def blas_description() -> str:
    """NumPy's BLAS as threadpoolctl finds it: library, version and the kernels it chose for
    this CPU. scikit-learn's matrix products and the bound's square product run on it, and
    OPENBLAS_CORETYPE, when set, makes OpenBLAS use another CPU's kernels (an AVX2 CPU's
    on an AVX-512 core)."""
    from threadpoolctl import threadpool_info

    found = [f"{lib['internal_api']} {lib['version']}" + (f", {lib['architecture']} kernels" if lib.get("architecture") else "")
             for lib in threadpool_info() if lib["user_api"] == "blas"]
    text = "BLAS: " + ("; ".join(found) or "none found")
    if "OPENBLAS_CORETYPE" in os.environ:
        text += (f" (OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} chose them: unset it for this CPU's own"
                 " kernels)")
    return text


def multiply_adds(n: int, d: int, k: int, covariance_type: str) -> int:
    """The performance model's multiply-adds of one EM iteration."""
    return covariance(covariance_type).multiply_adds(n, k, d)


def floor_seconds(rates: dict, n: int, d: int, k: int, covariance_type: str, itemsize: int) -> float:
    """The performance model's lower bound on one EM iteration (see the module doc)."""
    madds = multiply_adds(n, d, k, covariance_type)
    return max(n * d * itemsize / rates["bandwidth"], madds / rates["multiply_adds"], n * k / rates["exps"])


def compute_seconds(rates: dict, n: int, d: int, k: int, covariance_type: str) -> float:
    """The multiply-adds' time plus the exps' time. The exp is a polynomial evaluated by the
    same vector multiply-add units, so the two add up rather than overlap, where the
    model's floor takes the larger: for diag and spherical, whose exps are a large share of
    their work, this sum is the tighter bound."""
    return multiply_adds(n, d, k, covariance_type) / rates["multiply_adds"] + n * k / rates["exps"]


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
    init = starting_point(X, args.k, covariance_type, bayesian=args.bayesian)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # load the kernels first
        _estimator(library, args.k, covariance_type, 1, init, bayesian=args.bayesian).fit(X[:5000])
        est = _estimator(library, args.k, covariance_type, 2, init, bayesian=args.bayesian)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the high-water mark to the current resident size
        base = _rss_kib("VmRSS:")
        est.fit(X)
    print(json.dumps({"extra_mb": (_rss_kib("VmHWM:") - base) / 1024}))


def peak_extra_mb(args: argparse.Namespace, library: str, covariance_type: str) -> float:
    cmd = [sys.executable, "-m", "fastem.bench", "--peak-child", library, "--covariance", covariance_type,
           "-n", str(args.n), "-d", str(args.d), "-k", str(args.k), "--dtype", args.dtype]
    cmd += ["--bayesian"] if args.bayesian else []
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])["extra_mb"]


def peer_seconds_per_iteration(name: str, X, k: int, covariance_type: str, m: int) -> float | None:
    """Seconds per EM iteration of an installed peer library, or None if it is not there."""
    try:
        if name == "pomegranate":
            import torch
            from pomegranate.distributions import Normal
            from pomegranate.gmm import GeneralMixtureModel

            def fit(iterations):
                model = GeneralMixtureModel([Normal(covariance_type=covariance_type) for _ in range(k)],
                                            max_iter=iterations, tol=0.0, verbose=False)
                start = time.perf_counter()
                model.fit(torch.as_tensor(X))
                return time.perf_counter() - start
        elif name == "torchgmm":
            from torchgmm.bayes import GaussianMixture as TorchGMM

            def fit(iterations):
                model = TorchGMM(k, covariance_type=covariance_type, convergence_tolerance=0.0,
                                 trainer_params={"max_epochs": iterations, "enable_progress_bar": False})
                start = time.perf_counter()
                model.fit(X)
                return time.perf_counter() - start
        else:
            return None
    except ImportError:
        return None
    fit(1)
    return max(fit(1 + m) - fit(1), 1e-9) / m


def scaling_plot(path: str, d: int, k: int, covariance_type: str, sizes, sklearn_max: int,
                 bayesian: bool = False) -> None:
    """Seconds per iteration against N, log-log, for fastem and scikit-learn, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {"fastem": [], "scikit-learn": []}
    print(f"{'N':>12} {'fastem s/it':>12} {'sklearn s/it':>13}")
    for n in sizes:
        X = make_data(n, d, k, "float64")
        init = starting_point(X, k, covariance_type, bayesian=bayesian)
        m = max(3, min(30, 300_000 // n))  # more iterations where one is short: less noise
        fast = seconds_per_iteration("fastem", X, k, covariance_type, init, m, repeat=3, bayesian=bayesian)
        rows["fastem"].append((n, fast))
        slow = seconds_per_iteration("sklearn", X, k, covariance_type, init, 2, bayesian=bayesian) \
            if n <= sklearn_max else None
        if slow is not None:
            rows["scikit-learn"].append((n, slow))
        print(f"{n:>12,} {fast:>12.4f} {'' if slow is None else f'{slow:.4f}':>13}", flush=True)
    fig, ax = plt.subplots(figsize=(6.5, 4.5), dpi=110)
    for label, points in rows.items():
        ns, ts = zip(*points, strict=False)
        ax.loglog(ns, ts, "o-", label=label)
    ns = np.array([p[0] for p in rows["fastem"]], dtype=float)
    ax.loglog(ns, rows["fastem"][-1][1] * ns / ns[-1], ":", color="gray", label="linear in N")
    ax.set_xlabel("rows N")
    ax.set_ylabel(f"seconds per {'variational ' if bayesian else ''}EM iteration")
    ax.set_title(f"{'BayesianGaussianMixture, ' if bayesian else ''}{covariance_type} covariance, D={d}, K={k}, "
                 "float64, 2 cores")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"wrote {path}")


def thread_scaling(n: int, d: int, k: int, covariance_type: str, rounds: int = 5, bayesian: bool = False) -> None:
    """Seconds per iteration with 1 thread and with all threads (n_jobs), measured in
    turn over several rounds (this machine's pace drifts within minutes), and the median
    of the rounds' ratios with their range; beside it, the same ratio for a square matrix
    product (BLAS limited by threadpoolctl) in the same rounds: how much the machine's
    cores themselves give (two virtual cores of a shared host may give less than 2x)."""
    import numba
    from threadpoolctl import threadpool_limits

    X = make_data(n, d, k, "float64")
    init = starting_point(X, k, covariance_type, bayesian=bayesian)
    S = np.ones((2048, 2048))
    all_threads = numba.config.NUMBA_NUM_THREADS

    def product_seconds(threads: int) -> float:
        with threadpool_limits(threads):
            return best_seconds(lambda: S @ S, repeat=3)

    times = {1: [], all_threads: []}
    product = {1: [], all_threads: []}
    for _ in range(rounds):
        for t, seconds in times.items():
            seconds.append(seconds_per_iteration("fastem", X, k, covariance_type, init, 10, n_jobs=t,
                                                 bayesian=bayesian))
            product[t].append(product_seconds(t))
    ratios = np.array(times[1]) / np.array(times[all_threads])
    machine = np.array(product[1]) / np.array(product[all_threads])
    print(f"N={n:,} D={d} K={k} {covariance_type}: 1 thread {np.median(times[1]):.4f} s/it, {all_threads} threads "
          f"{np.median(times[all_threads]):.4f} s/it (medians of {rounds} rounds), speed-up {np.median(ratios):.2f}x "
          f"(rounds: {ratios.min():.2f}-{ratios.max():.2f}x); the square matrix product in the same rounds "
          f"{np.median(machine):.2f}x ({machine.min():.2f}-{machine.max():.2f}x)")


def with_missing(X: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """A copy of X with each entry NaN with probability fraction (missing completely at
    random), but one entry kept in every row."""
    rng = np.random.default_rng(seed)
    out = X.copy()
    gone = rng.random(X.shape) < fraction
    gone[gone.all(axis=1), 0] = False
    out[gone] = np.nan
    return out


def missing_table(n: int, d: int, k: int, covariance_types, fraction: float, dtype: str = "float64",
                  rounds: int = 3, m: int = 10) -> None:
    """Seconds per EM iteration of fastem on data with a fraction of its entries missing
    (missing="marginalize") and on the same data complete, in turn over several rounds
    and from the same start; the ratio per round and the median of the rounds."""
    X = make_data(n, d, k, dtype)
    Xm = with_missing(X, fraction)
    print(f"missing values: N={n:,} D={d} K={k} {dtype}, {fraction:.0%} of the entries missing at random "
          f"({np.isnan(Xm).any(axis=1).mean():.1%} of the rows), {m} timed iterations, {rounds} rounds")
    print(f"{'covariance':<10} {'complete s/it':>14} {'missing s/it':>13} {'ratio':>7}  rounds")
    for cov in covariance_types:
        init = starting_point(X, k, cov)
        complete, missing = [], []
        for _ in range(rounds):
            complete.append(seconds_per_iteration("fastem", X, k, cov, init, m))
            missing.append(seconds_per_iteration("fastem", Xm, k, cov, {**init, "missing": "marginalize"}, m))
        ratios = np.array(missing) / np.array(complete)
        print(f"{cov:<10} {np.median(complete):>14.4f} {np.median(missing):>13.4f} {np.median(ratios):>6.2f}x  "
              + " ".join(f"{r:.2f}x" for r in ratios), flush=True)


def mean_log_likelihood(X, covariance_type: str, weights, means, precisions, missing: str = "error") -> float:
    """The mean log p(x) of X's rows (of their observed entries, with missing="marginalize")
    under the given model, by fastem (one pass)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    import fastem

    weights = np.asarray(weights, dtype=np.float64)  # a float32 fit's sum to 1 in float32 only
    weights, means, precisions = weights / weights.sum(), np.asarray(means, np.float64), np.asarray(precisions, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm = fastem.GaussianMixture(len(weights), covariance_type=covariance_type, missing=missing, max_iter=1,
                                    tol=0.0, weights_init=weights, means_init=means, precisions_init=precisions).fit(X)
    return float(gm.lower_bounds_[0])  # the E-step's, under the given model


def pygmmis_table(n: int, d: int, k: int, fraction: float, rounds: int = 3, m: int = 5) -> None:
    """fastem (missing="marginalize") against pygmmis, the other Python library for
    Gaussian mixtures on incomplete data, full covariance, float64: seconds per EM
    iteration from the same start, in turn over rounds, and the marginal log-likelihood
    per row of the observed entries that each reached after 1 + m iterations (fastem
    evaluates pygmmis's model, whose fit gives each missing entry a huge variance in
    place of marginalising it)."""

    import pygmmis


    X = make_data(n, d, k, "float64")
    Xm = with_missing(X, fraction)
    init = starting_point(X, k, "full")
    covariances = np.linalg.inv(init["precisions_init"])

    def pygmmis_fit(iterations: int):
        gmm = pygmmis.GMM(K=k, D=d)
        gmm.amp[:], gmm.mean[:], gmm.covar[:] = init["weights_init"], init["means_init"], covariances
        start = time.perf_counter()
        pygmmis.fit(gmm, Xm, init_method="none", tol=0.0, miniter=iterations, maxiter=iterations,
                    rng=np.random.RandomState(0))
        return time.perf_counter() - start, gmm

    def observed_log_likelihood(weights, means, covs) -> float:
        return mean_log_likelihood(Xm, "full", weights, means, np.linalg.inv(covs), missing="marginalize")

    print(f"fastem against pygmmis: N={n:,} D={d} K={k} full float64, {fraction:.0%} of the entries missing at "
          f"random ({np.isnan(Xm).any(axis=1).mean():.1%} of the rows), {m} timed iterations, {rounds} rounds")
    fe, pg = [], []
    for _ in range(rounds):
        fe.append(seconds_per_iteration("fastem", Xm, k, "full", {**init, "missing": "marginalize"}, m))
        one = min(pygmmis_fit(1)[0] for _ in range(2))
        more, fitted = min((pygmmis_fit(1 + m) for _ in range(2)), key=lambda r: r[0])
        pg.append(max(more - one, 1e-9) / m)
    ratios = np.array(pg) / np.array(fe)
    _, fe_fit = timed_fits("fastem", Xm, k, "full", {**init, "missing": "marginalize"}, m, repeat=1)
    print(f"{'library':<9} {'s/it':>10} {'log p(x_O) per row':>19}")
    print(f"{'fastem':<9} {np.median(fe):>10.5f} {observed_log_likelihood(fe_fit.weights_, fe_fit.means_, fe_fit.covariances_):>19.6f}")
    print(f"{'pygmmis':<9} {np.median(pg):>10.5f} "
          f"{observed_log_likelihood(fitted.amp / fitted.amp.sum(), fitted.mean, fitted.covar):>19.6f}")
    print(f"pygmmis / fastem: {np.median(ratios):.1f}x (rounds: " + " ".join(f"{r:.1f}x" for r in ratios) + ")",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastem.bench", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1_000_000, help="rows (default 1,000,000)")
    parser.add_argument("-d", type=int, default=16, help="features (default 16)")
    parser.add_argument("-k", type=int, default=16, help="components (default 16)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    parser.add_argument("--covariance", nargs="+", choices=COVARIANCE_TYPES, default=list(COVARIANCE_TYPES))
    parser.add_argument("--iterations", type=int, default=3,
                        help=f"m timed iterations of scikit-learn and peers (default 3), {FASTEM_ITERATIONS} m of fastem")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory child processes")
    parser.add_argument("--scaling", metavar="PNG", help="time N = 1e4 .. 1e7 and plot it (first --covariance)")
    parser.add_argument("--threads", action="store_true", help="1 thread against all threads")
    parser.add_argument("--bayesian", action="store_true",
                        help="BayesianGaussianMixture (variational EM) of both libraries instead of GaussianMixture, "
                             "from init_params='random_from_data' ('random' for tied), with the relative difference "
                             "of their lower bounds; also with --scaling and --threads")
    parser.add_argument("--missing", type=float, metavar="FRACTION",
                        help="fastem with this fraction of entries NaN (missing='marginalize') against the same data "
                             "complete, interleaved rounds")
    parser.add_argument("--pygmmis", action="store_true",
                        help="with --missing: fastem against pygmmis (if installed), full covariance, same start")
    parser.add_argument("--matrix", nargs="*", type=int, metavar="ROW",
                        help="the shape matrix (fastem._matrix.SHAPES), or its rows numbered from 1, against "
                             "scikit-learn and oneDAL (pip install fastem[peers]); ignores -n -d -k --dtype")
    parser.add_argument("--rounds", type=int, default=3, help="with --matrix: interleaved rounds (default 3)")
    parser.add_argument("--baseline", metavar="DIR",
                        help="with --matrix: also time the fastem whose source tree is in DIR (a release's checkout)")
    parser.add_argument("--peak-child", choices=("fastem", "sklearn"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.matrix is not None:
        from ._matrix import SHAPES, matrix

        if any(not 1 <= row <= len(SHAPES) for row in args.matrix):
            parser.error(f"--matrix rows are numbered 1 to {len(SHAPES)}, got {args.matrix}")
        matrix(args.matrix, rounds=args.rounds, iterations=args.iterations, baseline=args.baseline)
        return 0
    if args.missing is not None:
        if not 0.0 <= args.missing < 1.0:
            parser.error(f"--missing must be a fraction in [0, 1), got {args.missing}")
        if args.pygmmis:
            if not _importable("pygmmis"):
                parser.error("--pygmmis needs pygmmis: pip install pygmmis")
            pygmmis_table(args.n, args.d, args.k, args.missing)
        else:
            missing_table(args.n, args.d, args.k, args.covariance, args.missing, args.dtype)
        return 0
    if args.peak_child:
        _peak_child(args, args.peak_child, args.covariance[0])
        return 0
    if args.scaling:
        sizes = [10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000]
        scaling_plot(args.scaling, args.d, args.k, args.covariance[0], sizes, sklearn_max=1_000_000,
                     bayesian=args.bayesian)
        return 0
    if args.threads:
        for cov in args.covariance:
            thread_scaling(args.n, args.d, args.k, cov, bayesian=args.bayesian)
        return 0

    import numba

    X = make_data(args.n, args.d, args.k, args.dtype)
    rates = machine_rates(args.dtype)
    print(f"{'BayesianGaussianMixture' if args.bayesian else 'GaussianMixture'}: "
          f"N={args.n:,} D={args.d} K={args.k} {args.dtype}, {numba.get_num_threads()} threads, "
          f"{FASTEM_ITERATIONS * args.iterations} timed iterations of fastem, {args.iterations} of the others; "
          f"extra peak memory beyond the data ({X.nbytes / 2**20:.0f} MB)")
    print(blas_description())
    print(f"this machine now: read {rates['bandwidth'] / 1e9:.1f} GB/s, square matrix product "
          f"{rates['multiply_adds'] / 1e9:.1f} G multiply-adds/s (tall-skinny "
          f"{rates['skinny_multiply_adds'] / 1e9:.1f}), vectorised exp {rates['exps'] / 1e9:.2f} G/s")
    peers = [] if args.bayesian else [p for p in ("pomegranate", "torchgmm") if _importable(p)]
    header = (f"{'covariance':<10} {'fastem s/it':>12} {'floor s/it':>11} {'x floor':>8} {'product G':>9}"
              f" {'x madd+exp':>10} {'sklearn s/it':>13} {'speed-up':>9}")
    header += "".join(f" {p + ' s/it':>16}" for p in peers)
    if not args.no_memory:
        header += f" {'fastem MB':>10} {'sklearn MB':>11}"
    if args.bayesian:
        header += f" {'bound rel. diff':>15}"
    print(header)
    for row, cov in enumerate(args.covariance):
        init = starting_point(X, args.k, cov, bayesian=args.bayesian)
        before = rates if row == 0 else machine_rates(args.dtype)  # the header's were just measured
        fe, fe_fit = timed_fits("fastem", X, args.k, cov, init, FASTEM_ITERATIONS * args.iterations,
                                bayesian=args.bayesian)
        after = machine_rates(args.dtype)
        row_rates = {key: max(before[key], after[key]) for key in before}
        floor = floor_seconds(row_rates, args.n, args.d, args.k, cov, X.dtype.itemsize)
        compute = compute_seconds(row_rates, args.n, args.d, args.k, cov)
        sk, sk_fit = timed_fits("sklearn", X, args.k, cov, init, args.iterations, bayesian=args.bayesian)
        line = (f"{cov:<10} {fe:>12.4f} {floor:>11.4f} {fe / floor:>7.2f}x {row_rates['multiply_adds'] / 1e9:>9.1f}"
                f" {fe / compute:>9.2f}x {sk:>13.4f} {sk / fe:>8.1f}x")
        for peer in peers:
            seconds = peer_seconds_per_iteration(peer, X, args.k, cov, args.iterations)
            line += f" {'n/a' if seconds is None else f'{seconds:.4f}':>16}"
        if not args.no_memory:
            line += f" {peak_extra_mb(args, 'fastem', cov):>10.0f} {peak_extra_mb(args, 'sklearn', cov):>11.0f}"
        if args.bayesian:
            line += f" {bound_difference(fe_fit, sk_fit, args.iterations):>15.1e}"
        print(line, flush=True)
    return 0


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


if __name__ == "__main__":
    sys.exit(main())
