"""Progress bars for passes over data (tqdm)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from tqdm.auto import tqdm


def progress_bar(chunks: Iterable[np.ndarray], n_rows: int | None, description: str) -> Iterator[np.ndarray]:
    """Yield chunks while a tqdm bar counts their rows (rows/s and time left)."""
    with tqdm(total=n_rows, desc=description, unit=" rows", unit_scale=True, leave=False, dynamic_ncols=True) as bar:
        for chunk in chunks:
            yield chunk
            bar.update(chunk.shape[0])
