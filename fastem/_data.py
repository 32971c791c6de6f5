"""The one dispatcher: whatever a user passes as X becomes the engine's data backend.

=====================================================  =================================
X                                                      backend
=====================================================  =================================
a Dask array or DataFrame                              fastem.dask.DaskBackend
a Source, a path or URL (or a list of them), an        LocalBackend over fastem.source(X)
h5py/zarr array, an Arrow table or dataset, a polars
frame, a callable, an iterator
anything else (arrays, lists, DataFrames)              LocalBackend over the array,
                                                       validated as scikit-learn does
=====================================================  =================================

It also keeps the estimator's ``n_features_in_`` and ``feature_names_in_`` (the column
names of a DataFrame, or of a named source: Parquet, CSV with a header, Arrow), checks
them on later calls as scikit-learn does, and validates sample weights.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator

import numpy as np
from sklearn.utils.validation import validate_data

from ._engine import LocalBackend
from .sources import ArraySource, Source, is_source_object, source

ARRAY, SOURCE, DASK = "array", "source", "dask"


def kind_of(X) -> str:
    """ARRAY, SOURCE or DASK: which way X goes."""
    module = type(X).__module__.split(".")[0]
    if module in ("dask", "dask_expr"):
        return DASK
    if isinstance(X, Source | str | bytes | os.PathLike | Iterator) or callable(X) or module in ("h5py", "zarr") \
            or is_source_object(X) or _is_path_list(X):
        return SOURCE
    return ARRAY


def _is_path_list(X) -> bool:
    """A list or tuple of paths or URLs (the files of one dataset)."""
    return isinstance(X, list | tuple) and len(X) > 0 and all(isinstance(p, str | os.PathLike) for p in X)


def is_stream(X) -> bool:
    """Whether X comes in chunks (a source, path, callable or iterator: partial_fit takes
    one step per chunk) rather than as one batch (an array, in memory or on a cluster)."""
    return kind_of(X) == SOURCE


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray | None:
    """sample_weight as a float64 (n_samples,) array of finite weights >= 0 with a positive
    sum (or None); the error names the first bad row."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample_weight must hold numbers: {exc}") from None
    if w.shape != (n_samples,):
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {w.shape}.")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise ValueError(f"sample_weight must be finite and >= 0; row {bad[0]} holds {w[bad[0]]}.")
    if not w.max() > 0:
        raise ValueError("sample_weight sums to zero: no row carries any weight.")
    return normalized_weights(w)


def normalized_weights(w):
    """w rescaled to mean 1: the model does not depend on the weights' scale,
    and neither tiny (1e-300) nor huge (1e306) weights lose precision or overflow."""
    w = w / w.max()
    return w / w.mean()


def _as_float_array(estimator, X, *, reset: bool, min_samples: int) -> np.ndarray:
    """An in-memory X as float32/float64, validated as scikit-learn does (n_features_in_,
    feature names)."""
    if np.ma.isMaskedArray(X) and np.ma.is_masked(X):
        raise ValueError(f"X is a masked array with {int(np.ma.count_masked(X))} masked entries, which fastem would "
                         "fit as the values under the mask: fill them or drop their rows first")
    if isinstance(X, list | tuple):
        X = np.asarray(X)
    kind = getattr(getattr(X, "dtype", None), "kind", None)
    if kind in ("U", "S", "O"):
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"X must hold numbers; its {X.dtype} entries do not convert to float: {exc}") from None
    try:
        return validate_data(estimator, X, reset=reset, dtype=[np.float64, np.float32], ensure_all_finite=False,
                             ensure_min_samples=min_samples)
    except (TypeError, ValueError) as exc:
        text = str(exc)
        if not any(s in text for s in ("could not convert", "Cannot cast", "argument must be")):
            raise
        columns = [c for c, t in getattr(X, "dtypes", {}).items() if getattr(t, "kind", "O") not in "biuf"]
        where = f" (non-numeric columns {columns})" if columns else ""
        raise type(exc)(f"X must hold numbers{where}: {text}") from None


def _check_columns(estimator, n_features: int, names, reset: bool) -> None:
    """The width and column names of a source or Dask X, as scikit-learn checks a
    DataFrame's: fit (reset) keeps them, later calls must match them."""
    if reset:
        estimator.n_features_in_ = n_features
        if names is not None:
            estimator.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
        return
    fitted = getattr(estimator, "feature_names_in_", None)
    name = type(estimator).__name__
    if fitted is None and names is not None:
        warnings.warn(f"X has feature names, but {name} was fitted without feature names", UserWarning,
                      stacklevel=_caller())
    elif fitted is not None and names is None:
        warnings.warn(f"X does not have valid feature names, but {name} was fitted with feature names", UserWarning,
                      stacklevel=_caller())
    elif fitted is not None and list(fitted) != list(names):
        raise ValueError(_names_differ(list(fitted), list(names)))
    if n_features != estimator.n_features_in_:
        raise ValueError(f"X has {n_features} features, but {name} is expecting "
                         f"{estimator.n_features_in_} features as input.")


def _caller() -> int:
    """The stacklevel of a warning issued here that points at the first caller outside fastem."""
    package = os.path.dirname(__file__)
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _names_differ(fitted: list, names: list) -> str:
    """scikit-learn's message for columns other than those of the fit."""
    message = "The feature names should match those that were passed during fit.\n"
    unseen, missing = [n for n in names if n not in fitted], [n for n in fitted if n not in names]
    if unseen:
        message += "Feature names unseen at fit time:\n" + "".join(f"- {n}\n" for n in unseen)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + "".join(f"- {n}\n" for n in missing)
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    return message


def open_data(estimator, X, *, reset: bool, sample_weight=None, chunk_size: int | None = None,
              progress: bool = False, min_samples: int = 1):
    """The backend for X. reset: X sets the estimator's n_features_in_ (fit), else it must
    match it. sample_weight is validated against X's rows (a counting pass where a source
    cannot tell them without one). The estimator's ``missing`` (if it has one) decides
    whether NaN entries are missing values ('marginalize'; a source passed in is set to
    allow them) or errors."""
    kind = kind_of(X)
    allow_nan = getattr(estimator, "missing", "error") == "marginalize"
    if kind == DASK:
        from .dask import DaskBackend

        backend = DaskBackend(X, sample_weight, progress, marginalize=allow_nan)
        _check_columns(estimator, backend.n_features, backend.feature_names, reset)
        return backend
    if kind == SOURCE:
        data = source(X, chunk_size=chunk_size)
        data.allow_nan = allow_nan
        _check_columns(estimator, data.n_features, getattr(data, "feature_names", None), reset)
    else:
        X = _as_float_array(estimator, X, reset=reset, min_samples=min_samples)
        data = ArraySource(X, chunk_size, name="Input X", allow_nan=allow_nan)
    backend = LocalBackend(data, progress=progress)
    if sample_weight is not None:
        backend.sample_weight = check_sample_weight(sample_weight, backend.count())
    return backend


def chunk_backend(chunk: np.ndarray, name: str, allow_nan: bool = False) -> LocalBackend:
    """One chunk of a stream already checked by its source, as a backend of its own (a
    partial_fit step): its columns are the stream's."""
    return LocalBackend(ArraySource(chunk, chunk.shape[0], name=name, allow_nan=allow_nan))
