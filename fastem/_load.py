"""fastem.load: a model file back as its estimator, through the estimator's public face.

A model file is untrusted input: its checksums catch accidents, not intent (anyone can
recompute them). So before an estimator is built, everything in the file is checked, and
any violation is a ``ModelFileError`` that says what is wrong:

- the archive (``_persist.read_archive``): a regular file, an uncompressed .npz of plain
  numeric .npy arrays, never unpickled, each array matching its checksum;
- the header: a JSON object with exactly the keys of its format version ("format",
  "format_version" an int, "fastem_version" a string, "params", "attributes" and
  "sha256" an object of string -> string; version 3 adds "estimator", "GaussianMixture"
  or "BayesianGaussianMixture", which is what load returns; versions 1 and 2 are
  GaussianMixture files). For a GaussianMixture, "params" holds exactly the constructor
  parameters other than the init arrays (those added since the first files,
  ``LATER_PARAMS``, may be absent: they then have their defaults, the behaviour of the
  fastem that wrote the file) and they must make a valid ``GaussianMixture``
  (``check_params``; random_state None or a seed in [0, 2**32)); "attributes" holds
  exactly converged_ (bool), n_iter_ (int >= 0), lower_bound_ (a float, not NaN or +inf;
  -inf is kept), lower_bounds_ (a list of such floats) and n_features_in_ (int >= 1);
  format version 2 adds dtype ("float32" or "float64") and feature_names_in_ (null or a
  list of n_features_in_ strings);
- the arrays: float64 (either byte order; read as native float64; a float32 model's
  attributes are these rounded to float32), finite, of the exact
  shapes of covariance_type with K = weights.shape[0] and D = n_features_in_: weights
  (K,), means (K, D), covariances and precisions_cholesky ``covariance(name).shape(K, D)``.
  K may be below n_components (a fit with on_collapse="drop" removes components; a tied
  covariance keeps its (D, D)) but not above it, and at least 1. weights >= 0 summing to
  1 within 1e-6; covariances positive definite (full and tied: symmetric within 1e-6 of
  sqrt(C_ii C_jj) and a Cholesky factorisation succeeds; diag and spherical: > 0);
  precisions_cholesky upper-triangular with a positive diagonal (diag, spherical: > 0)
  and consistent with the covariances: inverse(P P^T) equals C within 1e-6 of
  sqrt(C_ii C_jj) entry by entry (P^2 C = 1 within 1e-6 for diag and spherical). The
  init arrays (weights_init, means_init, precisions_init) must be finite float64; their
  shapes are the estimator's to check when it fits.
- a BayesianGaussianMixture file (``_load_bayesian``): "params" holds exactly the
  constructor parameters, but mean_prior and covariance_prior when the file holds them
  as the arrays param_mean_prior and param_covariance_prior (then they are not in
  "params"; in "params" mean_prior is null and covariance_prior null or a number), and
  but those of ``LATER_PARAMS``, as above, and
  they must make a valid ``BayesianGaussianMixture`` (its ``_check_params``; random_state
  as above); "attributes" holds those of version 2 and the priors as fitted:
  weight_concentration_prior_ and mean_precision_prior_ (finite floats > 0),
  degrees_of_freedom_prior_ (a finite float > D - 1) and, spherical only,
  covariance_prior_ (a finite float >= 0). The arrays are exactly those of its
  covariance type and weight_concentration_prior_type (``_persist``), float64 and
  finite, with K = n_components and D = n_features_in_: means (K, D); covariances and
  precisions_cholesky of the type's shape, checked as a GaussianMixture's;
  mean_precision (K,) > 0; degrees_of_freedom (K,) (tied: (1,)) > D - 1;
  weight_concentration_a and _b, or weight_concentration, (K,) > 0; mean_prior_ (D,);
  covariance_prior_ (D, D) full and tied, symmetric (``numpy.allclose``, as fit checks
  a given one) and positive semi-definite (smallest eigenvalue >= -1e-6 of the largest
  in magnitude: the default prior, the data's covariance, is singular for a constant
  column), (D,) diag, >= 0; param_mean_prior (D,) and param_covariance_prior the shape
  of covariance_prior_ (not for spherical, whose covariance_prior is a number). The
  weights and log-normalisers the posterior gives (``fastem.bayesian``) must be finite.
- Unknown arrays, header keys, parameters or attributes are refused, not ignored: a file
  holds exactly what its format version describes (a newer fastem that writes more
  raises format_version), and a loaded model is exactly the file's content.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NoReturn

import numpy as np
from scipy import linalg

from ._covariance import covariance
from ._engine import Params
from ._persist import (
    ARRAYS,
    HEADER_KEYS,
    HEADER_KEYS_3,
    INIT_ARRAYS,
    PARAM_ARRAYS,
    POSTERIOR_ARRAYS,
    PRIOR_ARRAYS,
    PRIOR_ATTRIBUTES,
    WEIGHT_CONCENTRATION_ARRAYS,
    ModelFileError,
    _describe,
    estimator_of,
    read_model,
)
from .bayesian import BayesianGaussianMixture, Posterior, Priors, log_norms, posterior_weights
from .mixture import GaussianMixture, InvalidParameterError, check_params

FITTED = {"weights": "weights_", "means": "means_", "covariances": "covariances_",
          "precisions_cholesky": "precisions_cholesky_"}
ATTRIBUTES = ("converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_")
ATTRIBUTES_2 = (*ATTRIBUTES, "dtype", "feature_names_in_")  # format version 2 adds these
WEIGHT_SUM_TOLERANCE = 1e-6
SYMMETRY_TOLERANCE = 1e-6
CONSISTENCY_TOLERANCE = 1e-6
SEMIDEFINITE_TOLERANCE = 1e-6
_LARGEST_FLOAT = int(np.finfo(np.float64).max)


def load(path):
    """Read a model file written by ``save``, as the estimator it names.

    Loading never unpickles, so it cannot run code from the file. The file is
    untrusted: its header and arrays are checked (types, shapes, finite values, weights
    summing to one, positive-definite covariances consistent with their precision
    factors) before the estimator is built. The loaded model is exactly the saved one:
    its predictions are bitwise the same, and a warm start goes on as from it.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` model file (format versions 1 to 3).

    Returns
    -------
    GaussianMixture or BayesianGaussianMixture
        The fitted estimator, of the class the file names.

    Raises
    ------
    ModelFileError
        If the file is not a fastem model (or not a regular file), is damaged or
        invalid, or comes from a newer fastem. The message says what is wrong.
    FileNotFoundError
        If there is no file at path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> import fastem
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> gm = fastem.BayesianGaussianMixture(n_components=3, random_state=0)
    >>> gm = gm.fit(X)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> model = fastem.load(gm.save(folder / "model.npz"))
    >>> type(model).__name__
    'BayesianGaussianMixture'
    >>> np.array_equal(model.predict_proba(X), gm.predict_proba(X))
    True

    A file that is not a model is refused:

    >>> _ = (folder / "notes.npz").write_bytes(b"not a model")
    >>> fastem.load(folder / "notes.npz")
    Traceback (most recent call last):
        ...
    fastem.ModelFileError: .../notes.npz is not a readable fastem model ...
    """
    path = Path(path)
    header, contents = read_model(path)
    check = _Checker(path)
    check.header_keys(header)
    if estimator_of(header) == "BayesianGaussianMixture":
        return _load_bayesian(check, header, contents)
    model = check.estimator(header["params"], contents)
    attributes = check.attributes(header["attributes"], header["format_version"])
    arrays = check.arrays(contents, model, attributes["n_features_in_"])
    dtype = attributes.pop("dtype", "float64")
    names = attributes.pop("feature_names_in_", None)
    for name, value in attributes.items():
        setattr(model, name, value)
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)
    model._set_params(Params(model.covariance_type, *(arrays[name] for name in ARRAYS)), np.dtype(dtype))
    return model


def _load_bayesian(check: _Checker, header: dict, contents: dict) -> BayesianGaussianMixture:
    """The BayesianGaussianMixture of a checked header and its arrays, checked."""
    model = check.bayesian_estimator(header["params"], contents)
    spherical = model.covariance_type == "spherical"
    attributes = check.attributes(header["attributes"], header["format_version"], check.prior_rules(spherical))
    priors, post = check.bayesian_arrays(contents, model, attributes)
    dtype = attributes.pop("dtype")
    names = attributes.pop("feature_names_in_")
    model._set_priors(priors)
    model._set_posterior(post, np.dtype(dtype))
    for name, value in attributes.items():
        if name not in PRIOR_ATTRIBUTES and name != "covariance_prior_":
            setattr(model, name, value)
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)
    return model


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_finite_float(value) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def _is_bound(value) -> bool:
    """A lower bound: a float, not NaN, not +inf (-inf is what an empty fit reports)."""
    return isinstance(value, float) and not math.isnan(value) and value != math.inf



LATER_PARAMS = {"missing": "error"}  # parameters newer than the first files, with their defaults

class _Checker:
    """The checks of one file; each failure raises a ModelFileError naming the file."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, message: str) -> NoReturn:
        raise ModelFileError(f"{self.path}: {message}")

    # ------------------------------------------------------------------ the header
    def exact_keys(self, what: str, found: dict, expected) -> None:
        expected = set(expected)
        unknown = sorted(k for k in found if k not in expected)
        if unknown:
            self.fail(f"the {what} has an unknown entry {unknown[0]!r}")
        missing = sorted(expected - found.keys())
        if missing:
            self.fail(f"the {what} has no {missing[0]!r}")

    def header_keys(self, header: dict) -> None:
        self.exact_keys("model header", header, HEADER_KEYS_3 if header["format_version"] >= 3 else HEADER_KEYS)
        if not isinstance(header["fastem_version"], str):
            self.fail(f"the header's 'fastem_version' must be a string, got {_describe(header['fastem_version'])}")
        for name in ("params", "attributes"):
            if not isinstance(header[name], dict):
                self.fail(f"the header's {name!r} must be a JSON object, got {_describe(header[name])}")

    def estimator(self, params: dict, contents: dict) -> GaussianMixture:
        """The estimator of params (and the file's init arrays), its parameters checked."""
        params = {**LATER_PARAMS, **params}  # files written before a parameter existed have its default
        self.exact_keys("model's 'params'", params, set(GaussianMixture().get_params()) - set(INIT_ARRAYS))
        self.random_state(params["random_state"])
        init = {name: self.init_array(name, contents[name]) for name in INIT_ARRAYS if name in contents}
        return self.construct(GaussianMixture, check_params, params, init)

    def random_state(self, seed) -> None:
        if seed is not None and not (_is_int(seed) and 0 <= seed < 2**32):
            self.fail(f"the parameter 'random_state' must be None or an int in [0, 2**32), got {_describe(seed)}")

    def construct(self, cls, check, params: dict, arrays: dict):
        """cls(**params, **arrays), its parameters checked by check(model)."""
        try:
            model = cls(**params, **arrays)
            check(model)
        except (InvalidParameterError, TypeError, ValueError) as exc:
            self.fail(f"the model's parameters are not valid: {exc}")
        except OverflowError:  # the checks take math.isfinite of an int beyond float64
            name = next((k for k, v in params.items() if _is_int(v) and abs(v) > _LARGEST_FLOAT), "?")
            self.fail(f"the parameter {name!r} holds an int too large for a float: {_describe(params.get(name))}")
        return model

    def bayesian_estimator(self, params: dict, contents: dict) -> BayesianGaussianMixture:
        """The BayesianGaussianMixture of params and the file's param_* arrays, checked."""
        given = sorted(name for name, array in PARAM_ARRAYS.items() if array in contents)
        for name in given:
            if name in params:
                self.fail(f"the parameter {name!r} is both in the model's 'params' and the array "
                          f"{PARAM_ARRAYS[name]!r}: a file holds one or the other")
        params = {**LATER_PARAMS, **params}
        self.exact_keys("model's 'params'", params, set(BayesianGaussianMixture().get_params()) - set(given))
        self.random_state(params["random_state"])
        if params.get("mean_prior") is not None:
            self.fail("the parameter 'mean_prior' must be null in the model's 'params' (an array mean_prior is the "
                      f"array 'param_mean_prior'), got {_describe(params['mean_prior'])}")
        value = params.get("covariance_prior")
        if value is not None and not _is_number(value):
            self.fail("the parameter 'covariance_prior' must be null or a number in the model's 'params' (an array "
                      f"covariance_prior is the array 'param_covariance_prior'), got {_describe(value)}")
        arrays = {name: self.float64(PARAM_ARRAYS[name], contents[PARAM_ARRAYS[name]]) for name in given}
        return self.construct(BayesianGaussianMixture, BayesianGaussianMixture._check_params, params, arrays)

    def attributes(self, attributes: dict, version: int, extra: dict | None = None) -> dict:
        """The checked attributes; extra: name -> (test of the value and n_features_in_,
        what it must be) of more of them."""
        extra = extra or {}
        self.exact_keys("model's 'attributes'", attributes, (ATTRIBUTES if version == 1 else ATTRIBUTES_2) + tuple(extra))
        rules = {
            "converged_": (lambda v: isinstance(v, bool), "a bool"),
            "n_iter_": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
            "lower_bound_": (_is_bound, "a float (not NaN or +inf)"),
            "lower_bounds_": (lambda v: isinstance(v, list) and all(_is_bound(b) for b in v),
                              "a list of floats (not NaN or +inf)"),
            "n_features_in_": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
        }
        if version > 1:
            n = attributes["n_features_in_"]
            rules["dtype"] = (lambda v: v in ("float32", "float64"), "'float32' or 'float64'")
            rules["feature_names_in_"] = (
                lambda v: v is None or (isinstance(v, list) and len(v) == n and all(isinstance(c, str) for c in v)),
                "null or a list of n_features_in_ strings")
        for name, (valid, what) in extra.items():  # tested after n_features_in_ (the order of rules)
            rules[name] = (lambda v, valid=valid: valid(v, attributes["n_features_in_"]), what)
        for name, (valid, what) in rules.items():
            if not valid(attributes[name]):
                self.fail(f"the attribute {name!r} must be {what}, got {_describe(attributes[name])}")
        return {name: list(v) if name == "lower_bounds_" else v for name, v in attributes.items()}

    @staticmethod
    def prior_rules(spherical: bool) -> dict:
        """The rules of a BayesianGaussianMixture's prior attributes (see attributes)."""
        rules = {
            "weight_concentration_prior_": (lambda v, d: _is_finite_float(v) and v > 0, "a finite float > 0"),
            "mean_precision_prior_": (lambda v, d: _is_finite_float(v) and v > 0, "a finite float > 0"),
            "degrees_of_freedom_prior_": (lambda v, d: _is_finite_float(v) and v > d - 1,
                                          "a finite float > n_features_in_ - 1"),
        }
        if spherical:
            rules["covariance_prior_"] = (lambda v, d: _is_finite_float(v) and v >= 0, "a finite float >= 0")
        return rules

    # ------------------------------------------------------------------ the arrays
    def float64(self, name: str, array: np.ndarray) -> np.ndarray:
        """array as native float64, checked finite; it must be float64 in the file."""
        if array.dtype.kind != "f" or array.dtype.itemsize != 8:
            self.fail(f"array {name!r} has dtype {array.dtype}, expected float64")
        array = array.astype(np.float64, copy=False)  # native byte order
        bad = np.flatnonzero(~np.isfinite(array.ravel()))
        if bad.size:
            where = np.unravel_index(bad[0], array.shape)
            self.fail(f"array {name!r} holds {array[where]} at index {tuple(int(i) for i in where)}: "
                      "every entry must be finite")
        return array

    def init_array(self, name: str, array: np.ndarray) -> np.ndarray:
        return self.float64(name, array)

    def shape(self, name: str, array: np.ndarray, expected: tuple[int, ...], why: str) -> None:
        if array.shape != expected:
            self.fail(f"array {name!r} has shape {array.shape}, expected {expected} ({why})")

    def arrays(self, contents: dict, model: GaussianMixture, n_features: int) -> dict[str, np.ndarray]:
        """The fitted arrays, checked against the parameters and n_features_in_."""
        unknown = sorted(set(contents) - set(ARRAYS) - set(INIT_ARRAYS))
        if unknown:
            self.fail(f"the file holds an unknown array {unknown[0]!r} (a model file holds "
                      f"{', '.join(ARRAYS + INIT_ARRAYS)})")
        arrays = {name: self.float64(name, contents[name]) for name in ARRAYS}
        cov_type, n_components = covariance(model.covariance_type), model.n_components
        weights = arrays["weights"]
        if weights.ndim != 1:
            self.fail(f"array 'weights' has shape {weights.shape}, expected (K,) with 1 <= K <= n_components "
                      f"= {n_components}")
        k = weights.shape[0]
        if not 1 <= k <= n_components:
            self.fail(f"array 'weights' has {k} components, expected 1 to n_components = {n_components} "
                      "(fewer only when a fit dropped collapsed components)")
        why = f"K = {k} components of weights, D = n_features_in_ = {n_features}"
        self.shape("means", arrays["means"], (k, n_features), why)
        expected = cov_type.shape(k, n_features)
        why = f"covariance_type {cov_type.name!r}, {why}"
        self.shape("covariances", arrays["covariances"], expected, why)
        self.shape("precisions_cholesky", arrays["precisions_cholesky"], expected, why)
        self.weights(weights)
        self.covariances(cov_type.name, arrays["covariances"], arrays["precisions_cholesky"])
        return arrays

    def covariances(self, covariance_type: str, C: np.ndarray, P: np.ndarray) -> None:
        """Covariances C and precision factors P of their type's shape: positive definite
        and consistent."""
        if covariance_type in ("full", "tied"):
            stack = covariance_type == "full"
            for j, (c, p) in enumerate(zip(C if stack else [C], P if stack else [P], strict=True)):
                self.matrices(c, p, f" {j}" if stack else "")
        else:
            self.variances(C, P)

    def bayesian_arrays(self, contents: dict, model: BayesianGaussianMixture, attributes: dict
                        ) -> tuple[Priors, Posterior]:
        """The priors and the posterior of a BayesianGaussianMixture file, checked against
        the parameters and the attributes."""
        cov, prior_type = covariance(model.covariance_type), model.weight_concentration_prior_type
        spherical = cov.name == "spherical"
        concentration = WEIGHT_CONCENTRATION_ARRAYS[prior_type]
        params = [array for array in PARAM_ARRAYS.values() if array in contents]  # bayesian_estimator checked them
        prior_arrays = PRIOR_ARRAYS[:1] if spherical else PRIOR_ARRAYS  # a spherical covariance_prior_ is an attribute
        expected = [*POSTERIOR_ARRAYS, *concentration, *prior_arrays, *params]
        holds = (f"a BayesianGaussianMixture file of covariance_type {cov.name!r} and weight_concentration_prior_type "
                 f"{prior_type!r} holds {', '.join(expected[:len(expected) - len(params)])}")
        unknown = sorted(set(contents) - set(expected))
        if unknown:
            self.fail(f"the file holds an unknown array {unknown[0]!r} ({holds})")
        missing = [name for name in expected if name not in contents]
        if missing:
            self.fail(f"the model is incomplete: array {missing[0]!r} is missing ({holds})")
        arrays = {name: self.float64(name, contents[name]) for name in expected}
        k, d = model.n_components, attributes["n_features_in_"]
        why = f"K = n_components = {k}, D = n_features_in_ = {d}"
        typed = f"covariance_type {cov.name!r}, {why}"
        self.shape("means", arrays["means"], (k, d), why)
        self.shape("covariances", arrays["covariances"], cov.shape(k, d), typed)
        self.shape("precisions_cholesky", arrays["precisions_cholesky"], cov.shape(k, d), typed)
        self.shape("mean_precision", arrays["mean_precision"], (k,), why)
        self.shape("degrees_of_freedom", arrays["degrees_of_freedom"], (1,) if cov.name == "tied" else (k,),
                   "one value for covariance_type 'tied'" if cov.name == "tied" else typed)
        for name in concentration:
            self.shape(name, arrays[name], (k,), f"weight_concentration_prior_type {prior_type!r}, {why}")
        prior_shape = (d, d) if cov.name in ("full", "tied") else (d,)
        self.shape("mean_prior_", arrays["mean_prior_"], (d,), f"D = n_features_in_ = {d}")
        if not spherical:
            self.shape("covariance_prior_", arrays["covariance_prior_"], prior_shape, f"covariance_type "
                       f"{cov.name!r}, D = n_features_in_ = {d}")
        if "param_mean_prior" in arrays:
            self.shape("param_mean_prior", arrays["param_mean_prior"], (d,), f"D = n_features_in_ = {d}")
        if "param_covariance_prior" in arrays:
            if spherical:
                self.fail("the file holds an array 'param_covariance_prior', but a spherical covariance_prior is a "
                          "number (in the model's 'params')")
            self.shape("param_covariance_prior", arrays["param_covariance_prior"], prior_shape,
                       f"covariance_type {cov.name!r}, D = n_features_in_ = {d}")
        # the values
        self.covariances(cov.name, arrays["covariances"], arrays["precisions_cholesky"])
        self.above("mean_precision", arrays["mean_precision"], 0, "0")
        self.above("degrees_of_freedom", arrays["degrees_of_freedom"], d - 1, f"D - 1 = {d - 1}")
        for name in concentration:
            self.above(name, arrays[name], 0, "0")
        if cov.name in ("full", "tied"):
            self.semidefinite("covariance_prior_", arrays["covariance_prior_"])
        elif cov.name == "diag":
            self.above("covariance_prior_", arrays["covariance_prior_"], 0, "0", inclusive=True)
        dof = arrays["degrees_of_freedom"]
        post = Posterior(cov.name, tuple(arrays[name] for name in concentration) if len(concentration) == 2
                         else arrays[concentration[0]], arrays["mean_precision"], arrays["means"],
                         float(dof[0]) if cov.name == "tied" else dof, arrays["covariances"],
                         arrays["precisions_cholesky"])
        with np.errstate(all="ignore"):
            derived = {"weights": posterior_weights(post.weight_concentration, prior_type),
                       "log-normalisers": log_norms(post, prior_type)}
        for what, values in derived.items():
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                self.fail(f"the posterior gives component {int(bad[0])} a non-finite {what[:-1]} {values[bad[0]]} "
                          "(its weight concentration, mean precision or degrees of freedom are out of range)")
        priors = Priors(prior_type=prior_type, weight_concentration=attributes["weight_concentration_prior_"],
                        mean_precision=attributes["mean_precision_prior_"], mean=arrays["mean_prior_"],
                        degrees_of_freedom=attributes["degrees_of_freedom_prior_"],
                        covariance=attributes["covariance_prior_"] if spherical else arrays["covariance_prior_"])
        return priors, post

    def above(self, name: str, array: np.ndarray, bound: float, text: str, inclusive: bool = False) -> None:
        """Every entry of array > bound (>= with inclusive); text names the bound."""
        ok = array >= bound if inclusive else array > bound
        bad = np.flatnonzero(~ok.ravel())
        if bad.size:
            where = np.unravel_index(bad[0], array.shape)
            self.fail(f"array {name!r} holds {array[where]} at index {tuple(int(i) for i in where)}: every entry "
                      f"must be {'>=' if inclusive else '>'} {text}")

    def semidefinite(self, name: str, C: np.ndarray) -> None:
        """A (D, D) prior covariance: symmetric (numpy.allclose, as fit checks a given one)
        and positive semi-definite (within SEMIDEFINITE_TOLERANCE of its largest eigenvalue)."""
        with np.errstate(all="ignore"):
            if not np.allclose(C, C.T):
                self.fail(f"array {name!r} is not symmetric")
            try:
                eigenvalues = np.linalg.eigvalsh(C)
            except np.linalg.LinAlgError:
                self.fail(f"array {name!r} is not positive semi-definite (its eigenvalues cannot be computed)")
        largest = float(np.max(np.abs(eigenvalues)))
        if not (np.all(np.isfinite(eigenvalues)) and eigenvalues[0] >= -SEMIDEFINITE_TOLERANCE * largest):
            self.fail(f"array {name!r} is not positive semi-definite: its smallest eigenvalue is {eigenvalues[0]:.6g} "
                      f"(at least -{SEMIDEFINITE_TOLERANCE} of the largest in magnitude, {largest:.6g})")

    def weights(self, weights: np.ndarray) -> None:
        negative = np.flatnonzero(weights < 0)
        if negative.size:
            self.fail(f"array 'weights' holds {weights[negative[0]]} at index {int(negative[0])}: weights must "
                      "be >= 0")
        total = math.fsum(weights.tolist())
        if not abs(total - 1.0) <= WEIGHT_SUM_TOLERANCE:
            self.fail(f"array 'weights' sums to {total!r}, not 1 (within {WEIGHT_SUM_TOLERANCE})")

    def matrices(self, C: np.ndarray, P: np.ndarray, which: str) -> None:
        """A full covariance matrix C and its precision factor P (tied: the one; full: component which)."""
        d = np.diag(C)
        if not np.all(d > 0):
            self.fail(f"covariance{which} is not positive definite: its diagonal holds {d.min()}")
        root = np.sqrt(d)
        scale = root[:, None] * root[None, :]  # sqrt(C_ii C_jj), without overflow
        with np.errstate(all="ignore"):
            asymmetry = np.max(np.abs(C - C.T) / scale)
        if not asymmetry <= SYMMETRY_TOLERANCE:
            self.fail(f"covariance{which} is not symmetric: C - C^T reaches {asymmetry:.3g} of sqrt(C_ii C_jj)")
        try:
            linalg.cholesky(C, lower=True, check_finite=False)
        except linalg.LinAlgError:
            self.fail(f"covariance{which} is not positive definite (its Cholesky factorisation fails)")
        if np.any(np.tril(P, -1) != 0):
            self.fail(f"precisions_cholesky{which} is not upper-triangular")
        diagonal = np.diag(P)
        if not np.all(diagonal > 0):
            self.fail(f"precisions_cholesky{which} has a diagonal entry {diagonal.min()}: it must be > 0")
        with np.errstate(all="ignore"):
            M = linalg.solve_triangular(P, np.eye(P.shape[0]), lower=False, check_finite=False)  # P^-1
            error = np.max(np.abs(C - M.T @ M) / scale)  # inverse(P P^T) = P^-T P^-1 against C
        if not error <= CONSISTENCY_TOLERANCE:
            self.fail(f"precisions_cholesky{which} does not match covariance{which}: inverse(P P^T) differs from "
                      f"it by {error:.3g} of sqrt(C_ii C_jj) (at most {CONSISTENCY_TOLERANCE})")

    def variances(self, C: np.ndarray, P: np.ndarray) -> None:
        """diag and spherical covariances C and their precision factors P = 1 / sqrt(C)."""
        for name, array in (("covariances", C), ("precisions_cholesky", P)):
            bad = np.flatnonzero(~(array.ravel() > 0))
            if bad.size:
                where = np.unravel_index(bad[0], array.shape)
                self.fail(f"array {name!r} holds {array[where]} at index {tuple(int(i) for i in where)}: "
                          "every entry must be > 0")
        with np.errstate(all="ignore"):  # P^2 C may overflow: inf, reported as it is
            product = P * P * C
            error = np.abs(product - 1.0)
        worst = int(np.argmax(error))
        if not error.ravel()[worst] <= CONSISTENCY_TOLERANCE:
            where = tuple(int(i) for i in np.unravel_index(worst, C.shape))
            self.fail(f"precisions_cholesky does not match covariances at index {where}: P^2 C = "
                      f"{product[where]!r}, not 1 (within {CONSISTENCY_TOLERANCE})")
