"""fastem: Gaussian mixtures by EM on fused, parallel Numba kernels."""

from . import _threads  # noqa: F401  (first: chooses Numba's threading layer before any parallel call)

# Where the documentation (docs/, built by Sphinx; .readthedocs.yaml) is published: the
# estimators' HTML repr links to their API pages under it (_doc_link_template).
DOCS_URL = "https://fastem.readthedocs.io/en/latest/"

from ._engine import CollapseWarning
from ._load import load
from ._persist import ModelFileError
from .bayesian import BayesianGaussianMixture
from .mixture import GaussianMixture, InvalidParameterError
from .sources import Source, source

__version__ = "0.1.0"

__all__ = ["BayesianGaussianMixture", "CollapseWarning", "GaussianMixture", "InvalidParameterError", "ModelFileError", "Source", "__version__", "load", "source"]
