"""Saving and loading models: a documented .npz file that loading never executes.

Format (version 3): a NumPy .npz archive (an uncompressed zip of .npy arrays, as np.savez
writes it) of a JSON header and float64 arrays. Every array is the float64 value the fit
computed, also for a float32 model (loading rounds it to the model's dtype).

The JSON header (the array ``header``: uint8, UTF-8 JSON text): {"format":
"fastem-model", "format_version": 3, "fastem_version": ..., "estimator":
"GaussianMixture" or "BayesianGaussianMixture", "params": the constructor parameters
(JSON values; an array parameter is an array of the file instead, see below),
"attributes": {"converged_", "n_iter_", "lower_bound_", "lower_bounds_",
"n_features_in_", "dtype" ("float32" or "float64": the fitted attributes' type),
"feature_names_in_" (a list of n_features_in_ strings, or null), and for a
BayesianGaussianMixture the priors as fitted: "weight_concentration_prior_",
"mean_precision_prior_", "degrees_of_freedom_prior_" (floats), and for a spherical one
"covariance_prior_" (a float)}, "sha256": {array name: hex digest of its bytes}}.

A GaussianMixture file holds the arrays (K components, D = n_features_in_)
    weights                 (K,)
    means                   (K, D)
    covariances             covariance_type's shape: (K, D, D) full, (D, D) tied,
                            (K, D) diag, (K,) spherical
    precisions_cholesky     the same shape
    weights_init, means_init, precisions_init   when those parameters were given
(not in "params" then).

A BayesianGaussianMixture file holds the variational posterior (scikit-learn's
attributes without their trailing underscore; K = n_components)
    means                   (K, D)
    covariances             covariance_type's shape, as above
    precisions_cholesky     the same shape
    mean_precision          (K,)
    degrees_of_freedom      (K,); tied: (1,), its one value
    weight_concentration_a, weight_concentration_b   (K,) each, the Beta parameters of
                            weight_concentration_prior_type "dirichlet_process"
    weight_concentration    (K,), for "dirichlet_distribution"
and the priors as fitted
    mean_prior_             (D,)
    covariance_prior_       (D, D) full and tied, (D,) diag (spherical: an attribute)
and, when the constructor parameters mean_prior and covariance_prior are arrays,
    param_mean_prior, param_covariance_prior   (those parameters, absent from "params")
weights_ and precisions_ are not stored: loading derives them from weight_concentration
(``fastem.bayesian.posterior_weights``) and precisions_cholesky as fit does.

Versions 1 and 2 (no "estimator") are GaussianMixture files and still load; version 1
files, without "dtype" and "feature_names_in_", load as float64 models without names.
The file is written to a temporary name beside the target (whose folder must exist) and
renamed over it only when complete, so an interrupted save never leaves a half-written
model, and an existing model is replaced only by a whole one.

Reading treats the file as untrusted input. ``read_archive`` opens only a regular file
(a directory, FIFO or device is refused before it is opened, and opened without
blocking), parses the zip itself and never unpickles: every member must be an
uncompressed .npy array of a plain numeric dtype whose declared size is exactly what the
member holds (so no member can make the reader allocate more than the file's size), and
every array must match its checksum. Checksums detect accidents only (anyone can
recompute them): ``fastem.load`` (``_load``) then checks the header's types and every
array's dtype, shape and values before it builds an estimator, and refuses (does not
ignore) arrays and header entries that the file's format version does not describe.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import stat
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

FORMAT = "fastem-model"
FORMAT_VERSION = 3
ESTIMATORS = ("GaussianMixture", "BayesianGaussianMixture")
ARRAYS = ("weights", "means", "covariances", "precisions_cholesky")  # a GaussianMixture's
INIT_ARRAYS = ("weights_init", "means_init", "precisions_init")
HEADER_KEYS = ("format", "format_version", "fastem_version", "params", "attributes", "sha256")  # versions 1, 2
HEADER_KEYS_3 = (*HEADER_KEYS, "estimator")
# a BayesianGaussianMixture's arrays: the posterior, its weight concentration by prior
# type, the priors as fitted (covariance_prior_ is an attribute for spherical), and the
# array constructor parameters
POSTERIOR_ARRAYS = ("means", "covariances", "precisions_cholesky", "mean_precision", "degrees_of_freedom")
WEIGHT_CONCENTRATION_ARRAYS = {"dirichlet_process": ("weight_concentration_a", "weight_concentration_b"),
                               "dirichlet_distribution": ("weight_concentration",)}
PRIOR_ARRAYS = ("mean_prior_", "covariance_prior_")
PARAM_ARRAYS = {"mean_prior": "param_mean_prior", "covariance_prior": "param_covariance_prior"}
PRIOR_ATTRIBUTES = ("weight_concentration_prior_", "mean_precision_prior_", "degrees_of_freedom_prior_")
NUMERIC_KINDS = "biufc"  # the dtype kinds an archive may hold (bool, int, uint, float, complex)


class ModelFileError(ValueError):
    """A file is not a fastem model, is damaged, or comes from a newer fastem.

    Raised by :func:`fastem.load` and by a fit resuming from a checkpoint; the message
    names the file and what is wrong with it. A ``ValueError``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import fastem
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes.npz"
    >>> _ = path.write_text("not a model")
    >>> try:
    ...     fastem.load(path)
    ... except fastem.ModelFileError as error:
    ...     print("refused:", "not a readable fastem model" in str(error))
    refused: True
    """


class _Unreadable(ValueError):
    """The archive's container (zip or .npy member) is malformed."""


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _json_value(value):
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return None  # e.g. a RandomState instance: not stored


def write_archive(path: Path, header: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write header (JSON, with a SHA-256 of every array added) and float64 arrays to a
    .npz archive at path: to a temporary file beside it, renamed into place when whole."""
    arrays = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    header = dict(header, sha256={name: _digest(a) for name, a in arrays.items()})
    text = json.dumps(header, allow_nan=True).encode()
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, header=np.frombuffer(text, dtype=np.uint8), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _open_regular(path: Path, kind: str):
    """A binary file object on the regular file at path. Anything else (a directory, FIFO,
    device or socket) is a ModelFileError, found before the file is opened (opening a FIFO
    would block until a writer comes) and checked again on the open descriptor."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"no such file: {path}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise ModelFileError(f"{path} cannot be read as a fastem {kind}: {exc}") from None
    if not stat.S_ISREG(mode):
        raise ModelFileError(f"{path} is not a fastem {kind}: it is {_file_kind(mode)}, not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ModelFileError(f"{path} cannot be read as a fastem {kind}: {exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # replaced between the two calls
            raise ModelFileError(f"{path} is not a fastem {kind}: it is {_file_kind(mode)}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def npy_header(f) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) from the .npy header at f's position (numpy's own
    parsers; f is left at the first byte of data). ValueError for a format other than 1.0
    or 2.0."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    raise ValueError(f"unsupported .npy format version {version}")


def _read_npy(member, size: int, name: str) -> np.ndarray:
    """The array of a .npy member of size bytes, its header checked before any data is read."""
    try:
        shape, fortran_order, dtype = npy_header(member)
    except ValueError as exc:
        raise _Unreadable(f"array {name!r}: {exc}, which fastem does not write") from None
    if dtype.hasobject:
        raise _Unreadable(f"array {name!r} holds Python objects (dtype {dtype}), which fastem never unpickles")
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise _Unreadable(f"array {name!r} has dtype {dtype}, not a number type")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise _Unreadable(f"array {name!r} declares an invalid shape {shape!r}")
    nbytes = math.prod(shape) * dtype.itemsize
    if member.tell() + nbytes != size:
        raise _Unreadable(f"array {name!r} declares shape {shape} of {dtype} ({nbytes} bytes of data) but its "
                          f"member holds {size - member.tell()} bytes of data")
    data = member.read(nbytes)
    if len(data) != nbytes:
        raise _Unreadable(f"array {name!r} is truncated")
    array = np.frombuffer(bytearray(data), dtype=dtype)  # a writable copy
    return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)


def _read_members(f) -> dict[str, np.ndarray]:
    """The arrays of the .npz archive open in f, by name (the member's name without .npy)."""
    file_size = os.fstat(f.fileno()).st_size
    arrays = {}
    with zipfile.ZipFile(f) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise _Unreadable(f"member {info.filename!r} is not a .npy array")
            name = info.filename[:-4]
            if name in arrays:
                raise _Unreadable(f"array {name!r} is in the archive twice")
            if info.compress_type != zipfile.ZIP_STORED:
                raise _Unreadable(f"array {name!r} is compressed; fastem writes and reads uncompressed archives")
            if info.file_size != info.compress_size or info.compress_size > file_size:
                raise _Unreadable(f"array {name!r} declares {info.file_size} bytes in a file of {file_size}")
            with archive.open(info) as member:
                arrays[name] = _read_npy(member, info.file_size, name)
    return arrays


# what a damaged zip or .npy member can raise from zipfile and numpy's .npy parser
_CONTAINER_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, TypeError,
                     OverflowError, NotImplementedError, RuntimeError, SyntaxError, KeyError, IndexError,
                     struct.error, zlib.error)


def read_archive(path: Path, kind: str, file_format: str, required: tuple[str, ...] = ()
                 ) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays) of an archive written by write_archive whose header names
    file_format, with the required arrays, every array checked against its checksum.
    Never unpickles (see the module's docstring). kind names the file in error messages."""
    path = Path(path)
    with _open_regular(path, kind) as f:
        try:
            contents = _read_members(f)
        except _CONTAINER_ERRORS as exc:
            raise ModelFileError(f"{path} is not a readable fastem {kind} (damaged or not a .npz file): {exc}"
                                 ) from None
    if "header" not in contents:
        raise ModelFileError(f"{path} is a .npz file but not a fastem {kind}: it has no header")
    raw = contents.pop("header")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{path}: the {kind} header is damaged: it is an array of {raw.dtype} and shape "
                             f"{raw.shape}, not a 1-D uint8 array of JSON text")
    try:
        header = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: JSON, or too many digits
        raise ModelFileError(f"{path}: the {kind} header is damaged: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != file_format:
        found = header.get("format") if isinstance(header, dict) else None
        if not isinstance(found, str | None):
            found = type(found).__name__
        raise ModelFileError(f"{path} is not a fastem {kind} file (format {found!r})")
    digests = header.get("sha256")
    if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
        raise ModelFileError(f"{path}: the {kind} header's 'sha256' must be an object of array name -> hex "
                             f"digest, got {_describe(digests)}")
    missing = sorted({*digests, *required} - contents.keys())
    if missing:
        raise ModelFileError(f"{path}: the {kind} is incomplete: array {missing[0]!r} is missing")
    for name, array in contents.items():
        if name not in digests:
            raise ModelFileError(f"{path}: array {name!r} has no checksum in the header: the file is corrupted")
        if _digest(array) != digests[name]:
            raise ModelFileError(f"{path}: array {name!r} does not match its checksum: the file is corrupted")
    return header, contents


def _describe(value) -> str:
    """A short description of a JSON value for error messages (never a huge repr)."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def save(model, path) -> Path:
    """Write the fitted model to path (.npz is appended if missing); returns the path."""
    from . import __version__
    from .bayesian import BayesianGaussianMixture

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    bayesian = isinstance(model, BayesianGaussianMixture)
    params, attributes, arrays = (_bayesian_contents if bayesian else _gaussian_contents)(model)
    names = getattr(model, "feature_names_in_", None)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastem_version": __version__,
        "estimator": ESTIMATORS[bayesian],
        "params": params,
        "attributes": {
            "converged_": bool(model.converged_),
            "n_iter_": int(model.n_iter_),
            "lower_bound_": float(model.lower_bound_),
            "lower_bounds_": [float(v) for v in getattr(model, "lower_bounds_", [])],
            "n_features_in_": int(model.n_features_in_),
            "dtype": "float32" if model.means_.dtype == np.float32 else "float64",  # as _set_params makes it
            "feature_names_in_": None if names is None else [str(n) for n in names],
            **attributes,
        },
    }
    return write_archive(path, header, {name: np.asarray(a, dtype=np.float64) for name, a in arrays.items()})


def _gaussian_contents(model) -> tuple[dict, dict, dict]:
    """(params, attributes beyond the shared ones, arrays) of a GaussianMixture."""
    fitted = model._fitted_params()  # float64, as EM computed it, for a float32 model too
    arrays = dict(zip(ARRAYS, (fitted.weights, fitted.means, fitted.covariances, fitted.precisions_cholesky),
                      strict=True))
    params = model.get_params()
    for name in INIT_ARRAYS:
        if params.get(name) is not None:
            arrays[name] = params[name]
    return {k: _json_value(v) for k, v in params.items() if k not in INIT_ARRAYS}, {}, arrays


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _bayesian_contents(model) -> tuple[dict, dict, dict]:
    """(params, the priors as attributes, arrays) of a BayesianGaussianMixture."""
    post = model._fitted_posterior()  # float64, as the fit computed it, for a float32 model too
    wc = post.weight_concentration
    arrays = dict(zip(WEIGHT_CONCENTRATION_ARRAYS[model.weight_concentration_prior_type],
                      wc if isinstance(wc, tuple) else (wc,), strict=True))
    arrays |= {"means": post.means, "covariances": post.covariances, "precisions_cholesky": post.precisions_cholesky,
               "mean_precision": post.mean_precision, "degrees_of_freedom": np.atleast_1d(post.degrees_of_freedom),
               "mean_prior_": model.mean_prior_}
    attributes = {name: float(getattr(model, name)) for name in PRIOR_ATTRIBUTES}
    if model.covariance_type == "spherical":
        attributes["covariance_prior_"] = float(model.covariance_prior_)
    else:
        arrays["covariance_prior_"] = model.covariance_prior_
    params = {}
    for name, value in model.get_params().items():
        if name in PARAM_ARRAYS and value is not None and not _is_number(value):
            arrays[PARAM_ARRAYS[name]] = value  # an array parameter
        else:
            params[name] = _json_value(value)
    return params, attributes, arrays


def read_model(path) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays) of a model file: the archive checked (read_archive), its format
    version one this fastem reads, its estimator (``estimator_of``) one it knows, and a
    GaussianMixture's arrays all there. fastem.load checks the rest."""
    path = Path(path)
    header, contents = read_archive(path, "model", FORMAT)
    version = header.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        written = header.get("fastem_version")
        written = written if isinstance(written, str) and len(written) <= 40 else "(unknown version)"
        raise ModelFileError(
            f"{path} uses model format {version}, written by fastem {written}; "
            f"this fastem reads format {FORMAT_VERSION} and older: upgrade fastem to load it"
        )
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path}: the model header's 'format_version' must be an int from 1 to "
                             f"{FORMAT_VERSION}, got {_describe(version)}")
    if version < 3 and "estimator" in header:
        raise ModelFileError(f"{path}: the model header has an unknown entry 'estimator' (a format version {version} "
                             "file is a GaussianMixture's and names none; version 3 added it)")
    if version >= 3:
        estimator = header.get("estimator")
        known = " or ".join(repr(name) for name in ESTIMATORS)
        if "estimator" not in header:
            raise ModelFileError(f"{path}: the model header has no 'estimator' (format version {version} names "
                                 f"the estimator: {known})")
        if estimator not in ESTIMATORS:  # a str that is not one, or not a str at all
            raise ModelFileError(f"{path}: the model header's 'estimator' must be {known}, got "
                                 f"{_describe(estimator)}")
    if estimator_of(header) == "GaussianMixture":
        missing = sorted(set(ARRAYS) - contents.keys())
        if missing:
            raise ModelFileError(f"{path}: the model is incomplete: array {missing[0]!r} is missing")
    return header, contents


def estimator_of(header: dict) -> str:
    """The estimator a header (format version checked by read_model) describes."""
    return header["estimator"] if header["format_version"] >= 3 else "GaussianMixture"
