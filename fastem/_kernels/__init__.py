"""Numba kernels: arrays in, preallocated outputs passed in; no validation here."""

from ._options import DIAG, FULL, TIED, block_rows
from .drivers import em_accumulate, first_nonfinite, resp_accumulate, score
from .kmeans import lloyd_accumulate

__all__ = [
    "DIAG",
    "FULL",
    "TIED",
    "block_rows",
    "em_accumulate",
    "first_nonfinite",
    "lloyd_accumulate",
    "resp_accumulate",
    "score",
]
