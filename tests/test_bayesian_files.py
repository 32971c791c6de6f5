"""BayesianGaussianMixture model files (format version 3): exact round trips, warm starts
from a loaded model, and a clear ModelFileError for anything save does not write."""

import copy
import io
import json
import math
import warnings

import numpy as np
import pytest
from conftest import blobs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

import fastem
from fastem import BayesianGaussianMixture, GaussianMixture, ModelFileError, _persist
from fastem._covariance import COVARIANCE_TYPES

PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "mean_precision_",
          "degrees_of_freedom_", "mean_prior_", "covariance_prior_")
SCALARS = ("converged_", "n_iter_", "lower_bound_", "lower_bounds_", "n_features_in_", "weight_concentration_prior_",
           "mean_precision_prior_", "degrees_of_freedom_prior_")


@pytest.fixture(scope="module")
def X():
    return blobs(1500, 3, 3, np.random.default_rng(11))


def _fit(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is kept small
        return model.fit(X)


def _bgm(covariance_type="full", prior_type="dirichlet_process", **kwargs):
    return BayesianGaussianMixture(**{"n_components": 4, "covariance_type": covariance_type,
                                      "weight_concentration_prior_type": prior_type, "max_iter": 15,
                                      "random_state": 0, **kwargs})


def _same_params(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for name, value in a.items():
        if isinstance(value, np.ndarray) or isinstance(b[name], np.ndarray):
            np.testing.assert_array_equal(np.asarray(b[name]), np.asarray(value), err_msg=name)
        else:
            assert b[name] == value, name
            assert type(b[name]) is type(value), name


def _assert_same_model(again, original) -> None:
    """again is original exactly: class, parameters, attributes (and their types), the
    float64 posterior behind a float32 model."""
    assert type(again) is type(original)
    _same_params(original.get_params(), again.get_params())
    for name in FITTED:
        got, expected = getattr(again, name), getattr(original, name)
        assert np.asarray(got).dtype == np.asarray(expected).dtype, name
        assert np.ndim(got) == np.ndim(expected), name
        np.testing.assert_array_equal(got, expected, err_msg=name)
    for name in SCALARS:
        assert getattr(again, name) == getattr(original, name), name
        assert type(getattr(again, name)) is type(getattr(original, name)), name
    wc, expected = again.weight_concentration_, original.weight_concentration_
    assert isinstance(wc, tuple) is isinstance(expected, tuple)
    for got, want in zip(wc if isinstance(wc, tuple) else (wc,), expected if isinstance(expected, tuple) else
                         (expected,), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert hasattr(again, "feature_names_in_") is hasattr(original, "feature_names_in_")
    if hasattr(original, "feature_names_in_"):
        assert list(again.feature_names_in_) == list(original.feature_names_in_)
    post, want = again._fitted_posterior(), original._fitted_posterior()  # float64, for a float32 model too
    for name in ("mean_precision", "means", "covariances", "precisions_cholesky", "degrees_of_freedom"):
        got, expected = np.asarray(getattr(post, name)), np.asarray(getattr(want, name))
        assert got.dtype == expected.dtype == np.float64, name
        np.testing.assert_array_equal(got, expected, err_msg=name)


def _same_predictions(again, original, X) -> None:
    for method in ("predict", "predict_proba", "score_samples"):
        got, expected = getattr(again, method)(X), getattr(original, method)(X)
        assert got.dtype == expected.dtype, method
        assert got.tobytes() == expected.tobytes(), method  # bitwise
    assert again.score(X) == original.score(X)


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_round_trip_is_exact(X, covariance_type, prior_type, dtype, tmp_path):
    data = X.astype(dtype)
    original = _fit(_bgm(covariance_type, prior_type), data)
    assert original.means_.dtype == dtype
    path = original.save(tmp_path / "model")
    assert path == tmp_path / "model.npz"
    header, arrays = _persist.read_model(path)
    assert (header["format_version"], header["estimator"]) == (3, "BayesianGaussianMixture")
    assert all(a.dtype == np.float64 for a in arrays.values())  # float64 also for a float32 model
    again = fastem.load(path)
    _assert_same_model(again, original)
    _same_predictions(again, original, data)
    _same_predictions(again, original, X)  # float64 rows on a float32 model too


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("covariance_type", "prior_type"), [
    ("full", "dirichlet_process"), ("tied", "dirichlet_distribution"), ("diag", "dirichlet_process"),
    ("spherical", "dirichlet_distribution")])
def test_warm_start_from_a_loaded_model_continues_as_from_the_original(X, covariance_type, prior_type, dtype,
                                                                       tmp_path):
    data = X.astype(dtype)
    original = _fit(_bgm(covariance_type, prior_type, max_iter=4, tol=0.0, warm_start=True), data)
    again = fastem.load(original.save(tmp_path / "m.npz"))
    _fit(original, data)
    _fit(again, data)
    assert original.n_iter_ == again.n_iter_ == 4
    _assert_same_model(again, original)
    _same_predictions(again, original, data)


def test_array_and_number_priors_are_kept(X, tmp_path):
    """mean_prior and covariance_prior given as arrays are the arrays param_*; a spherical
    covariance_prior is a number in the header's params."""
    cases = [
        _bgm("full", mean_prior=[0.5, -1.0, 2.0], covariance_prior=2.0 * np.eye(3), degrees_of_freedom_prior=4.5,
             weight_concentration_prior=0.05, mean_precision_prior=0.3),
        _bgm("tied", covariance_prior=np.diag([1.0, 2.0, 3.0])),
        _bgm("diag", prior_type="dirichlet_distribution", covariance_prior=np.array([1.0, 2.0, 0.5])),
        _bgm("spherical", covariance_prior=1.5, mean_prior=np.zeros(3, dtype=np.float32)),
    ]
    for original in cases:
        _fit(original, X)
        path = original.save(tmp_path / "m.npz")
        header, arrays = _persist.read_model(path)
        for name, array in _persist.PARAM_ARRAYS.items():
            given = original.get_params()[name]
            is_array = given is not None and not isinstance(given, float)
            assert (array in arrays) is is_array
            assert (name in header["params"]) is not is_array
        again = fastem.load(path)
        _assert_same_model(again, original)
        _same_predictions(again, original, X)
    assert fastem.load(path).covariance_prior == 1.5


def test_feature_names_are_kept(X, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    original = _fit(_bgm("diag"), frame)
    again = fastem.load(original.save(tmp_path / "m.npz"))
    assert list(again.feature_names_in_) == ["a", "b", "c"]
    _same_predictions(again, original, frame)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        again.predict(frame[["b", "a", "c"]])


def test_an_unfitted_and_an_unconverged_model(X, tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        _bgm().save(tmp_path / "m.npz")
    original = _fit(_bgm(max_iter=0), X)  # the initial posterior, lower bound -inf
    again = fastem.load(original.save(tmp_path / "m.npz"))
    assert again.lower_bound_ == -math.inf
    _assert_same_model(again, original)
    _same_predictions(again, original, X)


def test_gaussian_mixture_files_name_their_estimator_and_version_2_still_loads(X, tmp_path):
    gm = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    header, arrays = _persist.read_model(gm.save(tmp_path / "m.npz"))
    assert (header["format_version"], header["estimator"]) == (3, "GaussianMixture")
    old = {k: v for k, v in header.items() if k not in ("sha256", "estimator")} | {"format_version": 2}
    _persist.write_archive(tmp_path / "v2.npz", old, arrays)
    again = fastem.load(tmp_path / "v2.npz")
    assert type(again) is GaussianMixture
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(again, name), getattr(gm, name))
    np.testing.assert_array_equal(again.predict_proba(X), gm.predict_proba(X))
    _persist.write_archive(tmp_path / "v2e.npz", old | {"estimator": "GaussianMixture"}, arrays)
    with pytest.raises(ModelFileError, match="the model header has an unknown entry 'estimator'"):
        fastem.load(tmp_path / "v2e.npz")  # version 2 had no estimator


# ---------------------------------------------------------------------- tampered files
def _contents(path):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(arrays.pop("header").tobytes()), arrays


def _write(path, header, arrays):
    """A model file of header and arrays, the checksums recomputed (anyone can)."""
    header = dict(header, sha256={name: _persist._digest(a) for name, a in arrays.items()})
    np.savez(path, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    return path


@pytest.fixture(scope="module")
def saved(X, tmp_path_factory):
    """covariance_type -> (model, header, arrays) of a K = 4, D = 3 file: full and diag
    dirichlet_process, tied and spherical dirichlet_distribution."""
    folder, out = tmp_path_factory.mktemp("bayesian_files"), {}
    for covariance_type, prior_type in (("full", "dirichlet_process"), ("tied", "dirichlet_distribution"),
                                        ("diag", "dirichlet_process"), ("spherical", "dirichlet_distribution")):
        model = _fit(_bgm(covariance_type, prior_type), X)
        out[covariance_type] = (model, *_contents(model.save(folder / f"{covariance_type}.npz")))
    return out


def _tampered(saved, covariance_type, change, tmp_path):
    _, header, arrays = saved[covariance_type]
    header = json.loads(json.dumps(header))
    arrays = {name: a.copy() for name, a in arrays.items()}
    change(header, arrays)
    return _write(tmp_path / "bad.npz", header, arrays)


def _set(name, index, value):
    def change(header, arrays):
        arrays[name][index] = value
    return change


def _array(name, value):
    def change(header, arrays):
        if value is None:
            del arrays[name]
        else:
            arrays[name] = np.asarray(value, dtype=np.float64) if not isinstance(value, np.ndarray) else value
    return change


def _entry(part, name, value):
    def change(header, arrays):
        target = header if part is None else header[part]
        if value is KeyError:
            del target[name]
        else:
            target[name] = value
    return change


def _negate(name, index):
    def change(header, arrays):
        arrays[name][index] = -arrays[name][index]
    return change


TAMPERED = [
    # shapes
    ("full", _array("means", np.zeros((5, 3))), (r"array 'means' has shape \(5, 3\), expected \(4, 3\) \(K = "
                                                r"n_components = 4, D = n_features_in_ = 3\)")),
    ("full", _array("covariances", np.zeros((4, 3))), r"array 'covariances' has shape \(4, 3\), expected \(4, 3, 3\)"),
    ("diag", _array("mean_precision", np.ones(3)), r"array 'mean_precision' has shape \(3,\), expected \(4,\)"),
    ("tied", _array("degrees_of_freedom", np.full(4, 50.0)), (r"array 'degrees_of_freedom' has shape \(4,\), "
                                                             r"expected \(1,\) \(one value for covariance_type 'tied'")),
    ("full", _array("weight_concentration_b", np.ones(5)), (r"array 'weight_concentration_b' has shape \(5,\), expected "
                                                           r"\(4,\) \(weight_concentration_prior_type "
                                                           r"'dirichlet_process'")),
    ("full", _array("mean_prior_", np.zeros(4)), r"array 'mean_prior_' has shape \(4,\), expected \(3,\)"),
    ("diag", _array("covariance_prior_", np.ones((3, 3))), (r"array 'covariance_prior_' has shape \(3, 3\), expected "
                                                           r"\(3,\) \(covariance_type 'diag'")),
    ("full", _entry("params", "n_components", 5), r"array 'means' has shape \(4, 3\), expected \(5, 3\)"),
    ("full", _entry("attributes", "n_features_in_", 2), r"array 'means' has shape \(4, 3\), expected \(4, 2\)"),
    # values
    ("full", _set("mean_precision", 1, np.nan), (r"array 'mean_precision' holds nan at index \(1,\): every entry must "
                                                r"be finite")),
    ("diag", _set("means", (2, 1), np.inf), r"array 'means' holds inf at index \(2, 1\)"),
    ("full", _set("mean_precision", 0, -1.0), (r"array 'mean_precision' holds -1.0 at index \(0,\): every entry must "
                                              r"be > 0")),
    ("spherical", _set("mean_precision", 3, 0.0), r"array 'mean_precision' holds 0.0 at index \(3,\)"),
    ("full", _set("degrees_of_freedom", 2, 2.0), (r"array 'degrees_of_freedom' holds 2.0 at index \(2,\): every entry "
                                                 r"must be > D - 1 = 2")),
    ("tied", _set("degrees_of_freedom", 0, 1.5), (r"array 'degrees_of_freedom' holds 1.5 at index \(0,\): every entry "
                                                 r"must be > D - 1 = 2")),
    ("full", _set("weight_concentration_a", 0, 0.0), (r"array 'weight_concentration_a' holds 0.0 at index \(0,\): "
                                                     r"every entry must be > 0")),
    ("tied", _set("weight_concentration", 3, -0.5), r"array 'weight_concentration' holds -0.5 at index \(3,\)"),
    ("full", _negate("covariances", 1), r"covariance 1 is not positive definite: its diagonal holds"),
    ("tied", _set("covariances", (0, 1), 1e3), r"covariance is not symmetric"),
    ("full", _set("precisions_cholesky", (2, 0, 1), 5.0), r"precisions_cholesky 2 does not match covariance 2"),
    ("diag", _set("covariances", (0, 0), -1.0), (r"array 'covariances' holds -1.0 at index \(0, 0\): every entry must "
                                                r"be > 0")),
    ("spherical", _set("precisions_cholesky", 1, 1e3), (r"precisions_cholesky does not match covariances at index "
                                                       r"\(1,\)")),
    ("full", _array("covariance_prior_", -np.eye(3)), (r"array 'covariance_prior_' is not positive semi-definite: its "
                                                      r"smallest eigenvalue is -1")),
    ("tied", _set("covariance_prior_", (0, 2), 7.0), r"array 'covariance_prior_' is not symmetric"),
    ("diag", _set("covariance_prior_", 1, -0.1), (r"array 'covariance_prior_' holds -0.1 at index \(1,\): every entry "
                                                 r"must be >= 0")),
    ("full", _set("mean_prior_", 0, np.nan), r"array 'mean_prior_' holds nan at index \(0,\)"),
    ("full", _array("means", np.zeros((4, 3), dtype=np.float32)), r"array 'means' has dtype float32, expected float64"),
    ("full", _set("weight_concentration_a", 0, 1e-320),
     r"the posterior gives component 0 a non-finite log-normaliser -inf"),
    # the arrays there
    ("full", _array("notes", np.zeros(2)), (r"the file holds an unknown array 'notes' \(a BayesianGaussianMixture file "
                                           r"of covariance_type 'full' and weight_concentration_prior_type "
                                           r"'dirichlet_process' holds means, covariances")),
    ("diag", _array("weights", np.full(4, 0.25)), r"the file holds an unknown array 'weights'"),
    ("spherical", _array("covariance_prior_", np.ones(3)), r"the file holds an unknown array 'covariance_prior_'"),
    ("full", _array("mean_precision", None), r"the model is incomplete: array 'mean_precision' is missing"),
    ("tied", _array("covariance_prior_", None), r"array 'covariance_prior_' is missing"),
    ("full", _entry("params", "weight_concentration_prior_type", "dirichlet_distribution"),
     r"unknown array 'weight_concentration_a'.*weight_concentration_prior_type 'dirichlet_distribution'"),
    ("full", _entry("params", "covariance_type", "diag"), (r"array 'covariances' has shape \(4, 3, 3\), expected "
                                                          r"\(4, 3\)")),
    ("spherical", _entry("params", "covariance_type", "diag"), (r"the model's 'attributes' has an unknown entry "
                                                               r"'covariance_prior_'")),
    # the header
    ("full", _entry(None, "extra", 1), r"the model header has an unknown entry 'extra'"),
    ("full", _entry(None, "estimator", KeyError), (r"the model header has no 'estimator' \(format version 3 names the "
                                                  r"estimator")),
    ("full", _entry(None, "estimator", "DPGMM"), (r"the model header's 'estimator' must be 'GaussianMixture' or "
                                                 r"'BayesianGaussianMixture', got str 'DPGMM'")),
    ("full", _entry(None, "estimator", 3), (r"'estimator' must be 'GaussianMixture' or 'BayesianGaussianMixture', got "
                                           r"int 3")),
    ("full", _entry(None, "estimator", ["BayesianGaussianMixture"]), r"'estimator' must be .*, got list"),
    ("full", _entry(None, "estimator", "GaussianMixture"), r"the model is incomplete: array 'weights' is missing"),
    ("full", _entry(None, "format_version", 2), r"the model header has an unknown entry 'estimator'"),
    ("full", _entry(None, "fastem_version", 1), r"'fastem_version' must be a string"),
    # the parameters
    ("full", _entry("params", "colour", "red"), r"the model's 'params' has an unknown entry 'colour'"),
    ("full", _entry("params", "tol", KeyError), r"the model's 'params' has no 'tol'"),
    ("full", _entry("params", "weights_init", None), r"the model's 'params' has an unknown entry 'weights_init'"),
    ("full", _entry("params", "weight_concentration_prior_type", "uniform"),
     (r"the model's parameters are not valid: The 'weight_concentration_prior_type' parameter of "
     r"BayesianGaussianMixture must be a str among")),
    ("full", _entry("params", "weight_concentration_prior", -1.0), r"The 'weight_concentration_prior' parameter"),
    ("full", _entry("params", "reg_covar", 10**400), r"the parameter 'reg_covar' holds an int too large for a float"),
    ("full", _entry("params", "random_state", "seed"), r"'random_state' must be None or an int in \[0, 2\*\*32\)"),
    ("full", _entry("params", "mean_prior", [0.0, 0.0, 0.0]), (r"the parameter 'mean_prior' must be null in the "
                                                              r"model's 'params' \(an array mean_prior is the array "
                                                              r"'param_mean_prior'\), got list")),
    ("full", _entry("params", "covariance_prior", [[1.0]]), (r"the parameter 'covariance_prior' must be null or a "
                                                            r"number")),
    ("full", lambda h, a: a.update(param_mean_prior=np.zeros(3)), (r"the parameter 'mean_prior' is both in the "
                                                                   r"model's 'params' and the array "
                                                                   r"'param_mean_prior'")),
    ("full", lambda h, a: (h["params"].pop("mean_prior"), a.update(param_mean_prior=np.zeros(2))),
     r"array 'param_mean_prior' has shape \(2,\), expected \(3,\)"),
    ("full", lambda h, a: (h["params"].pop("mean_prior"), a.update(param_mean_prior=np.array([0.0, np.nan, 0.0]))),
     r"array 'param_mean_prior' holds nan at index \(1,\)"),
    ("spherical", lambda h, a: (h["params"].pop("covariance_prior"), a.update(param_covariance_prior=np.ones(4))),
     r"the file holds an array 'param_covariance_prior', but a spherical covariance_prior is a number"),
    # the attributes
    ("full", _entry("attributes", "degrees_of_freedom_prior_", KeyError),
     r"the model's 'attributes' has no 'degrees_of_freedom_prior_'"),
    ("full", _entry("attributes", "covariance_prior_", 1.0), (r"the model's 'attributes' has an unknown entry "
                                                             r"'covariance_prior_'")),
    ("full", _entry("attributes", "degrees_of_freedom_prior_", 1.0), (r"'degrees_of_freedom_prior_' must be a finite "
                                                                     r"float > n_features_in_ - 1, got float 1.0")),
    ("full", _entry("attributes", "weight_concentration_prior_", -0.25), (r"'weight_concentration_prior_' must be a "
                                                                         r"finite float > 0, got float -0.25")),
    ("tied", _entry("attributes", "mean_precision_prior_", 1), (r"'mean_precision_prior_' must be a finite float > 0, "
                                                               r"got int 1")),
    ("spherical", _entry("attributes", "covariance_prior_", -1.0), r"'covariance_prior_' must be a finite float >= 0"),
    ("spherical", _entry("attributes", "covariance_prior_", KeyError), r"has no 'covariance_prior_'"),
    ("full", _entry("attributes", "n_iter_", -1), r"'n_iter_' must be an int >= 0, got int -1"),
    ("full", _entry("attributes", "dtype", "float16"), r"'dtype' must be 'float32' or 'float64'"),
    ("full", _entry("attributes", "lower_bound_", math.nan), r"'lower_bound_' must be a float \(not NaN or \+inf\)"),
]


@pytest.mark.parametrize(("covariance_type", "change", "match"), TAMPERED,
                         ids=[f"{i}-{match[:40]}" for i, (_, _, match) in enumerate(TAMPERED)])
def test_a_tampered_file_is_a_model_file_error_that_says_what_is_wrong(saved, covariance_type, change, match,
                                                                       tmp_path):
    path = _tampered(saved, covariance_type, change, tmp_path)
    with pytest.raises(ModelFileError, match=match) as error:
        fastem.load(path)
    assert str(error.value).startswith(f"{path}")  # and names the file


def test_the_untampered_copy_loads(saved, tmp_path):
    """_tampered without a change: the file loads as the model (the tampering tests fail for their change)."""
    for covariance_type, (model, _, _) in saved.items():
        again = fastem.load(_tampered(saved, covariance_type, lambda h, a: None, tmp_path))
        _assert_same_model(again, model)


def test_a_singular_prior_covariance_as_fit_makes_it_loads(tmp_path):
    """The default covariance_prior is the data's covariance: singular for a constant
    column. fit accepts it, so load does (positive semi-definite)."""
    X = blobs(600, 3, 2, np.random.default_rng(2))
    X[:, 2] = 1.0
    for covariance_type in ("full", "diag"):
        original = _fit(_bgm(covariance_type, n_components=2), X)
        prior = original.covariance_prior_  # (3,) diag, (3, 3) full
        assert np.min(prior if covariance_type == "diag" else np.linalg.eigvalsh(prior)) <= 1e-12  # singular
        again = fastem.load(original.save(tmp_path / "m.npz"))
        _assert_same_model(again, original)


# ---------------------------------------------------------------------- fuzzed files
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.just(10**400), st.floats(),
                 st.sampled_from(["full", "tied", "diag", "spherical", "dirichlet_process", "dirichlet_distribution",
                                  "GaussianMixture", "BayesianGaussianMixture"]),
                 st.lists(st.floats(-2, 2), max_size=3), st.just({}))
# not 1e300: a mean that far loads, but the distances of rows near the other components
# overflow, which predict reports as a ValueError (as for a GaussianMixture)
ENTRY_VALUES = [math.nan, math.inf, -math.inf, -1.0, 0.0, 1e-3, 0.5, 2.0, 1e30, 1e-300]


@st.composite
def _mutated(draw, originals):
    model, header, arrays = draw(st.sampled_from(originals))
    header, arrays = json.loads(json.dumps(header)), dict(arrays)
    if draw(st.booleans()):
        part = draw(st.sampled_from([None, "params", "attributes"]))
        target = header if part is None else header[part]
        key = draw(st.sampled_from(sorted(target)))
        if draw(st.integers(0, 3)) == 0:
            del target[key]
        else:
            target[key] = draw(JUNK)
    else:
        name = draw(st.sampled_from(sorted(arrays)))
        a = arrays[name]
        action = draw(st.sampled_from(["shape", "dtype", "entry", "entry", "entry", "drop", "extra", "swap"]))
        if action == "shape":
            arrays[name] = np.resize(a, tuple(draw(st.lists(st.integers(0, 5), max_size=3))))
        elif action == "dtype":
            arrays[name] = a.astype(draw(st.sampled_from([np.float32, np.int64, ">f8", np.complex128])))
        elif action == "entry" and a.size:
            a = a.copy()
            a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from(ENTRY_VALUES))
            arrays[name] = a
        elif action == "drop":
            del arrays[name]
        elif action == "extra":
            extra = draw(st.sampled_from(["weights", "param_mean_prior", "param_covariance_prior", "weight_concentration",
                                          "weight_concentration_a", "covariance_prior_", "notes"]))
            arrays[extra] = draw(st.sampled_from([np.zeros(3), np.eye(3), np.ones(4), a]))
        elif action == "swap":
            other = draw(st.sampled_from(sorted(arrays)))
            arrays[name], arrays[other] = arrays[other], a
    buffer = io.BytesIO()
    header["sha256"] = {n: _persist._digest(v) for n, v in arrays.items()}
    np.savez(buffer, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    return model, buffer.getvalue()


def _usable(model) -> None:
    """Probabilities that sum to one, labels of its components, finite densities, on rows
    near its means (a mutated model may have means far from the data)."""
    k, d = model.means_.shape
    X = model.means_[np.arange(12) % k] + np.random.default_rng(0).normal(size=(12, d))
    with np.errstate(all="ignore"):
        proba = model.predict_proba(X)
    assert proba.shape == (len(X), k)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    labels = model.predict(X)
    assert 0 <= labels.min() <= labels.max() < k
    assert np.all(np.isfinite(model.score_samples(X)))


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_bayesian_files_load_as_a_usable_model_or_fail_clearly(saved, tmp_path_factory, data):
    """A mutated file (a header entry, an array's shape, dtype or entry, a missing, extra
    or swapped array; checksums recomputed) is a ModelFileError, or loads as a usable
    mixture (the mutation left a valid model); never another exception."""
    _, raw = data.draw(_mutated([saved[name] for name in sorted(saved)]))
    path = tmp_path_factory.getbasetemp() / "fuzzed_bayesian.npz"
    path.write_bytes(raw)
    try:
        again = fastem.load(path)
    except ModelFileError:
        return
    _usable(again)
    if isinstance(again, BayesianGaussianMixture):
        copy.deepcopy(again)  # a whole estimator


def test_a_file_written_before_the_missing_parameter_loads_with_its_default(saved, tmp_path):
    model, _, _ = saved["full"]
    path = _tampered(saved, "full", _entry("params", "missing", KeyError), tmp_path)
    again = fastem.load(path)
    assert again.missing == "error"
    assert again.get_params() == model.get_params()
