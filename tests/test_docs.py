"""The documentation's contract with the code: numpydoc docstrings for every public object
and method, docstring examples that pass as doctests, an API reference page for every
public object, and the estimators' HTML repr linking to their pages.

The public API is ``fastem.__all__``, ``fastem.sources.__all__`` and
``fastem.dask.__all__``; a class's public methods are those defined in fastem (its own
and inherited ones such as ``_BaseMixture.predict``), not scikit-learn's ``get_params``,
``set_params``, ``set_*_request`` or ``get_metadata_routing``, nor Python's (an
exception's ``add_note``).
"""

from __future__ import annotations

import doctest
import inspect
import re
import tempfile
from pathlib import Path

import pytest

import fastem
import fastem.dask
import fastem.sources

DOCS = Path(__file__).resolve().parent.parent / "docs"

PUBLIC_MODULES = (fastem, fastem.sources, fastem.dask)
NOT_OBJECTS = {"__version__"}  # in fastem.__all__, but a string: nothing to validate

# numpydoc checks left out for every object, and why. Every other check applies: a
# parameter without a description (PR01, PR07), a missing Returns (RT01) or one without
# a description (RT03), a missing Examples section (EX01) or a badly formed docstring
# (GL01-GL10) fails the test.
IGNORED = {
    "ES01": "the extended summary: short docstrings are the style here; a one-line summary "
            "and the sections say what an object does (the user guide explains the rest)",
    "SA01": "See Also sections: the API page lists every object and the user guide links "
            "them; cross-references are not required in every docstring",
}
# Checks left out for one object, and why (none today).
IGNORED_FOR: dict[tuple[str, str], str] = {}
# The Sphinx doctest builder's default flags (docs/conf.py keeps them), so that an example
# passes here exactly when it passes in `python -m sphinx -b doctest`.
DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.IGNORE_EXCEPTION_DETAIL | doctest.DONT_ACCEPT_TRUE_FOR_1


def public_objects() -> dict[str, object]:
    """Full name -> object of every public class and function, each once, by its first
    name (``fastem.Source``, not ``fastem.sources.Source``)."""
    found = {}
    for module in PUBLIC_MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if (module is fastem and name in NOT_OBJECTS) or any(obj is seen for seen in found.values()):
                continue
            found[f"{module.__name__}.{name}"] = obj
    return found


# scikit-learn's metadata-routing methods, which it generates on every estimator class
# (so that they look defined in fastem); docs/conf.py leaves them out of the API pages too.
SKLEARN_GENERATED = re.compile(r"set_\w+_request")


def _defined_in_fastem(cls: type, name: str) -> bool:
    """Whether the attribute name of cls comes from a class of fastem (not from
    scikit-learn's BaseEstimator or Python's Exception)."""
    owner = next(c for c in cls.__mro__ if name in vars(c))
    return owner.__module__.split(".")[0] == "fastem" and not SKLEARN_GENERATED.fullmatch(name)


def public_methods(name: str, cls: type) -> dict[str, object]:
    """Full name -> member of the public methods and properties fastem defines on cls."""
    members = {}
    for attribute in dir(cls):
        if attribute.startswith("_") or not _defined_in_fastem(cls, attribute):
            continue
        static = inspect.getattr_static(cls, attribute)
        if callable(getattr(cls, attribute)) or isinstance(static, property):
            members[f"{name}.{attribute}"] = getattr(cls, attribute)
    return members


def documented_names() -> list[str]:
    """Every public object and method: what numpydoc validates."""
    names = []
    for name, obj in public_objects().items():
        names.append(name)
        if inspect.isclass(obj):
            names.extend(public_methods(name, obj))
    return names


def test_the_public_api_is_what_the_tests_expect():
    objects = public_objects()
    for name, obj in objects.items():
        assert inspect.isclass(obj) or inspect.isfunction(obj), f"{name} is neither a class nor a function"
    # the methods a user of the estimators calls are all validated
    names = set(documented_names())
    for estimator in ("GaussianMixture", "BayesianGaussianMixture"):
        for method in ("fit", "fit_predict", "partial_fit", "predict", "predict_proba", "score", "score_samples",
                       "sample", "save"):
            assert f"fastem.{estimator}.{method}" in names
    assert {"fastem.GaussianMixture.bic", "fastem.GaussianMixture.aic", "fastem.GaussianMixture.n_parameters",
            "fastem.sources.CSVSource.chunks", "fastem.sources.CSVSource.count_rows"} <= names
    assert "fastem.GaussianMixture.get_params" not in names  # scikit-learn's
    assert "fastem.dask.compute_pass" not in names  # internal


@pytest.mark.parametrize("name", documented_names())
def test_numpydoc_validation(name):
    validate = pytest.importorskip("numpydoc.validate", reason="numpydoc (the docs extra) validates the docstrings")
    errors = [f"{code}: {message}" for code, message in validate.validate(name)["errors"]
              if code not in IGNORED and (name, code) not in IGNORED_FOR]
    assert not errors, f"{name}:\n  " + "\n  ".join(errors)


def test_an_undocumented_parameter_fails_the_validation():
    validate = pytest.importorskip("numpydoc.validate", reason="numpydoc (the docs extra) validates the docstrings")

    def fit(self, X, y=None, shuffle=False):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The data.
        y : None
            Ignored.

        Returns
        -------
        object
            The fitted estimator.

        Examples
        --------
        >>> 1 + 1
        2
        """

    codes = [code for code, _ in validate.validate(validate.get_doc_object(fit))["errors"]]
    assert "PR01" in codes


# ---------------------------------------------------------------------------- doctests
def _doctest_modules() -> list:
    """The modules defining the public objects and methods (fastem.mixture also holds
    the methods both estimators inherit)."""
    modules = {}
    for name, obj in public_objects().items():
        members = public_methods(name, obj).values() if inspect.isclass(obj) else ()
        for item in (obj, *members):
            module = inspect.getmodule(inspect.unwrap(getattr(item, "fget", item)))
            modules[module.__name__] = module
    return [modules[name] for name in sorted(modules)]


def _doctests() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder()
    tests = [test for module in _doctest_modules() for test in finder.find(module) if test.examples]
    return sorted(tests, key=lambda t: t.name)


DOCTESTS = _doctests()


def test_every_example_of_the_public_api_is_a_doctest():
    tested = {test.name for test in DOCTESTS}
    for name, obj in public_objects().items():
        members = public_methods(name, obj) if inspect.isclass(obj) else {}
        for full_name, item in {name: obj, **members}.items():
            if ">>>" in (inspect.getdoc(item) or ""):
                where = f"{inspect.getmodule(inspect.unwrap(item)).__name__}.{item.__qualname__}"
                assert where in tested, f"the examples of {full_name} ({where}) are not collected as a doctest"


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_examples(test, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' temporary files go here
    runner = doctest.DocTestRunner(optionflags=DOCTEST_FLAGS)
    output = []
    result = runner.run(test, out=output.append, clear_globs=True)
    assert result.failed == 0, "".join(output)


# ------------------------------------------------------------------- the API reference
def api_reference() -> dict[str, str]:
    """Full name -> page (relative to the site) of every entry of docs/api.rst's
    autosummary tables, as autosummary names them: <toctree>/<module>.<name>.html."""
    entries, module, toctree, in_table = {}, None, None, False
    for line in (DOCS / "api.rst").read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = match[1]
        elif line.startswith(".. autosummary::"):
            in_table, toctree = True, None
        elif in_table and (match := re.match(r"\s+:toctree: (\S+)", line)):
            toctree = match[1]
        elif in_table and re.match(r"\s+:\w+:", line):
            continue
        elif in_table and line.strip():
            if not line.startswith(" "):
                in_table = False
                continue
            entry = line.strip().lstrip("~")
            assert toctree, f"api.rst: {entry} is in an autosummary without :toctree:, so it has no page"
            entries[f"{module}.{entry}"] = f"{toctree}/{module}.{entry}.html"
    return entries


def test_the_api_reference_lists_every_public_object_and_nothing_else():
    listed, public = set(api_reference()), set(public_objects())
    assert listed - public == set(), "docs/api.rst lists objects that are not public"
    assert public - listed == set(), "public objects missing from docs/api.rst"


@pytest.mark.parametrize("estimator", [fastem.GaussianMixture, fastem.BayesianGaussianMixture])
def test_the_html_repr_links_to_the_estimator_api_page(estimator):
    page = api_reference()[f"fastem.{estimator.__name__}"]
    url = fastem.DOCS_URL + page
    assert estimator._doc_link_module == "fastem"
    assert estimator()._get_doc_link() == url
    assert f'href="{url}"' in estimator(n_components=2)._repr_html_()
    built = DOCS / "_build" / "html" / page
    if (DOCS / "_build" / "html" / "index.html").exists():  # a built site has the page
        assert built.exists(), f"{built} is missing from the built site"


def test_a_subclass_outside_fastem_gets_no_link():
    class Mine(fastem.GaussianMixture):
        pass

    Mine.__module__ = "my_project.models"
    assert Mine()._get_doc_link() == ""


def test_the_documentation_url_is_defined_once_and_read_the_docs_builds_this_site():
    assert fastem.DOCS_URL.startswith("https://")
    assert fastem.DOCS_URL.endswith("/")
    package = Path(fastem.__file__).parent
    assert [p.name for p in package.rglob("*.py") if fastem.DOCS_URL in p.read_text()] == ["__init__.py"]
    config = (DOCS.parent / ".readthedocs.yaml").read_text()
    assert re.search(r"^\s+configuration: docs/conf\.py$", config, re.MULTILINE)
    assert re.search(r'^\s+python: "3\.11"$', config, re.MULTILINE)
    assert re.search(r"^\s+- docs$", config, re.MULTILINE)  # pip install .[docs]
