"""The fastem command: fit, predict, score, sample, info, select, compile and demo.

``fastem fit`` fits a GaussianMixture, or with ``--bayesian`` a BayesianGaussianMixture
(variational; ``--weight-concentration-prior-type`` and ``--weight-concentration-prior``
set its prior on the weights, and -k is an upper bound: components the data does not
need are left with ~0 weight). predict, score, sample and info take either kind of model
file; select fits GaussianMixture only (it compares K by BIC or AIC). compile fills Numba's
on-disk cache with the kernels fits use, ahead of a first fit (fastem.compile_kernels).

User errors (a missing file, a bad option, bad data) print one line to stderr and
exit with status 1 (2 for a malformed command line, such as an option the command does
not take with the others given), never a traceback.

For scripts:

- ``--json`` (fit, score, select, info) prints one JSON object on stdout and nothing
  else. Numbers are JSON numbers; a non-finite one (the -inf lower bound of an empty
  fit) is null. The keys:

  fit     estimator ("GaussianMixture"), n_components, covariance_type, n_samples,
          n_features, dtype, feature_names (null if the data has none), n_iter, converged,
          lower_bound (log-likelihood per row, before the last M-step), n_parameters, bic,
          seconds, model (the path written by -o, else null)
  fit --bayesian
          estimator ("BayesianGaussianMixture"), n_components, covariance_type,
          weight_concentration_prior_type, weight_concentration_prior (the prior used),
          n_samples, n_features, dtype, feature_names, n_iter, converged, lower_bound
          (the variational lower bound of all the rows, scikit-learn's), weights (a
          list), effective_components (components of weight above 1%), seconds, model
  score   n_samples, n_parameters, log_likelihood_per_row, log_likelihood_total, bic, aic
          (a BayesianGaussianMixture: n_samples, log_likelihood_per_row and
          log_likelihood_total; BIC and AIC count a GaussianMixture's parameters)
  select  criterion ("bic" or "aic"), n_samples, fits (one object per K: k, n_iter,
          converged, n_parameters, log_likelihood_per_row, log_likelihood_total, bic,
          aic), best_k, model (the path written by -o, else null)
  info    model (the file), estimator, n_components (components in the model),
          covariance_type, n_features, n_parameters, dtype, missing ("error" or
          "marginalize"), feature_names (null if the model has none), weights (a list), means (a list of rows), converged, n_iter,
          lower_bound; a BayesianGaussianMixture: weight_concentration_prior_type and
          effective_components instead of n_parameters

- ``-q`` (every command) turns off progress and the messages about files written
  ("wrote ... to ..."); results (fit's summary with the model path, score's numbers,
  select's table, info) and errors still print. Warnings (a fit that did not converge, a collapsed component)
  show with or without -q, one line each on stderr (``fastem: warning: ...``, in select
  ``fastem: warning: K=3: ...``): they say a result may not be what was asked for.
  PYTHONWARNINGS=ignore silences them.
- Progress goes to stderr: a bar on a terminal, plain lines otherwise (no ``\\r``
  redraws in a log); FASTEM_PROGRESS=bar, lines or off chooses (see fastem._progress).
  A model file never keeps the progress setting: one saved by ``fastem fit`` loads with
  progress=False.
- ``-o`` must name a file in a folder that exists (checked before any work). predict and
  sample write the format of its suffix (fastem._outputs): .npy, .parquet or .csv (a
  header line, then one line per row: slower and larger than the others). predict writes
  chunk by chunk (``predict(X, out=path)``): its memory stays bounded whatever the rows.
  A file is written under a temporary name and renamed into place when whole. Columns of
  .parquet and .csv: label, component_0 ... (``--proba``); sample: the model's feature
  names, else x0, x1, ...
- ``--delimiter`` (CSV data): "tab" or "\\t" for a tab; any other value goes to the CSV
  reader as it is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ._covariance import COVARIANCE_TYPES

OUTPUT_SUFFIXES = (".npy", ".parquet", ".csv")
CSV_BLOCK_ROWS = 65_536  # rows per block when writing .csv
EFFECTIVE_WEIGHT = 0.01  # a Bayesian model's effective components: those of a weight above this
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
BAYESIAN_OPTIONS = {"weight_concentration_prior_type": "--weight-concentration-prior-type",
                    "weight_concentration_prior": "--weight-concentration-prior"}


def _source_options(args) -> dict:
    options = {}
    if getattr(args, "chunk_size", None) is not None:
        options["chunk_size"] = args.chunk_size
    if getattr(args, "key", None):
        options["key"] = args.key
    if getattr(args, "columns", None):
        options["columns"] = [c if not c.isdigit() else int(c) for c in args.columns.split(",")]
    if getattr(args, "delimiter", None) is not None:
        options["delimiter"] = "\t" if args.delimiter in ("tab", "\\t") else args.delimiter
    return options


def _open(args):
    from .sources import float_dtype, source

    data = source(args.data, **_source_options(args))
    data.allow_nan = getattr(args, "missing", "error") == "marginalize"  # before any pass (select counts rows)
    if getattr(args, "dtype", None):
        data.dtype = float_dtype(np.dtype(args.dtype))
    return data


# ---------------------------------------------------------------------- output to the user
def _say(args, text: str) -> None:
    """An informational message: not with -q, not with --json."""
    if not (args.quiet or getattr(args, "json", False)):
        print(text)


def _json_value(value):
    """value with numpy scalars and arrays as Python numbers and lists, non-finite floats
    as None and paths as strings."""
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _print_json(record: dict) -> None:
    print(json.dumps(_json_value(record), allow_nan=False))


class _Warnings:
    """Warnings as one line each on stderr (``fastem: warning: ...``), each text once
    within a context (see ``about``)."""

    def __init__(self):
        self.prefix = ""
        self.seen: set[str] = set()

    def show(self, message, category, filename, lineno, file=None, line=None) -> None:
        text = self.prefix + " ".join(str(message).split())
        if text in self.seen:
            return
        self.seen.add(text)
        with contextlib.suppress(OSError, ValueError):
            print(f"fastem: warning: {text}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def about(self, prefix: str):
        """Within the block, warnings start with prefix (select: which K)."""
        before, self.prefix = self.prefix, prefix
        try:
            yield
        finally:
            self.prefix = before


# ---------------------------------------------------------------------- files written
def _check_folder(option: str, path: Path) -> None:
    """A clear error, before any work, if path's folder is missing or path is a folder."""
    folder = path.parent
    if not folder.is_dir():
        why = f" ({folder} is a file)" if folder.exists() else ""
        raise FileNotFoundError(f"-o {option}: the folder {folder} does not exist{why}")
    if path.is_dir():
        raise IsADirectoryError(f"-o {option} is a folder; give a file path")


def _model_target(output: str) -> Path:
    """Where save() will write the model of -o output (.npz appended if missing), checked."""
    path = Path(output)
    if not path.name or output.endswith(("/", os.sep)):
        raise ValueError(f"-o {output!r}: give a file name for the model")
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    _check_folder(output, path)
    return path


def _save_model(gm, path: Path) -> Path:
    """gm saved to path without the command's progress setting (a saved model shows no bars)."""
    gm.set_params(progress=False)
    return gm.save(path)


def _output_target(output: str) -> Path:
    """-o output of predict or sample, checked before any work: its suffix, its folder and
    the library its format needs (fastem._outputs)."""
    from ._outputs import check_output_path

    return check_output_path(output, f"-o {output}")


# ---------------------------------------------------------------------- fitting
def _estimator(args, k: int):
    from .bayesian import BayesianGaussianMixture
    from .mixture import GaussianMixture

    options = {"covariance_type": args.covariance, "max_iter": args.max_iter, "tol": args.tol, "n_init": args.n_init,
               "init_params": args.init, "random_state": args.seed, "chunk_size": args.chunk_size,
               "n_jobs": args.threads, "progress": not args.quiet, "missing": args.missing}
    if not getattr(args, "bayesian", False):
        return GaussianMixture(k, **options)
    return BayesianGaussianMixture(
        k, weight_concentration_prior_type=args.weight_concentration_prior_type or "dirichlet_process",
        weight_concentration_prior=args.weight_concentration_prior, **options)


def _is_bayesian(gm) -> bool:
    from .bayesian import BayesianGaussianMixture

    return isinstance(gm, BayesianGaussianMixture)


def _effective(gm) -> int:
    """A Bayesian model's components of a weight above EFFECTIVE_WEIGHT."""
    return int(np.sum(np.asarray(gm.weights_, dtype=np.float64) > EFFECTIVE_WEIGHT))


def _check_fit_options(args) -> str | None:
    """What is wrong with fit's or select's combination of options (a command-line error), or None."""
    given = [option for name, option in BAYESIAN_OPTIONS.items() if getattr(args, name, None) is not None]
    if args.command == "select" and (args.bayesian or given):
        return (f"select fits GaussianMixture only (it compares K by BIC or AIC), not {(given or ['--bayesian'])[0]}: "
                "for a Bayesian mixture use fit --bayesian, with -k an upper bound on the components")
    if given and not args.bayesian:
        return f"{given[0]} applies to a Bayesian mixture: add --bayesian"
    return None


def _fit(args, k: int, data):
    gm = _estimator(args, k)
    start = time.perf_counter()
    gm.fit(data)  # its warnings are shown by main
    return gm, time.perf_counter() - start


def _bic(gm, n: int) -> float:
    if not np.isfinite(gm.lower_bound_):
        return math.nan
    return float(-2 * gm.lower_bound_ * n + gm.n_parameters() * np.log(n))


def _feature_names(gm) -> list[str] | None:
    names = getattr(gm, "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


def _fit_record(gm, data, seconds: float, model: Path | None) -> dict:
    n = data.count_rows()
    if _is_bayesian(gm):
        return {
            "estimator": "BayesianGaussianMixture", "n_components": gm.n_components,
            "covariance_type": gm.covariance_type, "weight_concentration_prior_type": gm.weight_concentration_prior_type,
            "weight_concentration_prior": float(gm.weight_concentration_prior_), "n_samples": n,
            "n_features": data.n_features, "dtype": str(np.dtype(data.dtype)), "feature_names": _feature_names(gm),
            "n_iter": gm.n_iter_, "converged": bool(gm.converged_), "lower_bound": float(gm.lower_bound_),
            "weights": gm.weights_, "effective_components": _effective(gm), "seconds": seconds, "model": model,
        }
    return {
        "estimator": "GaussianMixture", "n_components": gm.n_components, "covariance_type": gm.covariance_type,
        "n_samples": n,
        "n_features": data.n_features, "dtype": str(np.dtype(data.dtype)), "feature_names": _feature_names(gm),
        "n_iter": gm.n_iter_, "converged": bool(gm.converged_), "lower_bound": float(gm.lower_bound_),
        "n_parameters": gm.n_parameters(), "bic": _bic(gm, n), "seconds": seconds, "model": model,
    }


def _summary(gm, data, seconds: float) -> str:
    n = data.count_rows()
    per_iter = seconds / max(gm.n_iter_, 1)
    if _is_bayesian(gm):
        return (
            f"fitted BayesianGaussianMixture K={gm.n_components} {gm.covariance_type} "
            f"({gm.weight_concentration_prior_type} prior, weight concentration {gm.weight_concentration_prior_:.4g}) "
            f"on {n:,} rows x {data.n_features} features ({data.dtype})\n"
            f"  iterations      {gm.n_iter_} ({'converged' if gm.converged_ else 'NOT converged'})\n"
            f"  lower bound     {gm.lower_bound_:.6g} (variational, of all the rows)\n"
            f"  effective       {_effective(gm)} of {gm.n_components} components have a weight above "
            f"{EFFECTIVE_WEIGHT:.0%}\n"
            f"  time            {seconds:.2f} s, {per_iter:.3f} s per iteration (initialisation included)"
        )
    return (
        f"fitted K={gm.n_components} {gm.covariance_type} on {n:,} rows x {data.n_features} features ({data.dtype})\n"
        f"  iterations      {gm.n_iter_} ({'converged' if gm.converged_ else 'NOT converged'})\n"
        f"  log-likelihood  {gm.lower_bound_:.6f} per row (before the last M-step)\n"
        f"  BIC             {_bic(gm, n):.6g}\n"
        f"  time            {seconds:.2f} s, {per_iter:.3f} s per iteration (initialisation included)"
    )


def cmd_fit(args) -> None:
    target = _model_target(args.output) if args.output else None
    data = _open(args)
    gm, seconds = _fit(args, args.k, data)
    if args.json:
        _print_json(_fit_record(gm, data, seconds, _save_model(gm, target) if target else None))
        return
    print(_summary(gm, data, seconds))
    if target:
        print(f"  model           {_save_model(gm, target)}")


# ---------------------------------------------------------------------- using a model
def _load(path):
    from ._load import load

    return load(path)


def _load_for_data(args):
    """The model of args.model, showing progress on its passes unless -q."""
    gm = _load(args.model)
    gm.progress = not args.quiet
    return gm


def cmd_predict(args) -> None:
    target = _output_target(args.output)
    gm = _load_for_data(args)
    data = _open(args)
    written = (gm.predict_proba if args.proba else gm.predict)(data, out=target)  # chunk by chunk
    _say(args, f"wrote {'probabilities' if args.proba else 'labels'} of {data.count_rows():,} rows to {written}")


def _criteria(gm, data) -> dict:
    """n_samples, n_parameters, the log-likelihood (per row and in all, summed in float64)
    and BIC and AIC of gm on data (one pass, memory independent of the rows); of a
    Bayesian model, n_samples and the log-likelihood only."""
    per_row = gm.score(data)
    n = data.count_rows()
    total = per_row * n
    if _is_bayesian(gm):
        return {"n_samples": n, "log_likelihood_per_row": total / n, "log_likelihood_total": total}
    p = gm.n_parameters()
    return {"n_samples": n, "n_parameters": p, "log_likelihood_per_row": total / n, "log_likelihood_total": total,
            "bic": -2 * total + p * math.log(n), "aic": -2 * total + 2 * p}


def cmd_score(args) -> None:
    gm = _load_for_data(args)
    record = _criteria(gm, _open(args))
    n, total = record["n_samples"], record["log_likelihood_total"]
    if args.json:
        _print_json(record)
        return
    print(f"rows            {n:,}")
    print(f"log-likelihood  {total / n:.6f} per row, {total:.6g} in all")
    if "bic" in record:
        print(f"BIC             {record['bic']:.6g}")
        print(f"AIC             {record['aic']:.6g}")


def cmd_sample(args) -> None:
    from ._outputs import open_output

    target = _output_target(args.output)
    gm = _load(args.model)
    if args.seed is not None:
        gm.random_state = args.seed
    X, _ = gm.sample(args.n)
    with open_output(target, _feature_names(gm) or [f"x{j}" for j in range(X.shape[1])], X.dtype) as writer:
        writer.write(X)
        writer.close()
    _say(args, f"wrote {X.shape[0]:,} rows x {X.shape[1]} features to {target}")


def cmd_compile(args) -> None:
    from ._warmup import compile_kernels

    cache = os.environ.get("NUMBA_CACHE_DIR")
    where = f"NUMBA_CACHE_DIR={cache}" if cache else "Numba's cache beside the installed package"
    if not args.quiet:
        print(f"fastem: compiling into {where}", file=sys.stderr)

    def report(covariance_type, dtype, missing, seconds):
        if not args.quiet:
            what = f"{covariance_type} {dtype}" + (" with missing values" if missing else "")
            print(f"fastem: {what}: {seconds:.1f} s", file=sys.stderr)

    compile_kernels(args.covariance, args.dtype, args.missing, report)


def cmd_info(args) -> None:
    gm = _load(args.model)
    k, d = gm.means_.shape
    names = _feature_names(gm)
    bayesian = _is_bayesian(gm)
    if args.json:
        record = {"model": args.model, "estimator": type(gm).__name__, "n_components": k,
                  "covariance_type": gm.covariance_type}
        if bayesian:
            record["weight_concentration_prior_type"] = gm.weight_concentration_prior_type
        record["n_features"] = d
        if not bayesian:
            record["n_parameters"] = gm.n_parameters()
        record |= {"dtype": str(gm.means_.dtype), "missing": gm.missing, "feature_names": names,
                   "weights": gm.weights_, "means": gm.means_}
        if bayesian:
            record["effective_components"] = _effective(gm)
        _print_json(record | {"converged": bool(gm.converged_), "n_iter": gm.n_iter_,
                              "lower_bound": float(gm.lower_bound_)})
        return
    print(f"model           {args.model}")
    converged = "converged" if gm.converged_ else "not converged"
    if bayesian:
        print(f"estimator       BayesianGaussianMixture ({gm.weight_concentration_prior_type} prior)")
        print(f"components      {k} ({gm.covariance_type} covariance), {d} features, {_effective(gm)} effective "
              f"(weight above {EFFECTIVE_WEIGHT:.0%})")
        print(f"fit             {gm.n_iter_} iterations, {converged}, lower bound {gm.lower_bound_:.6g}")
    else:
        print("estimator       GaussianMixture")
        print(f"components      {k} ({gm.covariance_type} covariance), {d} features, {gm.n_parameters()} parameters")
        print(f"fit             {gm.n_iter_} iterations, {converged}, log-likelihood {gm.lower_bound_:.6f} per row")
    print(f"dtype           {gm.means_.dtype}")
    print(f"missing values  {'marginalised (NaN entries)' if gm.missing == 'marginalize' else 'an error (NaN)'}")
    if names is not None:
        print(f"features        {', '.join(names)}")
    with np.printoptions(precision=4, suppress=True, linewidth=120):
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
    target = _model_target(args.output) if args.output else None
    data = _open(args)
    n = data.count_rows()
    name = args.criterion.upper()
    if max(args.k) > n:
        raise ValueError(f"-k reaches {max(args.k)} components, but the data has {n} rows: "
                         "n_components must not exceed the rows")
    if not args.json:
        print(f"{'K':>4} {'iterations':>10} {'log-lik/row':>12} {name:>14}")
    fits = []
    best = None
    for k in args.k:
        with args.warnings.about(f"K={k}: "):
            gm, _ = _fit(args, k, data)
            criteria = _criteria(gm, data)
        fit = {"k": k, "n_iter": gm.n_iter_, "converged": bool(gm.converged_)} | criteria
        del fit["n_samples"]
        fits.append(fit)
        if not args.json:
            flag = " (not converged)" if not gm.converged_ else ""
            print(f"{k:>4} {gm.n_iter_:>10} {fit['log_likelihood_per_row']:>12.5f} {fit[args.criterion]:>14.6g}{flag}",
                  flush=True)
        if best is None or fit[args.criterion] < best[0][args.criterion]:
            best = (fit, gm)
    best_k = best[0]["k"]
    if args.json:
        model = _save_model(best[1], target) if target else None
        _print_json({"criterion": args.criterion, "n_samples": n, "fits": fits, "best_k": best_k, "model": model})
        return
    print(f"best K = {best_k} (lowest {name})")
    if target:
        print(f"model of K = {best_k}: {_save_model(best[1], target)}")


def cmd_demo(args) -> None:
    from . import _progress
    from .demo import run_demo

    with _progress.mode("off") if args.quiet else contextlib.nullcontext():
        run_demo(rows=args.rows, quick=args.quick, output=args.output, compare=not args.no_compare,
                 plot=not args.no_plot)


QUIET_HELP = "no progress and no messages about files written (results, warnings and errors still print)"
JSON_HELP = {
    "fit": "print one JSON object: estimator, n_components, covariance_type, n_samples, n_features, dtype, "
           "feature_names, n_iter, converged, lower_bound, n_parameters, bic, seconds, model (with --bayesian: "
           "weight_concentration_prior_type, weight_concentration_prior, weights and effective_components instead of "
           "n_parameters and bic)",
    "score": "print one JSON object: n_samples, n_parameters, log_likelihood_per_row, log_likelihood_total, bic, aic "
             "(a Bayesian model: n_samples and the log-likelihoods)",
    "select": "print one JSON object: criterion, n_samples, fits (k, n_iter, converged, n_parameters, "
              "log_likelihood_per_row, log_likelihood_total, bic, aic), best_k, model",
    "info": "print one JSON object: model, estimator, n_components, covariance_type, n_features, n_parameters, "
            "dtype, missing, feature_names, weights, means, converged, n_iter, lower_bound (a Bayesian model: "
            "weight_concentration_prior_type and effective_components instead of n_parameters)",
}
EPILOG = ("Progress goes to stderr: a bar on a terminal, one plain line per pass otherwise; "
          "FASTEM_PROGRESS=bar, lines or off chooses. Warnings print on stderr as 'fastem: warning: ...', "
          "also with -q. With --json, stdout holds only the JSON object (non-finite numbers are null).")


def _add_common_options(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    if command in JSON_HELP:
        p.add_argument("--json", action="store_true", help=JSON_HELP[command])


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def _add_fit_options(p: argparse.ArgumentParser, bayesian: bool = False) -> None:
    p.add_argument("--covariance", choices=COVARIANCE_TYPES, default="full", help="covariance type (default full)")
    p.add_argument("--max-iter", type=int, default=100, help="EM iterations at most (default 100)")
    p.add_argument("--tol", type=float, default=1e-3,
                   help="stop when the log-likelihood per row (--bayesian: the lower bound) changes less (default 1e-3)"
                   if bayesian else "stop when the log-likelihood per row changes less (1e-3)")
    p.add_argument("--n-init", type=int, default=1, help="initialisations, the best kept (default 1)")
    p.add_argument("--init", choices=("kmeans", "k-means++", "random", "random_from_data"), default="kmeans")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    p.add_argument("--missing", choices=("error", "marginalize"), default="error",
                   help="NaN entries (CSV: empty, NA, null...): an error naming the row (default), or missing values "
                   "that EM marginalises exactly (the model keeps the setting for predict and score)")


def _add_bayesian_options(p: argparse.ArgumentParser, hidden: bool = False) -> None:
    """fit's --bayesian and its prior options; hidden (select): parsed only to be refused clearly."""
    def text(words: str) -> str:
        return argparse.SUPPRESS if hidden else words

    p.add_argument("--bayesian", action="store_true",
                   help=text("fit a BayesianGaussianMixture (variational Bayes): -k is an upper bound, components "
                             "the data does not need get ~0 weight"))
    p.add_argument("--weight-concentration-prior-type", choices=PRIOR_TYPES, default=None,
                   help=text("with --bayesian: the prior on the weights (default dirichlet_process)"))
    p.add_argument("--weight-concentration-prior", type=_positive_float, default=None, metavar="FLOAT",
                   help=text("with --bayesian: its concentration, > 0; smaller leaves fewer components with weight "
                             "(default 1 / K)"))


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="a .npy, .h5/.hdf5, .zarr, .parquet or .csv file")
    p.add_argument("--chunk-size", type=int, default=None, help="rows per chunk (default: about 16 MiB)")
    p.add_argument("--dtype", choices=("float32", "float64"), help="compute on chunks of this type")
    p.add_argument("--columns", help="comma-separated columns (Parquet, CSV: names or indices)")
    p.add_argument("--key", help="the dataset inside an HDF5 file")
    p.add_argument("--delimiter", help="CSV field separator (default ',', tab for .tsv; 'tab' or '\\t' for a tab, "
                                       "'whitespace' for runs of spaces and tabs)")


def parser() -> argparse.ArgumentParser:
    from . import __version__

    top = argparse.ArgumentParser(prog="fastem", description="Gaussian mixtures by EM, fast, on data of any size.",
                                  epilog=EPILOG)
    top.add_argument("--version", action="version", version=f"fastem {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text[:1].upper() + text[1:] + ".", epilog=EPILOG)

    p = command("fit", "fit a mixture (or with --bayesian a Bayesian mixture) to a data file")
    _add_data_options(p)
    p.add_argument("-k", type=int, required=True, help="number of components (--bayesian: at most)")
    _add_fit_options(p, bayesian=True)
    _add_bayesian_options(p)
    _add_common_options(p, "fit")
    p.add_argument("-o", "--output", help="write the model here (.npz; its folder must exist)")
    p.set_defaults(run=cmd_fit, check=_check_fit_options, parser=p)

    p = command("predict", "component labels (or probabilities) of every row")
    p.add_argument("model")
    _add_data_options(p)
    p.add_argument("-o", "--output", required=True, help="output file: .npy, .parquet or .csv (by its suffix)")
    p.add_argument("--proba", action="store_true", help="write (rows, K) probabilities instead of labels")
    _add_common_options(p, "predict")
    p.set_defaults(run=cmd_predict)

    p = command("score", "log-likelihood, BIC and AIC of a model on data")
    p.add_argument("model")
    _add_data_options(p)
    _add_common_options(p, "score")
    p.set_defaults(run=cmd_score)

    p = command("sample", "draw rows from a model")
    p.add_argument("model")
    p.add_argument("-n", type=int, required=True, help="rows to draw")
    p.add_argument("-o", "--output", required=True, help="output file: .npy, .parquet or .csv (by its suffix)")
    p.add_argument("--seed", type=int, default=None)
    _add_common_options(p, "sample")
    p.set_defaults(run=cmd_sample)

    p = command("info", "describe a model file")
    p.add_argument("model")
    _add_common_options(p, "info")
    p.set_defaults(run=cmd_info)

    p = command("select", "fit a GaussianMixture for a range of K and pick the best by BIC or AIC")
    _add_data_options(p)
    p.add_argument("-k", type=_k_range, required=True, help="K values: LO..HI or K1,K2,...")
    p.add_argument("--criterion", choices=("bic", "aic"), default="bic")
    _add_fit_options(p)
    _add_bayesian_options(p, hidden=True)
    _add_common_options(p, "select")
    p.add_argument("-o", "--output", help="write the best model here (.npz; its folder must exist)")
    p.set_defaults(run=cmd_select, check=_check_fit_options, parser=p)

    p = command("compile", "compile the kernels fits use into Numba's on-disk cache, ahead of a first fit")
    p.add_argument("--covariance", nargs="+", choices=COVARIANCE_TYPES, default=list(COVARIANCE_TYPES),
                   help="covariance types to compile for (default: all four)")
    p.add_argument("--dtype", nargs="+", choices=("float64", "float32"), default=["float64"],
                   help="data types to compile for (default float64)")
    p.add_argument("--missing", action="store_true", help="also the kernels of --missing marginalize")
    _add_common_options(p, "compile")
    p.set_defaults(run=cmd_compile)

    p = command("demo", "fit a built-in dataset of a known mixture and compare with scikit-learn")
    p.add_argument("--rows", type=_positive, default=3_000_000, help="rows of the built-in dataset (default 3,000,000)")
    p.add_argument("--quick", action="store_true", help="a small, fast run (200,000 rows)")
    p.add_argument("-o", "--output", default="fastem-demo.png", help="picture of the fit (needs matplotlib)")
    p.add_argument("--no-compare", action="store_true", help="skip the scikit-learn timing")
    p.add_argument("--no-plot", action="store_true", help="skip the picture")
    _add_common_options(p, "demo")
    p.set_defaults(run=cmd_demo)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    problem = args.check(args) if getattr(args, "check", None) else None
    if problem:
        args.parser.error(problem)  # exits with status 2, as argparse does
    args.warnings = _Warnings()
    try:
        with warnings.catch_warnings():
            if not sys.warnoptions:  # PYTHONWARNINGS or -W: the user's filters decide
                warnings.simplefilter("always")
                for hidden in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                    warnings.simplefilter("ignore", hidden)  # hidden by Python's defaults too
            warnings.showwarning = args.warnings.show
            args.run(args)
    except KeyboardInterrupt:
        print("fastem: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, TypeError, ImportError, FloatingPointError, MemoryError) as exc:
        if os.environ.get("FASTEM_DEBUG"):
            raise
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or type(exc).__name__
        print(f"fastem: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
