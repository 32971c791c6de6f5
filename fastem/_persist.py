"""Saving and loading models: a documented .npz file that loading never executes.

Format (version 1): a NumPy .npz archive, read with allow_pickle=False, holding
    header                  uint8 array: UTF-8 JSON text, see below
    weights                 (K,) float64
    means                   (K, D) float64
    covariances             covariance_type's shape, float64
    precisions_cholesky     the same shape, float64
    weights_init, means_init, precisions_init   when those parameters were given
The JSON header: {"format": "fastem-model", "format_version": 1, "fastem_version": ...,
"params": the constructor parameters (JSON values), "attributes": {"converged_",
"n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_"}, "sha256": {array name:
hex digest of its bytes}}. The file is written to a temporary name beside the target and
renamed over it only when complete, so an interrupted save never leaves a half-written
model, and an existing model is replaced only by a whole one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "fastem-model"
FORMAT_VERSION = 1
ARRAYS = ("weights", "means", "covariances", "precisions_cholesky")
INIT_ARRAYS = ("weights_init", "means_init", "precisions_init")


class ModelFileError(ValueError):
    """A file is not a fastem model, is damaged, or comes from a newer fastem."""


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
    path.parent.mkdir(parents=True, exist_ok=True)
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


def read_archive(path: Path, kind: str, file_format: str, required: tuple[str, ...] = ()
                 ) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays) of an archive written by write_archive whose header names
    file_format, with the required arrays, every array checked against its checksum.
    Never unpickles. kind names the file in error messages."""
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as archive:
            contents = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path} is not a readable fastem {kind} (damaged or not a .npz file): {exc}") from None
    if "header" not in contents:
        raise ModelFileError(f"{path} is a .npz file but not a fastem {kind}: it has no header")
    try:
        header = json.loads(contents.pop("header").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: the {kind} header is damaged: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != file_format:
        found = header.get("format") if isinstance(header, dict) else None
        raise ModelFileError(f"{path} is not a fastem {kind} file (format {found!r})")
    digests = header.get("sha256", {})
    missing = sorted({*digests, *required} - contents.keys())
    if missing:
        raise ModelFileError(f"{path}: the {kind} is incomplete: array {missing[0]!r} is missing")
    for name, array in contents.items():
        if _digest(array) != digests.get(name):
            raise ModelFileError(f"{path}: array {name!r} does not match its checksum: the file is corrupted")
    return header, contents


def save(model, path) -> Path:
    """Write the fitted model to path (.npz is appended if missing); returns the path."""
    from . import __version__

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays = {
        "weights": model.weights_,
        "means": model.means_,
        "covariances": model.covariances_,
        "precisions_cholesky": model.precisions_cholesky_,
    }
    params = model.get_params()
    for name in INIT_ARRAYS:
        if params.get(name) is not None:
            arrays[name] = params[name]
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastem_version": __version__,
        "params": {k: _json_value(v) for k, v in params.items() if k not in INIT_ARRAYS},
        "attributes": {
            "converged_": bool(model.converged_),
            "n_iter_": int(model.n_iter_),
            "lower_bound_": float(model.lower_bound_),
            "lower_bounds_": [float(v) for v in getattr(model, "lower_bounds_", [])],
            "n_features_in_": int(model.n_features_in_),
        },
    }
    return write_archive(path, header, {name: np.asarray(a, dtype=np.float64) for name, a in arrays.items()})


def read_model(path) -> tuple[dict, dict[str, np.ndarray]]:
    """(header, arrays) of a model file, checked (see load)."""
    path = Path(path)
    header, contents = read_archive(path, "model", FORMAT, ARRAYS)
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format {version}, written by fastem {header.get('fastem_version')}; "
            f"this fastem reads format {FORMAT_VERSION} and older: upgrade fastem to load it"
        )
    return header, contents
