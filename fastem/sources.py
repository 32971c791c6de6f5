"""Data sources: anything that yields chunks of rows, again for every pass.

A source knows ``n_features``, the ``dtype`` its chunks have (float32 stays float32;
every other number type becomes float64), ``feature_names`` (a tuple of column names for
named sources, else None) and, when it can tell without reading, ``n_samples``.
``chunks()`` starts a new pass and yields C-contiguous 2-D arrays, each checked: the
right width, numbers only, no NaN or inf (an error names the source, the chunk and the
row); with ``allow_nan`` (an estimator's missing='marginalize' sets it) NaN entries are
missing values and only inf and rows with every entry NaN are errors (nulls of Arrow
columns and CSV's "", NA, N/A, null... are NaN). A local file checked whole once is not
checked again while its size and modification time stay the same. File sources read in a background thread, so the next
chunk is read while the kernel runs on the current one. Sources never write.

``source(obj, **options)`` opens any of them:

===================================================  =============================================
obj                                                  source
===================================================  =============================================
numpy array, np.memmap, array-like                   ArraySource (chunks are views, no copy)
pandas DataFrame (columns=...)                       ArraySource of its numeric columns, named
"x.npy" (direct=...)                                 NpySource (file reads, bounded memory)
"x.h5" / "x.hdf5" (key=...)                          HDF5Source (h5py; extra ``fastem[hdf5]``)
"x.zarr", a zarr array                               ZarrSource (extra ``fastem[zarr]``)
"x.parquet"; a folder, a glob ("dir/*.parquet",     ParquetSource (pyarrow.parquet, a row group
"dir/**/*.parquet") or a list of Parquet files       at a time; columns=; extra ``fastem[parquet]``)
"x.feather" / ".arrow", a folder, glob or list of    DatasetSource (pyarrow.dataset, row groups
them; a pyarrow Dataset                              streamed; columns=, format=)
"x.csv" / ".tsv" / ".txt", also compressed           CSVSource (pyarrow's streaming CSV reader;
(".csv.gz", ".bz2", ".zst", ".lz4"); a folder,       columns=, delimiter=, header=)
a glob or a list of them
a pyarrow Table or RecordBatch, a polars DataFrame   ArrowSource (columns=)
a pyarrow RecordBatchReader                          ArrowStreamSource (one pass only, columns=)
a polars LazyFrame                                   LazyFrameSource (collected in batches, columns=)
a callable returning an iterator of arrays           CallableSource (called again for each pass)
an iterator or generator of arrays                   IteratorSource (one pass only: partial_fit)
===================================================  =============================================

A folder means the files under it (not those whose names start with "." or "_"), sorted by
path; a glob its matches, sorted; a list its files in its order: every pass reads the same
rows in the same order. Any file path may be an fsspec URL: "s3://bucket/x.parquet",
"gs://...", "https://...", "memory://...", "file://...", or chained as
"simplecache::s3://..." (a local copy serves the later passes), with
``storage_options={...}`` for its file system (s3fs, gcsfs...: extras ``fastem[s3]``,
``fastem[gcs]``, ``fastem[http]``); s3fs also reads the AWS_* environment variables
(AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import glob
import importlib
import io
import os
import queue
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ._engine import array_chunks, check_finite
from ._persist import npy_header

__all__ = ["ArraySource", "ArrowSource", "ArrowStreamSource", "CSVSource", "CallableSource", "DatasetSource",
           "HDF5Source", "IteratorSource", "LazyFrameSource", "NpySource", "ParquetSource", "Source", "ZarrSource",
           "source"]

CHUNK_BYTES = 16 * 2**20  # automatic chunks hold about this many bytes
COPIED_CHUNK_BYTES = 4 * 2**20  # ... and those copied from Arrow batches (no faster when larger)
ARROW_BATCH_ROWS = 16_384  # rows per batch pyarrow decodes (joined into chunks)
DECODE_AHEAD = 4  # Parquet batches decoded ahead of their copy into chunks


def auto_chunk_rows(n_features: int, itemsize: int, budget: int = CHUNK_BYTES) -> int:
    """Rows per chunk so that a chunk holds about budget bytes (at least 1024 rows)."""
    return max(1024, budget // max(1, n_features * itemsize))


def float_dtype(dtype: np.dtype) -> np.dtype:
    """float32 stays float32; every other real number type computes in float64."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)


def _require(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"this source needs {module}, which is not installed: pip install 'fastem[{extra}]'") from None


# ------------------------------------------------------------------------------ where files are
_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]+::)*[A-Za-z][A-Za-z0-9+.-]+://")  # "C:\x" and "C://x" are paths
_PROTOCOL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+)(?:://|::)")
_EXTRAS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
           "http": ("aiohttp", "http"), "https": ("aiohttp", "http")}


def is_url(obj) -> bool:
    """Whether obj is a "protocol://..." string (fsspec URL), not a local path."""
    return isinstance(obj, str) and _URL.match(obj) is not None


class _Located(NamedTuple):
    fs: object  # an fsspec file system, or None for a local file
    path: str  # the path on fs (or the local path)
    name: str  # what errors call it: the path or URL as the user gave it


class _Files(NamedTuple):
    fs: object
    paths: list
    name: str


def _url_fs(url: str, storage_options: dict | None):
    """(fsspec file system, path) of url; a missing backend is an ImportError naming its extra."""
    import fsspec

    for protocol in _PROTOCOL.findall(url):
        _check_protocol(protocol, url)
    return fsspec.core.url_to_fs(url, **(storage_options or {}))


def _check_protocol(protocol: str, url: str) -> None:
    """An ImportError naming the extra to install if protocol's fsspec backend is missing;
    a ValueError if fsspec knows no such protocol."""
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as exc:
        package, extra = _EXTRAS.get(protocol, (None, None))
        if extra:
            raise ImportError(f"{protocol}:// URLs need {package}, which is not installed: "
                              f"pip install 'fastem[{extra}]'") from None
        raise ImportError(f"{protocol}:// URLs need a package that is not installed: {exc}") from None
    except ValueError:
        raise ValueError(f"{url}: unknown URL protocol {protocol!r}; fsspec knows "
                         f"{', '.join(sorted(fsspec.available_protocols()))}") from None


def _locate(obj, storage_options: dict | None = None) -> _Located:
    """Where a path or URL is: a "file://" URL is a local file, other URLs are on their
    fsspec file system (storage_options: its options)."""
    if isinstance(obj, _Located):
        return obj
    if isinstance(obj, bytes):
        obj = os.fsdecode(obj)
    if is_url(obj):
        fs, path = _url_fs(obj, storage_options)
        from fsspec.implementations.local import LocalFileSystem

        return _Located(None if isinstance(fs, LocalFileSystem) else fs, path, obj)
    if storage_options:
        raise TypeError(f"option 'storage_options' applies to URLs (s3://, gs://, memory://...), not to the local path "
                        f"{obj}")
    return _Located(None, os.fspath(obj), str(obj))


def _has_magic(path: str) -> bool:
    return any(c in path for c in "*?[")


def _isdir(fs, path: str) -> bool:
    return os.path.isdir(path) if fs is None else fs.isdir(path)


def _exists(fs, path: str) -> bool:
    return os.path.exists(path) if fs is None else fs.exists(path)


def _hidden(relative: str) -> bool:
    """Whether a path below a folder has a part starting with "." or "_" (as pyarrow skips
    _SUCCESS, _metadata, .crc files)."""
    return any(part.startswith((".", "_")) for part in re.split(r"[\\/]", relative) if part)


def _files(obj, storage_options: dict | None = None) -> _Files:
    """The files behind a path or URL of a file, folder or glob, or a list of them."""
    if isinstance(obj, _Files):
        return obj
    if isinstance(obj, list | tuple) and not isinstance(obj, _Located):
        if not obj:
            raise ValueError("an empty list of files")
        located = [_locate(p, storage_options) for p in obj]
        for f in located:
            if _has_magic(f.path) or _isdir(f.fs, f.path):
                raise ValueError(f"a list of files holds {f.name}, a folder or a glob: list its files, or pass "
                                 "the folder or glob alone")
        if len({type(f.fs) for f in located}) > 1:
            raise ValueError(f"the files {[f.name for f in located]} lie on different file systems")
        more = f", ... ({len(obj)} files)" if len(obj) > 1 else ""
        return _Files(located[0].fs, [f.path for f in located], f"{located[0].name}{more}")
    fs, path, name = _locate(obj, storage_options)
    if _has_magic(path) and not _exists(fs, path):
        if fs is None:
            found = [p for p in glob.glob(path, recursive=True) if os.path.isfile(p)]
        else:
            found = [p for p, info in fs.glob(path, detail=True).items() if info.get("type") == "file"]
        if not found:
            raise FileNotFoundError(f"no files match {name}")
        return _Files(fs, sorted(found), name)
    if _isdir(fs, path):
        found = [os.path.join(d, f) for d, _, names in os.walk(path) for f in names] if fs is None else fs.find(path)
        found = sorted(p for p in found if not _hidden(p[len(path.rstrip("/\\")):]))
        if not found:
            raise ValueError(f"{name} is a folder with no data files")
        return _Files(fs, found, name)
    return _Files(fs, [path], name)


def _arrow_fs(fs):
    """The pyarrow file system of an fsspec one (None: local files)."""
    import pyarrow.fs as pafs

    return pafs.LocalFileSystem() if fs is None else pafs.PyFileSystem(pafs.FSSpecHandler(fs))


_FORMATS = {".npy": "npy", ".h5": "hdf5", ".hdf5": "hdf5", ".hdf": "hdf5", ".zarr": "zarr", ".parquet": "parquet",
            ".pq": "parquet", ".parq": "parquet", ".feather": "feather", ".arrow": "feather", ".ipc": "feather",
            ".csv": "csv", ".tsv": "csv", ".txt": "csv"}
_COMPRESSED = (".gz", ".bz2", ".zst", ".lz4")  # what pyarrow decompresses by suffix


def _suffix(path: str) -> str:
    """The data suffix of a file name, without a compression suffix: ".csv" for "x.CSV.gz"."""
    name = re.split(r"[\\/]", path.rstrip("/\\"))[-1].lower()
    name = next((name[: -len(c)] for c in _COMPRESSED if name.endswith(c)), name)
    return os.path.splitext(name)[1]


def _format_of(path: str) -> str | None:
    """npy, hdf5, zarr, parquet, feather or csv, from the name's suffix (compressed: csv only)."""
    kind = _FORMATS.get(_suffix(path))
    compressed = path.lower().endswith(_COMPRESSED)
    return kind if not compressed or kind == "csv" else None


def _format_of_files(files: _Files) -> str:
    kinds = {_format_of(p) for p in files.paths}
    if len(kinds) == 1 and (kind := kinds.pop()) in ("parquet", "feather", "csv"):
        return kind
    examples = sorted({os.path.basename(p) for p in files.paths})[:4]
    raise ValueError(f"{files.name}: cannot tell one data format from its files ({', '.join(examples)}, ...): "
                     "fastem reads folders, globs and lists of .parquet, .feather/.arrow or .csv files; "
                     "pass format= ('parquet', 'feather', 'csv')")


class Source:
    """What every data source is: chunks of rows, again for every pass.

    :func:`fastem.source` opens data as one of the subclasses in ``fastem.sources``; the
    estimators take any Source where they take an array. A subclass sets ``name`` and,
    when it knows it, ``n_samples``, calls this constructor and implements ``_read()``,
    which yields the raw chunks of one pass; ``chunks()`` checks them.

    Parameters
    ----------
    n_features : int
        The number of columns of every chunk, at least 1.
    dtype : numpy.dtype
        The type of the data: chunks are float32 for float32 data and float64 for every
        other number type.
    chunk_size : int or None, default=None
        Rows per chunk; None: about 16 MiB of data per chunk (at least 1024 rows).

    Attributes
    ----------
    name : str
        What errors call the source (a path, a URL, "Input X"...).
    n_features : int
        The number of columns.
    dtype : numpy.dtype
        float32 or float64, the type of the chunks.
    chunk_size : int
        Rows per chunk (some sources yield their chunks as they come).
    n_samples : int or None
        The number of rows, or None while unknown (see ``count_rows``).
    feature_names : tuple of str or None
        The column names of a named source (Parquet, Feather, CSV with a header, Arrow,
        polars, pandas), else None.
    reiterable : bool
        Whether every call of ``chunks()`` starts a new pass (False: a one-shot stream).
    allow_nan : bool
        Whether NaN entries are missing values rather than errors (an estimator with
        ``missing="marginalize"`` sets it).

    Examples
    --------
    >>> import numpy as np
    >>> import fastem
    >>> data = fastem.source(np.zeros((2500, 4)), chunk_size=1000)
    >>> isinstance(data, fastem.Source)
    True
    >>> data.n_features, data.n_samples, data.dtype
    (4, 2500, dtype('float64'))
    """

    name = "source"
    n_samples: int | None = None
    feature_names: tuple[str, ...] | None = None
    reiterable = True
    prefetch = False  # read in a background thread
    chunk_bytes = CHUNK_BYTES  # what an automatic chunk holds
    checked = False  # chunks are known to be finite already
    allow_nan = False  # NaN entries are missing values (see the module docstring)
    fs = None  # the fsspec file system of a remote file source
    path = None  # the path of a local file source

    def __init__(self, n_features: int, dtype: np.dtype, chunk_size: int | None = None):
        if int(n_features) < 1:
            raise ValueError(f"{self.name} has 0 features: a mixture needs at least one column")
        if chunk_size is not None and (not isinstance(chunk_size, int | np.integer) or isinstance(chunk_size, bool)
                                       or chunk_size < 1):
            raise ValueError(f"{self.name}: the 'chunk_size' parameter must be None or an int >= 1, got {chunk_size!r}")
        self.n_features = int(n_features)
        self.dtype = float_dtype(dtype)
        self.chunk_size = int(chunk_size or auto_chunk_rows(self.n_features, self.dtype.itemsize, self.chunk_bytes))

    def _read(self) -> Iterable:
        raise NotImplementedError

    def chunks(self) -> Iterator[np.ndarray]:
        """Start a new pass over the data.

        Every chunk is checked before it is yielded: its width, that it holds numbers,
        and no NaN (unless ``allow_nan``) or inf, with an error naming the source, the
        chunk and the row. A local file checked whole once is not checked again while
        its size and modification time stay the same.

        Returns
        -------
        iterator of ndarray
            C-contiguous arrays of shape (rows, n_features) and type ``dtype``, in the
            order of the rows; every pass yields the same rows in the same order.

        Raises
        ------
        ValueError
            If a chunk has the wrong width, holds NaN or inf, or the source is empty,
            unreadable or truncated (when the iterator reaches it).

        Examples
        --------
        >>> import numpy as np
        >>> import fastem
        >>> X = np.arange(10.0).reshape(5, 2)
        >>> data = fastem.source(X, chunk_size=2)
        >>> for chunk in data.chunks():
        ...     print(chunk.tolist())
        [[0.0, 1.0], [2.0, 3.0]]
        [[4.0, 5.0], [6.0, 7.0]]
        [[8.0, 9.0]]
        """
        checked = self._checked_chunks()
        return _prefetched(checked) if self.prefetch else checked

    def _local_files(self) -> list:
        """The local files behind the source (none for a remote one)."""
        return [] if self.fs is not None or self.path is None else [self.path]

    def _file_stamp(self):
        """(size, modification time) of the local file behind the source (a tuple of them
        for several files), or None."""
        files = self._local_files()
        if not files:
            return None
        stamps = tuple((s.st_size, s.st_mtime_ns) for s in map(os.stat, files))
        return stamps[0] if len(stamps) == 1 else stamps

    def _checked_chunks(self) -> Iterator[np.ndarray]:
        start = 0
        stamp = self._file_stamp()
        verified = self._verified_for(stamp)
        for index, raw in enumerate(self._read()):
            chunk = self._as_chunk(raw, index, start)
            if chunk.shape[0] == 0:
                continue
            if not verified:
                check_finite(chunk, start, self.name, index, self.allow_nan)
            start += chunk.shape[0]
            yield chunk
        if start == 0:
            raise ValueError(f"{self.name} is empty: it yielded no rows")
        if stamp is not None and stamp == self._file_stamp():
            self._verified = (stamp, self.allow_nan)

    def _verified_for(self, stamp) -> bool:
        """Whether this pass may skip the checks: a file whose every row was checked (with
        NaN refused, or allowed as now) and that has not changed since."""
        verified = getattr(self, "_verified", None)
        return self.checked or (stamp is not None and verified is not None and verified[0] == stamp
                                and (self.allow_nan or not verified[1]))

    def _as_chunk(self, raw, index: int, start: int) -> np.ndarray:
        try:
            array = np.asarray(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.name}: chunk {index} (from row {start}) is not a rectangular array of numbers: "
                             f"{exc}") from None
        if array.ndim == 1 and self.n_features == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] != self.n_features:
            raise ValueError(
                f"{self.name}: chunk {index} (from row {start}) has shape {array.shape}, "
                f"but the source has {self.n_features} features: every chunk must be (rows, {self.n_features})"
            )
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: chunk {index} holds {array.dtype} data; fastem needs real numbers")
        return np.ascontiguousarray(array, dtype=self.dtype)

    def count_rows(self) -> int:
        """Return the number of rows, counting them in one pass if the source cannot tell.

        Returns
        -------
        int
            The number of rows; ``n_samples`` is set to it.

        Examples
        --------
        >>> import numpy as np
        >>> import fastem
        >>> def chunks():
        ...     return iter([np.zeros((3, 2)), np.zeros((4, 2))])
        >>> data = fastem.source(chunks)
        >>> print(data.n_samples)    # unknown without a pass
        None
        >>> data.count_rows(), data.n_samples
        (7, 7)
        """
        if self.n_samples is None:
            self.n_samples = sum(chunk.shape[0] for chunk in self.chunks())
        return self.n_samples

    def __repr__(self) -> str:
        rows = "?" if self.n_samples is None else f"{self.n_samples:,}"
        return f"{type(self).__name__}({self.name}, rows={rows}, n_features={self.n_features}, dtype={self.dtype})"


def _prefetched(chunks: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """Iterate chunks in a background thread, up to depth chunks ahead of the consumer."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def hand_over(item) -> bool:
        """Queue item for the consumer, unless it stops first (then False)."""
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:  # noqa: PERF203 (a wait of 0.1 s, not a hot loop)
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not hand_over(chunk):
                    return
            hand_over(done)  # a consumer that stopped early takes neither the end nor an error
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, raised there)
            hand_over(exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a pass given up early closes its files now, not when collected

    thread = threading.Thread(target=produce, name="fastem-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class ArraySource(Source):
    """A numpy array or memmap in chunks of rows.

    Chunks are views of the array; only where the dtype or the memory order needs
    converting is a chunk copied, one at a time. The array is checked once, here: inf is
    an error now (so is a row of nothing but NaN, with allow_nan), and NaN entries in
    every pass that does not allow them.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples,)
        The data, real numbers; a 1-D array is one feature.
    chunk_size : int or None, default=None
        Rows per chunk; None: about 16 MiB of data per chunk (at least 1024 rows).
    name : str, default="array"
        What errors call the source.
    feature_names : sequence of str or None, default=None
        The column names, one per feature.
    allow_nan : bool, default=False
        Whether NaN entries are missing values (as an estimator with
        ``missing="marginalize"`` reads them).

    Raises
    ------
    ValueError
        If X is not 1-D or 2-D, holds inf, or the names do not match its columns.
    TypeError
        If X does not hold real numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem.sources import ArraySource
    >>> X = np.zeros((2500, 3), dtype=np.float32)
    >>> data = ArraySource(X, chunk_size=1000, feature_names=["a", "b", "c"])
    >>> data
    ArraySource(array, rows=2,500, n_features=3, dtype=float32)
    >>> [chunk.shape for chunk in data.chunks()]
    [(1000, 3), (1000, 3), (500, 3)]
    >>> data.feature_names
    ('a', 'b', 'c')
    """

    def __init__(self, X, chunk_size: int | None = None, name: str = "array", feature_names=None,
                 allow_nan: bool = False):
        X = X if isinstance(X, np.ndarray) else np.asarray(X)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
        if X.dtype.kind not in "biuf":
            raise TypeError(f"{name} holds {X.dtype} data; fastem needs real numbers")
        self.name = name
        super().__init__(X.shape[1], X.dtype, chunk_size)
        if feature_names is not None:
            self.feature_names = tuple(feature_names)
            if len(self.feature_names) != X.shape[1]:
                raise ValueError(f"{name} has {X.shape[1]} columns but {len(self.feature_names)} feature names")
        self.X, self.n_samples = X, X.shape[0]
        self.allow_nan = self._checked_allowing_nan = allow_nan
        self._has_nan = False
        for start, chunk in zip(range(0, X.shape[0], self.chunk_size), self._read(), strict=False):  # once: arrays do not change
            if allow_nan:
                check_finite(chunk, start, name, allow_nan=True)
                self._has_nan = self._has_nan or bool(np.isnan(chunk).any())
                continue
            try:
                check_finite(chunk, start, name)
            except ValueError:
                if np.isinf(chunk).any():
                    raise
                self._has_nan = True  # an error in the first pass that does not allow NaN

    def _verified_for(self, stamp) -> bool:
        return not self._has_nan or (self.allow_nan and self._checked_allowing_nan)

    def _read(self) -> Iterable:
        return array_chunks(self.X, self.chunk_size)


def _pandas_source(frame, columns=None, chunk_size: int | None = None) -> ArraySource:
    """The numeric columns of a pandas DataFrame as an ArraySource (a copy in memory)."""
    name = "pandas DataFrame"
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} has no column(s) {missing}; it has {list(frame.columns)}")
        frame = frame[list(columns)]
    non_numeric = [c for c, t in frame.dtypes.items() if getattr(t, "kind", "O") not in "biuf"]
    if non_numeric:
        raise TypeError(f"{name}: column(s) {non_numeric} are not numeric; choose columns=")
    dtype = np.float32 if len(frame.columns) and all(t == np.float32 for t in frame.dtypes) else np.float64
    names = [c for c in frame.columns if isinstance(c, str)]
    return ArraySource(frame.to_numpy(dtype=dtype, na_value=np.nan), chunk_size, name=name,
                       feature_names=names if len(names) == len(frame.columns) and names else None)


class NpySource(Source):
    """A ``.npy`` file read chunk by chunk, in bounded memory.

    The chunks are read with file reads into a few recycled buffers, so resident memory
    stays at a few chunks whatever the file size, and a background thread reads the
    next chunk while the kernel runs on the current one. A URL is read with seeks and
    reads on its fsspec file.

    Parameters
    ----------
    path : str or path-like
        The file, a path or an fsspec URL; it holds a C-ordered 1-D or 2-D array of
        real numbers.
    chunk_size : int or None, default=None
        Rows per chunk; None: about 16 MiB of data per chunk (at least 1024 rows).
    direct : bool or None, default=None
        Read a local file with ``O_DIRECT``, around the page cache. None: when the file
        is larger than half of this machine's memory. Where the file system has no
        ``O_DIRECT`` (tmpfs), plain reads are used.
    storage_options : dict or None, default=None
        Options of the fsspec file system of a URL (s3fs's ``key``, ``secret``,
        ``client_kwargs={"endpoint_url": ...}``...); only with a URL.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not a readable ``.npy`` file, is truncated, or holds an array
        that is not 1-D or 2-D in C order.
    TypeError
        If the file does not hold real numbers.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from fastem.sources import NpySource
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
    >>> np.save(path, np.zeros((2500, 3)))
    >>> data = NpySource(path, chunk_size=1000)
    >>> data.n_samples, [chunk.shape for chunk in data.chunks()]
    (2500, [(1000, 3), (1000, 3), (500, 3)])
    """

    prefetch = True

    def __init__(self, path, chunk_size: int | None = None, direct: bool | None = None,
                 storage_options: dict | None = None):
        self.fs, location, self.name = _locate(path, storage_options)
        self.path = Path(location) if self.fs is None else location
        try:
            with self._open(buffered=True) as f:
                shape, fortran, dtype = npy_header(f)
                self.offset = f.tell()
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file: {self.name}") from None
        except (ValueError, OSError) as exc:
            raise ValueError(f"{self.name} is not a readable .npy file: {exc}") from None
        if dtype.hasobject or dtype.kind not in "biuf":
            raise TypeError(f"{self.name} holds {dtype} data; fastem needs real numbers")
        if len(shape) not in (1, 2) or (fortran and len(shape) == 2 and shape[1] > 1):
            raise ValueError(f"{self.name} must hold a C-ordered 2-D array (n_samples, n_features); it holds shape "
                             f"{shape}{' in Fortran order' if fortran else ''}")
        n_features = 1 if len(shape) == 1 else shape[1]
        self.file_dtype = dtype
        expected = self.offset + int(np.prod(shape)) * dtype.itemsize
        actual = self.path.stat().st_size if self.fs is None else self.fs.size(self.path)
        if actual < expected:
            raise ValueError(f"{self.name} is truncated: its header promises {shape[0]:,} rows "
                             f"({expected:,} bytes) but the file has {actual:,} bytes")
        super().__init__(n_features, dtype, chunk_size)
        self.n_samples = shape[0]
        if direct is None:
            direct = 0 < _memory_bytes() // 2 < actual
        self.direct = bool(direct) and self.fs is None

    def _open(self, buffered: bool = False):
        if self.fs is not None:
            return self.fs.open(self.path, "rb")
        return open(self.path, "rb") if buffered else open(self.path, "rb", buffering=0)

    def _read(self) -> Iterator[np.ndarray]:
        direct = _open_direct(self.path) if self.direct else None
        if direct is not None:
            try:
                yield from self._read_direct(direct)
                return
            except _DirectRefused:
                pass  # the file system opens with O_DIRECT but refuses the reads: plain reads
            finally:
                os.close(direct)
        row_bytes = self.n_features * self.file_dtype.itemsize
        pool: list[np.ndarray] = []
        with self._open() as f:
            f.seek(self.offset)
            for start in range(0, self.n_samples, self.chunk_size):
                rows = min(self.chunk_size, self.n_samples - start)
                chunk = _free_buffer(pool, (rows, self.n_features), self.file_dtype)
                view = memoryview(chunk.reshape(-1).view(np.uint8))
                got = 0
                while got < rows * row_bytes:
                    n = f.readinto(view[got:])
                    if not n:
                        raise ValueError(f"{self.name} is truncated at row {start + got // row_bytes:,}")
                    got += n
                yield chunk


    def _read_direct(self, fd: int) -> Iterator[np.ndarray]:
        """Chunks read with O_DIRECT: whole aligned blocks into aligned buffers, each chunk a
        view starting where its first row lies in the first block."""
        row_bytes = self.n_features * self.file_dtype.itemsize
        span = -(-(self.chunk_size * row_bytes + DIRECT_ALIGN) // DIRECT_ALIGN) * DIRECT_ALIGN
        pool: list[np.ndarray] = []
        for start in range(0, self.n_samples, self.chunk_size):
            rows = min(self.chunk_size, self.n_samples - start)
            first = self.offset + start * row_bytes
            block = first - first % DIRECT_ALIGN
            lead = first - block
            want = -(-(lead + rows * row_bytes) // DIRECT_ALIGN) * DIRECT_ALIGN
            raw = _free_buffer(pool, (span + DIRECT_ALIGN,), np.dtype(np.uint8))
            skip = -raw.ctypes.data % DIRECT_ALIGN
            view = memoryview(raw[skip : skip + want])
            got = 0
            while got < lead + rows * row_bytes:
                try:
                    n = os.preadv(fd, [view[got:]], block + got)
                except OSError as exc:
                    if start == 0 and got == 0 and exc.errno == errno.EINVAL:
                        raise _DirectRefused from exc
                    raise
                if not n:
                    raise ValueError(f"{self.name} is truncated at row {start + max(0, got - lead) // row_bytes:,}")
                got += n
            yield raw[skip + lead : skip + lead + rows * row_bytes].view(self.file_dtype).reshape(rows, self.n_features)


DIRECT_ALIGN = 4096  # O_DIRECT offsets, lengths and buffers in whole blocks of this many bytes


class _DirectRefused(Exception):
    """The first O_DIRECT read failed with EINVAL (alignment the file system does not take)."""


def _memory_bytes() -> int:
    """This machine's physical memory (0 where the platform cannot tell)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _open_direct(path: Path) -> int | None:
    """A descriptor reading path with O_DIRECT (around the page cache), or None where the
    platform or the file system (tmpfs) has no O_DIRECT: then plain reads. Worth it for a
    file the cache cannot keep between passes, where the cache costs a copy of every byte
    (and evicts everything else)."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag or not hasattr(os, "preadv"):
        return None
    try:
        return os.open(path, os.O_RDONLY | flag)
    except OSError:
        return None


def _references_in_pool(pool: list) -> int:
    """sys.getrefcount of a pool's first array, seen from a loop over the pool."""
    for buffer in pool:
        return sys.getrefcount(buffer)
    return 0


# What the loop below sees for an array only the pool holds (on CPython 3.11: the list,
# the loop variable, getrefcount's argument), measured rather than assumed, since newer
# interpreters may borrow some of those references.
_UNREFERENCED = _references_in_pool([np.empty(1)])


def _free_buffer(pool: list, shape: tuple, dtype: np.dtype, keep: int = 6) -> np.ndarray:
    """An array of shape from pool that nothing else references any more (the consumer
    has dropped the chunk and every view of it: views hold their base), else a new one,
    kept in pool for later. Reading each chunk into fresh memory cost a page fault per
    4 KiB: 3.5 s of system time per pass of a 30 GB file; a chunk somebody still holds
    is never overwritten."""
    for buffer in pool:
        if buffer.shape == shape and sys.getrefcount(buffer) <= _UNREFERENCED:
            return buffer
    buffer = np.empty(shape, dtype)
    if len(pool) < keep:
        pool.append(buffer)
    return buffer


class HDF5Source(Source):
    """A 1-D or 2-D HDF5 dataset, read chunk by chunk with h5py (extra ``fastem[hdf5]``).

    A URL is read through its fsspec file.

    Parameters
    ----------
    obj : str, path-like or h5py.Dataset
        The file (a path or an fsspec URL), or an open dataset.
    key : str or None, default=None
        The dataset's name in the file; None: the file's only dataset.
    chunk_size : int or None, default=None
        Rows per chunk; None: about 16 MiB of data per chunk (at least 1024 rows).
    storage_options : dict or None, default=None
        Options of the fsspec file system of a URL (s3fs's ``key``, ``secret``,
        ``client_kwargs={"endpoint_url": ...}``...); only with a URL.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not readable HDF5, key is needed or not in the file, or the
        dataset is not a 1-D or 2-D array of real numbers.
    TypeError
        If key names a group, not a dataset.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import h5py
    >>> import numpy as np
    >>> from fastem.sources import HDF5Source
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.h5"
    >>> with h5py.File(path, "w") as f:
    ...     _ = f.create_dataset("points", data=np.zeros((2500, 3)))
    >>> data = HDF5Source(path, key="points", chunk_size=1000)
    >>> data.name.endswith("x.h5[points]")
    True
    >>> data.n_samples, data.n_features
    (2500, 3)
    """

    prefetch = True

    def __init__(self, obj, key: str | None = None, chunk_size: int | None = None,
                 storage_options: dict | None = None):
        h5py = _require("h5py", "hdf5")
        if isinstance(obj, h5py.Dataset):
            self.key, self._dataset = None, obj
            self.name = f"HDF5 dataset {obj.name}"
            shape, dtype = obj.shape, obj.dtype
        else:
            self._dataset = None
            self.fs, location, name = _locate(obj, storage_options)
            self.path = Path(location) if self.fs is None else location
            if not _exists(self.fs, location):
                raise FileNotFoundError(f"no such file: {name}")
            try:
                with self._file() as f:
                    if key is None:
                        names = [n for n, v in f.items() if isinstance(v, h5py.Dataset)]
                        if len(names) != 1:
                            raise ValueError(f"{name} holds datasets {names}: name one with key=")
                        key = names[0]
                    if key not in f:
                        raise ValueError(f"{name} has no dataset {key!r}; it has {list(f.keys())}")
                    if not isinstance(f[key], h5py.Dataset):
                        raise TypeError(f"{name}: {key!r} is an HDF5 {type(f[key]).__name__.lower()}, not a dataset; "
                                         "name a dataset with key=")
                    shape, dtype = f[key].shape, f[key].dtype
            except OSError as exc:
                raise ValueError(f"{name} is not a readable HDF5 file: {exc}") from None
            self.key, self.name = key, f"{name}[{key}]"
        if len(shape) not in (1, 2) or dtype.kind not in "biuf":
            raise ValueError(f"{self.name} must be a 2-D array of real numbers, got shape {shape} of {dtype}")
        super().__init__(1 if len(shape) == 1 else shape[1], dtype, chunk_size)
        self.n_samples = shape[0]

    @contextlib.contextmanager
    def _file(self):
        h5py = _require("h5py", "hdf5")
        if self.fs is None:
            with h5py.File(self.path, "r") as f:
                yield f
            return
        with self.fs.open(self.path, "rb") as raw, h5py.File(raw, "r") as f:
            yield f

    def _read(self) -> Iterator[np.ndarray]:
        if self._dataset is not None:
            yield from (self._dataset[s : s + self.chunk_size] for s in range(0, self.n_samples, self.chunk_size))
            return
        with self._file() as f:
            dataset = f[self.key]
            for start in range(0, self.n_samples, self.chunk_size):
                yield dataset[start : start + self.chunk_size]


class ZarrSource(Source):
    """A 1-D or 2-D Zarr array, read chunk by chunk (extra ``fastem[zarr]``).

    Parameters
    ----------
    obj : str, path-like or zarr.Array
        The array's store (a path or an fsspec URL), or an open array.
    chunk_size : int or None, default=None
        Rows per chunk; None: about 16 MiB of data per chunk (at least 1024 rows).
    storage_options : dict or None, default=None
        Options of the fsspec file system of a URL (s3fs's ``key``, ``secret``,
        ``client_kwargs={"endpoint_url": ...}``...); only with a URL.

    Raises
    ------
    FileNotFoundError
        If there is no such store.
    ValueError
        If the store is not a readable Zarr array, or not a 1-D or 2-D array of real
        numbers.

    Examples
    --------
    >>> import numpy as np
    >>> import zarr
    >>> from fastem.sources import ZarrSource
    >>> array = zarr.array(np.ones((2500, 3), dtype=np.float32))  # in memory
    >>> data = ZarrSource(array, chunk_size=1000)
    >>> data.n_samples, data.dtype
    (2500, dtype('float32'))
    >>> [chunk.shape for chunk in data.chunks()]
    [(1000, 3), (1000, 3), (500, 3)]
    """

    prefetch = True

    def __init__(self, obj, chunk_size: int | None = None, storage_options: dict | None = None):
        zarr = _require("zarr", "zarr")
        name = None
        if isinstance(obj, str | bytes | os.PathLike | _Located):
            fs, location, name = _locate(obj, storage_options)
            if not _exists(fs, location):
                raise FileNotFoundError(f"no such file: {name}")
            try:
                obj = zarr.open_array(location if fs is None else fs.get_mapper(location), mode="r")
            except Exception as exc:  # noqa: BLE001 (zarr raises several types for a bad store)
                raise ValueError(f"{name} is not a readable Zarr array: {exc}") from None
        self.array = obj
        self.name = f"Zarr array {name or getattr(obj, 'path', '') or getattr(obj, 'name', '')}".strip()
        shape, dtype = obj.shape, np.dtype(obj.dtype)
        if len(shape) not in (1, 2) or dtype.kind not in "biuf":
            raise ValueError(f"{self.name} must be a 2-D array of real numbers, got shape {shape} of {dtype}")
        super().__init__(1 if len(shape) == 1 else shape[1], dtype, chunk_size)
        self.n_samples = shape[0]

    def _read(self) -> Iterator[np.ndarray]:
        for start in range(0, self.n_samples, self.chunk_size):
            yield self.array[start : start + self.chunk_size]


# ---------------------------------------------------------------------- named columns (Arrow)
def _numpy_type(arrow_type) -> np.dtype:
    """The numpy dtype of an Arrow column type (object for those with none: dictionaries)."""
    try:
        return np.dtype(arrow_type.to_pandas_dtype())
    except (NotImplementedError, TypeError):
        return np.dtype(object)


def _numeric_columns(schema, columns, name: str) -> tuple[list[str], list[int], np.dtype]:
    """(names, indices, dtype) of the chosen columns of an Arrow schema (names or indices;
    None: all), each numeric; an error names the missing or non-numeric ones."""
    names = list(schema.names)
    chosen = names if columns is None else [columns] if isinstance(columns, str) else list(columns)
    for i, c in enumerate(chosen):
        if isinstance(c, int | np.integer) and not isinstance(c, bool):
            if not 0 <= c < len(names):
                raise ValueError(f"{name} has {len(names)} columns: column index {c} is out of range")
            chosen[i] = names[c]
    missing = [c for c in chosen if c not in names]
    if missing:
        raise ValueError(f"{name} has no column(s) {missing}; it has {names}")
    indices = [names.index(c) for c in chosen]
    types = [_numpy_type(schema.field(i).type) for i in indices]
    non_numeric = [c for c, t in zip(chosen, types, strict=True) if t.kind not in "biuf"]
    if non_numeric:
        raise TypeError(f"{name}: column(s) {non_numeric} are not numeric; choose columns=")
    return chosen, indices, np.result_type(*types) if types else np.dtype(np.float64)


def _arrow_chunks(batches: Iterable, rows: int, dtype: np.dtype) -> Iterator[np.ndarray]:
    """Arrow record batches (their columns in order) as (rows, n_columns) arrays of dtype,
    each `rows` long but the last: small batches are joined, long ones cut. Nulls become
    NaN (which the pass then reports with their row)."""
    import pyarrow as pa

    pool: list[np.ndarray] = []
    chunk, filled = None, 0
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            if chunk is None:
                chunk = _free_buffer(pool, (rows, batch.num_columns), dtype)
            take = min(rows - filled, batch.num_rows - offset)
            for j, column in enumerate(batch.columns):
                part = column.slice(offset, take)
                if not pa.types.is_floating(part.type):  # integers, booleans: nulls stay nulls, then NaN
                    part = part.cast(pa.float64(), safe=False)
                chunk[filled : filled + take, j] = part.to_numpy(zero_copy_only=False)
            filled, offset = filled + take, offset + take
            if filled == rows:
                yield chunk
                chunk, filled = None, 0
    if filled:
        yield chunk[:filled]


class _Columns(Source):
    """A source of named numeric columns read as Arrow record batches (subclasses:
    _batches()). With decode_ahead, the batches are decoded in a thread of their own, up
    to that many ahead of the thread that copies them into chunks (so a Parquet file's
    decoding, which releases the GIL, overlaps the copies and the kernels)."""

    prefetch = True
    chunk_bytes = COPIED_CHUNK_BYTES
    decode_ahead = 0

    def _choose(self, schema, columns, chunk_size: int | None) -> None:
        self.columns, self._indices, dtype = _numeric_columns(schema, columns, self.name)
        self.feature_names = tuple(str(c) for c in self.columns)
        super().__init__(len(self.columns), dtype, chunk_size)

    def _batches(self) -> Iterable:
        raise NotImplementedError

    def _read(self) -> Iterator[np.ndarray]:
        batches = _prefetched(self._batches(), self.decode_ahead) if self.decode_ahead else self._batches()
        return _arrow_chunks(batches, self.chunk_size, self.dtype)


class ArrowSource(_Columns):
    """The numeric columns of a pyarrow Table or RecordBatch, converted chunk by chunk.

    :func:`fastem.source` also reads a polars DataFrame this way, as Arrow. Nulls are
    NaN: missing values where NaN is allowed, errors naming the row otherwise.

    Parameters
    ----------
    table : pyarrow.Table or pyarrow.RecordBatch
        The data.
    columns : list of str or int, or None, default=None
        The columns to read, by name or index, in that order; None: every column, each
        of which must be numeric.
    chunk_size : int or None, default=None
        Rows per chunk; None: about 4 MiB of data per chunk (at least 1024 rows).
    name : str, default="Arrow table"
        What errors call the source.

    Raises
    ------
    ValueError
        If a chosen column does not exist.
    TypeError
        If a chosen column is not numeric.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from fastem.sources import ArrowSource
    >>> table = pa.table({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6],
    ...                   "label": ["x", "y", "z"]})
    >>> data = ArrowSource(table, columns=["a", "b"])
    >>> data.feature_names
    ('a', 'b')
    >>> next(data.chunks()).tolist()
    [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    """

    def __init__(self, table, columns=None, chunk_size: int | None = None, name: str = "Arrow table"):
        pa = _require("pyarrow", "parquet")
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        self.name = name
        self._choose(table.schema, columns, chunk_size)
        self.table, self.n_samples = table.select(self._indices), table.num_rows

    def _batches(self) -> Iterable:
        return self.table.to_batches(max_chunksize=self.chunk_size)


class ArrowStreamSource(_Columns):
    """The numeric columns of a pyarrow RecordBatchReader: a stream, read once.

    One pass only, so ``partial_fit`` takes it (one step per chunk) and ``fit``, which
    needs several passes, refuses it.

    Parameters
    ----------
    reader : pyarrow.RecordBatchReader
        The stream.
    columns : list of str or int, or None, default=None
        The columns to read, by name or index, in that order; None: every column, each
        of which must be numeric.
    chunk_size : int or None, default=None
        Rows per chunk; None: about 4 MiB of data per chunk (at least 1024 rows).
    name : str, default="Arrow stream"
        What errors call the source.

    Raises
    ------
    ValueError
        If a chosen column does not exist.
    TypeError
        If a chosen column is not numeric.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from fastem.sources import ArrowStreamSource
    >>> batch = pa.record_batch({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    >>> reader = pa.RecordBatchReader.from_batches(batch.schema, [batch, batch])
    >>> data = ArrowStreamSource(reader)
    >>> data.reiterable, sum(len(chunk) for chunk in data.chunks())
    (False, 4)
    """

    reiterable = False

    def __init__(self, reader, columns=None, chunk_size: int | None = None, name: str = "Arrow stream"):
        self.reader, self.name, self._used = reader, name, False
        self._choose(reader.schema, columns, chunk_size)

    def _batches(self) -> Iterator:
        if self._used:
            raise ValueError(f"{self.name} is a one-shot stream and was read already; pass a Table, a Dataset or a "
                             "callable that returns a new reader for multi-pass EM")
        self._used = True
        return (batch.select(self._indices) for batch in self.reader)


class LazyFrameSource(_Columns):
    """The numeric columns of a polars LazyFrame, run again for every pass in batches.

    Every pass collects the query in streaming mode (``LazyFrame.collect_batches``):
    memory holds a few batches, not the frame.

    Parameters
    ----------
    frame : polars.LazyFrame
        The query.
    columns : list of str or int, or None, default=None
        The columns to read, by name or index, in that order; None: every column, each
        of which must be numeric.
    chunk_size : int or None, default=None
        Rows per chunk; None: about 4 MiB of data per chunk (at least 1024 rows).

    Raises
    ------
    ImportError
        If this polars has no ``LazyFrame.collect_batches``.
    ValueError
        If a chosen column does not exist.
    TypeError
        If a chosen column is not numeric.

    Examples
    --------
    >>> import polars as pl
    >>> from fastem.sources import LazyFrameSource
    >>> frame = pl.LazyFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    >>> data = LazyFrameSource(frame.filter(pl.col("a") > 1))
    >>> data.feature_names, data.count_rows()
    (('a', 'b'), 2)
    """

    def __init__(self, frame, columns=None, chunk_size: int | None = None):
        if not hasattr(frame, "collect_batches"):
            raise ImportError("a polars LazyFrame source needs LazyFrame.collect_batches, which this polars lacks: "
                              "pip install -U polars")
        self.name = "polars LazyFrame"
        self._choose(frame.head(0).collect().to_arrow().schema, columns, chunk_size)
        self.frame = frame.select(self.columns)

    def _batches(self) -> Iterator:
        for part in self.frame.collect_batches(chunk_size=self.chunk_size, maintain_order=True):
            yield from part.to_arrow().to_batches()


_DATASET_FORMATS = {"parquet": "Parquet", "feather": "Feather", "ipc": "Feather", "arrow": "Feather", "csv": "CSV"}


class DatasetSource(_Columns):
    """The numeric columns of a pyarrow dataset of Parquet, Feather or CSV files.

    Row groups are streamed one file at a time, in file order (memory: a row group or
    two); for Parquet and Feather, ``n_samples`` comes from the files' metadata. Nulls
    are NaN: missing values where NaN is allowed, errors naming the row otherwise.

    Parameters
    ----------
    obj : str, path-like, list of them, or pyarrow.dataset.Dataset
        A file, a folder (the files under it whose names do not start with "." or "_",
        sorted), a glob (its matches, sorted) or a list of files (in its order), each a
        path or an fsspec URL; or a dataset.
    columns : list of str or int, or None, default=None
        The columns to read, by name or index, in that order; None: every column, each
        of which must be numeric.
    format : str, pyarrow.dataset.FileFormat or None, default=None
        "parquet", "feather" or "csv"; None: from the files' suffixes.
    chunk_size : int or None, default=None
        Rows per chunk; None: about 4 MiB of data per chunk (at least 1024 rows).
    storage_options : dict or None, default=None
        Options of the fsspec file system of a URL (s3fs's ``key``, ``secret``,
        ``client_kwargs={"endpoint_url": ...}``...); only with a URL.

    Raises
    ------
    FileNotFoundError
        If there is no such file, or a glob matches none.
    ValueError
        If the files are not readable in their format, their format cannot be told,
        or a chosen column does not exist.
    TypeError
        If a chosen column is not numeric.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import pyarrow as pa, pyarrow.feather as feather
    >>> from fastem.sources import DatasetSource
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> table = pa.table({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    >>> for i in range(2):
    ...     feather.write_feather(table, folder / f"part{i}.feather")
    >>> data = DatasetSource(folder)
    >>> data.n_samples, data.feature_names
    (4, ('a', 'b'))
    """

    decode_ahead = DECODE_AHEAD

    def __init__(self, obj, columns=None, format=None, chunk_size: int | None = None,
                 storage_options: dict | None = None):
        ds = _require("pyarrow.dataset", "parquet")
        pa = _require("pyarrow", "parquet")
        if isinstance(obj, ds.Dataset):
            self.dataset, self.files = obj, list(getattr(obj, "files", []))
            self.name = f"pyarrow dataset of {len(self.files)} files" if self.files else "pyarrow dataset"
            local = isinstance(getattr(obj, "filesystem", None), _require("pyarrow.fs", "parquet").LocalFileSystem)
            self._stamped = self.files if local else []
        else:
            files = _files(obj, storage_options)
            self.files, self.name, self.fs = files.paths, files.name, files.fs
            self._stamped = self.files if files.fs is None else []
            format = format or _format_of_files(files)
            what = f"{_DATASET_FORMATS.get(format, str(format))} {'file' if len(self.files) == 1 else 'dataset'}"
            try:
                self.dataset = ds.dataset(self.files, format=format, filesystem=_arrow_fs(files.fs))
            except FileNotFoundError:
                raise FileNotFoundError(f"no such file: {self.name}") from None
            except (pa.ArrowException, OSError) as exc:
                raise ValueError(f"{self.name} is not a readable {what}: {exc}") from None
        self._choose(self.dataset.schema, columns, chunk_size)
        if isinstance(getattr(self.dataset, "format", None), ds.ParquetFileFormat | ds.IpcFileFormat | type(None)):
            try:
                self.n_samples = self.dataset.count_rows()  # the files' metadata
            except (pa.ArrowException, OSError) as exc:
                raise ValueError(f"{self.name} is not readable: {exc}") from None

    def _local_files(self) -> list:
        return self._stamped

    def _batches(self) -> Iterator:
        """The batches of one fragment (file) after another; a Parquet file's by _row_groups."""
        ds = _require("pyarrow.dataset", "parquet")
        pa = _require("pyarrow", "parquet")
        parquet = isinstance(getattr(self.dataset, "format", None), ds.ParquetFileFormat)
        batch_size = min(self.chunk_size, ARROW_BATCH_ROWS)
        try:
            for fragment in self.dataset.get_fragments():
                if parquet and set(self.columns) <= set(fragment.physical_schema.names):
                    with fragment.filesystem.open_input_file(fragment.path) as stream:
                        yield from _row_groups(stream, fragment.path, self.columns, batch_size)
                else:  # Feather, CSV, or columns from the partitioning (not in the file)
                    yield from fragment.to_batches(schema=self.dataset.schema, columns=self.columns,
                                                   batch_size=batch_size, batch_readahead=1)
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"{self.name}: {exc}") from None


class ParquetSource(_Columns):
    """The numeric columns of Parquet files, read a row group at a time (``fastem[parquet]``).

    ``pyarrow.parquet`` reads each row group in batches, decoded in a thread of their
    own ahead of their copy into chunks, so memory does not grow with the size of the
    row groups or of the dataset. ``n_samples`` and the columns come from the files'
    footers, and every file must have the chosen columns. Nulls are NaN: missing values
    where NaN is allowed, errors naming the row otherwise.

    Parameters
    ----------
    path : str, path-like or list of them
        A file, a folder (the files under it whose names do not start with "." or "_",
        sorted), a glob (its matches, sorted) or a list of files (in its order), each a
        path or an fsspec URL.
    columns : list of str or int, or None, default=None
        The columns to read, by name or index, in that order; None: every column, each
        of which must be numeric.
    chunk_size : int or None, default=None
        Rows per chunk; None: about 4 MiB of data per chunk (at least 1024 rows).
    storage_options : dict or None, default=None
        Options of the fsspec file system of a URL (s3fs's ``key``, ``secret``,
        ``client_kwargs={"endpoint_url": ...}``...); only with a URL.

    Raises
    ------
    FileNotFoundError
        If there is no such file, or a glob matches none.
    ValueError
        If a file is not readable Parquet, or a chosen column does not exist.
    TypeError
        If a chosen column is not numeric.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import pyarrow as pa, pyarrow.parquet as pq
    >>> from fastem.sources import ParquetSource
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.parquet"
    >>> table = pa.table({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, None],
    ...                   "id": [7, 8, 9]})
    >>> pq.write_table(table, path)
    >>> data = ParquetSource(path, columns=["a", "b"])
    >>> data.n_samples, data.feature_names
    (3, ('a', 'b'))
    >>> data.allow_nan = True   # as missing="marginalize" sets it
    >>> next(data.chunks()).tolist()   # the null: NaN, a missing value
    [[1.0, 4.0], [2.0, 5.0], [3.0, nan]]
    """

    decode_ahead = DECODE_AHEAD

    def __init__(self, path, columns=None, chunk_size: int | None = None, storage_options: dict | None = None):
        pq = _require("pyarrow.parquet", "parquet")
        pa = _require("pyarrow", "parquet")
        files = _files(path, storage_options)
        self.files, self.name, self.fs = files.paths, files.name, files.fs
        self._stamped = self.files if files.fs is None else []
        types, self.n_samples = [], 0
        for i, file in enumerate(self.files):
            label = self.name if len(self.files) == 1 else f"{self.name}: file {file}"
            try:
                with self._stream(file) as stream:
                    meta = pq.ParquetFile(stream).metadata
            except FileNotFoundError:
                raise FileNotFoundError(f"no such file: {self.name if len(self.files) == 1 else file}") from None
            except (pa.ArrowException, OSError) as exc:
                raise ValueError(f"{label} is not a readable Parquet file: {exc}") from None
            schema = meta.schema.to_arrow_schema()
            if i == 0:
                self._choose(schema, columns, chunk_size)
            types.append(_numeric_columns(schema, list(self.columns), label)[2])
            self.n_samples += meta.num_rows
        self.dtype = float_dtype(np.result_type(*types))

    def _local_files(self) -> list:
        return self._stamped

    def _stream(self, file: str):
        """An Arrow input file of one of the files (a local one allocates from _reading_pool)."""
        pa = _require("pyarrow", "parquet")
        if self.fs is None:
            return pa.OSFile(file, memory_pool=_reading_pool())
        if self._arrow_fs is None:
            self._arrow_fs = _arrow_fs(self.fs)
        return self._arrow_fs.open_input_file(file)

    _arrow_fs = None

    def _batches(self) -> Iterator:
        pa = _require("pyarrow", "parquet")
        try:
            for file in self.files:
                with self._stream(file) as stream:
                    yield from _row_groups(stream, file, self.columns, min(self.chunk_size, ARROW_BATCH_ROWS))
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"{self.name}: {exc}") from None


def _row_groups(stream, name: str, columns: list, batch_size: int) -> Iterator:
    """The batches of a Parquet file (named name), a row group at a time, each column chunk
    read through a buffered stream into buffers from _reading_pool(): Dataset.to_batches,
    with pre_buffer or without, reads ahead far more than it is told."""
    pq = _require("pyarrow.parquet", "parquet")
    try:  # pq.ParquetFile does not take a memory pool; the reader it wraps does
        from pyarrow._parquet import ParquetReader

        reader = ParquetReader(memory_pool=_reading_pool())
        reader.open(stream, buffer_size=PARQUET_BUFFER_BYTES, pre_buffer=False)
    except (ImportError, TypeError):
        reader = pq.ParquetFile(stream, pre_buffer=False, buffer_size=PARQUET_BUFFER_BYTES).reader
    names = reader.schema_arrow.names
    missing = [c for c in columns if c not in names]
    if missing:  # iter_batches would give empty batches
        raise ValueError(f"{name} has no column(s) {missing}; it has {names}")
    indices = [reader.column_name_idx(c) for c in columns]
    for group in range(reader.num_row_groups):
        yield from reader.iter_batches(batch_size, [group], column_indices=indices, use_threads=False)


def _reading_pool():
    """The Arrow memory pool for Parquet reads: jemalloc where pyarrow has it, which gives
    freed pages back to the system within a second (mimalloc, pyarrow's default, holds on
    to them: a fit's peak grew by a fifth), else the default pool."""
    global _POOL
    if _POOL is None:
        pa = _require("pyarrow", "parquet")
        try:
            _POOL = pa.jemalloc_memory_pool()
        except (NotImplementedError, pa.ArrowException):
            _POOL = pa.default_memory_pool()
    return _POOL


_POOL = None
PARQUET_BUFFER_BYTES = 2**20  # the buffered stream through which a Parquet column chunk is read


_WHITESPACE = ("whitespace", " ")
_MISSING = ("", "na", "n/a", "#n/a", "null", "none", "nil")  # how a CSV says "no value"
_NULLS = tuple(dict.fromkeys(v for m in _MISSING for v in (m, m.upper(), m.capitalize())))  # pyarrow's are exact
_HEAD_BYTES = 2**16  # what CSVSource reads of a file to find its header and delimiter


class CSVSource(_Columns):
    """The numeric columns of delimited text, read with pyarrow's streaming CSV reader.

    Quoted fields, compression by suffix (.gz, .bz2, .zst, .lz4) and several files with
    the same columns, read one after another. Values are float64. A missing value (an
    empty field, NA, N/A, null, None, nil...) is NaN where NaN is allowed (an estimator
    with ``missing="marginalize"``) and otherwise an error naming the file, the column
    and the line; so is text in a chosen column (extra ``fastem[csv]``).

    Parameters
    ----------
    path : str, path-like or list of them
        A file, or a folder, glob or list of files with the same columns, each a path or
        an fsspec URL.
    columns : list of str or int, or None, default=None
        The columns to read: names (with a header) or indices; None: every column.
    delimiter : str or None, default=None
        One character, or "whitespace" (also " "): runs of spaces and tabs, none at the
        ends of lines. None: a tab for .tsv, a comma for .csv; for .txt a comma if the
        first line has one, else whitespace.
    header : bool or None, default=None
        True: the first line names the columns; False: it is data; None: detect it (a
        first line that does not parse as numbers is a header).
    chunk_size : int or None, default=None
        Rows per chunk; None: about 4 MiB of data per chunk (at least 1024 rows).
    storage_options : dict or None, default=None
        Options of the fsspec file system of a URL (s3fs's ``key``, ``secret``,
        ``client_kwargs={"endpoint_url": ...}``...); only with a URL.

    Raises
    ------
    FileNotFoundError
        If there is no such file, or a glob matches none.
    ValueError
        If a file is empty or not UTF-8 text, the delimiter is not one character, or a
        chosen column does not exist; in a pass, if a line has another number of fields
        or a field does not parse as a number.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from fastem.sources import CSVSource
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> text = "height,weight,name\\n1.5,60,ann\\n1.8,,bob\\n"
    >>> _ = path.write_text(text)
    >>> data = CSVSource(path, columns=["height", "weight"])
    >>> data.feature_names
    ('height', 'weight')
    >>> data.allow_nan = True   # as missing="marginalize" sets it
    >>> next(data.chunks()).tolist()   # the empty field: NaN, missing
    [[1.5, 60.0], [1.8, nan]]
    """

    def __init__(self, path, columns=None, delimiter: str | None = None, header: bool | None = None,
                 chunk_size: int | None = None, storage_options: dict | None = None):
        pa_csv = _require("pyarrow.csv", "csv")
        files = _files(path, storage_options)
        self.fs, self.files, self.name = files.fs, files.paths, files.name
        self._where = [self.name] if len(self.files) == 1 else [
            p if self.fs is None else self.fs.unstrip_protocol(p) for p in self.files]
        self._arrow = _arrow_fs(self.fs)
        head = self._head()
        first = next((line for line in head.splitlines() if line.strip()), None)
        if first is None:
            raise ValueError(f"{self.name} is empty")
        if delimiter is None:
            suffix = _suffix(self.files[0])
            delimiter = "\t" if suffix == ".tsv" else "," if suffix == ".csv" or "," in first else "whitespace"
        self.whitespace = delimiter in _WHITESPACE
        if not self.whitespace and (not isinstance(delimiter, str) or len(delimiter) != 1):
            raise ValueError(f"{self.name}: delimiter must be one character or 'whitespace', got {delimiter!r}")
        self.delimiter = " " if self.whitespace else delimiter
        fields = first.split() if self.whitespace else next(csv.reader([first], delimiter=delimiter))
        self.header = bool(header) if header is not None else not all(_is_number(t) for t in fields)
        self._block = 4 * 2**20
        with self._reader(0, pa_csv.ConvertOptions()) as reader:
            self.file_columns = list(reader.schema.names)
        self.columns = self._chosen(columns)
        Source.__init__(self, len(self.columns), np.float64, chunk_size)
        self.feature_names = tuple(self.columns) if self.header else None
        self._block = int(min(64 * 2**20, max(self._block, 1.25 * self.chunk_size * self._line_bytes)))
        self._selected = columns is not None

    @property
    def _convert(self):
        """pyarrow's conversion: float64 columns; CSV's ways of saying "no value" (_NULLS)
        are nulls, then NaN, where NaN is allowed, and errors naming the line otherwise."""
        pa, pa_csv = _require("pyarrow", "csv"), _require("pyarrow.csv", "csv")
        return pa_csv.ConvertOptions(column_types=dict.fromkeys(self.columns, pa.float64()),
                                     include_columns=self.columns if self._selected else None,
                                     null_values=list(_NULLS) if self.allow_nan else [], strings_can_be_null=False)

    def _head(self) -> str:
        """The first bytes of the first file as text (an error if they are not UTF-8)."""
        pa = _require("pyarrow", "csv")
        try:
            with self._arrow.open_input_stream(self.files[0]) as stream:
                raw = stream.read(_HEAD_BYTES)
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file: {self._where[0]}") from None
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"{self._where[0]} is not a readable CSV file: {exc}") from None
        self._line_bytes = len(raw) / max(1, raw.count(b"\n"))
        try:
            if b"\0" in raw:
                raise UnicodeError("it holds NUL bytes")
            import codecs

            return codecs.getincrementaldecoder("utf-8-sig")().decode(raw, final=len(raw) < _HEAD_BYTES)
        except UnicodeError as exc:
            raise ValueError(f"{self._where[0]} is not a text file: {exc}") from None

    def _chosen(self, columns) -> list[str]:
        names = self.file_columns
        if columns is None:
            return list(names)
        chosen, missing = [], []
        for c in columns:
            if isinstance(c, int | np.integer) and not isinstance(c, bool):
                if not 0 <= c < len(names):
                    raise ValueError(f"{self.name} has {len(names)} columns: column index {c} is out of range")
                chosen.append(names[c])
            elif not self.header:
                raise ValueError(f"{self.name} has no header line: choose columns by index, not by name {c!r}")
            elif c in names:
                chosen.append(c)
            else:
                missing.append(c)
        if missing:
            raise ValueError(f"{self.name} has no column(s) {missing}; its header has {names}")
        return chosen

    def _local_files(self) -> list:
        return self.files if self.fs is None else []

    def _stream(self, i: int):
        stream = self._arrow.open_input_stream(self.files[i])  # decompressed by suffix
        return io.BufferedReader(_Collapsed(stream)) if self.whitespace else stream

    @contextlib.contextmanager
    def _reader(self, i: int, convert):
        pa = _require("pyarrow", "csv")
        pa_csv = _require("pyarrow.csv", "csv")
        stream = self._stream(i)
        try:
            try:  # one thread: its errors tell the row
                reader = pa_csv.open_csv(stream, read_options=pa_csv.ReadOptions(
                    block_size=self._block, use_threads=False, autogenerate_column_names=not self.header),
                    parse_options=pa_csv.ParseOptions(delimiter=self.delimiter), convert_options=convert)
            except (pa.ArrowException, OSError) as exc:
                raise self._error(i, exc) from None
            yield reader
        finally:
            stream.close()

    def _batches(self) -> Iterator:
        pa = _require("pyarrow", "csv")
        for i in range(len(self.files)):
            with self._reader(i, self._convert) as reader:
                if not self._selected and reader.schema.names != self.file_columns:
                    raise ValueError(f"{self._where[i]} has columns {reader.schema.names}, not those of "
                                     f"{self._where[0]}: {self.file_columns}")
                while True:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        break
                    except (pa.ArrowException, OSError) as exc:
                        raise self._error(i, exc) from None
                    yield batch

    def _error(self, i: int, exc: Exception) -> ValueError:
        """pyarrow's error about file i, said with the file, the column and the line."""
        where, text = self._where[i], str(exc)
        ragged = re.search(r"Row #(\d+): Expected (\d+) columns, got (\d+)", text)
        if ragged:
            return ValueError(f"{where}: line {self._line(i, int(ragged[1]))} has {ragged[3]} fields where the lines "
                              f"before have {ragged[2]}: the number of columns changed from {ragged[2]} to {ragged[3]}")
        bad = re.search(r"In CSV column #(\d+): Row #(\d+): CSV conversion error to \w+: invalid value '(.*)'", text,
                        re.DOTALL)
        if not bad:
            return ValueError(f"{where} is not a readable CSV file: {text}")
        index, record, value = int(bad[1]), int(bad[2]), bad[3]
        column = repr(self.file_columns[index]) if self.header else str(index)
        at = f"line {self._line(i, record)} (data row {record - 1 - self.header})"
        if value.strip().lower() in _MISSING:
            shown = f" ({value!r})" if value.strip() else ""
            return ValueError(f"{where}: column {column} has a missing value{shown} at {at}, which does not parse as "
                              "numbers: fill it in, drop the row, or fit with missing='marginalize' "
                              "(fastem fit --missing marginalize) to take it as missing")
        other = [d for d in (";", "\t", "|", ",") if d in value and d != self.delimiter]
        advice = f"if {other[0]!r} separates the columns, pass delimiter={other[0]!r}" if other else \
            "leave the column out with columns="
        return ValueError(f"{where}: column {column} holds text ({value!r} at {at}), which does not parse as "
                          f"numbers: {advice}")

    def _line(self, i: int, record: int):
        """The line of file i where record number `record` ends (as pyarrow counts records:
        from 1, the header included, blank lines not), or "?"."""
        with contextlib.suppress(OSError, csv.Error), self._stream(i) as stream:
            reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline=""),
                                delimiter=self.delimiter)
            for count, _ in enumerate(filter(None, reader), 1):
                if count == record:
                    return reader.line_num
        return "?"


class _Collapsed(io.RawIOBase):
    """A byte stream with every run of spaces and tabs made one space and none at the ends
    of lines: whitespace-delimited text for pyarrow's reader with delimiter " "."""

    _RUNS = re.compile(rb"[ \t\r\f\v]+")

    def __init__(self, stream):
        self.stream, self.rest, self.out = stream, b"", memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.out:
            block = self.stream.read(2**20)
            data = self.rest + block
            if not data:
                return 0
            cut = data.rfind(b"\n") + 1 if block else len(data)  # whole lines only, but at the end
            if not cut:
                self.rest = data
                continue
            text, self.rest = self._RUNS.sub(b" ", data[:cut]).replace(b" \n", b"\n").replace(b"\n ", b"\n"), data[cut:]
            self.out = memoryview(text[text.startswith(b" ") : len(text) - text.endswith(b" ")])
        n = min(len(buffer), len(self.out))
        buffer[:n] = self.out[:n]
        self.out = self.out[n:]
        return n

    def close(self) -> None:
        self.stream.close()
        super().close()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class CallableSource(Source):
    """Chunks from a callable that returns a new iterator of arrays for every pass.

    The data no reader knows (a database cursor, a generator of simulated rows)
    becomes a source for ``fit``, which makes several passes. Its chunks are used as
    they come: chunk_size does not re-cut them.

    Parameters
    ----------
    make_chunks : callable
        Called with no argument at the start of every pass; returns an iterator or
        iterable of arrays of shape (rows, n_features) (or (rows,) for one feature).
        The first call happens here, to learn the width and the type.
    chunk_size : int or None, default=None
        Accepted for a uniform interface; the chunks keep their own sizes.
    name : str or None, default=None
        What errors call the source; None: "callable" and the function's name.

    Raises
    ------
    ValueError
        If the first pass yields no chunk, or a chunk is not a rectangular array.
    TypeError
        If make_chunks returns something that is not iterable.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem.sources import CallableSource
    >>> X = np.arange(12.0).reshape(6, 2)
    >>> def chunks():
    ...     for start in range(0, 6, 4):
    ...         yield X[start : start + 4]
    >>> data = CallableSource(chunks)
    >>> data
    CallableSource(callable chunks, rows=?, n_features=2, dtype=float64)
    >>> [chunk.shape for chunk in data.chunks()]   # a pass
    [(4, 2), (2, 2)]
    >>> [chunk.shape for chunk in data.chunks()]   # and another
    [(4, 2), (2, 2)]
    """

    def __init__(self, make_chunks: Callable[[], Iterable], chunk_size: int | None = None, name: str | None = None):
        self.make_chunks = make_chunks
        self.name = name or f"callable {getattr(make_chunks, '__name__', repr(make_chunks))}"
        self._pending = self._call()  # the first call's iterator serves the first pass
        first = next(self._pending, None)
        if first is None:
            raise ValueError(f"{self.name} is empty: it yielded no chunk")
        self._first = _first_chunk(first, self.name)
        super().__init__(self._first.shape[1] if self._first.ndim == 2 else 1, self._first.dtype, chunk_size)

    def _call(self) -> Iterator:
        chunks = self.make_chunks()
        try:
            return iter(chunks)
        except TypeError:
            raise TypeError(f"{self.name} returned {type(chunks).__name__}, not an iterator or iterable of chunks"
                            ) from None

    def _read(self) -> Iterable:
        if self._pending is None:
            return self._call()
        first, rest = self._first, self._pending
        self._first = self._pending = None
        return _chained(first, rest)


class IteratorSource(Source):
    """Chunks from a one-shot iterator of arrays: a stream, read once.

    One pass only, so ``partial_fit`` takes it (one step per chunk) and ``fit``, which
    needs several passes, refuses it and says so. Its chunks are used as they come:
    chunk_size does not re-cut them.

    Parameters
    ----------
    iterator : iterator or iterable
        Arrays of shape (rows, n_features) (or (rows,) for one feature); the first is
        read here, to learn the width and the type.
    chunk_size : int or None, default=None
        Accepted for a uniform interface; the chunks keep their own sizes.
    name : str, default="iterator"
        What errors call the source.

    Raises
    ------
    ValueError
        If the iterator yields no chunk, or the first is not a rectangular array.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem.sources import IteratorSource
    >>> data = IteratorSource(np.zeros((3, 2)) for _ in range(4))
    >>> data.reiterable, sum(len(chunk) for chunk in data.chunks())
    (False, 12)
    """

    reiterable = False

    def __init__(self, iterator: Iterator, chunk_size: int | None = None, name: str = "iterator"):
        self.iterator, self.name = iter(iterator), name
        first = next(self.iterator, None)
        if first is None:
            raise ValueError(f"{self.name} is empty: it yielded no chunk")
        self._first = _first_chunk(first, self.name)
        self._used = False
        super().__init__(self._first.shape[1] if self._first.ndim == 2 else 1, self._first.dtype, chunk_size)

    def _read(self) -> Iterator:
        if self._used:
            raise ValueError(f"{self.name} is a one-shot iterator and was read already; "
                             "pass a callable that returns a new iterator for multi-pass EM")
        self._used = True
        return _chained(self._first, self.iterator)


def _first_chunk(raw, name: str) -> np.ndarray:
    try:
        return np.asarray(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: chunk 0 (from row 0) is not a rectangular array of numbers: {exc}") from None


def _chained(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest


def is_source_object(obj) -> bool:
    """Whether obj is a pyarrow Table, RecordBatch, RecordBatchReader or Dataset, or a
    polars DataFrame or LazyFrame (read through fastem.source). Imports neither library:
    an object of theirs means they are imported already."""
    module = type(obj).__module__.split(".")[0]
    if module == "pyarrow":
        pa, ds = sys.modules["pyarrow"], sys.modules.get("pyarrow.dataset")
        return isinstance(obj, pa.Table | pa.RecordBatch | pa.RecordBatchReader) or (
            ds is not None and isinstance(obj, ds.Dataset))
    if module == "polars":
        pl = sys.modules["polars"]
        return isinstance(obj, pl.DataFrame | pl.LazyFrame)
    return False


def _object_source(obj, **options) -> Source:
    """The source of an object is_source_object accepts."""
    if type(obj).__module__.startswith("polars"):
        if isinstance(obj, sys.modules["polars"].LazyFrame):
            return LazyFrameSource(obj, **options)
        return ArrowSource(obj.to_arrow(), name="polars DataFrame", **options)
    pa = sys.modules["pyarrow"]
    if isinstance(obj, pa.RecordBatchReader):
        return ArrowStreamSource(obj, **options)
    if isinstance(obj, pa.Table | pa.RecordBatch):
        return ArrowSource(obj, **options)
    return DatasetSource(obj, **options)


def source(obj, **options) -> Source:
    """Open any data as a Source of chunks of rows.

    The estimators call it for whatever they are given that is not an array; call it
    to pass options or to see what fastem reads. A path is read by its suffix: .npy,
    .h5/.hdf5, .zarr, .parquet, .feather/.arrow, .csv/.tsv/.txt (also compressed:
    .gz, .bz2, .zst, .lz4); a folder, a glob or a list of files is a dataset of Parquet,
    Feather or CSV files. The ``fastem.sources`` module docstring has the whole table.

    Parameters
    ----------
    obj : object
        The data: a numpy array or array-like, a pandas DataFrame (its numeric
        columns), a path or fsspec URL (``"s3://..."``, ``"gs://..."``,
        ``"https://..."``...) of a file, folder or glob, a list of files, an h5py
        dataset, a zarr array, a pyarrow Table, RecordBatch, RecordBatchReader or
        Dataset, a polars DataFrame or LazyFrame, a callable returning a new iterator
        of arrays for every pass, an iterator of arrays (one pass), or a Source
        (returned as it is).
    **options
        Keyword arguments of the source's constructor: ``chunk_size`` (rows per chunk)
        for all; ``storage_options`` (a dict for the fsspec file system of a URL) for
        every file source; ``direct`` (.npy: ``O_DIRECT`` reads); ``key`` (HDF5);
        ``columns`` (Parquet, Feather, datasets, CSV, Arrow, polars, pandas);
        ``format`` (datasets: "parquet", "feather", "csv"); ``delimiter`` and
        ``header`` (CSV).

    Returns
    -------
    Source
        The source: an ``ArraySource``, ``NpySource``, ``HDF5Source``, ``ZarrSource``,
        ``ParquetSource``, ``DatasetSource``, ``CSVSource``, ``ArrowSource``,
        ``ArrowStreamSource``, ``LazyFrameSource``, ``CallableSource`` or
        ``IteratorSource`` of ``fastem.sources``.

    Raises
    ------
    FileNotFoundError
        If a path names no file, or a glob matches none.
    ValueError
        If a file's format is unknown or it is unreadable, or the data is empty or has
        no features.
    TypeError
        If an option does not apply to obj, obj is a Dask collection (pass it to the
        estimators, which run on its cluster), or the data does not hold numbers.
    ImportError
        If the reader's optional dependency is missing; the message names the extra to
        install.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> import fastem
    >>> X = np.random.default_rng(0).normal(size=(1000, 3))
    >>> fastem.source(X)
    ArraySource(array, rows=1,000, n_features=3, dtype=float64)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
    >>> np.save(path, X)
    >>> data = fastem.source(path, chunk_size=300)
    >>> type(data).__name__
    'NpySource'
    >>> [chunk.shape[0] for chunk in data.chunks()]
    [300, 300, 300, 100]
    >>> gm = fastem.GaussianMixture(n_components=2, random_state=0)
    >>> gm = gm.fit(data)   # what fit(path) does with the default chunks
    """
    if isinstance(obj, Source):
        return obj
    try:
        return _open(obj, **options)
    except TypeError as exc:
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if unknown is None:
            raise
        raise TypeError(f"option {unknown[1]!r} does not apply to {obj if isinstance(obj, str | os.PathLike) else type(obj).__name__} "
                        f"(unexpected keyword argument {unknown[1]!r})") from None


def _open(obj, **options) -> Source:
    if isinstance(obj, bytes):
        obj = os.fsdecode(obj)
    if isinstance(obj, list | tuple) and obj and all(isinstance(p, str | os.PathLike) for p in obj):
        return _open_files(_files(obj, options.pop("storage_options", None)), options)
    if isinstance(obj, str | os.PathLike):
        return _open_path(obj, options)
    module = type(obj).__module__.split(".")[0]
    if module in ("dask", "dask_expr"):
        raise TypeError("a Dask collection is not a local source (its data would be loaded into this process): "
                        "pass it to fit, partial_fit, predict or score directly, which run on its cluster")
    if module == "h5py":
        return HDF5Source(obj, **options)
    if module == "zarr":
        return ZarrSource(obj, **options)
    if is_source_object(obj):
        return _object_source(obj, **options)
    if module == "pandas" and isinstance(obj, sys.modules["pandas"].DataFrame):
        return _pandas_source(obj, **options)
    if isinstance(obj, np.ndarray):
        return ArraySource(obj, **options)
    if callable(obj):
        return CallableSource(obj, **options)
    if isinstance(obj, Iterator):
        return IteratorSource(obj, **options)
    return ArraySource(np.asarray(obj), **options)


def _open_path(obj, options: dict) -> Source:
    """The source of a path or URL: by its suffix; a folder or glob is a dataset."""
    fs, path, name = where = _locate(obj, options.get("storage_options"))
    kind = _format_of(path)
    if kind in ("npy", "hdf5", "zarr"):
        return {"npy": NpySource, "hdf5": HDF5Source, "zarr": ZarrSource}[kind](where, **_without(options, "storage_options"))
    if (_has_magic(path) and not _exists(fs, path)) or _isdir(fs, path) or "format" in options:
        return _open_files(_files(where), _without(options, "storage_options"))
    if kind == "parquet":
        return ParquetSource(where, **_without(options, "storage_options"))
    if kind in ("feather", "csv"):
        return _open_files(_files(where), _without(options, "storage_options"))
    if not _exists(fs, path):
        raise FileNotFoundError(f"no such file: {name}")
    raise ValueError(f"{name}: unknown data format {_suffix(path)!r}; fastem reads .npy, .h5/.hdf5, .zarr, .parquet, "
                     ".feather/.arrow, .csv/.tsv/.txt (also .gz, .bz2, .zst, .lz4), and folders or globs of them")


def _open_files(files: _Files, options: dict) -> Source:
    """A CSVSource for CSV files, else a DatasetSource."""
    fmt = options.get("format") or _format_of_files(files)
    if fmt == "csv":
        return CSVSource(files, **_without(options, "format"))
    if fmt == "parquet":
        return ParquetSource(files, **_without(options, "format"))
    return DatasetSource(files, **options)


def _without(options: dict, key: str) -> dict:
    return {k: v for k, v in options.items() if k != key}
