"""Compiling the kernels ahead of a first fit: ``fastem.compile_kernels`` and ``fastem
compile``. A fit compiles the kernels of its covariance family and dtype on first use and
Numba keeps them on disk; this runs small fits that reach the same kernels, so that the
first real fit, a Dask worker's or a CI job's, loads them instead."""

from __future__ import annotations

import time
import warnings

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
DTYPES = ("float64", "float32")


def _small_data(dtype, missing: bool) -> np.ndarray:
    """600 rows of two separated clusters in 3 features; with missing, NaN in several
    patterns (some repeated, some rare), as the missing-value kernels group them."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 3)) + np.repeat([[0.0, 0.0, 0.0], [6.0, 6.0, 6.0]], 300, axis=0)
    if missing:
        X[::5, 0] = np.nan
        X[1::7, 2] = np.nan
        X[2, 1] = np.nan
    return X.astype(dtype)


def compile_kernels(covariance_types=COVARIANCE_TYPES, dtypes=("float64",), missing: bool = False,
                    report=None) -> dict:
    """Compile (or load from Numba's on-disk cache) the kernels that fits use.

    Each combination runs a fit of 600 rows and its predictions, which reach every kernel
    a fit of that covariance type and dtype uses: k-means initialisation, the fused pass,
    and per-row scoring; for diag and spherical in float64 also a fit of 32 components,
    whose fused pass has the expanded form where the CPU gains by it (see
    docs/how_it_works.rst). The kernels are cached where Numba keeps its cache
    (``NUMBA_CACHE_DIR`` if set, else beside the installed package), so a later process
    with the same cache directory, CPU and fastem version loads them in well under a
    second instead of compiling them.

    Parameters
    ----------
    covariance_types : sequence of str, default ("full", "tied", "diag", "spherical")
        The covariance types to compile for ('spherical' runs the diag kernels).
    dtypes : sequence of str, default ("float64",)
        The data types, "float64" and/or "float32".
    missing : bool, default False
        Also compile the kernels of ``missing="marginalize"``.
    report : callable, optional
        Called as ``report(covariance_type, dtype, missing, seconds)`` after each
        combination.

    Returns
    -------
    dict
        Seconds per combination, keyed by (covariance_type, dtype, missing).

    Examples
    --------
    >>> import fastem
    >>> seconds = fastem.compile_kernels(["diag"])
    >>> sorted(seconds)
    [('diag', 'float64', False)]
    """
    from ._kernels import DIAG, expanded_form
    from ._kernels.diag import EXPANDED_MIN_COMPONENTS
    from .mixture import GaussianMixture

    unknown = [c for c in covariance_types if c not in COVARIANCE_TYPES]
    unknown += [d for d in dtypes if d not in DTYPES]
    if unknown:
        raise ValueError(f"compile_kernels: unknown covariance type or dtype {unknown[0]!r}; covariance types are "
                         f"{', '.join(COVARIANCE_TYPES)} and dtypes {', '.join(DTYPES)}")
    seconds = {}
    for covariance_type in covariance_types:
        for dtype in dtypes:
            for with_missing in (False, True) if missing else (False,):
                start = time.perf_counter()
                X = _small_data(dtype, with_missing)
                gm = GaussianMixture(2, covariance_type=covariance_type, max_iter=3, random_state=0,
                                     missing="marginalize" if with_missing else "error")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # three iterations do not converge
                    gm.fit(X)
                gm.predict_proba(X)
                gm.score_samples(X)
                many = EXPANDED_MIN_COMPONENTS  # and the expanded form's driver, where a fit runs it
                if covariance_type in ("diag", "spherical") and not with_missing and expanded_form(DIAG, dtype, many):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        GaussianMixture(many, covariance_type=covariance_type, max_iter=1, random_state=0).fit(
                            X).score_samples(X)
                took = time.perf_counter() - start
                seconds[covariance_type, dtype, with_missing] = took
                if report is not None:
                    report(covariance_type, dtype, with_missing, took)
    return seconds
