"""Progress of passes over data: a tqdm bar on a terminal, plain lines elsewhere.

Where the bar goes depends on stderr when the pass starts:

- a terminal, or a Jupyter notebook: tqdm's bar (rows/s, time left), gone when the pass ends;
- anything else (a file, a pipe, a CI log): no ``\\r`` redraws, but plain lines: one when
  a pass ends (``fastem: pass 3: 30.0k rows in 0.05 s (600k rows/s)``) and, in a pass
  longer than ``LINE_INTERVAL`` seconds, one every ``LINE_INTERVAL`` seconds saying how far
  it is.

The environment variable ``FASTEM_PROGRESS`` chooses instead: ``bar`` (tqdm's bar even on
a pipe), ``lines`` (plain lines even on a terminal) or ``off`` (nothing); ``auto`` or
anything else is the choice above. ``mode`` does the same for a block of code.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator

import numpy as np

LINE_INTERVAL = 30.0  # seconds between the lines of a long pass when stderr is not a terminal
MODES = ("auto", "bar", "lines", "off")
_forced: str | None = None


@contextlib.contextmanager
def mode(name: str) -> Iterator[None]:
    """Within the block, progress is shown as name says (one of MODES), whatever
    FASTEM_PROGRESS says."""
    global _forced
    if name not in MODES:
        raise ValueError(f"progress mode must be one of {MODES}, got {name!r}")
    before, _forced = _forced, name
    try:
        yield
    finally:
        _forced = before


def _mode(stream) -> str:
    """"bar", "lines" or "off" for a pass whose progress would go to stream."""
    chosen = _forced or os.environ.get("FASTEM_PROGRESS", "auto").strip().lower()
    if stream is None:  # no stderr at all (pythonw)
        return "off"
    if chosen in ("bar", "lines", "off"):
        return chosen
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        terminal = False
    return "bar" if terminal or _notebook() else "lines"


def _notebook() -> bool:
    """Whether tqdm.auto chose its notebook widget (which draws no \\r fragments)."""
    import tqdm.auto  # noqa: F401  (imports tqdm.autonotebook without its warning)
    from tqdm import autonotebook, std

    return autonotebook.tqdm is not std.tqdm


class _Lines:
    """tqdm's update/close and context manager, written as whole lines."""

    def __init__(self, total: int | None, description: str, stream):
        self.total, self.description, self.stream = total, description, stream
        self.n = 0
        self.start = self.last = time.monotonic()
        self.lock = threading.Lock()
        self.closed = False

    def update(self, n: int = 1) -> None:
        with self.lock:
            self.n += int(n)
            now = time.monotonic()
            if now - self.last >= LINE_INTERVAL:
                self.last = now
                self._line(self._so_far(now - self.start))

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            seconds = time.monotonic() - self.start
            rate = f" ({_size(self.n / seconds)} rows/s)" if seconds > 0 else ""
            self._line(f"{_size(self.n)} rows in {seconds:.2f} s{rate}")

    def _so_far(self, seconds: float) -> str:
        if not self.total:
            return f"{_size(self.n)} rows so far, {seconds:.0f} s"
        left = f", about {seconds * (self.total - self.n) / self.n:.0f} s left" if self.n else ""
        return f"{_size(self.n)} of {_size(self.total)} rows ({100 * self.n / self.total:.0f}%), {seconds:.0f} s{left}"

    def _line(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # stderr closed or full: not worth failing for
            print(f"fastem: {self.description}: {text}", file=self.stream, flush=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.closed = True  # an interrupted pass: no "done" line


def _size(n: float) -> str:
    """n as tqdm shows it (1.23M); a count below 1000 as it is."""
    from tqdm.std import tqdm

    return str(n) if isinstance(n, int) and n < 1000 else tqdm.format_sizeof(n)


def bar(n_rows: int | None, description: str):
    """Progress counting rows: ``update(rows)``, ``close()``, a context manager."""
    from tqdm.auto import tqdm

    stream = sys.stderr
    chosen = _mode(stream)
    if chosen == "lines":
        return _Lines(n_rows, description, stream)
    return tqdm(total=n_rows, desc=description, unit=" rows", unit_scale=True, leave=False, dynamic_ncols=True,
                file=stream, disable=chosen == "off")


def progress_bar(chunks: Iterable[np.ndarray], n_rows: int | None, description: str) -> Iterator[np.ndarray]:
    """Yield chunks while a bar counts their rows."""
    with bar(n_rows, description) as progress:
        for chunk in chunks:
            yield chunk
            progress.update(chunk.shape[0])
