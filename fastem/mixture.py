"""fastem.GaussianMixture: a drop-in for sklearn.mixture.GaussianMixture on fused kernels."""

from __future__ import annotations

import math
import os
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import DOCS_URL
from ._checkpoint import settings_of
from ._covariance import COVARIANCE_TYPES, covariance
from ._data import chunk_backend, is_stream, open_data
from ._engine import (
    COLLAPSE_POLICIES,
    EMResult,
    KernelParams,
    Params,
    compute_dtype,
    log_likelihood,
    params_from_precisions,
    score,
)
from ._init import INIT_METHODS, initial_params
from ._online import OnlineState
from ._outputs import check_output_path
from ._persist import save as save_model
from ._runs import EMSettings, fit_runs
from ._threads import threads

MISSING_POLICIES = ("error", "marginalize")


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter has a wrong type or value.

    Raised by ``fit`` and ``partial_fit`` of both estimators, which check their
    parameters when they are used, not when they are built (as scikit-learn does), with
    scikit-learn's wording. It is a ``ValueError`` and a ``TypeError``, like
    scikit-learn's own ``InvalidParameterError``, so code written for either catches it.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixture, InvalidParameterError
    >>> try:
    ...     GaussianMixture(n_components=0).fit(np.zeros((10, 2)))
    ... except InvalidParameterError as error:
    ...     print(error)
    The 'n_components' parameter of GaussianMixture must be an int >= 1. ...
    """


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
    "missing": (lambda v: v in MISSING_POLICIES, f"one of {MISSING_POLICIES}"),
}


class _BaseMixture(DensityMixin, BaseEstimator):
    """What GaussianMixture and BayesianGaussianMixture share: the data path and the
    per-row passes of a fitted model, under the kernel parameters ``_kernel_params`` gives."""

    # scikit-learn's HTML repr links both estimators to their API reference pages
    _doc_link_module = "fastem"
    _doc_link_template = DOCS_URL + "api/generated/fastem.{estimator_name}.html"

    def _kernel_params(self, backend) -> KernelParams:
        """The fitted model laid out for the kernels, in the precision backend's data computes in."""
        raise NotImplementedError

    def save(self, path):
        """Write the fitted model to a ``.npz`` model file, which :func:`fastem.load` reads.

        The file holds the fitted arrays in float64 and a JSON header (format version,
        fastem version, estimator, constructor parameters, fitted attributes, a SHA-256
        of every array); nothing in it is pickled. It is written under a temporary name
        beside the target and renamed into place when complete, so an interrupted save
        never damages an existing file.

        Parameters
        ----------
        path : str or path-like
            Where to write; ``.npz`` is appended when the name does not end with it. The
            folder must exist.

        Returns
        -------
        pathlib.Path
            The path written, with its ``.npz`` suffix.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        FileNotFoundError
            If the folder of path does not exist.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> import numpy as np
        >>> import fastem
        >>> X = np.random.default_rng(0).normal(size=(200, 2))
        >>> gm = fastem.GaussianMixture(n_components=2, random_state=0).fit(X)
        >>> path = gm.save(pathlib.Path(tempfile.mkdtemp()) / "model")
        >>> path.name
        'model.npz'
        >>> again = fastem.load(path)
        >>> np.array_equal(again.predict(X), gm.predict(X))
        True
        """
        check_is_fitted(self)
        return save_model(self, path)

    def _partial_fit(self, X, sample_weight):
        """partial_fit's steps: one for an array, one per chunk of a stream (_online_step)."""
        fitted = hasattr(self, "n_features_in_")
        if not is_stream(X):
            batches = [self._open(X, reset=not fitted, sample_weight=sample_weight)]
        else:
            if sample_weight is not None:
                raise ValueError("sample_weight goes with an array X in partial_fit, not with a source")
            stream = self._open(X, reset=not fitted)
            batches = (chunk_backend(chunk, f"{stream.name}, rows {start:,}+", stream.marginalize)
                       for start, chunk, _ in stream._items("partial_fit"))
        with threads(self.n_jobs), np.errstate(over="ignore", invalid="ignore"):
            for batch in batches:
                self._online_step(batch)
        return self

    def _model_settings(self) -> dict:
        """The parameters that decide the model, as JSON values (a checkpoint's fingerprint)."""
        return settings_of({k: v for k, v in self.get_params().items()
                            if k not in ("verbose", "verbose_interval", "n_jobs", "progress", "checkpoint")})

    def _warn_unless_converged(self, best: EMResult) -> None:
        """scikit-learn's ConvergenceWarning after fit (called by _fit, itself by fit)."""
        if not best.converged and self.max_iter > 0:
            warnings.warn("Best performing initialization did not converge. Try different init parameters, "
                          "or increase max_iter, tol, or check for degenerate data.", ConvergenceWarning,
                          stacklevel=4)

    def _open(self, X, *, reset: bool, sample_weight=None, min_samples: int = 1):
        return open_data(self, X, reset=reset, sample_weight=sample_weight, chunk_size=self.chunk_size,
                         progress=self.progress, min_samples=min_samples)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the model to X, then return the most probable component of each row.

        The same as ``fit(X, sample_weight=sample_weight).predict(X)``: the labels come
        from the final model (after the best initialisation's last iteration), one more
        pass over the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, Source or Dask array
            The data, as for ``fit``: an array in memory, anything :func:`fastem.source`
            opens, or a Dask array or DataFrame.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows, as for ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,)
            The component index of each row (int64), in 0 ... ``n_components - 1``; a
            lazy Dask array for a Dask X.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> gm = GaussianMixture(n_components=2, random_state=0)
        >>> labels = gm.fit_predict(X)
        >>> np.bincount(labels)
        array([200, 100])
        """
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    def _score(self, X, what: str, out=None):
        """One pass of per-row results (see fastem._engine.score), in the model's and X's
        float type; returned, or written to the file out."""
        check_is_fitted(self)
        out = None if out is None else check_output_path(out)
        backend = self._open(X, reset=False)
        dtype = np.result_type(self.means_.dtype, backend.dtype)
        with threads(self.n_jobs):
            return score(backend, self._kernel_params(backend), what, dtype, out=out)

    def _log_likelihood(self, X) -> tuple[float, int]:
        """(the sum of log p(x) over the rows of X, the rows), in one pass and O(1) memory."""
        check_is_fitted(self)
        backend = self._open(X, reset=False)
        with threads(self.n_jobs):
            return log_likelihood(backend, self._kernel_params(backend))

    def score_samples(self, X, out=None):
        """Compute the log-density of each row under the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, Source or Dask array
            The rows: an array in memory, anything :func:`fastem.source` opens (a file,
            folder, glob or URL, a callable returning chunks...), or a Dask array or
            DataFrame, whose passes run on its cluster. NaN entries are errors unless
            the model has ``missing="marginalize"``.
        out : str or path-like, default=None
            Write the result to this ``.npy``, ``.parquet`` or ``.csv`` file chunk by
            chunk instead of returning it, so that memory stays bounded whatever the
            number of rows. The file appears, whole, when the pass completes; its folder
            must exist. Its column is ``log_density``.

        Returns
        -------
        ndarray of shape (n_samples,) or pathlib.Path
            The natural logarithm of the model's density p(x) at each row (for a row
            with missing entries, of the marginal density of its observed features);
            float32 for a float32 model and X, else float64; a lazy Dask array for a
            Dask X. With out, the path of the file written.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
        >>> gm.score_samples([[-3, -3], [3, 3], [30, 30]]).round(2)
        array([  -2.23,   -2.93, -789.29])
        """
        return self._score(X, "density", out)

    def score(self, X, y=None):
        """Compute the mean log-density of the rows of X (higher is better).

        One pass over X, summing in float64 without a per-row array.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, Source or Dask array
            The rows: an array in memory, anything :func:`fastem.source` opens (a file,
            folder, glob or URL, a callable returning chunks...), or a Dask array or
            DataFrame, whose passes run on its cluster. NaN entries are errors unless
            the model has ``missing="marginalize"``.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        float
            The mean over the rows of the natural logarithm of p(x), per row.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
        >>> round(gm.score(X), 3)
        -3.46
        """
        total, rows = self._log_likelihood(X)
        return total / rows

    def predict(self, X, out=None):
        """Predict the most probable component of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, Source or Dask array
            The rows: an array in memory, anything :func:`fastem.source` opens (a file,
            folder, glob or URL, a callable returning chunks...), or a Dask array or
            DataFrame, whose passes run on its cluster. NaN entries are errors unless
            the model has ``missing="marginalize"``.
        out : str or path-like, default=None
            Write the result to this ``.npy``, ``.parquet`` or ``.csv`` file chunk by
            chunk instead of returning it, so that memory stays bounded whatever the
            number of rows. The file appears, whole, when the pass completes; its folder
            must exist. Its column is ``label``.

        Returns
        -------
        ndarray of shape (n_samples,) or pathlib.Path
            The index of each row's most probable component (int64), in 0 ...
            ``n_components - 1``; a lazy Dask array for a Dask X. With out, the path of
            the file written.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
        >>> gm.predict([[-3, -3], [3, 3], [-0.5, 0.5]])
        array([0, 1, 0])
        """
        return self._score(X, "labels", out)

    def predict_proba(self, X, out=None):
        """Compute the posterior probability of each component for each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, Source or Dask array
            The rows: an array in memory, anything :func:`fastem.source` opens (a file,
            folder, glob or URL, a callable returning chunks...), or a Dask array or
            DataFrame, whose passes run on its cluster. NaN entries are errors unless
            the model has ``missing="marginalize"``.
        out : str or path-like, default=None
            Write the result to this ``.npy``, ``.parquet`` or ``.csv`` file chunk by
            chunk instead of returning it, so that memory stays bounded whatever the
            number of rows. The file appears, whole, when the pass completes; its folder
            must exist. Its columns are ``component_0`` ... ``component_{K-1}``.

        Returns
        -------
        ndarray of shape (n_samples, n_components) or pathlib.Path
            The responsibilities: each row's probabilities of the components, summing
            to one; float32 for a float32 model and X, else float64; a lazy Dask array
            for a Dask X. With out, the path of the file written.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
        >>> gm.predict_proba([[-3, -3], [3, 3], [-0.5, 0.5]]).round(3)
        array([[1.   , 0.   ],
               [0.   , 1.   ],
               [0.793, 0.207]])
        """
        return self._score(X, "proba", out)

    def sample(self, n_samples=1):
        """Draw random rows from the fitted mixture.

        The draws are scikit-learn's for the same model and ``random_state``: the counts
        per component from one multinomial draw, then each component's rows, in the
        order of the components.

        Parameters
        ----------
        n_samples : int, default=1
            The number of rows to draw, at least 1.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The rows drawn, grouped by component.
        y : ndarray of shape (n_samples,)
            The component each row was drawn from (int64).

        Raises
        ------
        ValueError
            If n_samples is not an int of at least 1.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
        >>> draws, components = gm.sample(5)
        >>> draws.shape, components.shape
        ((5, 2), (5,))
        """
        check_is_fitted(self)
        if not _is_int(n_samples) or n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples} . The sampling requires at least one sample."
            )
        rng = check_random_state(self.random_state)
        counts = rng.multinomial(n_samples, np.asarray(self.weights_, dtype=np.float64))  # float32 weights too
        parts = covariance(self.covariance_type).sample(rng, self.means_, self.covariances_, counts)
        y = np.concatenate([np.full(int(s), k, dtype=np.int64) for k, s in enumerate(counts)])
        return np.vstack(parts), y


class GaussianMixture(_BaseMixture):
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
        'random_from_data' draw the same numbers from the same random_state (a tied
        covariance from seed rows is reg_covar I, where scikit-learn's depends on the
        origin of the data).
    weights_init : array-like of shape (K,), default=None
        Initial weights, non-negative and summing to one; None takes them from
        init_params.
    means_init : array-like of shape (K, D), default=None
        Initial means, in the units of the data; None takes them from init_params.
    precisions_init : array-like, default=None
        Initial precisions (the inverse covariances: (K, D, D) full, (D, D) tied,
        (K, D) diag, (K,) spherical); None takes the covariances from init_params.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation (k-means++ seeds, the sample it runs on, random
        responsibilities) and ``sample``. An int gives the same model on every run
        and for any n_jobs.
    warm_start : bool, default=False
        Start from the previous fit's parameters (then n_init is 1).
    verbose : int, default=0
        1 prints each initialisation and every verbose_interval iterations, 2 also the
        time and log-likelihood change.
    verbose_interval : int, default=10
        Iterations between two messages of verbose output.
    n_jobs : int or None, default=None
        Threads for the kernels: None or -1 all cores, -2 all but one. The fitted
        model is bitwise the same for any value.
    chunk_size : int or None, default=None
        Rows per kernel call; None holds about 16 MiB of X per chunk. Chunks of a
        C-contiguous float array are views; others are converted chunk by chunk.
    progress : bool, default=False
        Show a tqdm progress bar (rows/s, time left) for every pass over the data.
    learning_decay : float in (0.5, 1], default=0.6
        The exponent of partial_fit's step sizes rho_t = (t + learning_offset) **
        -learning_decay: closer to 0.5 forgets early batches faster, 1 weighs all
        batches alike.
    learning_offset : float >= 0, default=1.0
        The offset of partial_fit's step sizes, in steps; larger damps the first steps.
    checkpoint : path or None, default=None
        Keep the fit's state in this file after every EM iteration; a fit started
        with an existing checkpoint of the same data and settings resumes from it and
        ends with the same model as an uninterrupted fit. Removed when the fit ends.
    on_collapse : {'reseed', 'drop', 'ignore'}, default='reseed'
        What EM does when a component's soft count falls below collapse_threshold:
        move it to the most poorly explained row of the pass (one component per
        iteration), or remove it (``weights_`` etc. then have fewer rows), each with a
        ``CollapseWarning``; or keep it silently, as scikit-learn does (its covariance
        becomes reg_covar). Never NaN. Not applied by partial_fit, whose batches may
        lack a component.
    collapse_threshold : float, default=1.0
        The soft count, in (sample-weighted) rows, below which a component collapsed.
    missing : {'error', 'marginalize'}, default='error'
        What a NaN entry of X is: an error naming its row, or a value missing at random.
        'marginalize' runs exact EM for incomplete data: each row's density is the
        marginal over its observed features, and the M-step takes the expected
        statistics of the missing entries given the observed ones, per component. The
        same holds for predict, predict_proba, score_samples, score, bic and aic. inf,
        and a row with every feature missing, stay errors. Data without NaN gives the
        same model under both. Initialisation takes each missing entry as its feature's
        observed mean.

    Attributes
    ----------
    weights_ : ndarray of shape (K,)
    means_ : ndarray of shape (K, D)
    covariances_, precisions_, precisions_cholesky_ : ndarray
        Shapes as precisions_init; ``precisions_cholesky_`` holds upper-triangular
        factors P with P P^T = precision. The fitted arrays are float32 after a fit
        on float32 data (the statistics still accumulate in float64), else float64.
    converged_ : bool
    n_iter_ : int
        Iterations of the best initialisation.
    lower_bound_ : float
        Mean (sample-weighted) log-likelihood of the data under the parameters of the
        best run's last iteration.
    lower_bounds_ : list of float
        The lower bound after each iteration of the best run.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        The column names of X, when X has them (a DataFrame, a Parquet, CSV or Arrow
        source); predicting on named columns checks them against these.
    n_steps_ : int
        partial_fit steps taken (set by partial_fit only).

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import GaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
    ...                rng.normal(3, 1, size=(100, 2))])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> gm.weights_.round(2)
    array([0.67, 0.33])
    >>> gm.means_.round(1)
    array([[-3.1, -3. ],
           [ 2.9,  3.1]])
    >>> gm.predict([[-2, -2], [4, 4]])
    array([0, 1])

    With ``missing="marginalize"``, NaN entries are missing values: here a third
    of the rows lack their second feature, and the fit uses what each row has.

    >>> X_missing = X.copy()
    >>> X_missing[::3, 1] = np.nan
    >>> gm = GaussianMixture(n_components=2, missing="marginalize",
    ...                      random_state=0).fit(X_missing)
    >>> gm.means_.round(1)
    array([[-3.1, -3.1],
           [ 2.9,  2.9]])
    >>> gm.predict([[-2, np.nan], [4, np.nan]])
    array([0, 1])
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
        missing="error",
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
        self.missing = missing

    # ----------------------------------------------------------------- validation
    def _check_initial(self, n_features: int):
        """weights_init, means_init, precisions_init checked and converted (or None)."""
        n, cov = self.n_components, covariance(self.covariance_type)
        weights = means = precisions = None
        if self.weights_init is not None:
            given = _numbers(self.weights_init, "weights")
            weights = given.astype(np.float64)
            if weights.shape != (n,):
                raise ValueError(f"The parameter 'weights' should have the shape of ({n},), but got {weights.shape}")
            if not np.all((weights >= 0) & (weights <= 1)):
                raise ValueError(
                    "The parameter 'weights' should be in the range [0, 1], "
                    f"but got max value {weights.max():.5f}, min value {weights.min():.5f}"
                )
            # normalised to the precision they were given in (float32 weights: to float32's rounding)
            tolerance = max(1e-8, 4 * weights.size * float(np.finfo(given.dtype).eps)) \
                if given.dtype.kind == "f" else 1e-8
            if not abs(1.0 - weights.sum()) <= tolerance:
                raise ValueError(f"The parameter 'weights' should be normalized, but got sum(weights) = {weights.sum():.5f}")
            weights = weights / weights.sum()
        if self.means_init is not None:
            means = _numbers(self.means_init, "means").astype(np.float64)
            if means.shape != (n, n_features):
                raise ValueError(f"The parameter 'means' should have the shape of {(n, n_features)}, but got {means.shape}")
            if not np.all(np.isfinite(means)):
                raise ValueError("The parameter 'means' holds NaN or inf.")
        if self.precisions_init is not None:
            precisions = _numbers(self.precisions_init, f"{cov.name} precision").astype(np.float64)
            shape = cov.shape(n, n_features)
            if precisions.shape != shape:
                raise ValueError(f"The parameter '{cov.name} precision' should have the shape of {shape}, "
                                 f"but got {precisions.shape}")
            cov.check_precisions(precisions)
        return weights, means, precisions

    def _initializer(self, backend):
        """make_initial(rng) for the engine: init_params's Params over the backend, with
        the user's weights_init / means_init / precisions_init in their place, as
        scikit-learn combines them."""
        weights0, means0, precisions0 = self._check_initial(backend.n_features)

        def make_initial(rng) -> Params:
            params = None
            if weights0 is None or means0 is None or precisions0 is None:
                params = initial_params(self.init_params, backend, n_components=self.n_components,
                                        covariance_type=self.covariance_type, reg_covar=self.reg_covar, rng=rng)
            weights = weights0 if weights0 is not None else params.weights
            means = means0 if means0 is not None else params.means
            if precisions0 is None:
                return Params(self.covariance_type, weights, means, params.covariances, params.precisions_cholesky)
            return params_from_precisions(self.covariance_type, weights, means, precisions0)

        return make_initial

    # ----------------------------------------------------------------- fitting
    def fit(self, X, y=None, sample_weight=None, checkpoint=None):
        """Estimate the model's parameters by EM (n_init runs, the best one kept).

        Each EM iteration is one pass over the data; the fit stops when the mean
        log-likelihood per row changes by less than ``tol``, or after ``max_iter``
        iterations.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, Source or Dask array
            The data. In memory: float32 data stays float32, other numbers become
            float64. Or anything :func:`fastem.source` opens: a path or URL of a .npy,
            .h5, .zarr, .parquet, .feather or .csv file, a folder, glob or list of
            files, an h5py or zarr array, an Arrow or polars object, a callable that
            returns a new iterator of chunks for every pass. Or a Dask array or
            DataFrame: the passes run on its cluster. At least 2 rows and
            ``n_components`` rows.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the rows (a row of weight 2 counts as two rows).
            Only their ratios matter: they are rescaled to mean 1, so the model does not
            depend on their scale (nor does ``collapse_threshold``, in rows).
        checkpoint : str or path-like, default=None
            Overrides the ``checkpoint`` parameter: where to keep the fit's state after
            every iteration. A fit started with an existing checkpoint of the same data
            and settings resumes from it and ends with the same model as an
            uninterrupted fit; the file is removed when the fit completes.

        Returns
        -------
        GaussianMixture
            The fitted estimator (self).

        Raises
        ------
        InvalidParameterError
            If a constructor parameter has a wrong type or value.
        ValueError
            If the data cannot be fitted: NaN (unless ``missing="marginalize"``) or inf,
            fewer rows than 2 or than ``n_components``, a one-shot iterator (fit needs
            several passes: give a callable, or use ``partial_fit``), bad sample
            weights or initial parameters; the message says where.

        Warns
        -----
        sklearn.exceptions.ConvergenceWarning
            If the best run did not converge within ``max_iter`` iterations.
        CollapseWarning
            If a component's soft count fell below ``collapse_threshold`` rows.

        Notes
        -----
        If fit is interrupted (KeyboardInterrupt) or fails, the estimator is left
        exactly as it was before the call.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
        >>> gm.converged_, gm.weights_.round(2)
        (True, array([0.67, 0.33]))

        Rows of weight 2 count twice:

        >>> weights = np.where(X[:, 0] > 0, 2.0, 1.0)
        >>> gm = gm.fit(X, sample_weight=weights)
        >>> gm.weights_.round(2)
        array([0.5, 0.5])
        """
        before = dict(self.__dict__)
        try:
            return self._fit(X, sample_weight, checkpoint if checkpoint is not None else self.checkpoint)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise

    def _fit(self, X, sample_weight, checkpoint):
        check_params(self)
        warm = self.warm_start and hasattr(self, "converged_")
        backend = self._open(X, reset=not warm, sample_weight=sample_weight, min_samples=2)
        if warm and backend.n_features != self.means_.shape[1]:
            raise ValueError(f"X has {backend.n_features} features, but {type(self).__name__} is expecting "
                             f"{self.means_.shape[1]} features as input.")
        if not backend.reiterable:
            raise ValueError(
                f"fit makes several passes over the data, but {backend.name} is a one-shot iterator: "
                "pass a callable that returns a new iterator for each pass, or use partial_fit for a stream"
            )
        n_samples = backend.count()
        if n_samples < max(2, self.n_components):
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = {self.n_components}, n_samples = {n_samples}"
                if n_samples < self.n_components
                else f"Found array with {n_samples} sample(s) while a minimum of 2 is required by {type(self).__name__}."
            )
        settings = EMSettings(self.covariance_type, self.n_init, self.tol, self.max_iter, self.reg_covar,
                              self.on_collapse, self.collapse_threshold, self.verbose, self.verbose_interval)
        make_initial = self._initializer(backend)
        stamp_settings = self._model_settings()
        previous = EMResult(self._fitted_params(), self.lower_bound_, [], 0, False) if warm else None
        # Overflow in the data's scale is reported by a clear error (engine), not warnings.
        with threads(self.n_jobs), np.errstate(over="ignore", invalid="ignore"):
            best = fit_runs(backend, settings, make_initial, check_random_state(self.random_state), warm=previous,
                            checkpoint=checkpoint, fingerprint_settings=stamp_settings)
        self._warn_unless_converged(best)
        self._set_params(best.params, backend.dtype)
        self.converged_ = best.converged
        self.n_iter_ = best.n_iter
        self.lower_bound_ = best.lower_bound
        self.lower_bounds_ = best.lower_bounds
        weight = n_samples if backend.sample_weight is None else float(np.sum(backend.sample_weight))
        self._online = OnlineState(fitted_rows=weight)
        for name in ("n_steps_",):
            self.__dict__.pop(name, None)
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model by stepwise online EM on a mini-batch, or on every chunk of a stream.

        Stepwise online EM is Cappé and Moulines' (2009). Each step takes the sufficient statistics of the batch under the current model,
        S_batch, and blends them into the running statistics, S <- (1 - rho_t) S +
        rho_t S_batch, with rho_t = (t + learning_offset) ** -learning_decay, then runs
        the M-step. The first call initialises the model from its first batch (by
        init_params, or weights_init / means_init / precisions_init) and takes it whole;
        after ``fit`` on n rows, the first batch of b rows gets rho = b / (n + b). A
        loaded model (a file holds the parameters, not the statistics behind them) goes
        on from its parameters and takes its first batch whole.

        Parameters
        ----------
        X : array-like of shape (n_batch, n_features), Dask array, Source, callable or iterator
            An array (in memory or Dask) is one step; a source, path, callable or
            iterator of chunks is one step per chunk, in one pass.
        y : None
            Ignored; present for scikit-learn's API.
        sample_weight : array-like of shape (n_batch,), default=None
            Non-negative weights of the batch's rows; only with an array X.

        Returns
        -------
        GaussianMixture
            The updated estimator (self); ``n_steps_`` counts the steps taken and
            ``lower_bound_`` is the last batch's mean log-likelihood before its step.

        Raises
        ------
        ValueError
            If the first batch has fewer than ``n_components`` rows, or sample_weight
            comes with a source.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> gm = GaussianMixture(n_components=2, covariance_type="diag",
        ...                      random_state=0)
        >>> for batch in np.array_split(X[rng.permutation(len(X))], 3):
        ...     gm = gm.partial_fit(batch)
        >>> gm.n_steps_
        3
        >>> gm.means_.round(0)
        array([[ 3.,  3.],
               [-3., -3.]])
        """
        check_params(self)
        return self._partial_fit(X, sample_weight)

    def _online_step(self, batch) -> None:
        state = getattr(self, "_online", None)
        if state is None and hasattr(self, "means_"):  # a loaded model: from its parameters, the batch taken whole
            state = self._online = OnlineState()
        if state is None:  # a new stream: the model starts from its first batch
            if batch.count() < self.n_components:
                raise ValueError(
                    f"partial_fit initialises from its first batch, which needs n_samples >= n_components "
                    f"but got n_components = {self.n_components}, n_samples = {batch.n_samples}"
                )
            params = self._initializer(batch)(check_random_state(self.random_state))
            state = self._online = OnlineState()
            self.n_steps_ = 0
            dtype = batch.dtype
        else:
            params, dtype = self._fitted_params(), self.means_.dtype
        params, lower_bound = state.step(batch, params, decay=self.learning_decay, offset=self.learning_offset,
                                         reg_covar=self.reg_covar)
        self.n_steps_ = getattr(self, "n_steps_", 0) + 1
        self._set_params(params, dtype)
        self.lower_bound_ = lower_bound  # the batch's mean log-likelihood before the step
        self.n_iter_ = self.n_steps_
        self.converged_ = False

    def _set_params(self, params: Params, dtype) -> None:
        """The fitted attributes from the engine's float64 params, in dtype (float32 data
        gives a float32 model, as in scikit-learn); the float64 params are kept for the
        next step."""
        dtype = np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)
        self._params = params
        for attribute, value in zip(_FITTED, (*_fields(params), params.precisions), strict=True):
            setattr(self, attribute, np.asarray(value, dtype=dtype))

    def _fitted_params(self) -> Params:
        """The model as float64 Params: the engine's own (not rounded to a float32 model's
        attributes) while the attributes are still what it set, else the attributes."""
        own = getattr(self, "_params", None)
        attributes = [getattr(self, a) for a in _FITTED[:4]]
        if own is not None and all(isinstance(a, np.ndarray) and np.array_equal(a, np.asarray(v, dtype=a.dtype))
                                   for a, v in zip(attributes, _fields(own), strict=True)):
            return own
        return Params(self.covariance_type, *(np.asarray(a, dtype=np.float64) for a in attributes))

    def _kernel_params(self, backend) -> KernelParams:
        params = self._fitted_params()
        return KernelParams.from_params(params, compute_dtype(params, backend.dtype), backend.marginalize)

    def n_parameters(self) -> int:
        """Count the free parameters of the fitted model.

        The means (K D), the weights (K - 1) and the covariances (K D (D + 1) / 2 full,
        D (D + 1) / 2 tied, K D diag, K spherical), for the K components the model has
        (fewer than ``n_components`` after ``on_collapse="drop"`` removed some).

        Returns
        -------
        int
            The number of free parameters, which ``bic`` and ``aic`` charge for.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
        >>> gm.n_parameters()        # 4 means, 1 weight, 2 x 3 covariances
        11
        >>> gm.set_params(covariance_type="diag").fit(X).n_parameters()
        9
        """
        check_is_fitted(self)
        n_components, n_features = self.means_.shape
        return covariance(self.covariance_type).n_parameters(n_components, n_features)

    _n_parameters = n_parameters  # scikit-learn's name

    def bic(self, X):
        """Compute the Bayesian information criterion of the model on X (lower is better).

        ``-2 log L + p log n``, with log L the log-likelihood of the n rows of X (natural
        logarithm) and p :meth:`n_parameters`, in one pass over X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, Source or Dask array
            The rows, as for ``predict``.

        Returns
        -------
        float
            The criterion, in nats.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> models = [GaussianMixture(k, random_state=0).fit(X) for k in (1, 2, 3)]
        >>> [round(gm.bic(X)) for gm in models]      # K = 2 is the best
        [2577, 2139, 2173]
        """
        total, rows = self._log_likelihood(X)
        return -2 * total + self.n_parameters() * math.log(rows)

    def aic(self, X):
        """Compute the Akaike information criterion of the model on X (lower is better).

        ``-2 log L + 2 p``, with log L the log-likelihood of the rows of X (natural
        logarithm) and p :meth:`n_parameters`, in one pass over X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), path, Source or Dask array
            The rows, as for ``predict``.

        Returns
        -------
        float
            The criterion, in nats.

        Examples
        --------
        >>> import numpy as np
        >>> from fastem import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.vstack([rng.normal(-3, 1, size=(200, 2)),
        ...                rng.normal(3, 1, size=(100, 2))])
        >>> models = [GaussianMixture(k, random_state=0).fit(X) for k in (1, 2, 3)]
        >>> [round(gm.aic(X)) for gm in models]      # K = 2 is the best
        [2559, 2098, 2110]
        """
        return -2 * self._log_likelihood(X)[0] + 2 * self.n_parameters()


_FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


def _fields(params: Params) -> tuple:
    return params.weights, params.means, params.covariances, params.precisions_cholesky


def _numbers(value, name: str) -> np.ndarray:
    """value as an array of real numbers (its own float precision kept), or scikit-learn's
    style of error naming the parameter."""
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            array = array.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The parameter '{name}' must hold numbers: {exc}") from None
    return array


def check_params(estimator) -> None:
    """Raise InvalidParameterError for the first constructor parameter of a wrong type or value."""
    for name, (valid, what) in _PARAMETERS.items():
        value = getattr(estimator, name)
        if not valid(value):
            raise InvalidParameterError(
                f"The '{name}' parameter of {type(estimator).__name__} must be {what}. Got {value!r} instead."
            )
