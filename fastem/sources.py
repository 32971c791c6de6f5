"""Data sources: anything that yields chunks of rows, again for every pass.

A source knows ``n_features``, the ``dtype`` its chunks have (float32 stays float32;
every other number type becomes float64) and, when it can tell without reading,
``n_samples``. ``chunks()`` starts a new pass and yields C-contiguous 2-D arrays,
each checked: the right width, numbers only, no NaN or inf (an error names the source,
the chunk and the row); a file checked whole once is not checked again while its size
and modification time stay the same. File sources read in a background thread, so the
next chunk is read while the kernel runs on the current one. Sources never write.

``source(obj, **options)`` opens any of them:

=========================================  ===============================================
obj                                        source
=========================================  ===============================================
numpy array, np.memmap, array-like          ArraySource (chunks are views, no copy)
"path.npy" (direct=...)                     NpySource (file reads, bounded memory)
"path.h5" / "path.hdf5" (key=...)           HDF5Source (h5py; extra ``fastem[hdf5]``)
"path.zarr", a zarr array                   ZarrSource (extra ``fastem[zarr]``)
"path.parquet" (columns=...)                ParquetSource (pyarrow; extra ``fastem[parquet]``)
"path.csv" / ".tsv" / ".txt" (columns=...)  CSVSource
a callable returning an iterator of arrays  CallableSource (called again for each pass)
an iterator or generator of arrays          IteratorSource (one pass only: partial_fit)
=========================================  ===============================================
"""

from __future__ import annotations

import errno
import importlib
import os
import queue
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from ._engine import array_chunks, check_finite
from ._persist import npy_header

CHUNK_BYTES = 16 * 2**20  # automatic chunks hold about this many bytes


def auto_chunk_rows(n_features: int, itemsize: int) -> int:
    """Rows per chunk so that a chunk holds about CHUNK_BYTES (at least 1024 rows)."""
    return max(1024, CHUNK_BYTES // max(1, n_features * itemsize))


def float_dtype(dtype: np.dtype) -> np.dtype:
    """float32 stays float32; every other real number type computes in float64."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)


def _require(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"this source needs {module}, which is not installed: pip install 'fastem[{extra}]'") from None


class Source:
    """Base class: subclasses set name, n_features, dtype, n_samples and implement _read()."""

    name = "source"
    n_samples: int | None = None
    reiterable = True
    prefetch = False  # read in a background thread
    checked = False  # chunks are known to be finite already

    def __init__(self, n_features: int, dtype: np.dtype, chunk_size: int | None = None):
        if int(n_features) < 1:
            raise ValueError(f"{self.name} has 0 features: a mixture needs at least one column")
        if chunk_size is not None and (not isinstance(chunk_size, int | np.integer) or isinstance(chunk_size, bool)
                                       or chunk_size < 1):
            raise ValueError(f"{self.name}: the 'chunk_size' parameter must be None or an int >= 1, got {chunk_size!r}")
        self.n_features = int(n_features)
        self.dtype = float_dtype(dtype)
        self.chunk_size = int(chunk_size or auto_chunk_rows(self.n_features, self.dtype.itemsize))

    def _read(self) -> Iterable:
        raise NotImplementedError

    def chunks(self) -> Iterator[np.ndarray]:
        """A new pass over the data: checked float32/float64 chunks (rows, n_features)."""
        checked = self._checked_chunks()
        return _prefetched(checked) if self.prefetch else checked

    def _file_stamp(self):
        """(size, modification time) of the file behind the source, or None."""
        path = getattr(self, "path", None)
        if path is None:
            return None
        stat = os.stat(path)
        return stat.st_size, stat.st_mtime_ns

    def _checked_chunks(self) -> Iterator[np.ndarray]:
        start = 0
        stamp = self._file_stamp()
        # A file whose every row was checked and that has not changed since skips the check.
        verified = self.checked or (stamp is not None and stamp == getattr(self, "_verified", None))
        for index, raw in enumerate(self._read()):
            chunk = self._as_chunk(raw, index, start)
            if chunk.shape[0] == 0:
                continue
            if not verified:
                check_finite(chunk, start, self.name, index)
            start += chunk.shape[0]
            yield chunk
        if start == 0:
            raise ValueError(f"{self.name} is empty: it yielded no rows")
        if stamp is not None and stamp == self._file_stamp():
            self._verified = stamp

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
        """n_samples, by a pass over the data where the source cannot tell without one."""
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

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        slots.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, raised there)
            slots.put(exc)

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
    """A numpy array or memmap: chunks are views (copies only where the dtype or the
    memory order needs converting, one chunk at a time)."""

    def __init__(self, X, chunk_size: int | None = None, name: str = "array"):
        X = X if isinstance(X, np.ndarray) else np.asarray(X)
        if X.ndim == 1:
            X = X[:, None]
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}")
        if X.dtype.kind not in "biuf":
            raise TypeError(f"{name} holds {X.dtype} data; fastem needs real numbers")
        self.name = name
        super().__init__(X.shape[1], X.dtype, chunk_size)
        self.X, self.n_samples = X, X.shape[0]
        for start, chunk in zip(range(0, X.shape[0], self.chunk_size), self._read(), strict=False):  # once: arrays do not change
            check_finite(chunk, start, name)
        self.checked = True

    def _read(self) -> Iterable:
        return array_chunks(self.X, self.chunk_size)


class NpySource(Source):
    """A .npy file read chunk by chunk with file reads: resident memory stays at a few
    chunks whatever the file size. direct: read with O_DIRECT, around the page cache
    (None: when the file is larger than half of this machine's memory)."""

    prefetch = True

    def __init__(self, path, chunk_size: int | None = None, direct: bool | None = None):
        self.path = Path(path)
        self.name = str(path)
        try:
            with open(self.path, "rb") as f:
                shape, fortran, dtype = npy_header(f)
                self.offset = f.tell()
        except FileNotFoundError:
            raise FileNotFoundError(f"no such file: {path}") from None
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path} is not a readable .npy file: {exc}") from None
        if dtype.hasobject or dtype.kind not in "biuf":
            raise TypeError(f"{path} holds {dtype} data; fastem needs real numbers")
        if len(shape) not in (1, 2) or (fortran and len(shape) == 2 and shape[1] > 1):
            raise ValueError(f"{path} must hold a C-ordered 2-D array (n_samples, n_features); it holds shape "
                             f"{shape}{' in Fortran order' if fortran else ''}")
        n_features = 1 if len(shape) == 1 else shape[1]
        self.file_dtype = dtype
        expected = self.offset + int(np.prod(shape)) * dtype.itemsize
        actual = self.path.stat().st_size
        if actual < expected:
            raise ValueError(f"{path} is truncated: its header promises {shape[0]:,} rows "
                             f"({expected:,} bytes) but the file has {actual:,} bytes")
        super().__init__(n_features, dtype, chunk_size)
        self.n_samples = shape[0]
        if direct is None:
            direct = 0 < _memory_bytes() // 2 < actual
        self.direct = bool(direct)

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
        with open(self.path, "rb", buffering=0) as f:
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
    """A 2-D HDF5 dataset (h5py), read chunk by chunk; key names the dataset in the file."""

    prefetch = True

    def __init__(self, obj, key: str | None = None, chunk_size: int | None = None):
        h5py = _require("h5py", "hdf5")
        if isinstance(obj, h5py.Dataset):
            self.path, self.key, self._dataset = None, None, obj
            self.name = f"HDF5 dataset {obj.name}"
            shape, dtype = obj.shape, obj.dtype
        else:
            self.path, self._dataset = Path(obj), None
            if not self.path.exists():
                raise FileNotFoundError(f"no such file: {obj}")
            try:
                with h5py.File(self.path, "r") as f:
                    if key is None:
                        names = [n for n, v in f.items() if isinstance(v, h5py.Dataset)]
                        if len(names) != 1:
                            raise ValueError(f"{obj} holds datasets {names}: name one with key=")
                        key = names[0]
                    if key not in f:
                        raise ValueError(f"{obj} has no dataset {key!r}; it has {list(f.keys())}")
                    if not isinstance(f[key], h5py.Dataset):
                        raise TypeError(f"{obj}: {key!r} is an HDF5 {type(f[key]).__name__.lower()}, not a dataset; "
                                         "name a dataset with key=")
                    shape, dtype = f[key].shape, f[key].dtype
            except OSError as exc:
                raise ValueError(f"{obj} is not a readable HDF5 file: {exc}") from None
            self.key, self.name = key, f"{obj}[{key}]"
        if len(shape) not in (1, 2) or dtype.kind not in "biuf":
            raise ValueError(f"{self.name} must be a 2-D array of real numbers, got shape {shape} of {dtype}")
        super().__init__(1 if len(shape) == 1 else shape[1], dtype, chunk_size)
        self.n_samples = shape[0]

    def _read(self) -> Iterator[np.ndarray]:
        h5py = _require("h5py", "hdf5")
        if self._dataset is not None:
            yield from (self._dataset[s : s + self.chunk_size] for s in range(0, self.n_samples, self.chunk_size))
            return
        with h5py.File(self.path, "r") as f:
            dataset = f[self.key]
            for start in range(0, self.n_samples, self.chunk_size):
                yield dataset[start : start + self.chunk_size]


class ZarrSource(Source):
    """A 2-D Zarr array (or a path to one), read chunk by chunk."""

    prefetch = True

    def __init__(self, obj, chunk_size: int | None = None):
        zarr = _require("zarr", "zarr")
        if isinstance(obj, str | os.PathLike):
            if not Path(obj).exists():
                raise FileNotFoundError(f"no such file: {obj}")
            try:
                obj = zarr.open_array(str(obj), mode="r")
            except Exception as exc:  # noqa: BLE001 (zarr raises several types for a bad store)
                raise ValueError(f"{obj} is not a readable Zarr array: {exc}") from None
        self.array, self.name = obj, f"Zarr array {getattr(obj, 'path', '') or getattr(obj, 'name', '')}".strip()
        shape, dtype = obj.shape, np.dtype(obj.dtype)
        if len(shape) not in (1, 2) or dtype.kind not in "biuf":
            raise ValueError(f"{self.name} must be a 2-D array of real numbers, got shape {shape} of {dtype}")
        super().__init__(1 if len(shape) == 1 else shape[1], dtype, chunk_size)
        self.n_samples = shape[0]

    def _read(self) -> Iterator[np.ndarray]:
        for start in range(0, self.n_samples, self.chunk_size):
            yield self.array[start : start + self.chunk_size]


class ParquetSource(Source):
    """Numeric columns of a Parquet file (pyarrow), read in record batches."""

    prefetch = True

    def __init__(self, path, columns: list[str] | None = None, chunk_size: int | None = None):
        pq = _require("pyarrow.parquet", "parquet")
        self.path, self.name = Path(path), str(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no such file: {path}")
        try:
            meta = pq.ParquetFile(self.path)
        except Exception as exc:  # noqa: BLE001 (pyarrow raises ArrowInvalid and others)
            raise ValueError(f"{path} is not a readable Parquet file: {exc}") from None
        schema = meta.schema_arrow
        names = list(schema.names)
        missing = [c for c in columns or [] if c not in names]
        if missing:
            raise ValueError(f"{path} has no column(s) {missing}; it has {names}")
        self.columns = list(columns) if columns else names
        types = [_numpy_type(schema.field(c).type) for c in self.columns]
        non_numeric = [c for c, t in zip(self.columns, types, strict=True) if t.kind not in "biuf"]
        if non_numeric:
            raise TypeError(f"{path}: column(s) {non_numeric} are not numeric; choose columns=")
        super().__init__(len(self.columns), np.result_type(*types), chunk_size)
        self.n_samples = meta.metadata.num_rows

    def _read(self) -> Iterator[np.ndarray]:
        pq = _require("pyarrow.parquet", "parquet")
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=self.chunk_size, columns=self.columns):
            yield np.column_stack([batch.column(i).to_numpy(zero_copy_only=False) for i in range(batch.num_columns)])


class CSVSource(Source):
    """Numeric columns of a delimited text file, read chunk by chunk with numpy.

    header: True (first line names the columns), False, or None to detect it (a first
    line that does not parse as numbers). columns: names (with a header) or indices."""

    prefetch = True

    def __init__(self, path, columns=None, delimiter: str | None = None, header: bool | None = None,
                 chunk_size: int | None = None):
        self.path, self.name = Path(path), str(path)
        if not self.path.exists():
            raise FileNotFoundError(f"no such file: {path}")
        if delimiter is None:
            delimiter = "\t" if self.path.suffix == ".tsv" else ","
        self.delimiter = delimiter
        self.leading = 0  # blank lines before the first line of text
        try:
            with open(self.path) as f:
                for first in f:
                    if first.strip():
                        break
                    self.leading += 1
                else:
                    first = ""
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path} is not a text file: {exc}") from None
        first = first.strip()
        if not first:
            raise ValueError(f"{path} is empty")
        fields = [t.strip().strip('"') for t in first.split(delimiter)]
        if header is None:
            header = not all(_is_number(t) for t in fields)
        self.header = header
        if columns is None:
            self.usecols = None
            n_features = len(fields)
        else:
            if header:
                missing = [c for c in columns if not isinstance(c, int) and c not in fields]
                if missing:
                    raise ValueError(f"{path} has no column(s) {missing}; its header has {fields}")
            self.usecols = [c if isinstance(c, int) else fields.index(c) for c in columns]
            n_features = len(self.usecols)
        super().__init__(n_features, np.float64, chunk_size)

    def _read(self) -> Iterator[np.ndarray]:
        import warnings

        with open(self.path) as f:
            for _ in range(self.leading + self.header):
                f.readline()
            line = self.leading + self.header
            while True:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "input contained no data" at the end
                    try:
                        chunk = np.loadtxt(f, delimiter=self.delimiter, usecols=self.usecols,
                                           max_rows=self.chunk_size, ndmin=2, dtype=np.float64)
                    except ValueError as exc:
                        raise ValueError(f"{self.name}: a line after line {line} does not parse as numbers: {exc}") from None
                if chunk.shape[0] == 0:
                    return
                line += chunk.shape[0]
                yield chunk


def _numpy_type(arrow_type) -> np.dtype:
    """The numpy dtype of an Arrow column type (object for those with none: dictionaries)."""
    try:
        return np.dtype(arrow_type.to_pandas_dtype())
    except (NotImplementedError, TypeError):
        return np.dtype(object)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class CallableSource(Source):
    """A callable returning a new iterator of arrays for every pass (multi-pass EM).
    Its chunks are used as they come (chunk_size does not re-cut them)."""

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
    """A one-shot iterator of arrays: a stream, read once (partial_fit, one pass).
    Its chunks are used as they come (chunk_size does not re-cut them)."""

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


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def source(obj, **options) -> Source:
    """Open obj as a Source (see the module docstring for what obj may be).

    options go to the source's constructor: chunk_size (rows per chunk) for all;
    direct (.npy: O_DIRECT reads, by default for files larger than half of memory);
    key (HDF5); columns (Parquet, CSV); delimiter and header (CSV)."""
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
    if isinstance(obj, str | os.PathLike):
        path = Path(obj)
        kind = _suffix(path)
        if kind == ".npy":
            return NpySource(path, **options)
        if kind in (".h5", ".hdf5", ".hdf"):
            return HDF5Source(path, **options)
        if kind == ".zarr":
            return ZarrSource(path, **options)
        if kind in (".parquet", ".pq"):
            return ParquetSource(path, **options)
        if kind in (".csv", ".tsv", ".txt"):
            return CSVSource(path, **options)
        if not path.exists():
            raise FileNotFoundError(f"no such file: {obj}")
        raise ValueError(f"{obj}: unknown data format {kind!r}; fastem reads .npy, .h5/.hdf5, .zarr, .parquet, .csv/.tsv")
    module = type(obj).__module__.split(".")[0]
    if module in ("dask", "dask_expr"):
        raise TypeError("a Dask collection is not a local source (its data would be loaded into this process): "
                        "pass it to fit, partial_fit, predict or score directly, which run on its cluster")
    if module == "h5py":
        return HDF5Source(obj, **options)
    if module == "zarr":
        return ZarrSource(obj, **options)
    if isinstance(obj, np.ndarray):
        return ArraySource(obj, **options)
    if callable(obj):
        return CallableSource(obj, **options)
    if isinstance(obj, Iterator):
        return IteratorSource(obj, **options)
    return ArraySource(np.asarray(obj), **options)
