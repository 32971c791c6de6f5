"""fastem.load: a model file back as its estimator, through the estimator's public face.

A model file is untrusted input: its checksums catch accidents, not intent (anyone can
recompute them). So before an estimator is built, everything in the file is checked, and
any violation is a ``ModelFileError`` that says what is wrong:

- the archive (``_persist.read_archive``): a regular file, an uncompressed .npz of plain
  numeric .npy arrays, never unpickled, each array matching its checksum;
- the header: a JSON object with exactly the keys of format versions 1 and 2 ("format",
  "format_version" an int, "fastem_version" a string, "params", "attributes" and
  "sha256" an object of string -> string); "params" holds exactly the constructor
  parameters other than the init arrays and they must make a valid ``GaussianMixture``
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
from ._persist import ARRAYS, HEADER_KEYS, INIT_ARRAYS, ModelFileError, _describe, read_model
from .mixture import GaussianMixture, InvalidParameterError, check_params

FITTED = {"weights": "weights_", "means": "means_", "covariances": "covariances_",
          "precisions_cholesky": "precisions_cholesky_"}
ATTRIBUTES = ("converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_")
ATTRIBUTES_2 = (*ATTRIBUTES, "dtype", "feature_names_in_")  # format version 2 adds these
WEIGHT_SUM_TOLERANCE = 1e-6
SYMMETRY_TOLERANCE = 1e-6
CONSISTENCY_TOLERANCE = 1e-6
_LARGEST_FLOAT = int(np.finfo(np.float64).max)


def load(path):
    """Read a model written by ``save``. Never unpickles: loading cannot run code.

    The file is untrusted: its header and arrays are checked (types, shapes, finite
    values, weights summing to one, positive-definite covariances consistent with their
    precision factors) before the estimator is built.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` model file.

    Returns
    -------
    GaussianMixture
        The fitted estimator.

    Raises
    ------
    ModelFileError
        The file is not a fastem model (or not a regular file), is damaged or invalid,
        or comes from a newer fastem. The message says what is wrong.
    FileNotFoundError
        There is no file at path.
    """
    path = Path(path)
    header, contents = read_model(path)
    check = _Checker(path)
    check.header_keys(header)
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


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_bound(value) -> bool:
    """A lower bound: a float, not NaN, not +inf (-inf is what an empty fit reports)."""
    return isinstance(value, float) and not math.isnan(value) and value != math.inf


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
        self.exact_keys("model header", header, HEADER_KEYS)
        if not isinstance(header["fastem_version"], str):
            self.fail(f"the header's 'fastem_version' must be a string, got {_describe(header['fastem_version'])}")
        for name in ("params", "attributes"):
            if not isinstance(header[name], dict):
                self.fail(f"the header's {name!r} must be a JSON object, got {_describe(header[name])}")

    def estimator(self, params: dict, contents: dict) -> GaussianMixture:
        """The estimator of params (and the file's init arrays), its parameters checked."""
        self.exact_keys("model's 'params'", params, set(GaussianMixture().get_params()) - set(INIT_ARRAYS))
        seed = params["random_state"]
        if seed is not None and not (_is_int(seed) and 0 <= seed < 2**32):
            self.fail(f"the parameter 'random_state' must be None or an int in [0, 2**32), got {_describe(seed)}")
        init = {name: self.init_array(name, contents[name]) for name in INIT_ARRAYS if name in contents}
        try:
            model = GaussianMixture(**params, **init)
            check_params(model)
        except (InvalidParameterError, TypeError, ValueError) as exc:
            self.fail(f"the model's parameters are not valid: {exc}")
        except OverflowError:  # check_params takes math.isfinite of an int beyond float64
            name = next((k for k, v in params.items() if _is_int(v) and abs(v) > _LARGEST_FLOAT), "?")
            self.fail(f"the parameter {name!r} holds an int too large for a float: {_describe(params.get(name))}")
        return model

    def attributes(self, attributes: dict, version: int) -> dict:
        self.exact_keys("model's 'attributes'", attributes, ATTRIBUTES if version == 1 else ATTRIBUTES_2)
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
        for name, (valid, what) in rules.items():
            if not valid(attributes[name]):
                self.fail(f"the attribute {name!r} must be {what}, got {_describe(attributes[name])}")
        return {name: list(v) if name == "lower_bounds_" else v for name, v in attributes.items()}

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
        if cov_type.name in ("full", "tied"):
            C, P = arrays["covariances"], arrays["precisions_cholesky"]
            stack = cov_type.name == "full"
            for j, (c, p) in enumerate(zip(C if stack else [C], P if stack else [P], strict=True)):
                self.matrices(c, p, f" {j}" if stack else "")
        else:
            self.variances(arrays["covariances"], arrays["precisions_cholesky"])
        return arrays

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
        with np.errstate(all="ignore"):
            error = np.abs(P * P * C - 1.0)
        worst = int(np.argmax(error))
        if not error.ravel()[worst] <= CONSISTENCY_TOLERANCE:
            where = tuple(int(i) for i in np.unravel_index(worst, C.shape))
            self.fail(f"precisions_cholesky does not match covariances at index {where}: P^2 C = "
                      f"{(P * P * C)[where]!r}, not 1 (within {CONSISTENCY_TOLERANCE})")
