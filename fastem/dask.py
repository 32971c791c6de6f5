"""The Dask backend: the engine's passes run where the blocks of a Dask array live.

The engine sees a ``DaskBackend`` as it sees a local one (``fastem._engine``): each pass
(``reduce``) sends its payload (the kernel parameters, a few KB) to the cluster once,
runs the engine's task on every block on the worker that holds it, with the same fused
kernels on as many threads as that worker has, and adds the blocks' accumulators in a
fixed-order tree on the cluster; only the result comes back. Per-row results
(``map_rows``: predictions, densities) are lazy Dask arrays. The data never travels to
the client: only statistics and, for seeding, a sample of at most 100,000 rows do.

Used for a ``dask.array.Array`` or a Dask DataFrame (its numeric columns) passed to any
estimator method. Needs ``fastem[dask]`` (a DataFrame also needs pandas, through
``dask[dataframe]``; an array does not).
"""

from __future__ import annotations

import numpy as np

from ._engine import Task, check_finite
from ._threads import threads

__all__ = ["as_dask_array", "is_dask_collection"]


def is_dask_collection(X) -> bool:
    """Tell whether X is a Dask collection, without importing Dask.

    The estimators send such an X to the Dask backend, whose passes run on the
    cluster, rather than reading it into this process.

    Parameters
    ----------
    X : object
        Anything.

    Returns
    -------
    bool
        True for a Dask array, DataFrame, Series or other collection (an object of a
        ``dask`` or ``dask_expr`` module), False otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from fastem.dask import is_dask_collection
    >>> is_dask_collection(da.zeros((10, 2)))
    True
    >>> is_dask_collection(np.zeros((10, 2)))
    False
    """
    return type(X).__module__.split(".")[0] in ("dask", "dask_expr")


def _is_dataframe(X) -> bool:
    module = type(X).__module__
    return module.startswith(("dask.dataframe", "dask_expr"))


def _column_names(X) -> tuple[str, ...] | None:
    """A DataFrame's column names as scikit-learn takes them: all strings, or none (mixed
    types are an error, as scikit-learn makes them)."""
    columns = list(X.columns) if _is_dataframe(X) else []
    strings = sum(isinstance(c, str) for c in columns)
    if strings and strings < len(columns):
        raise TypeError("Feature names are only supported if all input features have string names, but your input "
                        f"has {sorted({type(c).__name__ for c in columns})} as feature name / column name types. "
                        "If you want feature names to be stored and validated, you must convert them all to strings, "
                        "by using X.columns = X.columns.astype(str) for example. Otherwise you can remove feature / "
                        "column names from your input data, or convert them all to a non-string data type.")
    return tuple(columns) if columns and strings == len(columns) else None


def as_dask_array(X):
    """Convert a Dask array or DataFrame to the array the Dask backend's passes read.

    A DataFrame becomes its numeric columns (their row counts computed); an array
    keeps its values. The result has known row chunks (computed if unknown), all its
    columns in one block, and float32 for float32 data, float64 for every other
    number type.

    Parameters
    ----------
    X : dask.array.Array or dask.dataframe.DataFrame
        The data, 2-D, of real numbers, with at least one column.

    Returns
    -------
    dask.array.Array
        A lazy array of shape (n_samples, n_features), float32 or float64.

    Raises
    ------
    TypeError
        If X is not a Dask array or DataFrame, or does not hold real numbers.
    ValueError
        If X is not 2-D or has no columns.

    Examples
    --------
    >>> import numpy as np
    >>> import dask.array as da
    >>> from fastem.dask import as_dask_array
    >>> X = da.from_array(np.arange(12).reshape(6, 2), chunks=(4, 1))
    >>> Y = as_dask_array(X)
    >>> Y.dtype, Y.chunks
    (dtype('float64'), ((4, 2), (2,)))
    """
    import dask.array as da

    if _is_dataframe(X):
        X = X.select_dtypes("number").to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(f"expected a dask array or DataFrame, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got {X.ndim}-D")
    if np.dtype(X.dtype).kind not in "biuf":
        raise TypeError(f"X holds {X.dtype} data; fastem needs real numbers")
    if X.shape[1] == 0:
        raise ValueError("X has 0 features: a mixture needs at least one")
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    dtype = np.dtype(np.float32) if np.dtype(X.dtype) == np.float32 else np.dtype(np.float64)
    X = X.astype(dtype)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


WRITE_WINDOW = 16  # blocks computed at once when per-row results are written to a file


def _client():
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def _worker_threads() -> int | None:
    """The threads of the Dask worker running this task (None outside a worker): the
    kernels use that many, so that worker processes sharing a machine do not each run
    Numba on every core."""
    try:
        from distributed import get_worker

        return get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        return None


PASS_ATTEMPTS = 3
NAME = "the Dask array"


def _piece(task: type[Task], block, weight, start: int, payload, check: bool, allow_nan: bool = False):
    """A task's accumulator over one block (rows from start), on the worker."""
    block = np.ascontiguousarray(block)
    if check:
        check_finite(block, start, NAME, allow_nan=allow_nan)
    weight = np.empty(0) if weight is None else np.ascontiguousarray(weight, dtype=np.float64)
    acc = task.begin(payload, start)
    with threads(_worker_threads()):
        task.chunk(acc, block, weight, start, payload)
    return acc


def _add(task: type[Task], a, b):
    return task.add(a, b)


def _mapped(block, fn, payload, width, dtype, allow_nan=False, block_info=None):
    block = np.ascontiguousarray(block)
    check_finite(block, block_info[0]["array-location"][0][0] if block_info else 0, NAME, allow_nan=allow_nan)
    out = np.empty((block.shape[0],) if width is None else (block.shape[0], width), dtype=dtype)
    with threads(_worker_threads()):
        fn(block, payload, out)
    return out


def _tree(parts: list, add) -> object:
    """Pairwise reduction with add, in a fixed order (so the rounding, and the model, is
    the same on every run)."""
    while len(parts) > 1:
        parts = [add(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    return parts[0]


def compute_pass(payload, client, build, show=None):
    """Compute build(ref) = (leaves, root), a graph in which every task reads payload
    through ref, and return root's value; show(leaves, client) follows the leaves (a
    progress bar). The payload is scattered once with a Client, a single key of the graph
    otherwise (never embedded in each task). It is scattered to one worker, from which the
    others fetch it as their tasks need it: a broadcast to all workers can wait forever
    when a worker dies during it (the scheduler retries the dead one:
    dask/distributed#5704). A scattered value has no recipe, so a worker lost at the wrong
    moment can take it with it and Dask cancels the pass ("lost dependencies"), or die
    while the value is sent to it; the pass then runs again from a fresh scatter (it is
    deterministic: the same result), up to PASS_ATTEMPTS times."""
    import dask

    if client is None:
        leaves, root = build(dask.delayed(payload, pure=True))
        if show is None:
            return root.compute()
        return show(leaves, None, root)
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    for attempt in range(PASS_ATTEMPTS):
        try:  # the scatter too: the worker it picks may die while it sends (connection closed)
            leaves, root = build(client.scatter(payload, hash=False))
            result = client.compute(root)
            if show is not None:
                show(client.compute(leaves), client, None)
            return result.result()
        except (FutureCancelledError, CommClosedError):  # noqa: PERF203 (a retry loop)
            if attempt == PASS_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _progress(n_samples: int, row_chunks: tuple, description: str):
    """show for compute_pass: a bar counting the rows of the blocks done."""

    def show(leaves, client, root):
        from ._progress import bar

        with bar(n_samples, description) as progress:
            if client is None:  # Dask's own schedulers: a callback after each task
                from dask.callbacks import Callback

                rows = {leaf.key: n for leaf, n in zip(leaves, row_chunks, strict=True)}
                with Callback(posttask=lambda key, *_: progress.update(rows.get(key, 0))):
                    return root.compute()
            from distributed import as_completed

            rows = {future.key: n for future, n in zip(leaves, row_chunks, strict=True)}
            for future in as_completed(leaves):
                progress.update(rows[future.key])
        return None

    return show


class DaskBackend:
    """The engine's view of a Dask array (see the module docstring). sample_weight: a
    numpy or Dask array of n_samples weights, validated as for in-memory data."""

    def __init__(self, X, sample_weight=None, progress: bool = False, marginalize: bool = False):
        if _is_dataframe(X):
            X = X.select_dtypes("number")
        self.feature_names = _column_names(X)
        self.X = as_dask_array(X)
        self.n_samples, self.n_features = (int(v) for v in self.X.shape)
        self.dtype = np.dtype(self.X.dtype)
        self.name, self.progress = NAME, progress
        self.reiterable = True
        self.row_chunks = tuple(int(c) for c in self.X.chunks[0])
        self.piece_starts = tuple(int(v) for v in np.cumsum((0, *self.row_chunks[:-1])))
        self.sample_weight = None if sample_weight is None else self._weights(sample_weight)
        self.checked = False  # NaN and inf are looked for in the first pass and in every per-row map
        self.marginalize = marginalize  # NaN entries are missing values
        self.passes = 0

    def count(self) -> int:
        return self.n_samples

    def _weights(self, sample_weight):
        import dask.array as da

        if is_dask_collection(sample_weight):
            w = sample_weight
            if w.ndim == 1 and any(np.isnan(c) for c in w.chunks[0]):
                w = w.compute_chunk_sizes()
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim != 1 or w.shape[0] != self.n_samples:
            raise ValueError(f"sample_weight must have shape ({self.n_samples},), got {w.shape}.")
        w = da.asarray(w).astype(np.float64).rechunk((self.row_chunks,))
        bad = ~da.isfinite(w) | (w < 0)
        any_bad, first_bad, largest = da.compute(bad.any(), da.argmax(bad), w.max())
        if any_bad:
            raise ValueError(f"sample_weight must be finite and >= 0; row {int(first_bad)} holds "
                             f"{float(w[int(first_bad)].compute())}.")
        if not largest > 0:
            raise ValueError("sample_weight sums to zero: no row carries any weight.")
        w = w / float(largest)  # rescaled to mean 1 with numbers, so that no pass reduces over all blocks
        return w / float((w.mean()).compute())

    def _blocks(self):
        blocks = list(self.X.to_delayed().ravel())
        weights = [None] * len(blocks) if self.sample_weight is None else list(self.sample_weight.to_delayed())
        return blocks, weights

    def reduce(self, task: type[Task], payload, description: str | None = None):
        """One pass: task's accumulators of every block, tree-added on the cluster."""
        import dask

        self.passes += 1
        check = not self.checked
        blocks, weights = self._blocks()
        piece, add = dask.delayed(_piece, pure=True), dask.delayed(_add, pure=True)

        def build(ref):
            leaves = [piece(task, b, w, s, ref, check, self.marginalize)
                      for b, w, s in zip(blocks, weights, self.piece_starts, strict=False)]
            return leaves, _tree(leaves, lambda a, b: add(task, a, b))

        show = _progress(self.n_samples, self.row_chunks, description or f"pass {self.passes}") if self.progress \
            else None
        result = compute_pass(payload, _client(), build, show)
        self.checked = True
        return result

    def map_rows(self, fn, payload, width: int | None, dtype, out=None):
        """A lazy dask array of fn's per-row results (n,) or (n, width); or, given out (a
        fastem._outputs writer), the results computed a window of blocks at a time and
        written in row order (this process holds one window's results)."""
        import dask

        shared = dask.delayed(payload, pure=True)  # one key of the graph, read by every block
        if width is None:
            result = self.X.map_blocks(_mapped, fn, shared, None, dtype, self.marginalize, drop_axis=1, dtype=dtype)
        else:
            result = self.X.map_blocks(_mapped, fn, shared, width, dtype, self.marginalize, dtype=dtype,
                                       chunks=(self.X.chunks[0], (width,)))
        if out is None:
            return result
        blocks = list(result.to_delayed().ravel())
        for first in range(0, len(blocks), WRITE_WINDOW):
            for part in dask.compute(*blocks[first : first + WRITE_WINDOW]):
                out.write(part)
        return None

    def rows(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.asarray(self.X[index].compute(), dtype=np.float64)
        check_finite(rows, 0, f"{NAME} (among the sampled rows)", allow_nan=self.marginalize)
        weight = np.ones(index.size) if self.sample_weight is None else \
            np.asarray(self.sample_weight[index].compute(), dtype=np.float64)
        return rows, weight

    def head(self, n: int) -> np.ndarray:
        rows = np.asarray(self.X[: min(n, self.n_samples)].compute(), dtype=np.float64)
        check_finite(rows, 0, NAME, allow_nan=self.marginalize)
        return rows
