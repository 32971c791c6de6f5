"""Per-row results written to a file chunk by chunk: ``predict(X, out=path)`` and friends.

A writer takes the rows of a result in order, ``write(block)`` with block (rows,) for one
column or (rows, width), and holds only the block it is given, so memory stays bounded
whatever the number of rows. The file's format follows the path's suffix:

========  ================================================================================
suffix    file
========  ================================================================================
.npy      a NumPy array of shape (n,) or (n, width); the row count, unknown for a stream,
          is written into the header when the last block is in
.parquet  one named column per result column (pyarrow; extra ``fastem[parquet]``)
.csv      a header line of the column names, then one line per row, each number in the
          shortest text that reads back to it (pyarrow's writer; extra ``fastem[csv]``)
========  ================================================================================

The columns of the per-row results (``columns_of``): ``label``, ``log_density``, or
``component_0`` ... ``component_{K-1}`` for probabilities.

The file is written under a temporary name beside the target and renamed over it when
complete: an interrupted or failed pass leaves no partial file and an existing file is
replaced only by a whole one. The target's folder must exist.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

SUFFIXES = (".npy", ".parquet", ".csv")
EXTRAS = {".parquet": ("pyarrow.parquet", "parquet"), ".csv": ("pyarrow.csv", "csv")}


def columns_of(what: str, width: int | None) -> list[str]:
    """Column names of the per-row result what ('labels', 'density' or 'proba')."""
    if what == "proba":
        return [f"component_{k}" for k in range(width)]
    return ["label" if what == "labels" else "log_density"]


def check_output_path(out, label: str | None = None) -> Path:
    """out as a Path whose suffix fastem writes, whose folder exists and whose format's
    library is installed (else a clear error, which starts with label: out='...')."""
    if not isinstance(out, str | os.PathLike):
        raise TypeError(f"out must be a path (str or path-like), got {type(out).__name__}")
    path = Path(out)
    label = label or f"out={str(out)!r}"
    if path.is_dir() or str(out).endswith(("/", os.sep)):
        raise IsADirectoryError(f"{label} is a directory, not a file path")
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"{label}: fastem writes .npy, .parquet or .csv files; give a path with one of those "
                         "suffixes")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{label}: the folder {path.parent} does not exist")
    if path.suffix.lower() in EXTRAS:
        from .sources import _require

        _require(*EXTRAS[path.suffix.lower()])
    return path


class _Writer:
    """Rows of one result into a temporary file beside path, renamed into place by close().
    columns: the names of its columns; flat: one column written as (n,)."""

    def __init__(self, path: Path, columns: list[str], dtype: np.dtype, flat: bool):
        self.path, self.columns, self.dtype = path, list(columns), np.dtype(dtype)
        self.width = None if flat else len(self.columns)
        self.rows = 0
        fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        self.file = os.fdopen(fd, "wb")
        try:
            self._start()
        except BaseException:
            self.abort()
            raise

    def _start(self) -> None:
        pass

    def write(self, block: np.ndarray) -> None:
        expected = (block.shape[0],) if self.width is None else (block.shape[0], self.width)
        if block.shape != expected:
            raise RuntimeError(f"internal error: a block of shape {block.shape} for an output of width {self.width}")
        self._write(np.ascontiguousarray(block, dtype=self.dtype))
        self.rows += block.shape[0]

    def close(self) -> Path:
        """Finish the file and move it over the target; returns the target's path."""
        try:
            self._finish()
            self.file.flush()
            os.fsync(self.file.fileno())
            self.file.close()
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the temporary file (after an error or an interruption)."""
        try:
            self._drop()
        finally:
            self.file.close()
            Path(self.tmp).unlink(missing_ok=True)

    def _drop(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.abort()


class NpyWriter(_Writer):
    """A .npy file: a version 2.0 header with room for any row count, rewritten with the
    real one when the last block is in."""

    HEADER_BYTES = 128  # the magic string, the length field and the padded dict

    def _start(self) -> None:
        self.file.write(self._header(0))

    def _header(self, rows: int) -> bytes:
        shape = (rows,) if self.width is None else (rows, self.width)
        text = repr({"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape})
        prefix = b"\x93NUMPY\x02\x00"
        length = self.HEADER_BYTES - len(prefix) - 4
        body = text.encode("latin1").ljust(length - 1) + b"\n"
        return prefix + length.to_bytes(4, "little") + body

    def _write(self, block: np.ndarray) -> None:
        self.file.write(memoryview(block).cast("B"))

    def _finish(self) -> None:
        self.file.seek(0)
        self.file.write(self._header(self.rows))


class _ArrowWriter(_Writer):
    """A file of named columns written a table (one block) at a time by a pyarrow writer."""

    def _start(self) -> None:
        import pyarrow as pa

        self.schema = pa.schema([(name, pa.from_numpy_dtype(self.dtype)) for name in self.columns])
        self.writer = self._writer(self.file, self.schema)

    def _write(self, block: np.ndarray) -> None:
        import pyarrow as pa

        columns = [block] if self.width is None else [block[:, k] for k in range(self.width)]
        self.writer.write_table(pa.Table.from_arrays([pa.array(c) for c in columns], schema=self.schema))

    def _finish(self) -> None:
        self.writer.close()

    def _drop(self) -> None:
        if hasattr(self, "writer"):
            self.writer.close()


class ParquetWriter(_ArrowWriter):
    """A Parquet file, a row group per block or so."""

    @staticmethod
    def _writer(file, schema):
        import pyarrow.parquet as pq

        return pq.ParquetWriter(file, schema)


class CsvWriter(_ArrowWriter):
    """A CSV file: a header line, then one line per row."""

    @staticmethod
    def _writer(file, schema):
        import pyarrow.csv as pc

        return pc.CSVWriter(file, schema)


WRITERS = {".npy": NpyWriter, ".parquet": ParquetWriter, ".csv": CsvWriter}


def open_output(path: Path, columns: list[str], dtype, flat: bool = False) -> _Writer:
    """A writer of rows with these columns (flat: one column, an (n,) result) into the
    file path (checked by check_output_path), in the format of its suffix."""
    return WRITERS[path.suffix.lower()](path, columns, dtype, flat)
