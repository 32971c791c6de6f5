"""The fastem command: fit, predict, score, sample, info, select and demo.

User errors (a missing file, a bad option, bad data) print one line to stderr and
exit with status 1 (2 for a malformed command line), never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

from ._covariance import COVARIANCE_TYPES


def _source_options(args) -> dict:
    options = {}
    if getattr(args, "chunk_size", None) is not None:
        options["chunk_size"] = args.chunk_size
    if getattr(args, "key", None):
        options["key"] = args.key
    if getattr(args, "columns", None):
        options["columns"] = [c if not c.isdigit() else int(c) for c in args.columns.split(",")]
    return options


def _open(args):
    from .sources import float_dtype, source

    data = source(args.data, **_source_options(args))
    if getattr(args, "dtype", None):
        data.dtype = float_dtype(np.dtype(args.dtype))
    return data


def _estimator(args, k: int):
    from .mixture import GaussianMixture

    return GaussianMixture(
        k,
        covariance_type=args.covariance,
        max_iter=args.max_iter,
        tol=args.tol,
        n_init=args.n_init,
        init_params=args.init,
        random_state=args.seed,
        chunk_size=args.chunk_size,
        n_jobs=args.threads,
        progress=not args.quiet,
    )


def _fit(args, k: int, data):
    gm = _estimator(args, k)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        gm.fit(data)
    return gm, time.perf_counter() - start


def _summary(gm, data, seconds: float) -> str:
    n = data.count_rows()
    bic = -2 * gm.lower_bound_ * n + gm.n_parameters() * np.log(n) if np.isfinite(gm.lower_bound_) else np.nan
    per_iter = seconds / max(gm.n_iter_, 1)
    return (
        f"fitted K={gm.n_components} {gm.covariance_type} on {n:,} rows x {data.n_features} features ({data.dtype})\n"
        f"  iterations      {gm.n_iter_} ({'converged' if gm.converged_ else 'NOT converged'})\n"
        f"  log-likelihood  {gm.lower_bound_:.6f} per row (before the last M-step)\n"
        f"  BIC             {bic:.6g}\n"
        f"  time            {seconds:.2f} s, {per_iter:.3f} s per iteration (initialisation included)"
    )


def cmd_fit(args) -> None:
    data = _open(args)
    gm, seconds = _fit(args, args.k, data)
    print(_summary(gm, data, seconds))
    if args.output:
        print(f"  model           {gm.save(args.output)}")


def _load(path):
    from ._load import load

    return load(path)


def cmd_predict(args) -> None:
    gm = _load(args.model)
    data = _open(args)
    out = gm.predict_proba(data) if args.proba else gm.predict(data)
    _save_npy(args.output, out)
    print(f"wrote {'probabilities' if args.proba else 'labels'} of {out.shape[0]:,} rows to {args.output}")


def cmd_score(args) -> None:
    gm = _load(args.model)
    log_density = gm.score_samples(_open(args))
    n = log_density.size
    p = gm.n_parameters()
    total = float(log_density.sum())
    print(f"rows            {n:,}")
    print(f"log-likelihood  {total / n:.6f} per row, {total:.6g} in all")
    print(f"BIC             {-2 * total + p * np.log(n):.6g}")
    print(f"AIC             {-2 * total + 2 * p:.6g}")


def _save_npy(path: str, array: np.ndarray) -> None:
    """Write array to the .npy file path whole or not at all: into a temporary file beside
    it, renamed over it when complete (a device or pipe, such as /dev/stdout, is written
    directly)."""
    import tempfile
    from pathlib import Path

    target = Path(path)
    if target.exists() and not target.is_file() and not target.is_dir():
        with open(target, "wb") as f:
            np.save(f, array)
        return
    if target.suffix != ".npy":
        raise ValueError(f"-o {path}: this command writes .npy files; give a path ending in .npy")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"-o {path}: the folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_sample(args) -> None:
    gm = _load(args.model)
    if args.seed is not None:
        gm.random_state = args.seed
    X, _ = gm.sample(args.n)
    _save_npy(args.output, X)
    print(f"wrote {X.shape[0]:,} rows x {X.shape[1]} features to {args.output}")


def cmd_info(args) -> None:
    gm = _load(args.model)
    k, d = gm.means_.shape
    print(f"model           {args.model}")
    print(f"components      {k} ({gm.covariance_type} covariance), {d} features, {gm.n_parameters()} parameters")
    print(f"fit             {gm.n_iter_} iterations, {'converged' if gm.converged_ else 'not converged'}, "
          f"log-likelihood {gm.lower_bound_:.6f} per row")
    np.set_printoptions(precision=4, suppress=True, linewidth=120)
    for j in range(k):
        print(f"  component {j}: weight {gm.weights_[j]:.4f}, mean {gm.means_[j]}")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _k_range(text: str) -> list[int]:
    try:
        if ".." in text:
            lo, hi = (int(v) for v in text.split(".."))
            if lo > hi:
                raise argparse.ArgumentTypeError(f"the range {text!r} is empty ({lo} > {hi}): give LO..HI with LO <= HI")
            ks = list(range(lo, hi + 1))
        else:
            ks = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K as 'LO..HI' or 'K1,K2,...', got {text!r}") from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"components must be >= 1, got {text!r}")
    return ks


def cmd_select(args) -> None:
    data = _open(args)
    n = data.count_rows()
    print(f"{'K':>4} {'iterations':>10} {'log-lik/row':>12} {args.criterion.upper():>14}")
    if max(args.k) > n:
        raise ValueError(f"-k reaches {max(args.k)} components, but the data has {n} rows: "
                         "n_components must not exceed the rows")
    scores = {}
    best = None
    for k in args.k:
        gm, _ = _fit(args, k, data)
        p = gm.n_parameters()
        loglik = gm.score_samples(data).sum()
        value = -2 * loglik + (p * np.log(n) if args.criterion == "bic" else 2 * p)
        scores[k] = value
        flag = " (not converged)" if not gm.converged_ else ""
        print(f"{k:>4} {gm.n_iter_:>10} {loglik / n:>12.5f} {value:>14.6g}{flag}", flush=True)
        if best is None or value < scores[best[0]]:
            best = (k, gm)
    print(f"best K = {best[0]} (lowest {args.criterion.upper()})")
    if args.output:
        print(f"model of K = {best[0]}: {best[1].save(args.output)}")


def cmd_demo(args) -> None:
    from .demo import run_demo

    run_demo(rows=args.rows, quick=args.quick, output=args.output, compare=not args.no_compare, plot=not args.no_plot)


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--covariance", choices=COVARIANCE_TYPES, default="full", help="covariance type (default full)")
    p.add_argument("--max-iter", type=int, default=100, help="EM iterations at most (default 100)")
    p.add_argument("--tol", type=float, default=1e-3, help="stop when the log-likelihood per row changes less (1e-3)")
    p.add_argument("--n-init", type=int, default=1, help="initialisations, the best kept (default 1)")
    p.add_argument("--init", choices=("kmeans", "k-means++", "random", "random_from_data"), default="kmeans")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="a .npy, .h5/.hdf5, .zarr, .parquet or .csv file")
    p.add_argument("--chunk-size", type=int, default=None, help="rows per chunk (default: about 16 MiB)")
    p.add_argument("--dtype", choices=("float32", "float64"), help="compute on chunks of this type")
    p.add_argument("--columns", help="comma-separated columns (Parquet, CSV: names or indices)")
    p.add_argument("--key", help="the dataset inside an HDF5 file")


def parser() -> argparse.ArgumentParser:
    from . import __version__

    top = argparse.ArgumentParser(prog="fastem", description="Gaussian mixtures by EM, fast, on data of any size.")
    top.add_argument("--version", action="version", version=f"fastem {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("fit", help="fit a mixture to a data file")
    _add_data_options(p)
    p.add_argument("-k", type=int, required=True, help="number of components")
    _add_fit_options(p)
    p.add_argument("-o", "--output", help="write the model here (.npz)")
    p.set_defaults(run=cmd_fit)

    p = sub.add_parser("predict", help="component labels (or probabilities) of every row")
    p.add_argument("model")
    _add_data_options(p)
    p.add_argument("-o", "--output", required=True, help="labels .npy file")
    p.add_argument("--proba", action="store_true", help="write (rows, K) probabilities instead of labels")
    p.set_defaults(run=cmd_predict)

    p = sub.add_parser("score", help="log-likelihood, BIC and AIC of a model on data")
    p.add_argument("model")
    _add_data_options(p)
    p.set_defaults(run=cmd_score)

    p = sub.add_parser("sample", help="draw rows from a model")
    p.add_argument("model")
    p.add_argument("-n", type=int, required=True, help="rows to draw")
    p.add_argument("-o", "--output", required=True, help=".npy file")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(run=cmd_sample)

    p = sub.add_parser("info", help="describe a model file")
    p.add_argument("model")
    p.set_defaults(run=cmd_info)

    p = sub.add_parser("select", help="fit a range of K and pick the best by BIC or AIC")
    _add_data_options(p)
    p.add_argument("-k", type=_k_range, required=True, help="K values: LO..HI or K1,K2,...")
    p.add_argument("--criterion", choices=("bic", "aic"), default="bic")
    _add_fit_options(p)
    p.add_argument("-o", "--output", help="write the best model here (.npz)")
    p.set_defaults(run=cmd_select)

    p = sub.add_parser("demo", help="fit a built-in dataset of a known mixture and compare with scikit-learn")
    p.add_argument("--rows", type=_positive, default=3_000_000, help="rows of the built-in dataset (default 3,000,000)")
    p.add_argument("--quick", action="store_true", help="a small, fast run (200,000 rows)")
    p.add_argument("-o", "--output", default="fastem-demo.png", help="picture of the fit (needs matplotlib)")
    p.add_argument("--no-compare", action="store_true", help="skip the scikit-learn timing")
    p.add_argument("--no-plot", action="store_true", help="skip the picture")
    p.set_defaults(run=cmd_demo)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except KeyboardInterrupt:
        print("fastem: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, TypeError, ImportError, FloatingPointError, MemoryError) as exc:
        if os.environ.get("FASTEM_DEBUG"):
            raise
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"fastem: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
