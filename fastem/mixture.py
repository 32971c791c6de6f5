"""fastem.GaussianMixture: a drop-in for sklearn.mixture.GaussianMixture on fused kernels."""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterator
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _kernels as K
from ._checkpoint import FitState, fingerprint, load_state, save_state, settings_of
from ._engine import (
    COLLAPSE_POLICIES,
    COVARIANCE_TYPES,
    EMResult,
    Params,
    array_chunks,
    covariances_from_precision_cholesky,
    em_pass,
    local_e_step,
    m_step,
    precision_cholesky_from_precisions,
    run_em,
    score_pass,
)
from ._init import INIT_METHODS, initial_params
from ._persist import save as save_model
from ._progress import progress_bar
from ._threads import threads
from .sources import ArraySource, Source, auto_chunk_rows, source


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter has a wrong type or value (raised by fit)."""


def _is_int(v: object) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)


# parameter -> (test, what it must be); checked by fit, as scikit-learn does
_PARAMETERS = {
    "n_components": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "covariance_type": (lambda v: v in COVARIANCE_TYPES, f"one of {COVARIANCE_TYPES}"),
    "tol": (lambda v: _is_real(v) and v >= 0, "a float >= 0"),
    "reg_covar": (lambda v: _is_real(v) and v >= 0, "a float >= 0"),
    "max_iter": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
    "n_init": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "init_params": (lambda v: v in INIT_METHODS, f"one of {INIT_METHODS}"),
    "warm_start": (lambda v: isinstance(v, bool | np.bool_), "a bool"),
    "verbose": (lambda v: _is_int(v) and v >= 0, "an int >= 0"),
    "verbose_interval": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "n_jobs": (lambda v: v is None or (_is_int(v) and v != 0), "None or a nonzero int"),
    "chunk_size": (lambda v: v is None or (_is_int(v) and v >= 1), "None or an int >= 1"),
    "progress": (lambda v: isinstance(v, bool | np.bool_), "a bool"),
    "learning_decay": (lambda v: _is_real(v) and 0.5 < v <= 1.0, "a float in (0.5, 1]"),
    "learning_offset": (lambda v: _is_real(v) and v >= 0, "a float >= 0"),
    "checkpoint": (lambda v: v is None or isinstance(v, str | os.PathLike), "None or a path"),
    "on_collapse": (lambda v: v in COLLAPSE_POLICIES, f"one of {COLLAPSE_POLICIES}"),
    "collapse_threshold": (lambda v: _is_real(v) and v >= 0, "a float >= 0"),
}


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM on fused, parallel Numba kernels.

    The same parameters, attributes and results as ``sklearn.mixture.GaussianMixture``
    (from the same initialisation), plus ``sample_weight`` in ``fit``, ``n_jobs`` and
    ``chunk_size``. Each EM iteration is one pass over the data in chunks: the kernel
    computes log-densities, responsibilities and the shifted sufficient statistics of a
    chunk at once, with no (n_samples, n_components) temporary.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Shape of the covariances: one full matrix per component, one shared full
        matrix, one diagonal per component, or one variance per component.
    tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample changes by less than tol.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance.
    max_iter : int, default=100
        EM iterations at most (0 keeps the initial parameters).
    n_init : int, default=1
        Initialisations to run; the one with the highest final lower bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How responsibilities are initialised. 'kmeans' uses fastem's own streaming
        k-means (k-means++ seeding on a sample of at most 100,000 rows, then Lloyd
        passes over all the data); the others follow scikit-learn, and 'random' and
        'random_from_data' draw the same numbers from the same random_state.
    weights_init : array-like of shape (K,), default=None
    means_init : array-like of shape (K, D), default=None
    precisions_init : array-like, default=None
        User-provided initial weights, means and precisions (the inverse covariances:
        (K, D, D) full, (D, D) tied, (K, D) diag, (K,) spherical).
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        Start from the previous fit's parameters (then n_init is 1).
    verbose : int, default=0
        1 prints each initialisation and every verbose_interval iterations, 2 also the
        time and log-likelihood change.
    verbose_interval : int, default=10
    n_jobs : int or None, default=None
        Threads for the kernels: None or -1 all cores, -2 all but one. The fitted
        model is bitwise the same for any value.
    chunk_size : int or None, default=None
        Rows per kernel call; None holds about 16 MiB of X per chunk. Chunks of a
        C-contiguous float array are views; others are converted chunk by chunk.
    progress : bool, default=False
        Show a tqdm progress bar (rows/s, time left) for every pass over the data.
    learning_decay : float in (0.5, 1], default=0.6
    learning_offset : float >= 0, default=1.0
        partial_fit's step sizes rho_t = (t + learning_offset) ** -learning_decay.
    checkpoint : path or None, default=None
        Keep the fit's state in this file after every EM iteration; a fit started
        with an existing checkpoint of the same data and settings resumes from it and
        ends with the same model as an uninterrupted fit. Removed when the fit ends.
    on_collapse : {'reseed', 'drop', 'ignore'}, default='reseed'
        What EM does, with a ``CollapseWarning``, when a component's soft count falls
        below collapse_threshold: move it to the most poorly explained row of the pass
        (one component per iteration), remove it (``weights_`` etc. then have fewer
        rows), or keep it as scikit-learn does (its covariance becomes reg_covar).
        Never NaN. Not applied by partial_fit, whose batches may lack a component.
    collapse_threshold : float, default=1.0
        The soft count, in (sample-weighted) rows, below which a component collapsed.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    means_ : ndarray of shape (K, D)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes as precisions_init; ``precisions_cholesky_`` holds upper-triangular
        factors P with P P^T = precision.
    converged_ : bool
    n_iter_ : int
        Iterations of the best initialisation.
    lower_bound_ : float
        Mean (sample-weighted) log-likelihood of the data under the parameters of the
        best run's last iteration.
    lower_bounds_ : list of float
        The lower bound after each iteration of the best run.
    n_features_in_ : int
    n_steps_ : int
        partial_fit steps taken (set by partial_fit only).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]], dtype=float)
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.sort(gm.means_[:, 0]).round(6)
    array([ 1., 10.])
    >>> gm.predict([[0, 0], [12, 3]]).tolist() == [gm.predict([[1, 1]])[0], gm.predict([[10, 3]])[0]]
    True
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_jobs=None,
        chunk_size=None,
        progress=False,
        learning_decay=0.6,
        learning_offset=1.0,
        checkpoint=None,
        on_collapse="reseed",
        collapse_threshold=1.0,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_jobs = n_jobs
        self.chunk_size = chunk_size
        self.progress = progress
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.checkpoint = checkpoint
        self.on_collapse = on_collapse
        self.collapse_threshold = collapse_threshold

    # ----------------------------------------------------------------- validation
    def _check_params(self) -> None:
        for name, (valid, what) in _PARAMETERS.items():
            value = getattr(self, name)
            if not valid(value):
                raise InvalidParameterError(
                    f"The '{name}' parameter of {type(self).__name__} must be {what}. Got {value!r} instead."
                )

    def _check_X(self, X, *, reset: bool) -> np.ndarray:
        """An in-memory X as a float32/float64 array with no NaN or inf (the error names
        the first bad row), validated as scikit-learn does (n_features_in_, names)."""
        if isinstance(X, list | tuple):
            X = np.asarray(X)
        kind = getattr(getattr(X, "dtype", None), "kind", None)
        if kind in ("U", "S", "O"):
            try:
                X = np.asarray(X, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"X must hold numbers; its {X.dtype} entries do not convert to float: {exc}") from None
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=2 if reset else 1,
        )
        rows = self.chunk_size or auto_chunk_rows(X.shape[1], X.dtype.itemsize)
        for index, chunk in enumerate(array_chunks(X, rows)):
            bad = K.first_nonfinite(chunk)
            if bad >= 0:
                row = index * rows + bad
                column = int(np.flatnonzero(~np.isfinite(chunk[bad]))[0])
                raise ValueError(f"Input X contains NaN or inf: row {row}, column {column} holds {chunk[bad, column]}.")
        return X

    def _data(self, X, *, reset: bool) -> Source:
        """X as a Source: in-memory arrays validated as scikit-learn does; anything else
        fastem.source() opens (files, callables, iterators, h5py/zarr arrays)."""
        if not _is_source_like(X):
            X = self._check_X(X, reset=reset)
            return ArraySource(X, self.chunk_size, name="X", checked=True)
        data = source(X, chunk_size=self.chunk_size)
        if reset:
            self.n_features_in_ = data.n_features
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif data.n_features != self.n_features_in_:
            raise ValueError(
                f"X has {data.n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return data

    def _check_sample_weight(self, sample_weight, n_samples: int) -> np.ndarray | None:
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (n_samples,):
            raise ValueError(f"sample_weight must have shape ({n_samples},), got {w.shape}.")
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        if bad.size:
            raise ValueError(f"sample_weight must be finite and >= 0; row {bad[0]} holds {w[bad[0]]}.")
        if not w.sum() > 0:
            raise ValueError("sample_weight sums to zero: no row carries any weight.")
        return w

    def _check_initial(self, n_features: int):
        """weights_init, means_init, precisions_init checked and converted (or None)."""
        n, cov = self.n_components, self.covariance_type
        weights = means = precisions = None
        if self.weights_init is not None:
            weights = np.array(self.weights_init, dtype=np.float64)
            if weights.shape != (n,):
                raise ValueError(f"The parameter 'weights' should have the shape of ({n},), but got {weights.shape}")
            if not np.all((weights >= 0) & (weights <= 1)):
                raise ValueError(
                    "The parameter 'weights' should be in the range [0, 1], "
                    f"but got max value {weights.max():.5f}, min value {weights.min():.5f}"
                )
            if not np.allclose(np.abs(1.0 - weights.sum()), 0.0):
                raise ValueError(f"The parameter 'weights' should be normalized, but got sum(weights) = {weights.sum():.5f}")
        if self.means_init is not None:
            means = np.array(self.means_init, dtype=np.float64)
            if means.shape != (n, n_features):
                raise ValueError(f"The parameter 'means' should have the shape of {(n, n_features)}, but got {means.shape}")
            if not np.all(np.isfinite(means)):
                raise ValueError("The parameter 'means' holds NaN or inf.")
        if self.precisions_init is not None:
            precisions = np.array(self.precisions_init, dtype=np.float64)
            shape = {"full": (n, n_features, n_features), "tied": (n_features, n_features),
                     "diag": (n, n_features), "spherical": (n,)}[cov]
            if precisions.shape != shape:
                raise ValueError(f"The parameter '{cov} precision' should have the shape of {shape}, but got {precisions.shape}")
            if cov in ("full", "tied"):
                for p in precisions.reshape(-1, n_features, n_features):
                    if not (np.all(np.isfinite(p)) and np.allclose(p, p.T) and np.all(np.linalg.eigvalsh(p) > 0.0)):
                        raise ValueError(f"'{cov} precision' should be symmetric, positive-definite")
            elif not np.all(precisions > 0.0) or not np.all(np.isfinite(precisions)):
                raise ValueError(f"'{cov} precision' should be positive")
        return weights, means, precisions

    def _passes(self, data: Source, n_samples: int):
        """chunks_of() for the engine: a new pass over data, with a progress bar if asked."""
        count = [0]

        def chunks_of():
            count[0] += 1
            chunks = data.chunks()
            return progress_bar(chunks, n_samples, f"pass {count[0]}") if self.progress else chunks

        return chunks_of

    # ----------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None, checkpoint=None):
        """Estimate the parameters by EM (n_init runs, the best kept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or a data source
            In memory: float32 data stays float32; other numbers become float64. Or
            anything ``fastem.source`` opens: a path to a .npy, .h5, .zarr, .parquet or
            .csv file, an h5py/zarr array, a callable returning an iterator of chunks.
            Each EM iteration is one pass over the chunks.
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows (a row of weight 2 counts as two rows).
        checkpoint : path, default=None
            Overrides the ``checkpoint`` parameter: where to keep the fit's state after
            every iteration. A fit started with an existing checkpoint of the same data
            and settings resumes from it and ends with the same model as an
            uninterrupted fit; the file is removed when the fit completes.

        Returns
        -------
        self

        If fit is interrupted (KeyboardInterrupt) or fails, the estimator is left
        exactly as it was before the call.
        """
        before = dict(self.__dict__)
        try:
            return self._fit(X, sample_weight, checkpoint if checkpoint is not None else self.checkpoint)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, X, sample_weight, checkpoint):
        self._check_params()
        if is_dask_collection(X):
            data, e_step, make_initial = self._dask_setup(X, sample_weight, checkpoint)
            sample_weight = None
        else:
            data = self._data(X, reset=True)
            if not data.reiterable:
                raise ValueError(
                    f"fit makes several passes over the data, but {data.name} is a one-shot iterator: "
                    "pass a callable that returns a new iterator for each pass, or use partial_fit for a stream"
                )
            data.count_rows()
            sample_weight = self._check_sample_weight(sample_weight, data.n_samples)
            chunks_of = self._passes(data, data.n_samples)
            e_step = local_e_step(chunks_of, sample_weight)

            def make_initial(rng):
                return initial_params(self.init_params, chunks_of, n_samples=data.n_samples, dtype=data.dtype,
                                      n_components=self.n_components, covariance_type=self.covariance_type,
                                      reg_covar=self.reg_covar, rng=rng, sample_weight=sample_weight)

        n_samples = data.n_samples
        if n_samples < max(2, self.n_components):
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {self.n_components}, n_samples = {n_samples}"
                if n_samples < self.n_components
                else f"Found array with {n_samples} sample(s) while a minimum of 2 is required by {type(self).__name__}."
            )
        weights0, means0, precisions0 = self._check_initial(data.n_features)
        eps = 10 * np.finfo(data.dtype).eps
        rng = check_random_state(self.random_state)
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1
        stamp = state = None
        if checkpoint is not None:
            settings = settings_of({k: v for k, v in self.get_params().items()
                                    if k not in ("verbose", "verbose_interval", "n_jobs", "progress", "checkpoint")})
            stamp = fingerprint(data, n_samples, sample_weight, settings)
            state = load_state(checkpoint, stamp, self.covariance_type)
            if state is not None:
                rng.set_state(state.rng_state)
                self._say(1, f"Resuming from checkpoint {checkpoint}: initialization {state.init_index}, "
                             f"{state.current.n_iter} iterations done")
        best = state.best if state is not None else None
        # Overflow in the data's scale is reported by a clear error (engine), not warnings.
        with threads(self.n_jobs), np.errstate(over="ignore", invalid="ignore"):
            for init in range(state.init_index if state is not None else 0, n_init):
                self._say(1, f"Initialization {init}")
                start = time.perf_counter()
                resuming = state is not None and init == state.init_index
                if resuming:
                    params, lower_bound = state.current.params, state.current.lower_bound
                    lower_bounds = state.current.lower_bounds
                elif do_init:
                    params = self._initial_params(make_initial, rng, weights0, means0, precisions0)
                    lower_bound, lower_bounds = -np.inf, []
                else:
                    params, lower_bound, lower_bounds = self._fitted_params(), self.lower_bound_, []
                rng_after_init = rng.get_state()
                if self.max_iter == 0:
                    result = EMResult(params, -np.inf, [], 0, False)
                elif resuming and state.finished:
                    result = state.current
                else:
                    on_iteration = self._iteration_printer()
                    if checkpoint is not None:
                        on_iteration = self._checkpointer(on_iteration, checkpoint, stamp, init, rng_after_init,
                                                          best)
                    result = run_em(
                        e_step,
                        params,
                        tol=self.tol,
                        max_iter=self.max_iter,
                        reg_covar=self.reg_covar,
                        eps=eps,
                        lower_bound=lower_bound,
                        lower_bounds=lower_bounds,
                        on_iteration=on_iteration,
                        on_collapse=self.on_collapse,
                        collapse_threshold=self.collapse_threshold,
                    )
                    state_word = "converged" if result.converged else "did not converge"
                    self._say(1, f"Initialization {state_word}.",
                              f" time lapse {time.perf_counter() - start:.5f}s\t lower bound {result.lower_bound:.5f}.")
                if best is None or result.lower_bound > best.lower_bound or best.lower_bound == -np.inf:
                    best = result
        if not best.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different init parameters, "
                "or increase max_iter, tol, or check for degenerate data.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._set_params(best.params)
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        self.lower_bound_ = best.lower_bound
        self.lower_bounds_ = best.lower_bounds
        if checkpoint is not None:
            Path(checkpoint).unlink(missing_ok=True)
        return self

    def _checkpointer(self, on_iteration, path, stamp, init, rng_state, best):
        """on_iteration that also writes the fit's state to the checkpoint at path."""

        def write(run: EMResult, change: float, finished: bool) -> None:
            on_iteration(run, change, finished)
            save_state(path, stamp, FitState(init, rng_state, run, finished, best))

        return write

    def fit_predict(self, X, y=None, sample_weight=None):
        """fit(X) then predict(X): the component label of each row, shape (n_samples,)."""
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    def partial_fit(self, X, y=None, sample_weight=None):
        """Stepwise online EM (Cappe and Moulines 2009) on a mini-batch, or on every chunk
        of a stream.

        Each step takes the sufficient statistics of the batch under the current model,
        S_batch, and blends them into the running statistics, S <- (1 - rho_t) S +
        rho_t S_batch, with rho_t = (t + learning_offset) ** -learning_decay, then runs
        the M-step. The first call initialises the model from its first batch (by
        init_params, or weights_init / means_init / precisions_init) and takes it whole.

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features), or a source or iterator of chunks
            An array is one step; a source, callable or iterator is one step per chunk.
        y : ignored
        sample_weight : array-like of shape (n_batch,), default=None
            Only with an array X.

        Returns
        -------
        self
        """
        self._check_params()
        first = not hasattr(self, "n_steps_")
        if _is_source_like(X):
            if sample_weight is not None:
                raise ValueError("sample_weight goes with an array X in partial_fit, not with a source")
            data = self._data(X, reset=first and not hasattr(self, "n_features_in_"))
            batches = data.chunks()
        else:
            reset = first and not hasattr(self, "n_features_in_")
            batch = self._check_X(X, reset=reset)
            batches = [batch]
        with threads(self.n_jobs), np.errstate(over="ignore", invalid="ignore"):
            for batch in batches:
                self._online_step(batch, None if sample_weight is None else
                                  self._check_sample_weight(sample_weight, batch.shape[0]))
        return self

    def _online_step(self, batch: np.ndarray, sample_weight: np.ndarray | None) -> None:
        eps = 10 * np.finfo(batch.dtype).eps
        if not hasattr(self, "n_steps_"):
            if hasattr(self, "converged_"):  # a model from fit: go on from it
                params = self._fitted_params()
            else:
                if batch.shape[0] < self.n_components:
                    raise ValueError(
                        f"partial_fit initialises from its first batch, which needs n_samples >= n_components "
                        f"but got n_components = {self.n_components}, n_samples = {batch.shape[0]}"
                    )
                weights0, means0, precisions0 = self._check_initial(batch.shape[1])
                rows = self.chunk_size or auto_chunk_rows(batch.shape[1], batch.dtype.itemsize)

                def make_initial(rng):
                    return initial_params(self.init_params, lambda: array_chunks(batch, rows),
                                          n_samples=batch.shape[0], dtype=batch.dtype, n_components=self.n_components,
                                          covariance_type=self.covariance_type, reg_covar=self.reg_covar, rng=rng,
                                          sample_weight=sample_weight)

                params = self._initial_params(make_initial, check_random_state(self.random_state),
                                              weights0, means0, precisions0)
            self.n_steps_ = 0
            self._running = None
        else:
            params = self._fitted_params()
        rows = self.chunk_size or auto_chunk_rows(batch.shape[1], batch.dtype.itemsize)
        stats = em_pass(array_chunks(batch, rows), params, sample_weight)
        if self._running is None:
            self._running = stats.blended(stats, 1.0)
        else:
            rho = (self.n_steps_ + self.learning_offset) ** -self.learning_decay
            self._running = self._running.blended(stats, rho)
        self.n_steps_ += 1
        self._set_params(m_step(self._running, self.covariance_type, self.reg_covar, eps))
        self.lower_bound_ = stats.loglik / stats.weight  # the batch's mean log-likelihood before the step
        self.n_iter_ = self.n_steps_
        self.converged_ = False

    def _initial_params(self, make_initial, rng, weights0, means0, precisions0) -> Params:
        """The user's weights_init / means_init / precisions_init, the rest from
        make_initial(rng) (the init_params method), as scikit-learn combines them."""
        cov = self.covariance_type
        params = None
        if weights0 is None or means0 is None or precisions0 is None:
            params = make_initial(rng)
        weights = weights0 if weights0 is not None else params.weights
        means = means0 if means0 is not None else params.means
        if precisions0 is None:
            return Params(cov, weights, means, params.covariances, params.precisions_cholesky)
        P = precision_cholesky_from_precisions(precisions0, cov)
        return Params(cov, weights, means, covariances_from_precision_cholesky(P, cov), P)

    def _dask_setup(self, X, sample_weight, checkpoint):
        """(data description, e_step, make_initial) for a Dask array or DataFrame."""
        from .dask import as_dask_array, dask_e_step, dask_initial_params

        if checkpoint is not None:
            raise ValueError("checkpoint is not supported for Dask arrays: Dask recomputes lost work itself")
        X = as_dask_array(X)
        self.n_features_in_ = X.shape[1]
        if hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if sample_weight is not None and not is_dask_collection(sample_weight):
            sample_weight = self._check_sample_weight(sample_weight, X.shape[0])
        data = _DaskData(X.shape[0], X.shape[1], np.dtype(X.dtype))

        def make_initial(rng):
            return dask_initial_params(self.init_params, X, n_components=self.n_components,
                                       covariance_type=self.covariance_type, reg_covar=self.reg_covar, rng=rng,
                                       sample_weight=sample_weight)

        return data, dask_e_step(X, sample_weight), make_initial

    def _iteration_printer(self):
        last = [time.perf_counter()]

        def on_iteration(run: EMResult, change: float, finished: bool) -> None:
            if run.n_iter % self.verbose_interval == 0:
                now = time.perf_counter()
                self._say(1, f"  Iteration {run.n_iter}",
                          f"\t time lapse {now - last[0]:.5f}s\t ll change {change:.5f}"
                          f"\t lower bound {run.lower_bound:.6f}")
                last[0] = now

        return on_iteration

    def _say(self, level: int, message: str, detail: str = "") -> None:
        if self.verbose >= 2:
            print(message + detail, flush=True)
        elif self.verbose >= level:
            print(message, flush=True)

    def _set_params(self, params: Params) -> None:
        self.weights_ = params.weights
        self.means_ = params.means
        self.covariances_ = params.covariances
        self.precisions_cholesky_ = params.precisions_cholesky
        self.precisions_ = params.precisions

    def _fitted_params(self) -> Params:
        return Params(self.covariance_type, self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    # ----------------------------------------------------------------- using a model
    def _score(self, X, with_resp: bool = False):
        check_is_fitted(self)
        if is_dask_collection(X):
            from .dask import as_dask_array, dask_score

            X = as_dask_array(X)
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                                 f"{self.n_features_in_} features as input.")
            params = self._fitted_params()
            return dask_score(X, params, "density"), dask_score(X, params, "labels"), (
                dask_score(X, params, "proba") if with_resp else None)
        data = self._data(X, reset=False)
        n_samples = data.count_rows()
        with threads(self.n_jobs):
            return score_pass(self._passes(data, n_samples)(), self._fitted_params(), n_samples, with_resp)

    def score_samples(self, X):
        """Log-density log p(x) of each row, shape (n_samples,)."""
        return self._score(X)[0]

    def score(self, X, y=None):
        """Mean log-density of the rows of X (higher is better)."""
        return float(self.score_samples(X).mean())  # computes a Dask result

    def predict(self, X):
        """Most probable component of each row, shape (n_samples,)."""
        return self._score(X)[1]

    def predict_proba(self, X):
        """Posterior probability of each component for each row, shape (n_samples, K)."""
        return self._score(X, with_resp=True)[2]

    def sample(self, n_samples=1):
        """Draw n_samples rows from the fitted mixture (the same draws as scikit-learn).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,), the component of each row
        """
        check_is_fitted(self)
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at least one sample."
            )
        _, n_features = self.means_.shape
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, self.weights_)
        if self.covariance_type == "full":
            parts = [rng.multivariate_normal(m, c, int(s)) for m, c, s in zip(self.means_, self.covariances_, counts)]
        elif self.covariance_type == "tied":
            parts = [rng.multivariate_normal(m, self.covariances_, int(s)) for m, s in zip(self.means_, counts)]
        else:
            parts = [
                m + rng.standard_normal(size=(s, n_features)) * np.sqrt(c)
                for m, c, s in zip(self.means_, self.covariances_, counts)
            ]
        y = np.concatenate([np.full(int(s), k, dtype=np.int64) for k, s in enumerate(counts)])
        return np.vstack(parts), y

    def save(self, path):
        """Write the fitted model to a .npz file (see fastem.load); returns its path.

        The file holds the parameters as arrays and a JSON header (format version,
        fastem version, constructor parameters, checksums); it is written under a
        temporary name and renamed into place when complete."""
        check_is_fitted(self)
        return save_model(self, path)

    def _n_parameters(self) -> int:
        """Free parameters of the model."""
        _, n_features = self.means_.shape
        cov_params = {
            "full": self.n_components * n_features * (n_features + 1) / 2.0,
            "diag": self.n_components * n_features,
            "tied": n_features * (n_features + 1) / 2.0,
            "spherical": self.n_components,
        }[self.covariance_type]
        return int(cov_params + n_features * self.n_components + self.n_components - 1)

    def bic(self, X):
        """Bayesian information criterion on X (lower is better)."""
        log_density = self.score_samples(X)
        return -2 * float(log_density.sum()) + self._n_parameters() * math.log(log_density.shape[0])

    def aic(self, X):
        """Akaike information criterion on X (lower is better)."""
        return -2 * float(self.score_samples(X).sum()) + 2 * self._n_parameters()


class _DaskData:
    """What fit needs to know of a Dask array."""

    def __init__(self, n_samples: int, n_features: int, dtype: np.dtype):
        self.n_samples, self.n_features, self.dtype = n_samples, n_features, dtype


def is_dask_collection(X) -> bool:
    """Whether X is a Dask array or DataFrame (without importing Dask)."""
    return type(X).__module__.split(".")[0] in ("dask", "dask_expr")


def _is_source_like(X) -> bool:
    """Whether X goes through fastem.source rather than scikit-learn's array validation."""
    if isinstance(X, Source | str | os.PathLike | Iterator) or callable(X):
        return True
    return type(X).__module__.split(".")[0] in ("h5py", "zarr")
