"""fastem: Gaussian mixtures by EM on fused, parallel Numba kernels."""

from importlib import metadata as _metadata

from . import _threads  # noqa: F401  (first: chooses Numba's threading layer before any parallel call)

# Where the documentation (docs/, built by Sphinx; .readthedocs.yaml) is published: the
# estimators' HTML repr links to their API pages under it (_doc_link_template).
DOCS_URL = "https://fastem.readthedocs.io/en/latest/"

from ._engine import CollapseWarning
from ._load import load
from ._persist import ModelFileError
from ._warmup import compile_kernels
from .bayesian import BayesianGaussianMixture
from .mixture import GaussianMixture, InvalidParameterError
from .sources import Source, source

try:  # the version is set in one place, pyproject.toml, and read from the installed metadata
    __version__ = _metadata.version("fastem")
except _metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"

__all__ = ["BayesianGaussianMixture", "CollapseWarning", "GaussianMixture", "InvalidParameterError", "ModelFileError", "Source", "__version__", "compile_kernels", "load",
           "source"]
