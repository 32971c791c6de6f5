"""Checkpoints of a running fit: after every EM iteration, the state needed to resume it
and end with the same model as an uninterrupted fit (fit(..., checkpoint=PATH) or the
``checkpoint`` parameter).

A checkpoint is an archive of fastem's model-file kind (see _persist: JSON header, float64
arrays, checksums, written under a temporary name and renamed into place) holding: the
run being fitted (its initialisation index, parameters after the last M-step, lower
bounds so far, whether it finished), the best finished run so far, the random state right
after the current run's initialisation, and a fingerprint of the data and parameters so
that a checkpoint is never resumed on other data or settings: the data's shape and type,
and a SHA-256 of every row and weight (a pass over the data, chunk by chunk, on any
backend), so that a change anywhere in the data refuses the checkpoint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._covariance import covariance
from ._engine import EMResult, Params, Task
from ._persist import ModelFileError, read_archive, write_archive

FORMAT = "fastem-checkpoint"
PARAM_ARRAYS = ("weights", "means", "covariances", "precisions_cholesky")


class GaussianCodec:
    """A run's Params as named float64 arrays and back (the Bayesian estimator has its
    own codec for its posterior)."""

    def __init__(self, covariance_type: str):
        self.covariance_type = covariance_type

    def arrays(self, params: Params) -> dict[str, np.ndarray]:
        return {name: np.asarray(getattr(params, name), dtype=np.float64) for name in PARAM_ARRAYS}

    def params(self, arrays: dict[str, np.ndarray]) -> Params:
        return Params(self.covariance_type, *(arrays[name] for name in PARAM_ARRAYS))

    def shapes(self, arrays: dict[str, np.ndarray], n_components: int, n_features: int) -> dict[str, tuple]:
        """The shape each array must have: K = len(weights) components (fewer than
        n_components after on_collapse='drop'); only weights', of n_components, when
        weights is no vector of 1 to n_components entries."""
        weights = arrays.get("weights")
        if weights is None or weights.ndim != 1 or not 1 <= weights.shape[0] <= n_components:
            return {"weights": (n_components,)}
        k, shape = weights.shape[0], covariance(self.covariance_type).shape(weights.shape[0], n_features)
        return {"weights": (k,), "means": (k, n_features), "covariances": shape, "precisions_cholesky": shape}


def settings_of(params: dict) -> dict:
    """Estimator parameters as JSON values (arrays as lists, objects by their type)."""
    out = {}
    for name, value in params.items():
        if isinstance(value, np.ndarray | list | tuple):
            out[name] = np.asarray(value, dtype=np.float64).tolist()
        elif value is None or isinstance(value, bool | int | float | str | np.generic):
            out[name] = value.item() if isinstance(value, np.generic) else value
        else:
            out[name] = type(value).__name__
    return out


class DataDigest(Task):
    """[(start row, SHA-256 of a chunk's rows and weights)] of every chunk, in row order."""

    @staticmethod
    def begin(payload, start):
        return []

    @staticmethod
    def chunk(acc, X, weight, start, payload):
        digest = hashlib.sha256(np.ascontiguousarray(X).tobytes())
        digest.update(np.ascontiguousarray(weight).tobytes())
        acc.append((int(start), int(X.shape[0]), digest.hexdigest()))


def fingerprint(backend, settings: dict) -> dict:
    """What a checkpoint must agree with: the data's shape and type, a hash of all its
    rows and sample weights (one pass), and the settings that decide the model."""
    parts = backend.reduce(DataDigest, None, "fingerprint")
    digest = hashlib.sha256(repr(parts).encode())
    return {"n_samples": int(backend.n_samples), "n_features": int(backend.n_features), "dtype": str(backend.dtype),
            "data_sha256": digest.hexdigest(), "settings": settings}


@dataclass
class FitState:
    """Where a fit stands: the run of initialisation init_index, and the best so far."""

    init_index: int
    rng_state: tuple
    current: EMResult
    finished: bool
    best: EMResult | None


def _params_arrays(prefix: str, params, codec) -> dict[str, np.ndarray]:
    return {f"{prefix}_{name}": a for name, a in codec.arrays(params).items()}


def _result_header(result: EMResult) -> dict:
    return {"lower_bound": result.lower_bound, "lower_bounds": list(result.lower_bounds),
            "n_iter": result.n_iter, "converged": result.converged}


def save_state(path: Path, stamp: dict, state: FitState, codec) -> None:
    name, keys, pos, has_gauss, cached = state.rng_state
    header = {"format": FORMAT, "format_version": 1, "fingerprint": stamp, "init_index": state.init_index,
              "finished": state.finished, "rng": [name, int(pos), int(has_gauss), float(cached)],
              "current": _result_header(state.current),
              "best": None if state.best is None else _result_header(state.best)}
    arrays = {"rng_keys": np.asarray(keys, dtype=np.uint32), **_params_arrays("current", state.current.params, codec)}
    if state.best is not None:
        arrays.update(_params_arrays("best", state.best.params, codec))
    write_archive(Path(path), header, arrays)


def _result(header: dict, arrays: dict, prefix: str, codec, stamp: dict) -> EMResult:
    """A run of the checkpoint, its arrays checked: every one there, of the shape the
    settings and the data give (codec.shapes), finite; the kernels take them unchecked."""
    mine = {name[len(prefix) + 1:]: a for name, a in arrays.items() if name.startswith(f"{prefix}_")}
    for name, shape in codec.shapes(mine, int(stamp["settings"]["n_components"]), int(stamp["n_features"])).items():
        if name not in mine:
            raise ModelFileError(f"the checkpoint's {prefix!r} run has no array '{name}': it is damaged")
        if mine[name].shape != shape:
            raise ModelFileError(f"the checkpoint's {prefix!r} run has array '{name}' of shape {mine[name].shape}, "
                                 f"not {shape}: it is damaged")
        if not np.all(np.isfinite(mine[name])):
            raise ModelFileError(f"the checkpoint's {prefix!r} run has a non-finite entry in array '{name}': "
                                 "it is damaged")
    params = codec.params(mine)
    return EMResult(params, float(header["lower_bound"]), [float(v) for v in header["lower_bounds"]],
                    int(header["n_iter"]), bool(header["converged"]))


def load_state(path: Path, stamp: dict, codec) -> FitState | None:
    """The state in the checkpoint at path, or None if there is none. A checkpoint of
    other data or settings is an error (delete it to start afresh)."""
    path = Path(path)
    if not path.exists():
        return None
    header, arrays = read_archive(path, "checkpoint", FORMAT, ("rng_keys",))
    if header.get("fingerprint") != stamp:
        raise ModelFileError(
            f"checkpoint {path} was written by a fit of other data or other parameters; "
            "delete it to start this fit afresh"
        )
    name, pos, has_gauss, cached = header["rng"]
    best = None if header["best"] is None else _result(header["best"], arrays, "best", codec, stamp)
    return FitState(int(header["init_index"]), (name, arrays["rng_keys"], pos, has_gauss, cached),
                    _result(header["current"], arrays, "current", codec, stamp), bool(header["finished"]), best)
