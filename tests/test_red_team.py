"""The red team's catalogue: fastem attacked as a hostile user would attack it.

Every case asserts the right outcome, decided case by case: a correct model (checked
against scikit-learn or an obvious reference where there is one) or a clear error whose
type and message say what is wrong and where. Never a traceback from inside Numba or a
library, NaN parameters, a hang or a silently wrong model. A case that fails here is a
defect of fastem, not of the test (see the red team's report); none is skipped or xfailed.

Sections: numerics, in-memory inputs, streams and callables, files, model files,
processes, Dask (synchronous scheduler), constructor parameters, the command line.
Data are a few hundred rows so that the whole file runs in well under a minute.
"""

import os
import pickle
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from conftest import blobs, unit_precisions
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import fastem
from fastem import CollapseWarning, GaussianMixture, InvalidParameterError, ModelFileError

# Convergence and collapse warnings are expected on hostile data; anything else (a numpy
# RuntimeWarning from an overflow, say) still fails the test, as the project's config says.
pytestmark = [pytest.mark.filterwarnings("ignore", category=ConvergenceWarning),
              pytest.mark.filterwarnings("ignore", category=CollapseWarning)]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


@pytest.fixture(scope="module")
def X():
    return blobs(300, 3, 2, np.random.default_rng(0))


@pytest.fixture(scope="module")
def X2():
    return blobs(400, 2, 2, np.random.default_rng(3))


@pytest.fixture(scope="module")
def ref(X):
    """The reference model: GaussianMixture(2, random_state=0) on X."""
    return GaussianMixture(2, random_state=0).fit(X)


def assert_finite(gm):
    for name in ATTRIBUTES:
        assert np.all(np.isfinite(getattr(gm, name))), name


def assert_same_model(a, b, rtol=1e-9, atol=1e-12):
    for name in ATTRIBUTES:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol, atol=atol, err_msg=name)
    assert a.lower_bound_ == pytest.approx(b.lower_bound_, rel=rtol, abs=atol)


def sk_init(covariance_type, X, k=2):
    """Fixed initial parameters (the first k rows) for fastem and scikit-learn alike."""
    return {"means_init": X[:k], "weights_init": np.full(k, 1 / k), "covariance_type": covariance_type,
            "precisions_init": unit_precisions(covariance_type, k, X.shape[1])}


def sk_fit(init, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SkGaussianMixture(len(init["weights_init"]), **init, **kwargs).fit(X)


# =========================================================================== numerics
@pytest.mark.parametrize("scale", [1e-12, 1e-20, 1e-300, 1e305, 1e306])
def test_weights_of_any_scale_give_the_unweighted_model(X2, scale):
    """docs/user_guide/reliability.rst: multiplying every weight by a constant changes nothing. The 1e-6 regulariser
    eps added to soft counts must not swamp tiny weights, and the total of huge weights
    must not overflow to inf."""
    reference = GaussianMixture(2, random_state=0).fit(X2)
    weighted = GaussianMixture(2, random_state=0).fit(X2, sample_weight=np.full(len(X2), scale))
    assert_same_model(weighted, reference, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weights_equal_removing_the_rows(X2, covariance_type):
    w = np.ones(len(X2))
    w[1::3] = 0.0  # rows 0 and 2 (means_init below) keep their weight
    init = sk_init(covariance_type, X2)
    weighted = GaussianMixture(2, **init, max_iter=20, tol=0.0).fit(X2, sample_weight=w)
    removed = GaussianMixture(2, **init, max_iter=20, tol=0.0).fit(X2[w > 0])
    assert_same_model(weighted, removed, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(X2, covariance_type):
    w = np.random.default_rng(0).integers(1, 4, len(X2))
    init = sk_init(covariance_type, X2)
    weighted = GaussianMixture(2, **init, max_iter=20, tol=0.0).fit(X2, sample_weight=w)
    repeated = GaussianMixture(2, **init, max_iter=20, tol=0.0).fit(np.repeat(X2, w, axis=0))
    assert_same_model(weighted, repeated, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n_components", [1, 2])
def test_all_weight_on_one_row(X, n_components):
    """Only one row counts: every component sits on it, finite (reg_covar)."""
    w = np.zeros(len(X))
    w[5] = 1.0
    gm = GaussianMixture(n_components, random_state=0).fit(X, sample_weight=w)
    assert_finite(gm)
    np.testing.assert_allclose(gm.means_, np.tile(X[5], (n_components, 1)), rtol=1e-9)


def test_one_huge_weight_pulls_the_mean_to_its_row(X):
    w = np.ones(len(X))
    w[7] = 1e12
    gm = GaussianMixture(1).fit(X, sample_weight=w)
    np.testing.assert_allclose(gm.means_[0], np.average(X, axis=0, weights=w), rtol=1e-10)
    assert_finite(gm)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_huge_reg_covar_matches_sklearn(X2, covariance_type):
    init = sk_init(covariance_type, X2)
    fe = GaussianMixture(2, **init, max_iter=5, reg_covar=1e6).fit(X2)
    sk = sk_fit(init, X2, max_iter=5, reg_covar=1e6)
    assert_same_model(fe, sk, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_max_iter_one_matches_sklearn(X2, covariance_type):
    init = sk_init(covariance_type, X2)
    fe = GaussianMixture(2, **init, max_iter=1).fit(X2)
    sk = sk_fit(init, X2, max_iter=1)
    assert_same_model(fe, sk, rtol=1e-7, atol=1e-12)
    assert (fe.n_iter_, fe.converged_) == (sk.n_iter_, sk.converged_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_max_iter_zero_keeps_the_initial_model(X2, covariance_type):
    init = sk_init(covariance_type, X2)
    gm = GaussianMixture(2, **init, max_iter=0).fit(X2)
    np.testing.assert_array_equal(gm.means_, X2[:2])
    np.testing.assert_allclose(gm.weights_, [0.5, 0.5])
    np.testing.assert_allclose(gm.precisions_, init["precisions_init"], rtol=1e-12)
    assert (gm.n_iter_, gm.converged_) == (0, False)
    assert gm.predict(X2).shape == (len(X2),)


def test_tol_zero_runs_every_iteration_like_sklearn(X2):
    init = sk_init("full", X2)
    fe = GaussianMixture(2, **init, max_iter=30, tol=0.0).fit(X2)
    sk = sk_fit(init, X2, max_iter=30, tol=0.0)
    assert fe.n_iter_ == sk.n_iter_ == 30
    assert_same_model(fe, sk, rtol=1e-7, atol=1e-10)


def test_k_equals_n():
    Y = np.random.default_rng(5).normal(size=(5, 2))
    gm = GaussianMixture(5, random_state=0).fit(Y)
    assert_finite(gm)
    np.testing.assert_allclose(np.sort(gm.weights_), np.full(5, 0.2), atol=1e-6)


def test_k_close_to_n_in_one_dimension_matches_sklearn():
    Y = np.random.default_rng(1).normal(size=(8, 1))
    init = {"means_init": Y[:6], "weights_init": np.full(6, 1 / 6), "precisions_init": np.ones((6, 1, 1))}
    fe = GaussianMixture(6, **init, max_iter=10, on_collapse="ignore").fit(Y)
    sk = sk_fit(init, Y, max_iter=10)
    assert_same_model(fe, sk, rtol=1e-7, atol=1e-10)


def test_many_features_few_rows_matches_sklearn():
    Y = np.random.default_rng(2).normal(size=(30, 60))
    init = {"means_init": Y[:2], "weights_init": [0.5, 0.5], "precisions_init": np.stack([np.eye(60)] * 2)}
    fe = GaussianMixture(2, **init, max_iter=5).fit(Y)
    sk = sk_fit(init, Y, max_iter=5)
    # rank-deficient covariances (30 rows < 60 features) + reg_covar: their inverses, the
    # precisions, are defined only to cond * eps, so compare what is well conditioned
    np.testing.assert_allclose(fe.means_, sk.means_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fe.covariances_, sk.covariances_, rtol=1e-7, atol=1e-9)
    assert fe.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-7)


@pytest.mark.parametrize(("covariance_type", "offset"), [("full", 1e12), ("diag", 1e12), ("diag", 1e17)])
def test_a_few_far_outlier_rows_fit_as_sklearn_does(X2, covariance_type, offset):
    """Three rows moved by 1e12 (or 1e17) in one column: scikit-learn fits them as a
    component of their own; fastem raised "ill-defined empirical covariance" (the
    initial statistics are taken around one centre for all components, and the bulk's
    variance cancels away at that distance)."""
    Y = X2.copy()
    Y[:3, 0] += offset
    fe = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(Y)
    sk = SkGaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(Y)
    assert_finite(fe)
    np.testing.assert_allclose(np.sort(fe.means_[:, 0]), np.sort(sk.means_[:, 0]), rtol=1e-6)


@pytest.mark.parametrize("data", ["constant", "more_features_than_rows"])
def test_reg_covar_zero_on_singular_data_is_a_clear_error(data):
    Y = np.ones((10, 2)) if data == "constant" else np.random.default_rng(2).normal(size=(20, 50))
    with pytest.raises(ValueError, match=r"ill-defined empirical covariance.*increase reg_covar"):
        GaussianMixture(1 if data == "constant" else 2, reg_covar=0.0, random_state=0).fit(Y)


def test_near_singular_columns_stay_positive_definite():
    rng = np.random.default_rng(4)
    t = rng.normal(size=300)
    Y = np.c_[t, t + 1e-9 * rng.normal(size=300), rng.normal(size=300)]
    gm = GaussianMixture(2, random_state=0).fit(Y)
    assert_finite(gm)
    assert np.linalg.eigvalsh(gm.covariances_).min() >= 1e-6 * (1 - 1e-6)  # reg_covar at least


def test_negative_zero_is_zero(X2):
    a, b = X2.copy(), X2.copy()
    a[:, 0] = np.where(np.arange(len(X2)) % 2, -0.0, 0.0)
    b[:, 0] = 0.0
    assert_same_model(GaussianMixture(2, random_state=0).fit(a), GaussianMixture(2, random_state=0).fit(b), 0, 0)


@pytest.mark.parametrize("dtype", [np.float16, np.int8, np.uint64, "uint64_top_bit", bool, ">f8", np.longdouble])
def test_small_and_odd_dtypes_fit_as_their_float64_values(X2, dtype):
    if dtype == "uint64_top_bit":  # values >= 2**63, beyond int64
        Y = (np.abs(X2) * 10).astype(np.uint64) + np.uint64(2**63)
    elif dtype is bool:
        Y = X2 > 0
    else:
        Y = (np.abs(X2) * 10).astype(dtype) if np.dtype(dtype).kind in "iu" else X2.astype(dtype)
    fe = GaussianMixture(2, random_state=0).fit(Y)
    assert_same_model(fe, GaussianMixture(2, random_state=0).fit(Y.astype(np.float64)), 0, 0)


def test_subnormal_data_fits_with_reg_covar_as_its_variance(X2):
    """Data of 1e-310: their squares underflow, so the variances are reg_covar; finite."""
    Y = X2 * 1e-310
    gm = GaussianMixture(2, random_state=0).fit(Y)
    assert_finite(gm)
    assert np.all((gm.means_ >= Y.min(axis=0)) & (gm.means_ <= Y.max(axis=0)))
    np.testing.assert_allclose(gm.covariances_, np.stack([1e-6 * np.eye(2)] * 2), rtol=1e-9, atol=1e-300)


def test_subnormal_data_without_reg_covar_is_a_clear_error(X2):
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(2, reg_covar=0.0, random_state=0).fit(X2 * 1e-310)


def test_tiny_scale_1e_150_with_matching_reg_covar(X2):
    s = 1e-150
    tiny = GaussianMixture(2, random_state=0, reg_covar=1e-6 * s * s).fit(X2 * s)
    unit = GaussianMixture(2, random_state=0).fit(X2)
    np.testing.assert_allclose(tiny.means_ / s, unit.means_, rtol=1e-9)


def test_one_value_at_float_max_is_the_overflow_error(X2):
    Y = X2.copy()
    Y[0, 0] = np.finfo(np.float64).max
    with pytest.raises(ValueError, match="squared scale of the data overflows float64"):
        GaussianMixture(2, random_state=0).fit(Y)


def test_a_zero_weight_in_weights_init_is_reseeded(X):
    init = {"weights_init": [1.0, 0.0], "means_init": X[:2], "precisions_init": unit_precisions("full", 2, 3)}
    gm = GaussianMixture(2, **init).fit(X)
    assert_finite(gm)
    assert gm.weights_.min() > 0


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_extreme_precisions_init_stay_finite(X, scale):
    gm = GaussianMixture(2, precisions_init=np.stack([np.eye(3) * scale] * 2), means_init=X[:2],
                         weights_init=[0.5, 0.5]).fit(X)
    assert_finite(gm)
    assert np.isfinite(gm.lower_bound_)


def test_two_distinct_points_and_three_components():
    Y = np.vstack([np.tile([0.0, 0.0], (50, 1)), np.tile([5.0, 5.0], (50, 1))])
    gm = GaussianMixture(3, random_state=0).fit(Y)
    assert_finite(gm)
    for point in ([0.0, 0.0], [5.0, 5.0]):  # each point has a component on it
        assert np.min(np.linalg.norm(gm.means_ - point, axis=1)) < 1e-9


def test_kmeans_plus_plus_on_identical_rows():
    gm = GaussianMixture(3, init_params="k-means++", random_state=0).fit(np.tile([1.0, 2.0], (10, 1)))
    assert_finite(gm)
    np.testing.assert_allclose(gm.means_, np.tile([1.0, 2.0], (3, 1)), atol=1e-12)


def test_predict_proba_of_rows_beyond_float64_squares_is_never_nan(ref, X):
    """Rows at 1e200: either probabilities (finite, summing to one) or the clear overflow
    error fit gives; NaN probabilities are neither."""
    far = X[:3] * 1e200
    try:
        proba = ref.predict_proba(far)
    except ValueError as exc:
        message = str(exc)
        proba = None
    if proba is None:
        assert "overflow" in message
    else:
        assert np.all(np.isfinite(proba)), proba
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_float32_far_from_the_origin(X):
    Y = (X + 1e6).astype(np.float32)
    gm = GaussianMixture(2, random_state=0).fit(Y)
    unit = GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_allclose(np.sort(gm.means_ - 1e6, axis=0), np.sort(unit.means_, axis=0), atol=0.05)


# =========================================================================== in-memory inputs
@pytest.mark.parametrize("kind", ["csr", "csc", "coo"])
def test_sparse_matrices_are_refused_as_sklearn_does(X, kind):
    import scipy.sparse as sp

    with pytest.raises(TypeError, match=r"[Ss]parse data was passed.*dense data is required"):
        GaussianMixture(2).fit(getattr(sp, f"{kind}_matrix")(X))


def test_sparse_at_predict_is_refused(ref, X):
    import scipy.sparse as sp

    with pytest.raises(TypeError, match=r"[Ss]parse data"):
        ref.predict(sp.csr_matrix(X))


def test_masked_array_with_masked_entries_is_refused(X):
    """np.asarray drops the mask, so the values under it (often fill values) would be fitted
    as data: a silently wrong model. They must be refused, naming the mask."""
    m = np.ma.masked_array(X.copy())
    m[0, 0] = np.ma.masked
    with pytest.raises(ValueError, match="mask"):
        GaussianMixture(2, random_state=0).fit(m)


def test_masked_array_without_masked_entries_fits_as_the_array(X, ref):
    assert_same_model(GaussianMixture(2, random_state=0).fit(np.ma.masked_array(X)), ref, 0, 0)


def test_three_dimensional_array_is_refused():
    with pytest.raises(ValueError, match="dim 3"):
        GaussianMixture(2).fit(np.zeros((10, 2, 2)))


def test_one_dimensional_array_is_refused_as_sklearn_does():
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        GaussianMixture(2).fit(np.arange(50.0))


@pytest.mark.parametrize("shape", [(0, 0), (0,), (0, 3)])
def test_empty_arrays_are_refused(shape):
    with pytest.raises(ValueError, match=r"0 sample|Expected 2D array"):
        GaussianMixture(1).fit(np.empty(shape))


@pytest.mark.parametrize("container", [list, tuple])
def test_lists_and_tuples_fit_as_the_array(X, ref, container):
    gm = GaussianMixture(2, random_state=0).fit(container(container(row) for row in X))
    assert_same_model(gm, ref, 0, 0)


def test_ragged_nested_list_is_refused():
    with pytest.raises(ValueError, match="inhomogeneous"):
        GaussianMixture(1).fit([[1.0, 2.0], [3.0]])


def test_dataframe_of_float_int_and_bool_columns(X):
    import pandas as pd

    df = pd.DataFrame({"a": X[:, 0], "b": X[:, 1] > 0, "c": np.round(X[:, 2]).astype(int)})
    gm = GaussianMixture(2, random_state=0).fit(df)
    assert list(gm.feature_names_in_) == ["a", "b", "c"]
    assert_same_model(gm, GaussianMixture(2, random_state=0).fit(df.to_numpy(dtype=float)), 0, 0)


@pytest.mark.parametrize("column", ["strings", "categorical"])
def test_dataframe_with_a_text_column_says_x_must_hold_numbers(X, column):
    """docs/user_guide/reliability.rst: strings give "X must hold numbers"; pandas' bare "could not convert string
    to float: 'x'" says neither that it is X nor which column."""
    import pandas as pd

    text = ["x", "y"] * (len(X) // 2)
    df = pd.DataFrame({"a": X[:, 0], "b": text if column == "strings" else pd.Categorical(text)})
    with pytest.raises((TypeError, ValueError), match="X must hold numbers"):
        GaussianMixture(2).fit(df)


def test_dataframe_of_numbers_in_an_object_column(X):
    import pandas as pd

    df = pd.DataFrame({"a": X[:, 0], "b": pd.Series(X[:, 1], dtype=object)})
    assert_same_model(GaussianMixture(2, random_state=0).fit(df), GaussianMixture(2, random_state=0).fit(X[:, :2]), 0, 0)


def test_dataframe_nullable_integers_with_missing_values_name_the_row(X):
    import pandas as pd

    df = pd.DataFrame({"a": pd.array([1, 2, None] * 100, dtype="Int64"), "b": X[:, 1]})
    with pytest.raises(ValueError, match="row 2, column 0"):
        GaussianMixture(2).fit(df)


def test_dataframe_with_reordered_columns_at_predict(X):
    import pandas as pd

    df = pd.DataFrame(X, columns=list("abc"))
    gm = GaussianMixture(2, random_state=0).fit(df)
    with pytest.raises(ValueError, match="feature names should match"):
        gm.predict(df[["c", "b", "a"]])


def test_pandas_series_is_refused_as_sklearn_does(X):
    import pandas as pd

    with pytest.raises(ValueError, match="Expected a 2-dimensional container"):
        GaussianMixture(2).fit(pd.Series(X[:, 0]))


@pytest.mark.parametrize("kind", ["npy_memmap", "raw_memmap"])
def test_read_only_memmaps_fit_as_the_array(X, ref, tmp_path, kind):
    if kind == "npy_memmap":
        np.save(tmp_path / "m.npy", X)
        m = np.load(tmp_path / "m.npy", mmap_mode="r")
    else:
        w = np.memmap(tmp_path / "raw.bin", dtype=np.float64, mode="w+", shape=X.shape)
        w[:] = X
        w.flush()
        del w
        m = np.memmap(tmp_path / "raw.bin", dtype=np.float64, mode="r", shape=X.shape)
    assert_same_model(GaussianMixture(2, random_state=0).fit(m), ref, 0, 0)


@pytest.mark.parametrize("view", ["reversed", "columns", "transposed", "broadcast"])
def test_non_contiguous_views_fit_as_their_copies(X, view):
    Y = {"reversed": X[::-1], "columns": np.repeat(X, 2, axis=1)[:, ::2],
         "transposed": np.ascontiguousarray(X.T).T, "broadcast": np.broadcast_to(X[:1] + X[1:2], (50, 3))}[view]
    k = 1 if view == "broadcast" else 2
    a = GaussianMixture(k, random_state=0).fit(Y)
    b = GaussianMixture(k, random_state=0).fit(np.ascontiguousarray(Y))
    assert_same_model(a, b, 0, 0)


def test_structured_dtype_is_refused_clearly():
    with pytest.raises((TypeError, ValueError), match="number"):
        GaussianMixture(1).fit(np.zeros(10, dtype=[("a", float), ("b", float)]))


@pytest.mark.parametrize("obj", [{"a": [1, 2, 3]}, {1, 2, 3}], ids=["dict", "set"])
def test_containers_of_no_numbers_say_x_must_hold_numbers(obj):
    with pytest.raises((TypeError, ValueError), match="X must hold numbers"):
        GaussianMixture(1).fit(obj)


def test_none_is_refused():
    with pytest.raises(ValueError, match="Expected 2D array"):
        GaussianMixture(1).fit(None)


def test_a_bytes_path_opens_the_file_as_its_str_path(X, ref, tmp_path):
    """open() and np.load take bytes paths; fastem read b'x.npy' as a 0-d string array."""
    np.save(tmp_path / "x.npy", X)
    assert_same_model(GaussianMixture(2, random_state=0).fit(os.fsencode(tmp_path / "x.npy")), ref, 0, 0)


def test_numbers_as_strings_fit_as_numbers():
    gm = GaussianMixture(1).fit(np.array([["1", "2"], ["3", "4"], ["5", "7"]]))
    np.testing.assert_allclose(gm.means_, [[3.0, 13 / 3]])


# =========================================================================== streams and callables
def _passes(*per_pass):
    """A callable whose n-th call returns iter(per_pass[n]) (the last one repeated)."""
    calls = []

    def make():
        calls.append(1)
        return iter(per_pass[min(len(calls), len(per_pass)) - 1])

    return make


def test_a_generator_raising_mid_pass_propagates_and_leaves_the_estimator(X):
    def make():
        yield X[:100]
        raise RuntimeError("disk gone")

    gm = GaussianMixture(2)
    with pytest.raises(RuntimeError, match="disk gone"):
        gm.fit(make)
    assert not hasattr(gm, "means_")


def test_a_generator_raising_on_a_later_pass_leaves_a_fitted_estimator_as_it_was(X, ref):
    gm = pickle.loads(pickle.dumps(ref))

    def failing():
        yield X[:150]
        raise OSError("network")

    with pytest.raises(OSError, match="network"):
        gm.fit(_passes([X[:150], X[150:]], [X[:150], X[150:]], failing()))
    assert_same_model(gm, ref, 0, 0)


def test_a_callable_whose_chunks_change_width_names_chunk_and_widths(X):
    with pytest.raises(ValueError, match=r"chunk 0 \(from row 0\) has shape \(150, 2\).*3 features"):
        GaussianMixture(2, random_state=0).fit(_passes([X[:150], X[150:]], [X[:150], X[150:]],
                                                       [X[:150, :2], X[150:, :2]]))


def test_a_callable_whose_chunks_change_to_float32_fits(X, ref):
    Y = X.astype(np.float32)
    gm = GaussianMixture(2, random_state=0).fit(_passes([X], [X], [Y]))
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-5)


def test_a_callable_whose_chunks_change_to_strings(X):
    with pytest.raises(TypeError, match=r"holds <U.*real numbers"):
        GaussianMixture(2, random_state=0).fit(_passes([X], [X], [X.astype(str)]))


def test_chunks_of_zero_rows_are_skipped(X, ref):
    gm = GaussianMixture(2, random_state=0).fit(lambda: iter([np.empty((0, 3)), X[:100], np.empty((0, 3)), X[100:]]))
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-12)


def test_one_dimensional_chunks_of_one_feature(X):
    Y = X[:, :1]
    gm = GaussianMixture(2, random_state=0).fit(lambda: iter([Y[:150, 0], Y[150:, 0]]))
    np.testing.assert_allclose(gm.means_, GaussianMixture(2, random_state=0).fit(Y).means_, rtol=1e-12)


@pytest.mark.parametrize("form", ["list_chunks", "callable_returns_list"])
def test_chunks_as_lists(X, ref, form):
    make = (lambda: iter([X[:150].tolist(), X[150:].tolist()])) if form == "list_chunks" else \
        (lambda: [X[:150], X[150:]])
    np.testing.assert_allclose(GaussianMixture(2, random_state=0).fit(make).means_, ref.means_, rtol=1e-12)


def test_scalar_chunks_are_refused():
    with pytest.raises(ValueError, match=r"chunk 0 \(from row 0\) has shape \(\)"):
        GaussianMixture(2).fit(lambda: iter([3.0, 4.0]))


def test_a_ragged_chunk_names_the_source_and_chunk():
    """numpy's "setting an array element with a sequence" says neither which source nor
    which chunk."""
    with pytest.raises(ValueError, match=r"callable.*chunk 0"):
        GaussianMixture(2).fit(lambda: iter([[[1.0, 2.0, 3.0], [1.0, 2.0]]]))


@pytest.mark.parametrize("returned", [None, 5])
def test_a_callable_returning_no_iterator_says_so(returned):
    """Python's "'NoneType' object is not iterable" does not say that the data source
    (the callable) returned the wrong thing."""
    with pytest.raises(TypeError, match=r"callable.*(returned|iterator|iterable of chunks)"):
        GaussianMixture(2).fit(lambda: returned)


def test_a_callable_that_raises_propagates():
    def make():
        raise KeyError("bucket")

    with pytest.raises(KeyError, match="bucket"):
        GaussianMixture(2).fit(make)


@pytest.mark.parametrize("chunks", [[], [np.empty((0, 3))]], ids=["no_chunk", "only_empty_chunks"])
def test_empty_callables(chunks):
    with pytest.raises(ValueError, match="is empty"):
        GaussianMixture(2).fit(lambda: iter(chunks))


@pytest.mark.parametrize("method", ["fit", "fit_predict"])
def test_fit_refuses_a_one_shot_iterator(X, method):
    with pytest.raises(ValueError, match=r"one-shot iterator.*callable"):
        getattr(GaussianMixture(2), method)(iter([X]))


def test_an_iterator_used_twice_by_partial_fit(X):
    it = iter([X[:150], X[150:]])
    gm = GaussianMixture(2, random_state=0).partial_fit(it)
    assert gm.n_steps_ == 2
    with pytest.raises(ValueError, match="iterator is empty"):
        gm.partial_fit(it)


def test_sample_weight_of_the_wrong_length_for_a_callable(X):
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(300,\), got \(299,\)"):
        GaussianMixture(2).fit(lambda: iter([X[:150], X[150:]]), sample_weight=np.ones(299))


def test_predict_on_a_generator_equals_the_array(ref, X):
    np.testing.assert_array_equal(ref.predict(iter([X[:100], X[100:]])), ref.predict(X))


@pytest.mark.parametrize("chunk_size", [0, -5, 2.5])
def test_source_with_a_bad_chunk_size_names_it(X, chunk_size):
    """GaussianMixture(chunk_size=0) is an InvalidParameterError; fastem.source(X,
    chunk_size=0) silently used the default, -5 gave "array is empty" and 2.5 a range()
    TypeError."""
    with pytest.raises((TypeError, ValueError), match="chunk_size"):
        GaussianMixture(2).fit(fastem.source(X, chunk_size=chunk_size))


def test_source_with_an_unknown_option(X):
    with pytest.raises(TypeError, match="unexpected keyword argument 'foo'"):
        fastem.source(X, foo=1)


# =========================================================================== files
@pytest.fixture
def files(tmp_path):
    return tmp_path


def test_npy_in_fortran_order_is_a_clear_error(X, files):
    np.save(files / "f.npy", np.asfortranarray(X))
    with pytest.raises(ValueError, match=r"C-ordered 2-D array.*Fortran order"):
        GaussianMixture(2).fit(str(files / "f.npy"))


@pytest.mark.parametrize("array", [np.zeros((4, 2, 2)), np.float64(3.0)], ids=["3-D", "0-D"])
def test_npy_of_other_dimensions(files, array):
    np.save(files / "a.npy", array)
    with pytest.raises(ValueError, match=r"must hold a C-ordered 2-D array.*shape \("):
        fastem.source(str(files / "a.npy"))


@pytest.mark.parametrize("dtype", [object, complex, [("a", float)]], ids=["object", "complex", "structured"])
def test_npy_of_non_numbers(X, files, dtype):
    np.save(files / "a.npy", X[:, 0].astype(dtype) if isinstance(dtype, list) else X.astype(dtype), allow_pickle=True)
    with pytest.raises(TypeError, match="fastem needs real numbers"):
        fastem.source(str(files / "a.npy"))


@pytest.mark.parametrize("dtype", [">f8", ">f4", np.int16, np.float16, bool])
def test_npy_of_other_number_types_fits_as_in_memory(X, files, dtype):
    Y = X > 0 if dtype is bool else ((X * 100).astype(dtype) if dtype is np.int16 else X.astype(dtype))
    np.save(files / "a.npy", Y)
    on_disk = GaussianMixture(2, random_state=0).fit(str(files / "a.npy"))
    in_memory = GaussianMixture(2, random_state=0).fit(Y.astype(np.float32 if dtype == ">f4" else np.float64))
    np.testing.assert_allclose(on_disk.means_, in_memory.means_, rtol=1e-6)


@pytest.mark.parametrize("damage", ["header_cut", "zero_bytes", "garbage", "data_cut"])
def test_damaged_npy_files(X, files, damage):
    np.save(files / "good.npy", X)
    data = (files / "good.npy").read_bytes()
    content = {"header_cut": data[:30], "zero_bytes": b"", "garbage": b"not an npy file " * 10,
               "data_cut": data[:-100]}[damage]
    (files / "bad.npy").write_bytes(content)
    with pytest.raises(ValueError, match="not a readable .npy file" if damage != "data_cut" else "is truncated"):
        GaussianMixture(2).fit(str(files / "bad.npy"))


@pytest.mark.parametrize("kind", ["directory", "symlink_loop", "dangling_symlink"])
def test_npy_paths_that_are_not_files(files, kind):
    path = files / "x.npy"
    if kind == "directory":
        path.mkdir()
    elif kind == "symlink_loop":
        os.symlink(files / "y.npy", path)
        os.symlink(path, files / "y.npy")
    else:
        os.symlink(files / "nowhere.npy", path)
    expected = {"directory": (ValueError, "Is a directory"), "symlink_loop": (ValueError, "symbolic links"),
                "dangling_symlink": (FileNotFoundError, "no such file")}[kind]
    with pytest.raises(expected[0], match=expected[1]):
        GaussianMixture(2).fit(str(path))


def test_npy_with_inf_names_the_row(X, files):
    Y = X.copy()
    Y[123, 2] = np.inf
    np.save(files / "x.npy", Y)
    with pytest.raises(ValueError, match="row 123, column 2 holds inf"):
        GaussianMixture(2).fit(str(files / "x.npy"))


@pytest.mark.parametrize("rows", [0, 1])
def test_npy_with_too_few_rows(files, rows):
    np.save(files / "x.npy", np.ones((rows, 3)))
    with pytest.raises(ValueError, match=r"n_samples = 0|1 sample"):
        GaussianMixture(1).fit(str(files / "x.npy"))


def test_npy_suffix_in_capitals(X, ref, files):
    np.save(files / "x.npy", X)
    os.rename(files / "x.npy", files / "X.NPY")
    assert_same_model(GaussianMixture(2, random_state=0).fit(str(files / "X.NPY")), ref, 0, 0)


@pytest.mark.parametrize("name", ["x.dat", "noext"])
def test_unknown_suffixes(files, name):
    (files / name).write_bytes(b"123")
    with pytest.raises(ValueError, match="unknown data format"):
        GaussianMixture(2).fit(str(files / name))


@pytest.mark.parametrize(("text", "message"), [
    ("", "is empty"),
    ("a,b,c\n", "is empty: it yielded no rows"),
    ("a,b,c\n1,2,3\n4,5\n6,7,8\n", "number of columns changed from 3 to 2"),
    ("1,2\n4,5,6\n6,7\n", "number of columns changed from 2 to 3"),
    ("a,b\n1,2\n3,\n5,6\n", "does not parse as numbers"),
    ("a;b\n1;2\n3;4\n5;7\n", "does not parse as numbers"),
], ids=["empty", "header_only", "ragged_short", "ragged_long", "empty_cell", "other_delimiter"])
def test_bad_csv_files(files, text, message):
    (files / "x.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        GaussianMixture(1).fit(str(files / "x.csv"))


def test_csv_with_a_blank_first_line_is_not_empty(files):
    """The first line is blank, the data follow: fastem said "is empty"."""
    (files / "x.csv").write_text("\n1,2\n3,4\n5,7\n")
    np.testing.assert_allclose(GaussianMixture(1).fit(str(files / "x.csv")).means_, [[3.0, 13 / 3]])


def test_binary_file_named_csv_names_the_file(files):
    """A UnicodeDecodeError ("'utf-8' codec can't decode byte 0x80") names no file."""
    (files / "x.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=r"x\.csv"):
        GaussianMixture(1).fit(str(files / "x.csv"))


def test_csv_with_bom_and_crlf(files):
    (files / "x.csv").write_bytes("\ufeffa,b\r\n1,2\r\n3,4\r\n5,7\r\n".encode())
    np.testing.assert_allclose(GaussianMixture(1).fit(str(files / "x.csv")).means_, [[3.0, 13 / 3]])


def test_csv_column_index_out_of_range(files):
    (files / "x.csv").write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(ValueError, match="column index 5"):
        GaussianMixture(1).fit(fastem.source(str(files / "x.csv"), columns=[5]))


def test_hdf5_one_dimensional_dataset_is_one_feature(X, files):
    import h5py

    with h5py.File(files / "x.h5", "w") as f:
        f["d"] = X[:, 0]
    gm = GaussianMixture(2, random_state=0).fit(fastem.source(str(files / "x.h5"), key="d"))
    np.testing.assert_allclose(gm.means_, GaussianMixture(2, random_state=0).fit(X[:, :1]).means_, rtol=1e-12)


@pytest.mark.parametrize("data", [np.zeros((3, 2, 2)), np.array([b"a", b"b"])], ids=["3-D", "strings"])
def test_hdf5_datasets_that_are_not_2d_numbers(files, data):
    import h5py

    with h5py.File(files / "x.h5", "w") as f:
        f["d"] = data
    with pytest.raises(ValueError, match="must be a 2-D array of real numbers"):
        fastem.source(str(files / "x.h5"), key="d")


@pytest.mark.parametrize(("layout", "message"), [
    ("empty_file", r"holds datasets \[\]: name one with key="),
    ("two_datasets", r"holds datasets \['a', 'b'\]: name one with key="),
    ("missing_key", "has no dataset 'zzz'"),
    ("not_hdf5", "not a readable HDF5 file"),
])
def test_hdf5_files_without_a_chosen_dataset(X, files, layout, message):
    import h5py

    path = files / "x.h5"
    if layout == "not_hdf5":
        path.write_bytes(b"not hdf5")
    else:
        with h5py.File(path, "w") as f:
            if layout != "empty_file":
                f["a"], f["b"] = X, X
    with pytest.raises(ValueError, match=message):
        fastem.source(str(path), **({"key": "zzz"} if layout == "missing_key" else {}))


def test_hdf5_with_nan_names_the_row(X, files):
    import h5py

    Y = X.copy()
    Y[250, 0] = np.nan
    with h5py.File(files / "x.h5", "w") as f:
        f["d"] = Y
    with pytest.raises(ValueError, match="row 250, column 0 holds nan"):
        GaussianMixture(2).fit(str(files / "x.h5"))


@pytest.mark.parametrize("type_", ["float64", "int64"])
def test_parquet_nulls_are_reported_as_missing_values(X, files, type_):
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = [1.0, None, *X[2:, 0]] if type_ == "float64" else [1, None, *([3] * (len(X) - 2))]
    pq.write_table(pa.table({"a": pa.array(values, type=getattr(pa, type_)()), "b": X[:, 1]}), files / "x.parquet")
    with pytest.raises(ValueError, match="row 1, column 0 holds nan"):
        GaussianMixture(2).fit(str(files / "x.parquet"))


@pytest.mark.parametrize("column", ["strings", "timestamps", "lists", "decimals", "dictionary"])
def test_parquet_non_numeric_columns_are_named(X, files, column):
    """Every non-numeric column type is refused naming the column; a dictionary-encoded
    (categorical) column raised pyarrow's bare NotImplementedError."""
    import datetime
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(X)
    values = {"strings": pa.array(["x"] * n), "timestamps": pa.array([datetime.datetime(2020, 1, 1)] * n),
              "lists": pa.array([[1.0, 2.0]] * n), "decimals": pa.array([decimal.Decimal("1.5")] * n,
                                                                         pa.decimal128(5, 2)),
              "dictionary": pa.array(["x", "y"] * (n // 2)).dictionary_encode()}[column]
    pq.write_table(pa.table({"a": X[:, 0], "s": values}), files / "x.parquet")
    with pytest.raises(TypeError, match=r"column\(s\) \['s'\] are not numeric"):
        fastem.source(str(files / "x.parquet"))


def test_parquet_string_column_left_out_by_columns(X, files):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": X[:, 0], "s": ["x"] * len(X)}), files / "x.parquet")
    gm = GaussianMixture(2, random_state=0).fit(fastem.source(str(files / "x.parquet"), columns=["a"]))
    np.testing.assert_allclose(gm.means_, GaussianMixture(2, random_state=0).fit(X[:, :1]).means_, rtol=1e-12)


@pytest.mark.parametrize("kind", ["garbage", "no_rows"])
def test_parquet_unreadable_or_empty(files, kind):
    import pyarrow as pa
    import pyarrow.parquet as pq

    if kind == "garbage":
        (files / "x.parquet").write_bytes(b"garbage")
    else:
        pq.write_table(pa.table({"a": pa.array([], pa.float64())}), files / "x.parquet")
    with pytest.raises(ValueError, match="not a readable Parquet file" if kind == "garbage" else "n_samples = 0"):
        GaussianMixture(1).fit(str(files / "x.parquet"))


def test_zarr_three_dimensional_array(files):
    import zarr

    zarr.open_array(str(files / "x.zarr"), mode="w", shape=(3, 2, 2), dtype=float)
    with pytest.raises(ValueError, match="must be a 2-D array of real numbers"):
        fastem.source(str(files / "x.zarr"))


# =========================================================================== model files (a few)
@pytest.mark.parametrize("kind", ["directory", "npy", "plain_npz", "pickled_header"])
def test_load_of_what_is_not_a_model(X, tmp_path, kind):
    path = tmp_path / "m.npz"
    if kind == "directory":
        path.mkdir()
    elif kind == "npy":
        np.save(tmp_path / "m.npy", X)
        os.rename(tmp_path / "m.npy", path)
    elif kind == "plain_npz":
        np.savez(path, a=X)
    else:
        np.savez(path, header=np.array([{"a": 1}], dtype=object))
    message = {"directory": "is a directory", "npy": "not a readable fastem model", "plain_npz": "has no header",
               "pickled_header": "never unpickles"}[kind]
    with pytest.raises(ModelFileError, match=message):
        fastem.load(path)


def test_a_model_with_dropped_components_round_trips(X, tmp_path):
    means = np.vstack([X[:2], [[1e3, 1e3, 1e3]]])
    gm = GaussianMixture(3, on_collapse="drop", means_init=means, weights_init=[0.4, 0.4, 0.2],
                         precisions_init=np.stack([np.eye(3)] * 3)).fit(X)
    loaded = fastem.load(gm.save(tmp_path / "m"))
    assert loaded.means_.shape == (2, 3)
    np.testing.assert_array_equal(loaded.predict(X), gm.predict(X))


# =========================================================================== processes
def test_pickle_of_an_unfitted_estimator():
    gm = pickle.loads(pickle.dumps(GaussianMixture(3, covariance_type="diag", reg_covar=1e-3)))
    assert gm.get_params() == GaussianMixture(3, covariance_type="diag", reg_covar=1e-3).get_params()
    assert not hasattr(gm, "means_")


def test_pickle_of_a_fitted_estimator_predicts_and_goes_on(ref, X):
    gm = pickle.loads(pickle.dumps(ref))
    np.testing.assert_array_equal(gm.predict(X), ref.predict(X))
    assert gm.score(X) == ref.score(X)
    gm.partial_fit(X[:50])
    assert gm.n_steps_ == 1
    assert_finite(gm)


def test_clone_of_a_fitted_estimator_is_unfitted(ref):
    from sklearn.base import clone

    c = clone(ref)
    assert not hasattr(c, "means_")
    assert c.get_params() == ref.get_params()


def test_one_estimator_fitted_from_two_threads_in_turn(X, ref):
    gm, results = GaussianMixture(2, random_state=0), []
    for _ in range(2):
        t = threading.Thread(target=lambda: results.append(gm.fit(X).means_.copy()))
        t.start()
        t.join()
    np.testing.assert_array_equal(results[0], results[1])
    assert_same_model(gm, ref, 0, 0)


def test_two_estimators_fitted_at_once_from_two_threads(X, ref):
    models = [GaussianMixture(2, random_state=0) for _ in range(2)]
    threads = [threading.Thread(target=m.fit, args=(X,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for m in models:
        assert_same_model(m, ref, 0, 0)


# =========================================================================== Dask (synchronous)
@pytest.fixture
def sync_dask():
    import dask

    with dask.config.set(scheduler="sync"):
        yield


@pytest.fixture
def D(X, sync_dask):
    import dask.array as da

    return da.from_array(X, chunks=(100, 3))


def test_dask_nan_in_a_block_names_the_row(X, sync_dask):
    import dask.array as da

    Y = X.copy()
    Y[250, 1] = np.nan
    with pytest.raises(ValueError, match="row 250, column 1 holds nan"):
        GaussianMixture(2, random_state=0).fit(da.from_array(Y, chunks=(100, 3)))


def test_dask_inf_at_predict_names_the_row(X, ref, sync_dask):
    import dask.array as da

    Y = X.copy()
    Y[250, 1] = np.inf
    with pytest.raises(ValueError, match="row 250, column 1 holds inf"):
        ref.predict(da.from_array(Y, chunks=(100, 3))).compute()


@pytest.mark.parametrize("shape", [(300,), (10, 2, 2)], ids=["1-D", "3-D"])
def test_dask_arrays_of_other_dimensions(sync_dask, shape):
    import dask.array as da

    with pytest.raises(ValueError, match=f"must be 2-D.*got {len(shape)}-D"):
        GaussianMixture(2).fit(da.zeros(shape, chunks=5))


def test_dask_unknown_chunk_sizes_fit_and_predict(D, X, ref):
    Z = D[D[:, 0] > -1e9]  # a boolean selection: row chunks of unknown size
    assert np.isnan(Z.chunks[0][0])
    assert_same_model(GaussianMixture(2, random_state=0).fit(Z), ref, 1e-12, 1e-12)
    np.testing.assert_array_equal(ref.predict(Z).compute(), ref.predict(X))


@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_dask_sample_weight_of_the_wrong_length(D, kind):
    import dask.array as da

    w = np.ones(299) if kind == "numpy" else da.ones(299, chunks=100)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(300,\), got \(299,\)"):
        GaussianMixture(2).fit(D, sample_weight=w)


def test_dask_sample_weight_of_unknown_chunk_sizes(D, X):
    """X of unknown chunk sizes is measured (compute_chunk_sizes); weights of unknown
    chunk sizes were refused with "got (nan,)" though they have the 300 rows."""
    w = np.random.default_rng(0).uniform(0.5, 2, len(X))
    import dask.array as da

    dw = da.from_array(w, chunks=100)
    dw = dw[dw > 0]
    gm = GaussianMixture(2, random_state=0).fit(D, sample_weight=dw)
    assert_same_model(gm, GaussianMixture(2, random_state=0).fit(X, sample_weight=w), 1e-10, 1e-12)


def test_dask_predict_with_the_wrong_number_of_features(ref, X, sync_dask):
    import dask.array as da

    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        ref.predict(da.from_array(X[:, :2], chunks=(100, 2)))


def test_dask_of_strings(X, sync_dask):
    import dask.array as da

    with pytest.raises(TypeError, match="fastem needs real numbers"):
        GaussianMixture(2).fit(da.from_array(X.astype(str), chunks=(100, 3)))


def test_dask_with_an_empty_block_and_column_blocks(D, ref, X):
    import dask.array as da

    Z = da.concatenate([da.zeros((0, 3), chunks=(0, 3)), da.from_array(X, chunks=(100, 1))])
    assert_same_model(GaussianMixture(2, random_state=0).fit(Z), ref, 1e-12, 1e-12)


def test_dask_integers_fit_as_numpy_integers(X, sync_dask):
    import dask.array as da

    Y = np.round(X * 10).astype(np.int64)
    fe = GaussianMixture(2, random_state=0).fit(da.from_array(Y, chunks=(100, 3)))
    assert_same_model(fe, GaussianMixture(2, random_state=0).fit(Y), 1e-12, 1e-12)


def test_dask_empty_array(sync_dask):
    import dask.array as da

    with pytest.raises(ValueError, match="n_samples = 0"):
        GaussianMixture(2).fit(da.zeros((0, 3), chunks=(10, 3)))


# =========================================================================== parameters
BAD_PARAMETERS = [
    ("n_components", 2.0), ("n_components", "2"), ("n_components", True), ("n_components", 0),
    ("n_components", np.nan), ("tol", np.nan), ("tol", np.inf), ("tol", -1.0), ("tol", "1e-3"),
    ("reg_covar", np.nan), ("reg_covar", np.inf), ("reg_covar", -1e-6), ("reg_covar", None),
    ("max_iter", -1), ("max_iter", 1.5), ("n_init", 0), ("n_init", 2.0), ("covariance_type", "FULL"),
    ("covariance_type", ["full"]), ("init_params", "kmeans++"), ("warm_start", "False"), ("verbose", -1),
    ("verbose_interval", 0), ("n_jobs", 0), ("n_jobs", 1.5), ("chunk_size", 0), ("chunk_size", 10.0),
    ("progress", "yes"), ("learning_decay", 0.5), ("learning_decay", np.nan), ("learning_offset", -1.0),
    ("learning_offset", np.inf), ("checkpoint", 123), ("on_collapse", "RESEED"), ("collapse_threshold", np.nan),
    ("collapse_threshold", -1.0),
]


@pytest.mark.parametrize(("name", "value"), BAD_PARAMETERS, ids=[f"{n}={v!r}" for n, v in BAD_PARAMETERS])
def test_bad_constructor_parameters_name_themselves(X, name, value):
    gm = GaussianMixture(2, random_state=0).set_params(**{name: value})
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of GaussianMixture must be"):
        gm.fit(X)


@pytest.mark.parametrize(("name", "value"), [("n_components", np.int64(2)), ("n_components", np.uint8(2)),
                                             ("tol", np.float32(1e-3)), ("reg_covar", np.float64(1e-6)),
                                             ("max_iter", np.int32(50)), ("n_jobs", np.int64(-1))])
def test_numpy_scalar_parameters_are_accepted(X, ref, name, value):
    gm = GaussianMixture(2, random_state=0).set_params(**{name: value})
    assert_same_model(gm.fit(X), ref, 1e-12, 1e-12)


@pytest.mark.parametrize(("seed", "message"), [(-1, "Seed must be between"), ("a", "cannot be used to seed"),
                                               (2**40, "Seed must be between"),
                                               (np.random.default_rng(0), "cannot be used to seed")],
                         ids=["negative", "string", "2**40", "Generator"])
def test_bad_random_states(X, seed, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, random_state=seed).fit(X)


BAD_INIT = [
    ("weights_init", [[0.5, 0.5]], "'weights' should have the shape of"),
    ("weights_init", [np.nan, 0.5], "'weights' should be in the range"),
    ("weights_init", [-0.5, 1.5], "'weights' should be in the range"),
    ("weights_init", [0.6, 0.5], "'weights' should be normalized"),
    ("means_init", [[0, 0], [1, 1]], r"'means' should have the shape of \(2, 3\)"),
    ("means_init", [[np.nan, 0, 0], [1, 1, 1]], "'means' holds NaN or inf"),
    ("means_init", [[np.inf, 0, 0], [1, 1, 1]], "'means' holds NaN or inf"),
    ("precisions_init", np.eye(3), r"'full precision' should have the shape of \(2, 3, 3\)"),
    ("precisions_init", np.full((2, 3, 3), np.nan), "'full precision' should be symmetric, positive-definite"),
    ("precisions_init", np.zeros((2, 3, 3)), "'full precision' should be symmetric, positive-definite"),
    ("precisions_init", np.stack([[[1, 0.5, 0], [0, 1, 0], [0, 0, 1]]] * 2), "symmetric, positive-definite"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_INIT,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BAD_INIT)])
def test_bad_initial_arrays(X, name, value, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, **{name: value}).fit(X)


@pytest.mark.parametrize(("covariance_type", "precisions", "message"), [
    ("tied", np.stack([np.eye(3)] * 2), r"'tied precision' should have the shape of \(3, 3\)"),
    ("diag", np.full((2, 3), np.nan), "'diag precision' should be positive"),
    ("spherical", [np.inf, 1.0], "'spherical precision' should be positive"),
    ("spherical", [-1.0, 1.0], "'spherical precision' should be positive"),
])
def test_bad_precisions_init_of_other_types(X, covariance_type, precisions, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, covariance_type=covariance_type, precisions_init=precisions).fit(X)


def test_means_init_of_strings_names_means_init(X):
    """numpy's "could not convert string to float: 'abc'" does not say which parameter."""
    with pytest.raises(ValueError, match="means"):
        GaussianMixture(2, means_init="abc").fit(X)


def test_float32_weights_init_normalised_in_float32_are_accepted_as_sklearn_does(X):
    """np.full(7, 1/7, float32) sums to 1 within float32 rounding (4.5e-8 off in float64);
    scikit-learn accepts it, fastem refused it as "should be normalized"."""
    w = np.full(7, 1 / 7, dtype=np.float32)
    sk_fit({"weights_init": w}, X)  # scikit-learn takes them
    gm = GaussianMixture(7, weights_init=w, random_state=0).fit(X)
    assert_finite(gm)


@pytest.mark.parametrize(("weights", "message"), [
    (np.ones((300, 1)), r"must have shape \(300,\), got \(300, 1\)"),
    (2.0, r"must have shape \(300,\), got \(\)"),
    (np.r_[np.ones(5), np.inf, np.ones(294)], "row 5 holds inf"),
], ids=["2-D", "scalar", "inf"])
def test_bad_sample_weights(X, weights, message):
    with pytest.raises(ValueError, match=message):
        GaussianMixture(1).fit(X, sample_weight=weights)


def test_sample_weight_of_strings_names_sample_weight(X):
    """numpy's "could not convert string to float: 'a'" does not say it is the weights."""
    with pytest.raises(ValueError, match="sample_weight"):
        GaussianMixture(1).fit(X, sample_weight=["a"] * len(X))


@pytest.mark.parametrize("n", [0, -5])
def test_sample_of_no_rows(ref, n):
    with pytest.raises(ValueError, match="at least one sample"):
        ref.sample(n)


@pytest.mark.parametrize("n", [2.5, "3"])
def test_sample_of_a_non_integer_count_names_n_samples(ref, n):
    """sample(2.5) silently drew 2 rows; sample("3") raised "'<' not supported"."""
    with pytest.raises((TypeError, ValueError), match="n_samples"):
        ref.sample(n)


# =========================================================================== command line
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, X):
    folder = tmp_path_factory.mktemp("red_cli")
    np.save(folder / "x.npy", X)
    np.save(folder / "x2.npy", X[:, :2])
    np.save(folder / "x5.npy", X[:5])
    GaussianMixture(2, random_state=0).fit(X).save(folder / "m.npz")
    (folder / "dir.npy").mkdir()
    return folder


def cli(capsys, *args):
    """fastem's command line run in this process: (exit status, stdout, stderr)."""
    from fastem.cli import main

    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse: a malformed command line
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("args", [[], ["fit"], ["fit", "x.npy"]], ids=["nothing", "fit", "fit_without_k"])
def test_cli_missing_arguments(capsys, cli_files, args):
    code, _, err = cli(capsys, *[cli_files / a if a.endswith(".npy") else a for a in args])
    assert code == 2
    assert "the following arguments are required" in err


@pytest.mark.parametrize(("k", "code", "message"), [(0, 1, "'n_components' parameter"),
                                                    (-1, 1, "'n_components' parameter"),
                                                    ("abc", 2, "invalid int value: 'abc'")])
def test_cli_bad_k(capsys, cli_files, k, code, message):
    status, _, err = cli(capsys, "fit", cli_files / "x.npy", "-k", k, "-q")
    assert status == code
    assert message in err


@pytest.mark.parametrize(("option", "value", "message"), [("--threads", 0, "'n_jobs' parameter"),
                                                          ("--chunk-size", 0, "'chunk_size' parameter"),
                                                          ("--tol", "nan", "'tol' parameter")])
def test_cli_bad_fit_options(capsys, cli_files, option, value, message):
    code, _, err = cli(capsys, "fit", cli_files / "x.npy", "-k", 2, "-q", option, value)
    assert code == 1
    assert err.startswith("fastem: error:")
    assert message in err


def test_cli_data_file_that_is_a_directory(capsys, cli_files):
    code, _, err = cli(capsys, "fit", cli_files / "dir.npy", "-k", 2, "-q")
    assert code == 1
    assert "Is a directory" in err


@pytest.mark.parametrize("n", [0, -5])
def test_cli_sample_of_no_rows(capsys, cli_files, tmp_path, n):
    code, _, err = cli(capsys, "sample", cli_files / "m.npz", "-n", n, "-o", tmp_path / "s.npy")
    assert code == 1
    assert "at least one sample" in err
    assert not (tmp_path / "s.npy").exists()


def test_cli_select_with_a_reversed_range_says_so(capsys, cli_files):
    """-k 3..1 is an empty range; fastem said "components must be >= 1", which 3 and 1 are."""
    code, _, err = cli(capsys, "select", cli_files / "x.npy", "-k", "3..1", "-q")
    assert code == 2
    assert "3..1" in err
    assert "must be >= 1" not in err


def test_cli_select_refuses_k_beyond_the_rows_before_fitting(capsys, cli_files):
    """select -k 1..400 on 300 rows fitted K = 1..300 (minutes) before failing at 301: the
    range is checked against the rows first."""
    code, out, err = cli(capsys, "select", cli_files / "x5.npy", "-k", "1..8", "-q", "--covariance", "diag")
    assert code == 1
    assert "n_components" in err or "rows" in err
    assert out == "", f"printed (or fitted) before refusing: {out}"  # not even the table's header


@pytest.mark.parametrize("command", ["predict", "score"])
def test_cli_model_of_another_width(capsys, cli_files, tmp_path, command):
    extra = ["-o", tmp_path / "l.npy"] if command == "predict" else []
    code, _, err = cli(capsys, command, cli_files / "m.npz", cli_files / "x2.npy", *extra)
    assert code == 1
    assert "X has 2 features, but GaussianMixture is expecting 3" in err


def test_cli_predict_with_a_data_file_as_the_model(capsys, cli_files, tmp_path):
    code, _, err = cli(capsys, "predict", cli_files / "x.npy", cli_files / "x.npy", "-o", tmp_path / "l.npy")
    assert code == 1
    assert "not a readable fastem model" in err


@pytest.mark.parametrize("chunk_size", [0, -2])
def test_cli_predict_with_a_bad_chunk_size_names_it(capsys, cli_files, tmp_path, chunk_size):
    """fit refuses --chunk-size 0; predict silently took 0 as the default, and -2 gave
    "x.npy is empty: it yielded no rows"."""
    code, _, err = cli(capsys, "predict", cli_files / "m.npz", cli_files / "x.npy", "-o", tmp_path / "l.npy",
                       "--chunk-size", chunk_size)
    assert code in (1, 2)
    assert "chunk" in err
    assert "is empty" not in err


def test_cli_columns_on_an_npy_file_is_a_user_message(capsys, cli_files):
    """Was "NpySource.__init__() got an unexpected keyword argument 'columns'"."""
    code, _, err = cli(capsys, "fit", cli_files / "x.npy", "-k", 2, "-q", "--columns", "a")
    assert code in (1, 2)
    assert "columns" in err
    assert "__init__" not in err


def test_cli_binary_csv_names_the_file(capsys, tmp_path):
    (tmp_path / "x.csv").write_bytes(bytes(range(256)) * 4)
    code, _, err = cli(capsys, "fit", tmp_path / "x.csv", "-k", 1, "-q")
    assert code == 1
    assert "x.csv" in err


def test_cli_demo_with_negative_rows_names_the_option(capsys):
    """Was "negative dimensions are not allowed"."""
    code, _, err = cli(capsys, "demo", "--rows", -1, "--no-compare", "--no-plot")
    assert code in (1, 2)
    assert "rows" in err


def test_cli_parquet_with_a_categorical_column_in_a_subprocess(tmp_path):
    """A user's shell: one line on stderr and status 1, not pyarrow's NotImplementedError
    traceback."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": np.arange(10.0), "d": pa.array(["x", "y"] * 5).dictionary_encode()}),
                   tmp_path / "x.parquet")
    result = subprocess.run([sys.executable, "-m", "fastem", "fit", str(tmp_path / "x.parquet"), "-k", "1", "-q"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert "Traceback" not in result.stderr, result.stderr[-500:]
    assert result.returncode == 1
    assert "'d'" in result.stderr
