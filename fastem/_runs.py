"""The fit loop: n_init initialisations (or a warm start), EM from each, the best kept,
with a checkpoint after every iteration that a later fit resumes from.

Written once against the engine's data backend (``fastem._engine``), so a local source
and a Dask array fit, checkpoint and resume alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._checkpoint import FitState, GaussianCodec, fingerprint, load_state, save_state
from ._engine import EMResult, Params, run_em


@dataclass
class EMSettings:
    """What EM itself is told (the estimator's parameters of the same names)."""

    covariance_type: str
    n_init: int
    tol: float
    max_iter: int
    reg_covar: float
    on_collapse: str = "ignore"  # (GaussianMixture's; variational EM has no collapse)
    collapse_threshold: float = 1.0
    verbose: int = 0
    verbose_interval: int = 10


def fit_runs(
    backend,
    settings: EMSettings,
    make_initial: Callable[[np.random.RandomState], Params],
    rng: np.random.RandomState,
    *,
    warm: EMResult | None = None,
    checkpoint: str | Path | None = None,
    fingerprint_settings: dict | None = None,
    run: Callable | None = None,
    codec=None,
) -> EMResult:
    """The best of settings.n_init runs over the backend, each from make_initial(rng)
    (or one run from warm's params). A run is EM (run_em) unless run(params,
    lower_bound, lower_bounds, on_iteration) is given (variational EM), which must go on
    from a resumed run's lower_bounds as run_em does; codec turns its params into
    checkpoint arrays and back (default: GaussianCodec). With a checkpoint path, the
    state is saved after every iteration and a matching checkpoint is resumed; it is
    removed at the end."""
    say = _Printer(settings.verbose)
    eps = 10 * np.finfo(backend.dtype).eps
    codec = codec or GaussianCodec(settings.covariance_type)
    if run is None:
        def run(params, lower_bound, lower_bounds, on_iteration):
            return run_em(backend, params, tol=settings.tol, max_iter=settings.max_iter, reg_covar=settings.reg_covar,
                          eps=eps, lower_bound=lower_bound, lower_bounds=lower_bounds, on_iteration=on_iteration,
                          on_collapse=settings.on_collapse, collapse_threshold=settings.collapse_threshold)
    n_init = 1 if warm is not None else settings.n_init
    stamp = state = None
    if checkpoint is not None:
        stamp = fingerprint(backend, fingerprint_settings or {})
        state = load_state(checkpoint, stamp, codec)
        if state is not None:
            rng.set_state(state.rng_state)
            say(1, f"Resuming from checkpoint {checkpoint}: initialization {state.init_index}, "
                   f"{state.current.n_iter} iterations done")
    best = state.best if state is not None else None
    for init in range(state.init_index if state is not None else 0, n_init):
        say(1, f"Initialization {init}")
        start = time.perf_counter()
        resuming = state is not None and init == state.init_index
        if resuming:
            params, lower_bound, lower_bounds = state.current.params, state.current.lower_bound, \
                state.current.lower_bounds
        elif warm is not None:
            params, lower_bound, lower_bounds = warm.params, warm.lower_bound, []
        else:
            params, lower_bound, lower_bounds = make_initial(rng), -np.inf, []
        rng_after_init = rng.get_state()
        if settings.max_iter == 0:
            result = EMResult(params, -np.inf, [], 0, False)
        elif resuming and state.finished:
            result = state.current
        else:
            on_iteration = say.iterations(settings.verbose_interval)
            if checkpoint is not None:
                on_iteration = _saving(on_iteration, checkpoint, stamp, init, rng_after_init, best, codec)
            result = run(params, lower_bound, lower_bounds, on_iteration)
            word = "converged" if result.converged else "did not converge"
            say(1, f"Initialization {word}.",
                f" time lapse {time.perf_counter() - start:.5f}s\t lower bound {result.lower_bound:.5f}.")
        if best is None or result.lower_bound > best.lower_bound or best.lower_bound == -np.inf:
            best = result
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return best


def _saving(on_iteration, path, stamp, init, rng_state, best, codec):
    """on_iteration that also writes the fit's state to the checkpoint at path."""

    def write(run: EMResult, change: float, finished: bool) -> None:
        on_iteration(run, change, finished)
        save_state(path, stamp, FitState(init, rng_state, run, finished, best), codec)

    return write


class _Printer:
    """scikit-learn's verbose output: 1 prints each initialisation and every interval
    iterations, 2 also the time and the change of the lower bound."""

    def __init__(self, verbose: int):
        self.verbose = verbose

    def __call__(self, level: int, message: str, detail: str = "") -> None:
        if self.verbose >= 2:
            print(message + detail, flush=True)
        elif self.verbose >= level:
            print(message, flush=True)

    def iterations(self, interval: int):
        last = [time.perf_counter()]

        def on_iteration(run: EMResult, change: float, finished: bool) -> None:
            if run.n_iter % interval == 0:
                now = time.perf_counter()
                self(1, f"  Iteration {run.n_iter}", f"\t time lapse {now - last[0]:.5f}s\t ll change {change:.5f}"
                                                     f"\t lower bound {run.lower_bound:.6f}")
                last[0] = now

        return on_iteration
