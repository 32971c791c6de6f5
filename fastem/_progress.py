"""Progress bars for passes over data (tqdm)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from tqdm.auto import tqdm


def bar(n_rows: int | None, description: str) -> tqdm:
    """A tqdm bar counting rows (rows/s and time left), gone when closed."""
    return tqdm(total=n_rows, desc=description, unit=" rows", unit_scale=True, leave=False, dynamic_ncols=True)


def progress_bar(chunks: Iterable[np.ndarray], n_rows: int | None, description: str) -> Iterator[np.ndarray]:
    """Yield chunks while a bar counts their rows."""
    with bar(n_rows, description) as progress:
        for chunk in chunks:
            yield chunk
            progress.update(chunk.shape[0])
