"""fastem: Gaussian mixtures by EM on fused, parallel Numba kernels."""

from .mixture import GaussianMixture, InvalidParameterError
from .sources import Source, source

__version__ = "0.1.0"

__all__ = ["GaussianMixture", "InvalidParameterError", "Source", "__version__", "source"]
