"""The shape matrix of ``python -m fastem.bench --matrix``: seconds per EM iteration at the
shapes users fit (many components, many features, few features, float32), fastem beside
its peers in the same run.

For each shape, in interleaved rounds: fastem; optionally another fastem (``--baseline
DIR``: the source tree of a release, timed in a child process that imports it from DIR);
oneDAL's EM (scikit-learn-intelex's ``daal4py``, where installed: ``pip install
fastem[peers]``); then scikit-learn once. All start from the same weights, means and
precisions. Each library's model after the same 1 + m iterations is scored on the data by
one function (fastem's mean log-likelihood), and the largest relative difference from
fastem's is printed: the libraries ran the same EM. fastem's time is also printed over
the performance model's compute bound measured in the same run (the multiply-adds over a
square matrix product's rate plus the exponentials over the vectorised exp's rate, the
rates measured before and after its timing, the faster kept).

oneDAL stops when its log-likelihood stops changing, whatever its threshold: its time per
iteration is taken over the iterations it reports, and a fit that stopped before 1 + m
iterations is marked. Where it fails with its default regularisation it is run again with
regularizationFactor=1.0, and marked.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Shape:
    n: int
    d: int
    k: int
    covariance_type: str
    dtype: str = "float64"

    def __str__(self) -> str:
        n = f"{self.n:.0e}".replace("e+0", "e")
        return f"{n} x {self.d}, K={self.k} {self.covariance_type}" + (" float32" if self.dtype == "float32" else "")


SHAPES = (
    Shape(1_000_000, 16, 16, "diag"),
    Shape(1_000_000, 16, 16, "full"),
    Shape(10_000_000, 8, 8, "diag"),
    Shape(200_000, 64, 32, "full"),
    Shape(200_000, 64, 256, "diag"),
    Shape(100_000, 128, 16, "full"),
    Shape(1_000_000, 16, 16, "full", "float32"),
    Shape(1_000_000, 2, 8, "full"),
    Shape(1_000_000, 2, 8, "diag"),
    Shape(200_000, 256, 8, "full"),
    Shape(200_000, 64, 32, "full", "float32"),
    Shape(200_000, 64, 256, "diag", "float32"),
    Shape(100_000, 128, 16, "full", "float32"),
)


def onedal_fit(X, covariance_type: str, init: dict, iterations: int, regularization: float | None = None):
    """(seconds, iterations run, (weights, means, precisions)) of oneDAL's EM from init."""
    import daal4py

    k = len(init["weights_init"])
    precisions = init["precisions_init"]
    if covariance_type == "full":
        covariances = [np.linalg.inv(p).astype(X.dtype) for p in precisions]
    else:
        covariances = [(1.0 / p)[None, :].astype(X.dtype) for p in precisions]
    options = {} if regularization is None else {"regularizationFactor": regularization}
    algorithm = daal4py.em_gmm(nComponents=k, maxIterations=iterations, accuracyThreshold=1e-300,
                               fptype="float" if X.dtype == np.float32 else "double",
                               covarianceStorage="full" if covariance_type == "full" else "diagonal", **options)
    weights = init["weights_init"][None, :].astype(X.dtype)
    means = init["means_init"].astype(X.dtype)
    start = time.perf_counter()
    result = algorithm.compute(X, weights, means, covariances)
    seconds = time.perf_counter() - start
    covs = np.array(result.covariances, dtype=np.float64)
    fitted_precisions = np.linalg.inv(covs) if covariance_type == "full" else 1.0 / covs[:, 0, :]
    return seconds, int(np.ravel(result.nIterations)[0]), (np.ravel(result.weights).astype(np.float64),
                                                         np.asarray(result.means, dtype=np.float64),
                                                         fitted_precisions)


def onedal_seconds(X, covariance_type: str, init: dict, m: int, repeat: int = 2):
    """(seconds per iteration, model after 1 + m, note) of oneDAL; seconds None if it ran
    one iteration only, and seconds and model None if it failed (the note says why)."""
    note = ""
    try:
        onedal_fit(X, covariance_type, init, 1)
    except RuntimeError:
        note = "reg 1.0"
    regularization = 1.0 if note else None
    try:
        ones = [onedal_fit(X, covariance_type, init, 1, regularization)[0] for _ in range(repeat)]
        fits = [onedal_fit(X, covariance_type, init, 1 + m, regularization) for _ in range(repeat)]
    except RuntimeError as error:
        return None, None, f"failed: {str(error).splitlines()[0]}"
    seconds, ran, model = min(fits, key=lambda fit: fit[0])
    if ran < 1 + m:
        note = ", ".join(filter(None, (note, f"stopped at {ran}")))
    if ran < 2:
        return None, model, note
    return max(seconds - min(ones), 1e-9) / (ran - 1), model, note


_CHILD = """
import json, sys, time, warnings
import numpy as np
import fastem
{make_data}
args = json.loads(sys.argv[1])
init = dict(np.load(args["init"]))
X = make_data(args["n"], args["d"], args["k"], args["dtype"])
def timed(max_iter):
    gm = fastem.GaussianMixture(args["k"], covariance_type=args["covariance_type"], max_iter=max_iter, tol=0.0, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        gm.fit(X)
    return time.perf_counter() - start, gm
timed(1)
one = min(timed(1)[0] for _ in range(args["repeat"]))
fits = [timed(1 + args["m"]) for _ in range(args["repeat"])]
seconds = min(fit[0] for fit in fits)
gm = timed(1 + args["compare"])[1]
np.savez(args["out"], weights=gm.weights_, means=gm.means_, precisions=gm.precisions_)
print(json.dumps({{"seconds": max(seconds - one, 1e-9) / args["m"], "version": fastem.__version__,
                   "file": fastem.__file__}}))
"""


def baseline_seconds(directory: str, shape: Shape, init: dict, m: int, compare: int, repeat: int = 2):
    """(seconds per iteration, model after 1 + compare iterations, version) of the fastem
    whose source tree is in directory, timed the same way in a child process run there (so
    that it imports that fastem, not this one)."""
    from .bench import make_data

    with tempfile.TemporaryDirectory() as scratch:
        init_path, out_path = os.path.join(scratch, "init.npz"), os.path.join(scratch, "out.npz")
        np.savez(init_path, **init)
        args = {"n": shape.n, "d": shape.d, "k": shape.k, "dtype": shape.dtype,
                "covariance_type": shape.covariance_type, "init": init_path, "out": out_path, "m": m,
                "compare": compare, "repeat": repeat}
        env = {**os.environ, "PYTHONPATH": os.path.abspath(directory)}
        code = _CHILD.format(make_data=inspect.getsource(make_data))
        done = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True,
                              cwd=os.path.abspath(directory), env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the baseline fastem in {directory} failed:\n{done.stderr}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        if not os.path.realpath(report["file"]).startswith(os.path.realpath(directory)):
            raise RuntimeError(f"the baseline child imported {report['file']}, not the fastem in {directory}")
        fitted = np.load(out_path)
        return report["seconds"], (fitted["weights"], fitted["means"], fitted["precisions"]), report["version"]


def _model(gm):
    return gm.weights_, gm.means_, gm.precisions_


def matrix(rows=None, rounds: int = 3, iterations: int = 3, baseline: str | None = None) -> list[dict]:
    """Times every shape (or the 1-based ``rows`` of SHAPES) and prints a line per shape;
    returns the lines' figures (seconds are medians over the rounds)."""
    import numba

    from .bench import (
        FASTEM_ITERATIONS,
        _estimator,
        _importable,
        blas_description,
        compute_seconds,
        machine_rates,
        make_data,
        mean_log_likelihood,
        starting_point,
        timed_fits,
    )

    shapes = [SHAPES[i - 1] for i in rows] if rows else list(SHAPES)
    with_onedal = _importable("daal4py")
    m = FASTEM_ITERATIONS * iterations
    print(f"shape matrix: {numba.get_num_threads()} threads, {rounds} interleaved rounds, seconds per EM iteration "
          f"({m} timed iterations of fastem, {iterations} of the others); peers: scikit-learn"
          + (", oneDAL (daal4py)" if with_onedal else " (oneDAL: pip install fastem[peers])")
          + (f"; baseline: the fastem in {baseline}" if baseline else ""))
    print(blas_description())
    header = f"{'shape':<32} {'fastem':>8} {'x bound':>8}"
    if baseline:
        header += f" {'baseline':>9} {'/fastem':>8}"
    if with_onedal:
        header += f" {'oneDAL':>8} {'/fastem':>8}"
    header += f" {'sklearn':>8} {'/fastem':>8} {'ll rel. diff':>12}  notes"
    print(header, flush=True)
    out = []
    for shape in shapes:
        X = make_data(shape.n, shape.d, shape.k, shape.dtype)
        init = starting_point(X, shape.k, shape.covariance_type)
        times = {"fastem": [], "baseline": [], "oneDAL": []}
        bounds, notes, models = [], set(), {}
        version = None
        for _ in range(rounds):
            before = machine_rates(shape.dtype)
            seconds, _ = timed_fits("fastem", X, shape.k, shape.covariance_type, init, m)
            after = machine_rates(shape.dtype)
            rates = {key: max(before[key], after[key]) for key in before}
            bounds.append(compute_seconds(rates, shape.n, shape.d, shape.k, shape.covariance_type))
            times["fastem"].append(seconds)
            if baseline:
                seconds, models["baseline"], version = baseline_seconds(baseline, shape, init, m, iterations)
                times["baseline"].append(seconds)
            if with_onedal:
                seconds, model, note = onedal_seconds(X, shape.covariance_type, init, iterations)
                if seconds is not None:
                    times["oneDAL"].append(seconds)
                if model is not None:
                    models["oneDAL"] = model
                if note:
                    notes.add(f"oneDAL {note}")
        sk, sk_fit = timed_fits("sklearn", X, shape.k, shape.covariance_type, init, iterations)
        models["sklearn"] = _model(sk_fit)
        with warnings.catch_warnings():  # after as many iterations as the others
            warnings.simplefilter("ignore")
            models["fastem"] = _model(_estimator("fastem", shape.k, shape.covariance_type, 1 + iterations, init).fit(X))
        ll = {name: mean_log_likelihood(X, shape.covariance_type, *model) for name, model in models.items()}
        differences = {name: abs(ll[name] - ll["fastem"]) / abs(ll["fastem"]) for name in ll if name != "fastem"}
        notes.update(f"ll {name} {diff:.1e}" for name, diff in differences.items() if diff > 1e-6)
        fe = float(np.median(times["fastem"]))
        line = f"{shape!s:<32} {fe:>8.4f} {fe / float(np.median(bounds)):>7.2f}x"
        row = {"shape": str(shape), "fastem": fe, "bound": float(np.median(bounds)), "sklearn": sk,
               "log_likelihoods": ll}
        for name, shown in (("baseline", baseline), ("oneDAL", with_onedal)):
            if not shown:
                continue
            if times[name]:
                peer = float(np.median(times[name]))
                row[name] = peer
                line += f" {peer:>{9 if name == 'baseline' else 8}.4f} {peer / fe:>7.2f}x"
            else:
                line += f" {'-':>{9 if name == 'baseline' else 8}} {'-':>8}"
        line += f" {sk:>8.4f} {sk / fe:>7.1f}x {max(differences.values()):>12.1e}"
        if version:
            notes.add(f"baseline {version}")
        print(line + ("  " + "; ".join(sorted(notes)) if notes else ""), flush=True)
        out.append(row)
    return out
