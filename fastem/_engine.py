"""The EM engine: the model, its statistics, the passes that compute them, EM itself.

Vocabulary:
    Params   the model: weights (K,), means (K, D), covariances and their precision
             Cholesky factors in scikit-learn's shapes for the covariance type.
    Stats    additive sufficient statistics of data under responsibilities, shifted
             around per-component centres, with the covariance type they belong to: two
             Stats over two pieces of data add up to the Stats of both.
    Task     one kind of pass (EM statistics, statistics under given responsibilities,
             Lloyd sums): how a piece of the data starts its accumulator, adds a chunk to
             it, and how two pieces' accumulators add.
    backend  what the engine sees of the data: n_samples, n_features, dtype,
             feature_names; ``reduce(task, payload)``, one pass that runs a task over every
             chunk and adds the pieces in a fixed order; ``map_rows(fn, payload, width,
             dtype)``, a per-row result (scoring); ``rows(index)`` and ``head(n)``, rows for
             seeding. ``LocalBackend`` (below) runs over a source's chunks in this
             process; ``fastem.dask.DaskBackend`` runs the same tasks where the blocks of a
             Dask array live. Nothing above the engine knows which.

Every kernel call goes through ``guard_chunk``: the kernels do no bounds checks, so the
shapes, types and row ranges of what they are given are checked here, once per call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from . import _kernels as K
from ._covariance import NON_FINITE_COVARIANCE, covariance, symmetric

LOG_2PI = np.log(2.0 * np.pi)
NO_WEIGHT = np.empty(0)


def array_chunks(X: np.ndarray, chunk_size: int) -> Iterator[np.ndarray]:
    """C-contiguous row chunks of X (n, D): views where X is C-contiguous, else copies
    of at most chunk_size rows each."""
    for start in range(0, X.shape[0], chunk_size):
        yield np.ascontiguousarray(X[start : start + chunk_size])


def check_finite(chunk: np.ndarray, start: int, name: str, index: int | None = None, allow_nan: bool = False) -> None:
    """Raise a ValueError naming the row and column of the first NaN or inf in chunk
    (rows from start of the data called name; index: the chunk's number in its pass).
    allow_nan: NaN entries are missing values (missing='marginalize'), and only inf and
    rows with every feature missing are errors."""
    if not allow_nan:
        bad = K.first_nonfinite(chunk)
        if bad < 0:
            return
        column = int(np.flatnonzero(~np.isfinite(chunk[bad]))[0])
        where = "" if index is None else f" (chunk {index}, row {bad} of the chunk)"
        hint = " (GaussianMixture(missing='marginalize') takes NaN entries as missing values)" \
            if np.isnan(chunk[bad, column]) else ""
        raise ValueError(f"{name} contains NaN or inf: row {start + bad}, column {column} holds "
                         f"{chunk[bad, column]}{where}{hint}")
    bad, kind = K.first_bad_row(chunk, True)
    if bad < 0:
        return
    where = "" if index is None else f" (chunk {index}, row {bad} of the chunk)"
    if kind == 2:
        column = int(np.flatnonzero(np.isinf(chunk[bad]))[0])
        raise ValueError(f"{name} contains inf: row {start + bad}, column {column} holds {chunk[bad, column]}{where}; "
                         "only NaN entries are taken as missing")
    raise ValueError(f"{name} has every feature missing (NaN) in row {start + bad}{where}: such a row tells "
                     "nothing about the mixture; drop it")


@dataclass
class Params:
    """A Gaussian mixture in scikit-learn's conventions for ``covariance_type``."""

    covariance_type: str
    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, D)
    covariances: np.ndarray  # full (K, D, D), tied (D, D), diag (K, D), spherical (K,)
    precisions_cholesky: np.ndarray  # same shape as covariances; upper-triangular factors

    @property
    def cov(self):
        """The covariance type's object (fastem._covariance)."""
        return covariance(self.covariance_type)

    @property
    def precisions(self) -> np.ndarray:
        return self.cov.precisions(self.precisions_cholesky)


def precision_cholesky(covariances: np.ndarray, covariance_type: str) -> np.ndarray:
    """Upper-triangular P with P P^T = inverse(covariance), as scikit-learn computes it."""
    if not np.all(np.isfinite(covariances)):
        raise ValueError(NON_FINITE_COVARIANCE)
    return covariance(covariance_type).precision_cholesky(covariances)


def params_from_precisions(covariance_type: str, weights, means, precisions) -> Params:
    """Params with the given precisions (the inverse covariances)."""
    cov = covariance(covariance_type)
    P = cov.cholesky_from_precisions(precisions)
    return Params(covariance_type, weights, means, cov.covariances_from_cholesky(P), P)


@dataclass
class KernelParams:
    """Params laid out for the kernels (see _kernels.drivers for the meaning), in dtype:
    the precision a pass computes in."""

    covariance_type: str
    family: int
    loc: np.ndarray
    center: np.ndarray
    prec: np.ndarray
    log_norm: np.ndarray
    shift: np.ndarray  # (K, D) float64: the centres the statistics are taken around
    marginal: tuple | None = None  # NaN entries are missing: what _kernels.missing needs besides

    @property
    def dtype(self) -> np.dtype:
        return self.loc.dtype

    @classmethod
    def from_params(cls, params: Params, dtype=np.float64, marginalize: bool = False) -> KernelParams:
        """The kernels' arrays in dtype. The statistics' shift is the means (the tied
        centre; full: the centre plus the means' offsets from it) as rounded to dtype, so
        that the M-step adds the shifted moments to exactly the point they were taken
        around. marginalize: NaN entries of the data are missing values, and marginal
        holds what ``marginal_arrays`` makes of the model."""
        dtype = np.dtype(dtype)
        cov = params.cov
        means = np.asarray(params.means, dtype=np.float64)
        rounded = means.astype(dtype).astype(np.float64)
        loc, center, shift, prec, log_det = cov.layout(means, rounded, params.precisions_cholesky, dtype)
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        log_norm = log_weights + log_det - 0.5 * means.shape[1] * LOG_2PI
        shift = np.array(shift, dtype=np.float64)
        marginal = marginal_arrays(cov, params.precisions, means, prec, dtype) if marginalize else None
        return cls(
            cov.name,
            cov.family,
            np.ascontiguousarray(loc, dtype=dtype),
            np.ascontiguousarray(center, dtype=dtype),
            np.ascontiguousarray(prec, dtype=dtype),
            np.ascontiguousarray(log_norm, dtype=dtype),
            shift,
            marginal,
        )


def marginal_arrays(cov, precisions: np.ndarray, means: np.ndarray, prec: np.ndarray, dtype) -> tuple:
    """KernelParams.marginal: (precisions (K or 1, D, D) float64 for full and tied, means
    (K, D) float64, variances (K, 1, D) float64 and 2 log prec - log(2 pi) (K, 1, D) in
    dtype for diag and spherical); prec is cov.layout's precision factor. The kernels take
    a row's missing features' share out of log_norm, whatever its constant (the Bayesian
    mixture's is another)."""
    none = np.zeros((1, 1, 1))
    lam = none if cov.family == K.DIAG else np.ascontiguousarray(
        np.reshape(precisions, (-1, *means.shape[1:] * 2)), dtype=np.float64)
    prec64 = np.asarray(prec, dtype=np.float64)
    var, h2 = (1.0 / prec64**2, (2.0 * np.log(prec64) - LOG_2PI).astype(dtype)) if cov.family == K.DIAG \
        else (none, none.astype(dtype))
    return lam, np.asarray(means, dtype=np.float64), var, h2


def compute_dtype(params: Params, data_dtype: np.dtype) -> np.dtype:
    """The precision the kernels compute a pass in. float32 data computes in float32 (8
    lanes per vector) when the model survives rounding to float32: its means move by at
    most 1e-3 of the smallest standard deviation. Data far from the origin for its spread
    (say 1e4 +- 1e-3) computes in float64, chunk by converted chunk."""
    if np.dtype(data_dtype) != np.float32:
        return np.dtype(np.float64)
    largest = params.cov.largest_precision(params.precisions_cholesky)  # 1 / the smallest standard deviation
    moved = float(np.max(np.abs(params.means))) * 2.0**-24
    return np.dtype(np.float32) if moved * largest <= 1e-3 else np.dtype(np.float64)


@dataclass
class Stats:
    """Shifted sufficient statistics of covariance_type: s0 (K,) soft counts, s1 (K, D)
    sum r (x - shift_k), s2 sum r (x - shift_k)(x - shift_k)^T in the type's layout (upper
    triangle; (K, D, D) full, (1, D, D) tied summed over components, (K, 1, D) diagonal
    only), loglik sum w log p(x) under the params of the pass, weight the total sample
    weight, n_rows the rows seen, worst [log p, row, x...] of the least likely row."""

    covariance_type: str
    shift: np.ndarray
    s0: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    loglik: float = 0.0
    weight: float = 0.0
    n_rows: int = 0
    worst: np.ndarray | None = field(default=None, compare=False)

    @classmethod
    def zeros(cls, covariance_type: str, shift: np.ndarray) -> Stats:
        n_components, n_features = shift.shape
        s2 = np.zeros(covariance(covariance_type).s2_shape(n_components, n_features))
        return cls(covariance_type, np.array(shift, dtype=np.float64), np.zeros(n_components),
                   np.zeros((n_components, n_features)), s2)

    def add_chunk_count(self, chunk: np.ndarray, weight: np.ndarray) -> None:
        self.n_rows += chunk.shape[0]
        self.weight += float(weight.sum()) if weight.size else float(chunk.shape[0])

    def __add__(self, other: Stats) -> Stats:
        """The Stats of two pieces of data (taken around the same shift)."""
        worst = self.worst if other.worst is None or (self.worst is not None and self.worst[0] <= other.worst[0]) \
            else other.worst
        return Stats(self.covariance_type, self.shift, self.s0 + other.s0, self.s1 + other.s1, self.s2 + other.s2,
                     self.loglik + other.loglik, self.weight + other.weight, self.n_rows + other.n_rows, worst)

    def rebased(self, shift: np.ndarray) -> Stats:
        """The same statistics taken around shift (K, D) instead (for tied, every row of
        shift must be the same point): with a = x - old and d = old - new,
        sum r (a + d) = s1 + s0 d and sum r (a + d)(a + d)^T = s2 + s1 d^T + d s1^T + s0 d d^T."""
        d = self.shift - shift
        s1 = self.s1 + self.s0[:, None] * d
        s2 = covariance(self.covariance_type).rebase_s2(self.s0, self.s1, self.s2, d)
        return Stats(self.covariance_type, np.array(shift, dtype=np.float64), self.s0.copy(), s1, s2, self.loglik,
                     self.weight, self.n_rows)

    def blended(self, other: Stats, rho: float) -> Stats:
        """(1 - rho) self + rho other, each per unit of weight, around other's shift:
        the stepwise EM update (Cappe and Moulines 2009). The result has weight 1."""
        mine = self.rebased(other.shift)
        a, b = (1.0 - rho) / self.weight, rho / other.weight
        return Stats(
            self.covariance_type, other.shift, a * mine.s0 + b * other.s0, a * mine.s1 + b * other.s1,
            a * mine.s2 + b * other.s2, a * mine.loglik + b * other.loglik, 1.0, self.n_rows + other.n_rows,
        )


def _raise_non_finite(start: int, what: str) -> None:
    raise ValueError(
        f"the {what} became non-finite in the chunk from row {start}: the squared scale of the data overflows "
        "float64 in the model's scale; rescale X or increase reg_covar"
    )


# ------------------------------------------------------------------------ the guard
def guard_chunk(X: np.ndarray, weight: np.ndarray, n_features: int, dtype: np.dtype) -> None:
    """What every kernel call relies on and does not check: X (rows, n_features)
    C-contiguous in dtype, weight (rows,) float64 or (0,)."""
    if X.ndim != 2 or X.shape[1] != n_features or X.dtype != dtype or not X.flags.c_contiguous:
        raise RuntimeError(f"internal error: a chunk of shape {X.shape}, {X.dtype}, reached a kernel "
                           f"expecting (rows, {n_features}) C-contiguous {dtype}")
    if weight.dtype != np.float64 or weight.shape not in ((0,), (X.shape[0],)):
        raise RuntimeError(f"internal error: weights of shape {weight.shape} for a chunk of {X.shape[0]} rows")


def _typed(X: np.ndarray, kp: KernelParams, weight: np.ndarray) -> np.ndarray:
    X = np.ascontiguousarray(X, dtype=kp.dtype)
    guard_chunk(X, weight, kp.loc.shape[1], kp.dtype)
    return X


# ------------------------------------------------------------------------ tasks
class Task:
    """A pass, reduced in pieces (a local pass is one piece; a Dask pass one a block).
    begin(payload, start) makes the accumulator of the piece whose first row is start;
    chunk(acc, X, weight, start, payload) adds chunk X (rows from start; weight (rows,)
    or (0,) for unit weights) into it; add(a, b) adds two pieces' accumulators, a the
    earlier. The methods are static: tasks travel to Dask workers by reference."""

    @staticmethod
    def begin(payload, start: int):
        raise NotImplementedError

    @staticmethod
    def chunk(acc, X: np.ndarray, weight: np.ndarray, start: int, payload) -> None:
        raise NotImplementedError

    @staticmethod
    def add(a, b):
        return a + b


class EMStats(Task):
    """The fused E-step and M-step accumulation: Stats under the KernelParams payload."""

    @staticmethod
    def begin(kp: KernelParams, start: int) -> Stats:
        stats = Stats.zeros(kp.covariance_type, kp.shift)
        stats.worst = np.full(2 + kp.loc.shape[1], np.inf)
        stats.worst[1] = -1
        return stats

    @staticmethod
    def chunk(stats: Stats, X: np.ndarray, weight: np.ndarray, start: int, kp: KernelParams) -> None:
        X = _typed(X, kp, weight)
        worst = stats.worst.copy()
        worst[1] = -1
        if kp.marginal is None:
            ll = K.em_accumulate(X, weight, kp.family, kp.loc, kp.center, kp.prec, kp.log_norm, stats.s0, stats.s1,
                                 stats.s2, worst)
        else:
            ll = K.em_accumulate_missing(X, weight, kp.family, kp.loc, kp.center, kp.prec, kp.log_norm, kp.marginal,
                                         stats.s0, stats.s1, stats.s2, worst)
        if not np.isfinite(ll):
            _raise_non_finite(start, "log-likelihood")
        if worst[1] >= 0:
            worst[1] += start
            stats.worst = worst
        stats.loglik += ll
        stats.add_chunk_count(X, weight)


@dataclass(frozen=True)
class RespSpec:
    """Responsibilities of an initialisation: how is 'labels' (data: k-means centres
    (K, D), each row to its nearest), 'seeds' (data: the global row of each component's
    one seed row), 'random' (data: {piece start: RandomState state}, uniform draws in row
    order, as scikit-learn's one draw for all rows) or 'given' (data: an (n, K) array).
    The statistics are taken around shift (K, D) (each component's own centre, so that a
    component far from the others loses no precision; tied: every row center (D,)), as
    rounded to dtype, the data's type."""

    covariance_type: str
    n_components: int
    center: np.ndarray
    dtype: np.dtype
    how: str
    data: object
    shift: np.ndarray | None = None
    fill: np.ndarray | None = None  # (D,): what a missing entry counts as (fill_missing)

    @property
    def typed_center(self) -> np.ndarray:
        return np.asarray(self.center, dtype=np.float64).astype(self.dtype)

    @property
    def typed_shift(self) -> np.ndarray:
        if self.shift is None or self.covariance_type == "tied":
            return np.tile(self.typed_center, (self.n_components, 1))
        return np.ascontiguousarray(self.shift, dtype=np.float64).astype(self.dtype)


class RespStats(Task):
    """Stats around a global centre under responsibilities given by a RespSpec."""

    @staticmethod
    def begin(spec: RespSpec, start: int):
        rng = None
        if spec.how == "random":
            rng = np.random.RandomState()
            rng.set_state(spec.data[start])
        return Stats.zeros(spec.covariance_type, spec.typed_shift.astype(np.float64)), rng

    @staticmethod
    def chunk(acc, X, weight, start, spec: RespSpec) -> None:
        stats, rng = acc
        X = np.ascontiguousarray(fill_missing(X, spec.fill), dtype=spec.dtype)
        center = spec.typed_center
        guard_chunk(X, weight, center.shape[0], X.dtype)
        resp = np.ascontiguousarray(_responsibilities(spec, rng, start, X), dtype=np.float64)
        if resp.shape != (X.shape[0], spec.n_components):
            raise RuntimeError(f"internal error: responsibilities {resp.shape} for a chunk of {X.shape[0]} rows")
        K.resp_accumulate(X, weight, covariance(spec.covariance_type).family, resp, spec.typed_shift, center, stats.s0,
                          stats.s1, stats.s2)
        stats.add_chunk_count(X, weight)

    @staticmethod
    def add(a, b):
        return a[0] + b[0], None


def _responsibilities(spec: RespSpec, rng, start: int, X: np.ndarray) -> np.ndarray:
    rows, n_components = X.shape[0], spec.n_components
    if spec.how == "random":
        resp = rng.uniform(size=(rows, n_components)).astype(X.dtype)
        resp /= resp.sum(axis=1)[:, None]
        return resp
    if spec.how == "seeds":
        seeds = np.asarray(spec.data)
        resp = np.zeros((rows, n_components))
        inside = (seeds >= start) & (seeds < start + rows)
        resp[seeds[inside] - start, np.flatnonzero(inside)] = 1.0
        return resp
    if spec.how == "labels":
        centers = np.asarray(spec.data, dtype=np.float64)
        labels = np.empty(rows, dtype=np.int64)
        K.lloyd_accumulate(np.ascontiguousarray(X), NO_WEIGHT, centers, np.zeros(n_components), np.zeros_like(centers),
                           labels)
        resp = np.zeros((rows, n_components))
        resp[np.arange(rows), labels] = 1.0
        return resp
    return np.asarray(spec.data)[start : start + rows]


def fill_missing(X: np.ndarray, fill: np.ndarray | None) -> np.ndarray:
    """X with each NaN entry replaced by fill (D,) of its column (X itself if fill is None
    or X has no NaN): how initialisation sees missing values."""
    if fill is None:
        return X
    missing = np.isnan(X)
    if not missing.any():
        return X
    return np.where(missing, np.asarray(fill, dtype=X.dtype), X)


class LloydSums(Task):
    """One Lloyd iteration's (weighted counts (K,), sums of x - centre (K, D)) around the
    payload's centres (K, D) float64, missing entries (payload's fill, or None) filled."""

    @staticmethod
    def begin(payload, start: int):
        centers, _ = payload
        return np.zeros(centers.shape[0]), np.zeros_like(centers)

    @staticmethod
    def chunk(acc, X, weight, start, payload) -> None:
        centers, fill = payload
        X = np.ascontiguousarray(fill_missing(X, fill))
        guard_chunk(X, weight, centers.shape[1], X.dtype)
        K.lloyd_accumulate(X, weight, centers, acc[0], acc[1], np.empty(0, dtype=np.int64))

    @staticmethod
    def add(a, b):
        return a[0] + b[0], a[1] + b[1]


class FeatureMeans(Task):
    """(the weight of the observed entries (D,), their weighted sums (D,), the weight of
    the missing entries (D,)) of each feature, NaN entries left out of the sums: the
    observed means, which initialisation fills in."""

    @staticmethod
    def begin(n_features: int, start: int):
        return np.zeros(n_features), np.zeros(n_features), np.zeros(n_features)

    @staticmethod
    def chunk(acc, X, weight, start, n_features) -> None:
        seen = ~np.isnan(X)
        w = np.ones(X.shape[0]) if weight.size == 0 else weight
        counts, sums, unseen = acc
        counts += w @ seen
        sums += w @ np.where(seen, X, 0.0)
        unseen += w @ ~seen

    @staticmethod
    def add(a, b):
        return a[0] + b[0], a[1] + b[1], a[2] + b[2]


class LogLikelihood(Task):
    """(the sum of log p(x) over the rows, in float64; the rows) under the KernelParams
    payload: score, bic and aic of data of any size, in one pass and O(1) memory."""

    @staticmethod
    def begin(kp: KernelParams, start: int) -> np.ndarray:
        return np.zeros(2)

    @staticmethod
    def chunk(acc, X, weight, start, kp: KernelParams) -> None:
        density = np.empty(X.shape[0])
        score_rows(X, kp, "density", density)
        acc += (density.sum(), X.shape[0])


def score_rows(X: np.ndarray, kp: KernelParams, what: str, out: np.ndarray) -> None:
    """Per row of chunk X into out: 'density' log p(x) (n,), 'labels' the most probable
    component (n,), 'proba' p(k | x) (n, K)."""
    X = _typed(X, kp, NO_WEIGHT)
    n, n_components = X.shape[0], kp.loc.shape[0]
    expected = (n, n_components) if what == "proba" else (n,)
    if out.shape != expected or not out.flags.c_contiguous:
        raise RuntimeError(f"internal error: an output of shape {out.shape} for {what} of {n} rows")
    density = out if what == "density" else np.empty(n)
    labels = out if what == "labels" else np.empty(n, dtype=np.int64)
    resp = out if what == "proba" else np.empty((0, n_components))
    if kp.marginal is None:
        K.score(X, kp.family, kp.loc, kp.center, kp.prec, kp.log_norm, density, labels, resp)
    else:
        K.score_missing(X, kp.family, kp.loc, kp.center, kp.prec, kp.log_norm, kp.marginal, density, labels, resp)
    bad = np.flatnonzero(~np.isfinite(density))
    if bad.size:  # no component gives the row a density float64 can hold: its squares overflow
        raise ValueError(f"the log-density of a row is {density[bad[0]]} (row {bad[0]} of a chunk of {n}): "
                         "its distance from every component overflows float64 in the model's scale")


SCORES = {"density": np.float64, "labels": np.int64, "proba": np.float64}


def reduce_chunks(task: type[Task], payload, items: Iterable[tuple[int, np.ndarray, np.ndarray]], start: int = 0):
    """One piece of a pass: task over items, (start row, chunk, weight) in row order."""
    acc = task.begin(payload, start)
    for chunk_start, chunk, weight in items:
        task.chunk(acc, chunk, weight, chunk_start, payload)
    return acc


# ------------------------------------------------------------------------ the local backend
CHUNK_RESULT_BYTES = 16 * 2**20  # per-row results written to a file are computed this many bytes at a time


class LocalBackend:
    """The engine's view of a source (anything with ``chunks()``, ``name``,
    ``n_features``, ``dtype``, ``n_samples``: fastem.sources) in this process: each pass
    reads the source's chunks (prefetched, with a progress bar if asked) and runs the task
    over them in row order. Every pass is checked against the first: a source that yields
    more or fewer rows, or chunks of another width, is an error naming it and the pass."""

    piece_starts = (0,)

    def __init__(self, source, sample_weight: np.ndarray | None = None, progress: bool = False):
        self.source = source
        self.name, self.n_features, self.dtype = source.name, source.n_features, source.dtype
        self.n_samples = source.n_samples
        self.feature_names = getattr(source, "feature_names", None)
        self.sample_weight = sample_weight
        self.progress = progress
        self.marginalize = bool(getattr(source, "allow_nan", False))  # NaN entries are missing values
        self.passes = 0

    @property
    def reiterable(self) -> bool:
        return self.source.reiterable

    def count(self) -> int:
        """n_samples, by a pass over the data where the source cannot tell without one."""
        if self.n_samples is None:
            for _ in self._items("counting rows"):
                pass
        return self.n_samples

    def _items(self, description: str | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(start, chunk, weight) of a new pass, each chunk guarded."""
        self.passes += 1
        number, chunks = self.passes, self.source.chunks()
        if self.progress:
            from ._progress import progress_bar

            chunks = progress_bar(chunks, self.n_samples, description or f"pass {number}")
        start, expected = 0, self.n_samples
        for chunk in chunks:
            stop = start + chunk.shape[0]
            if chunk.ndim != 2 or chunk.shape[1] != self.n_features:
                raise ValueError(f"{self.name} changed between passes: pass {number} yielded a chunk of shape "
                                 f"{chunk.shape} at row {start}, but it has {self.n_features} features")
            if expected is not None and stop > expected:
                raise ValueError(f"{self.name} changed between passes: pass {number} yielded more than the "
                                 f"{expected:,} rows it had")
            weight = NO_WEIGHT if self.sample_weight is None else self.sample_weight[start:stop]
            guard_chunk(chunk, weight, self.n_features, self.dtype)
            yield start, chunk, weight
            start = stop
        if expected is not None and start != expected:
            raise ValueError(f"{self.name} changed between passes: pass {number} yielded {start:,} rows, "
                             f"not the {expected:,} it had")
        if expected is None:  # the first full pass tells the rows; later passes (and backends) must agree
            self.n_samples = self.source.n_samples = start

    def reduce(self, task: type[Task], payload, description: str | None = None):
        return reduce_chunks(task, payload, self._items(description))

    def map_rows(self, fn: Callable, payload, width: int | None, dtype, out=None) -> np.ndarray | None:
        """fn(chunk, payload, rows) for every chunk, rows its part of the (n,) or (n, width)
        result: returned, or given chunk by chunk to out.write (a fastem._outputs writer)."""
        tail = () if width is None else (width,)
        if out is not None:  # in blocks of at most a chunk's bytes of results, whatever the width
            step = max(1024, CHUNK_RESULT_BYTES // (8 * (width or 1)))
            block = np.empty(0)
            for _, chunk, _ in self._items("scoring"):
                for first in range(0, chunk.shape[0], step):
                    part = chunk[first : first + step]
                    if block.shape[0] != part.shape[0]:
                        block = np.empty((part.shape[0], *tail), dtype=dtype)
                    fn(part, payload, block)
                    out.write(block)
            return None
        if self.n_samples is not None:
            result = np.empty((self.n_samples, *tail), dtype=dtype)
            for start, chunk, _ in self._items("scoring"):
                fn(chunk, payload, result[start : start + chunk.shape[0]])
            return result
        parts = []  # a one-shot stream of unknown length: one pass, parts joined
        for _, chunk, _ in self._items("scoring"):
            parts.append(np.empty((chunk.shape[0], *tail), dtype=dtype))
            fn(chunk, payload, parts[-1])
        return np.concatenate(parts)

    def rows(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows at sorted global indices as float64 (m, D), and their weights (m,)."""
        parts = []
        for start, chunk, _ in self._items("sampling rows"):
            lo, hi = np.searchsorted(index, [start, start + chunk.shape[0]])
            parts.append(np.asarray(chunk[index[lo:hi] - start], dtype=np.float64))
        weight = np.ones(index.size) if self.sample_weight is None else self.sample_weight[index]
        return np.concatenate(parts), weight

    def head(self, n: int) -> np.ndarray:
        """The first min(n, n_samples) rows as float64."""
        parts, have = [], 0
        chunks = self.source.chunks()
        try:
            for chunk in chunks:
                parts.append(np.asarray(chunk[: n - have], dtype=np.float64))
                have += parts[-1].shape[0]
                if have >= n:
                    break
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return np.concatenate(parts)


def em_stats(backend, params: Params) -> Stats:
    """One EM pass over the backend's data: Stats under params."""
    kp = KernelParams.from_params(params, compute_dtype(params, backend.dtype), backend.marginalize)
    return backend.reduce(EMStats, kp)


def score(backend, kp: KernelParams, what: str, dtype=np.float64, out=None):
    """One pass of per-row results ('density', 'labels' or 'proba', see score_rows) under
    kernel parameters kp (EM's, or a variational E-step's constants): densities and
    probabilities in dtype (float32 or float64; labels are int64). Returned, or written to
    the file out (a path checked by fastem._outputs.check_output_path), whose path is then
    returned."""
    width = kp.loc.shape[0] if what == "proba" else None
    fn = score_rows_of(what)
    result_dtype = np.dtype(SCORES[what] if what == "labels" else dtype)
    if result_dtype != SCORES[what]:
        fn = partial(_cast_rows, fn)
    if out is None:
        return backend.map_rows(fn, kp, width, result_dtype)
    from ._outputs import columns_of, open_output

    with open_output(out, columns_of(what, width), result_dtype, flat=width is None) as writer:
        backend.map_rows(fn, kp, width, result_dtype, out=writer)
        return writer.close()


def log_likelihood(backend, kp: KernelParams) -> tuple[float, int]:
    """One pass: (the sum of log p(x) over the backend's rows, the rows) under kernel
    parameters kp."""
    total, rows = backend.reduce(LogLikelihood, kp, "scoring")
    return float(total), int(rows)


def score_rows_of(what: str) -> Callable:
    return {"density": _density, "labels": _labels, "proba": _proba}[what]


def _cast_rows(fn: Callable, X, kp, out) -> None:
    """fn's float64 results for chunk X stored into out of another float type."""
    rows = np.empty(out.shape, dtype=np.float64)
    fn(X, kp, rows)
    out[...] = rows


def _density(X, kp, out):
    score_rows(X, kp, "density", out)


def _labels(X, kp, out):
    score_rows(X, kp, "labels", out)


def _proba(X, kp, out):
    score_rows(X, kp, "proba", out)


# ------------------------------------------------------------------------ chunk-level helpers
def _items_of(chunks: Iterable[np.ndarray], sample_weight: np.ndarray | None):
    start = 0
    for chunk in chunks:
        stop = start + chunk.shape[0]
        yield start, chunk, NO_WEIGHT if sample_weight is None else np.asarray(sample_weight[start:stop], np.float64)
        start = stop


def em_pass(chunks: Iterable[np.ndarray], params: Params, sample_weight: np.ndarray | None = None) -> Stats:
    """EMStats over chunks in this process (the first chunk tells the data's type)."""
    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:
        raise ValueError("no data: the pass yielded no chunk")
    kp = KernelParams.from_params(params, compute_dtype(params, first.dtype))
    return reduce_chunks(EMStats, kp, _items_of(_chained(first, chunks), sample_weight))


def _chained(first, rest):
    yield first
    yield from rest


def resp_pass(chunks: Iterable[np.ndarray], covariance_type: str, center: np.ndarray, resp: np.ndarray,
              sample_weight: np.ndarray | None = None) -> Stats:
    """RespStats over chunks under given responsibilities resp (n, K), around center (D,)."""
    chunks = iter(chunks)
    first = next(chunks, None)
    if first is None:
        raise ValueError("no data: the pass yielded no chunk")
    spec = RespSpec(covariance_type, resp.shape[1], np.asarray(center, dtype=np.float64), first.dtype, "given", resp)
    return reduce_chunks(RespStats, spec, _items_of(_chained(first, chunks), sample_weight))[0]


def score_pass(chunks: Iterable[np.ndarray], params: Params, n_samples: int, with_resp: bool = False
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """log p(x) (n,), labels (n,) and, if asked, responsibilities (n, K) over chunks."""
    chunks = list(chunks)
    if sum(c.shape[0] for c in chunks) != n_samples:
        raise ValueError(f"the chunks hold {sum(c.shape[0] for c in chunks)} rows, not {n_samples}")
    kp = KernelParams.from_params(params, compute_dtype(params, chunks[0].dtype))
    out = {what: np.empty((n_samples, params.weights.size) if what == "proba" else n_samples, dtype=SCORES[what])
           for what in (("density", "labels", "proba") if with_resp else ("density", "labels"))}
    for start, chunk, _ in _items_of(chunks, None):
        for what, result in out.items():
            score_rows(chunk, kp, what, result[start : start + chunk.shape[0]])
    return out["density"], out["labels"], out.get("proba")


# ------------------------------------------------------------------------ the M-step
def m_step(stats: Stats, covariance_type: str, reg_covar: float, eps: float, weights_over: float | None = None
           ) -> Params:
    """Params from Stats. eps (10 machine epsilons of the data type, as scikit-learn) keeps
    empty components finite; weights are nk / sum(nk), or nk / weights_over if given."""
    if stats.covariance_type != covariance_type:
        raise ValueError(f"statistics of {stats.covariance_type} covariances given to a {covariance_type} M-step")
    nk = stats.s0 + eps
    delta = stats.s1 / nk[:, None]
    means = stats.shift + delta
    cov = covariance(covariance_type).m_step(nk, delta, stats.s2, reg_covar)
    weights = nk / (nk.sum() if weights_over is None else weights_over)
    return Params(covariance_type, weights, means, cov, precision_cholesky(cov, covariance_type))


class CollapseWarning(UserWarning):
    """A component's soft count fell below the collapse threshold during EM.

    Warned by ``fit`` when a component's soft count (the sum of its responsibilities, in
    sample-weighted rows) falls below ``collapse_threshold`` and ``on_collapse`` acts on
    it: ``"reseed"`` moves it to the most poorly explained row of the pass, ``"drop"``
    removes it. The message names the component, the iteration and what was done.
    ``on_collapse="ignore"`` keeps the component, as scikit-learn does, without a
    warning.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from fastem import CollapseWarning, GaussianMixture
    >>> X = np.random.default_rng(0).normal(size=(300, 2))
    >>> gm = GaussianMixture(n_components=3, on_collapse="drop",
    ...                      weights_init=[0.5, 0.5, 0.0], random_state=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     gm = gm.fit(X)
    >>> [w.category is CollapseWarning for w in caught]
    [True]
    >>> gm.weights_.shape
    (2,)
    """


COLLAPSE_POLICIES = ("reseed", "drop", "ignore")


def _below(count: float, threshold: float) -> str:
    """count (< threshold) in as few significant digits as show it below threshold:
    0.99996 rows under a threshold of 1 reads 0.99996, not 1."""
    for digits in range(3, 18):
        text = f"{count:.{digits}g}"
        if float(text) < threshold:
            return text
    return repr(count)


def resolve_collapse(params: Params, stats: Stats, policy: str, threshold: float, n_iter: int) -> Params:
    """Handle components whose soft count in stats is below threshold rows (threshold
    is in rows: it is scaled by the mean sample weight, so that multiplying every weight by
    a constant changes nothing), with a CollapseWarning: 'reseed' moves the first of them
    to the least likely row of the pass (the most poorly explained point), with the weight
    of threshold rows and the weighted mean covariance of the others; 'drop' removes them
    (the model then has fewer components); 'ignore' keeps them as scikit-learn does (their
    covariance is then reg_covar, never NaN)."""
    unit = stats.weight / max(stats.n_rows, 1)  # the weight of an average row
    collapsed = np.flatnonzero(stats.s0 < threshold * unit)
    if policy == "ignore" or collapsed.size == 0:
        return params
    cov = params.cov
    alive = np.setdiff1d(np.arange(params.weights.size), collapsed)
    counts = ", ".join(f"{k}: {_below(stats.s0[k] / unit, threshold)}" for k in collapsed)
    if alive.size == 0:
        raise ValueError(f"every component collapsed at iteration {n_iter} (soft counts in rows {counts} "
                         f"< {threshold})")
    if policy == "drop":
        weights = params.weights[alive] / params.weights[alive].sum()
        warnings.warn(f"components {collapsed.tolist()} collapsed at iteration {n_iter} (soft counts {counts} "
                      f"< {threshold} rows) and were dropped: {alive.size} remain", CollapseWarning, stacklevel=3)
        return Params(cov.name, weights, params.means[alive], cov.select(params.covariances, alive),
                      cov.select(params.precisions_cholesky, alive))
    if stats.worst is None or stats.worst[1] < 0:
        return params
    k = int(collapsed[0])
    weights, means = params.weights.copy(), params.means.copy()
    covariances, P = params.covariances.copy(), params.precisions_cholesky.copy()
    means[k] = stats.worst[2:]
    unseen = np.isnan(means[k])  # a row's missing entries: the other components' mean there
    means[k, unseen] = np.average(params.means[alive][:, unseen], axis=0, weights=params.weights[alive])
    weights[k] = threshold * unit / stats.weight
    weights /= weights.sum()
    if cov.name != "tied":
        share = params.weights[alive] / params.weights[alive].sum()
        covariances[k] = np.tensordot(share, params.covariances[alive], axes=1)
        P[k] = precision_cholesky(covariances[k : k + 1], cov.name)[0]
    warnings.warn(f"component {k} collapsed at iteration {n_iter} (soft count {_below(stats.s0[k] / unit, threshold)} < "
                  f"{threshold} rows): re-seeded at row {int(stats.worst[1])}, the most poorly explained",
                  CollapseWarning, stacklevel=3)
    return Params(cov.name, weights, means, covariances, P)


# ------------------------------------------------------------------------ EM
@dataclass
class EMResult:
    """A run: its parameters (Params, or a variational Posterior), lower bound(s),
    iterations, whether it converged, and the statistics of its last E-step where the
    run keeps them (variational EM: partial_fit goes on from them)."""

    params: Params
    lower_bound: float
    lower_bounds: list[float]
    n_iter: int
    converged: bool
    stats: Stats | None = field(default=None, compare=False, repr=False)


def run_em(
    backend,
    params: Params,
    *,
    tol: float,
    max_iter: int,
    reg_covar: float,
    eps: float,
    lower_bound: float = -np.inf,
    lower_bounds: list[float] | None = None,
    on_iteration: Callable[[EMResult, float, bool], None] | None = None,
    on_collapse: str = "ignore",
    collapse_threshold: float = 1.0,
) -> EMResult:
    """EM from params until the mean log-likelihood changes by less than tol, in
    scikit-learn's order: each iteration's lower bound is the mean log-likelihood of the
    params before its M-step; each iteration is one em_stats pass over the backend.

    To resume a run, pass its params, lower_bound and lower_bounds after len(lower_bounds)
    iterations: the run goes on exactly as if it had not stopped. on_iteration(run, change,
    finished) is called after every M-step with the run so far as an EMResult."""
    lower_bounds = list(lower_bounds or [])
    converged = False
    n_iter = len(lower_bounds)
    for n_iter in range(len(lower_bounds) + 1, max_iter + 1):
        previous = lower_bound
        stats = em_stats(backend, params)
        params = m_step(stats, params.covariance_type, reg_covar, eps)
        params = resolve_collapse(params, stats, on_collapse, collapse_threshold, n_iter)
        lower_bound = stats.loglik / stats.weight
        lower_bounds.append(lower_bound)
        change = lower_bound - previous
        converged = abs(change) < tol
        if on_iteration is not None:
            run = EMResult(params, lower_bound, list(lower_bounds), n_iter, converged)
            on_iteration(run, change, converged or n_iter == max_iter)
        if converged:
            break
    return EMResult(params, lower_bound, lower_bounds, n_iter, converged)


__all__ = ["COLLAPSE_POLICIES", "CollapseWarning", "EMResult", "KernelParams", "LocalBackend", "Params", "Stats",
           "array_chunks", "check_finite", "compute_dtype", "em_pass", "em_stats", "m_step", "run_em", "score",
           "symmetric"]
