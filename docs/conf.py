"""Sphinx configuration of fastem's documentation.

Build the site (from the repository root, with ``pip install -e '.[docs]'``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

and run the documentation's examples (the ``>>>`` blocks of the pages and docstrings)::

    python -m sphinx -b doctest docs docs/_build/doctest

The gallery runs every script of ``examples/`` with ``--quick`` (``reset_argv`` below).
Links to the documentation of Python, NumPy, SciPy, scikit-learn, Dask and pyarrow
(intersphinx) need their inventories from the web: they are on only when the environment
sets ``FASTEM_DOCS_INTERSPHINX=1``, so that the default build works offline with no
warnings.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

# Before fastem is imported: no progress bars in the build log (they go to stderr, which
# is not part of the pages).
os.environ.setdefault("FASTEM_PROGRESS", "off")

import fastem

try:  # Dask's nanny logs the gallery's cluster shutting down ("Worker process still alive"):
    import distributed  # noqa: F401  (imported here, its log handler writes to the build's stderr)

    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
except ImportError:
    pass

# -- Project -------------------------------------------------------------------------
project = "fastem"
author = "the fastem developers"
copyright = "the fastem developers, BSD 3-Clause License"
release = fastem.__version__
version = ".".join(release.split(".")[:2])

# -- General -------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "fastem_docs",  # docs/_ext: command help, the demo's output, the gallery's order
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "_generated", "README.md", "Thumbs.db", ".DS_Store",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip",
                    "auto_examples/*.codeobj.json", "auto_examples/*.md5"]
root_doc = "index"
nitpicky = True  # every cross-reference must resolve
default_role = None  # single backticks are emphasis-like "title references", never links
pygments_style = "sphinx"
toc_object_entries = False  # the right-hand "on this page" lists sections, not every method

# External names that cannot be links without intersphinx (and are harmless with it:
# intersphinx resolves them first).
_EXTERNAL = r"(numpy|np|scipy|sklearn|dask|distributed|pyarrow|pa|polars|pl|pandas|pd|h5py|zarr|fsspec|numba|tqdm)"
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL + r"(\..*)?"),
    (r"py:.*", r"(pathlib|os|io|typing|collections\.abc|concurrent\.futures|multiprocessing)\..*"),
    (r"py:class", r"(str|int|float|bool|bytes|dict|list|tuple|callable|None|object|path-like|array-like)"),
    (r"py:(exc|class)", r"(ValueError|TypeError|OSError|FileNotFoundError|UserWarning|ImportError|KeyboardInterrupt)"),
]

# -- autodoc, autosummary, numpydoc ----------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_member_order = "groupwise"
autoclass_content = "class"

# scikit-learn's metadata-routing methods (every estimator has them, with docstrings that
# cite scikit-learn's own user guide): inherited, not documented here.
SKLEARN_PLUMBING = ("get_metadata_routing", "set_fit_request", "set_partial_fit_request", "set_score_request",
                    "set_output", "set_predict_request", "set_predict_proba_request", "set_score_samples_request")
autosummary_context = {"skip_methods": SKLEARN_PLUMBING}

numpydoc_show_class_members = False  # the class template lists the methods itself
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()  # validated by numpydoc's own tool, not in the build

# -- doctest -----------------------------------------------------------------------------
doctest_global_setup = """
import numpy as np
import fastem
"""

# -- sphinx-gallery ----------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py$",  # run every example (the default runs plot_*.py only)
    "ignore_pattern": r"__init__\.py",
    "reset_argv": "fastem_docs.quick_argv",  # each example runs as `python example.py --quick`
    "within_subsection_order": "fastem_docs.ExampleOrder",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "doc_module": ("fastem",),
    "backreferences_dir": "api/generated/backreferences",
    "min_reported_time": 1,
    "show_memory": False,
    "matplotlib_animations": False,
}

# -- intersphinx (optional: needs the network) ------------------------------------------
if os.environ.get("FASTEM_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "dask": ("https://docs.dask.org/en/stable", None),
        "distributed": ("https://distributed.dask.org/en/stable", None),
        "pyarrow": ("https://arrow.apache.org/docs", None),
    }
    intersphinx_disabled_reftypes = ["std:doc"]

# -- HTML --------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastem {release}"
html_static_path = ["_static"]
html_css_files = ["fastem.css"]
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    # "on this page" everywhere but on the API pages (api/generated/*, which match none of
    # these): their methods' examples get the width of the right-hand column
    "secondary_sidebar_items": {page: ["page-toc"] for page in ("index", "getting_started", "api", "how_it_works",
                                                                 "sg_execution_times", "user_guide/*",
                                                                 "auto_examples/*")},
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting_started": [], "api": [], "how_it_works": []}
html_context = {"default_mode": "light"}


def _skip_sklearn_plumbing(app, what, name, obj, skip, options):
    """autodoc: leave out scikit-learn's metadata-routing methods (SKLEARN_PLUMBING)."""
    return True if name in SKLEARN_PLUMBING else None


# reST reads a bare word ending in "_" as a link to a target of that name, so a docstring
# that names an attribute bare ("shape (n_features_in_,)", as scikit-learn's docstrings
# often do) fails the build. After numpydoc has rendered a docstring, such underscores are
# escaped, outside inline literals, roles, bold text, doctest blocks and literal blocks.
_PROTECTED = re.compile(r"(``.+?``|:\w+:`[^`]*`|`[^`]*`_?_?|\*\*.+?\*\*)")
_TRAILING_UNDERSCORE = re.compile(r"\b([A-Za-z]\w*?)_(?=[\s,.;:)\]]|$)")


def _escape_bare_references(app, what, name, obj, options, lines):
    """autodoc (after numpydoc): escape the underscore of bare ``name_`` words in prose."""
    code_indent = None  # the indentation of the paragraph that opened a literal block
    in_doctest = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if in_doctest:
            in_doctest = bool(stripped)
            continue
        if stripped.startswith(">>>"):
            in_doctest = True
            continue
        if code_indent is not None:
            if not stripped or indent > code_indent:
                continue
            code_indent = None
        if stripped.endswith("::") or (stripped.startswith(".. ") and "::" in stripped):
            code_indent = indent  # a literal block or a directive's content follows
        parts = _PROTECTED.split(line)
        lines[i] = "".join(part if k % 2 else _TRAILING_UNDERSCORE.sub(r"\1\\_", part)
                           for k, part in enumerate(parts))


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_plumbing)
    app.connect("autodoc-process-docstring", _escape_bare_references, priority=900)
