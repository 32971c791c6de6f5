"""The catalogue of hostile and extreme inputs (docs/user_guide/reliability.rst, 'Bad input'): each gives a
correct model or a clear error that names the problem, never NaN parameters."""

import warnings

import numpy as np
import pytest
from conftest import blobs, interrupted_fit, unit_precisions
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from fastem import CollapseWarning, GaussianMixture

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def assert_finite(gm):
    for name in ATTRIBUTES:
        assert np.all(np.isfinite(getattr(gm, name))), name
    assert np.isfinite(gm.lower_bound_)


def fit_quietly(gm, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit(X, **kwargs)


@pytest.fixture
def X():
    return blobs(1500, 3, 3, np.random.default_rng(11))


def test_empty_data():
    with pytest.raises(ValueError, match="0 sample"):
        GaussianMixture(1).fit(np.empty((0, 3)))


def test_single_row():
    with pytest.raises(ValueError, match=r"1 sample.*minimum of 2"):
        GaussianMixture(1).fit(np.ones((1, 3)))


def test_more_components_than_rows():
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        GaussianMixture(10).fit(np.random.default_rng(0).normal(size=(5, 2)))


@pytest.mark.parametrize("n_features", [1, 500])
def test_one_and_500_features_match_sklearn(n_features, covariance_type):
    rng = np.random.default_rng(n_features)
    X = blobs(1200 if n_features == 500 else 3000, n_features, 2, rng, spread=2.0)
    init = {"means_init": X[[0, -1]], "weights_init": [0.5, 0.5], "max_iter": 5, "tol": 0.0, "covariance_type": covariance_type,
            "precisions_init": unit_precisions(covariance_type, 2, n_features)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkGaussianMixture(2, **init).fit(X)
        fe = GaussianMixture(2, **init).fit(X)
    np.testing.assert_allclose(fe.means_, sk.means_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fe.covariances_, sk.covariances_, rtol=1e-7, atol=1e-9)
    assert fe.lower_bound_ == pytest.approx(sk.lower_bound_, rel=1e-7)


def test_constant_column(X, covariance_type):
    X = X.copy()
    X[:, 1] = 4.0
    gm = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, random_state=0), X)
    assert_finite(gm)
    var = {"full": lambda c: c[:, 1, 1], "tied": lambda c: c[1, 1], "diag": lambda c: c[:, 1],
           "spherical": lambda c: c}[covariance_type](gm.covariances_)
    if covariance_type != "spherical":
        np.testing.assert_allclose(var, 1e-6, rtol=1e-3)  # reg_covar: the column has no variance


def test_all_rows_identical(covariance_type):
    X = np.tile([1.0, -2.0, 3.0], (200, 1))
    with pytest.warns(CollapseWarning):
        gm = fit_quietly_keep_collapse(GaussianMixture(3, covariance_type=covariance_type, random_state=0), X)
    assert_finite(gm)
    np.testing.assert_allclose(gm.means_, np.tile([1.0, -2.0, 3.0], (3, 1)), atol=1e-12)


def fit_quietly_keep_collapse(gm, X, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", CollapseWarning)
        return gm.fit(X, **kwargs)


def test_many_duplicate_rows(X):
    """1,000 copies of one row: a component of its own, tight (reg_covar), finite."""
    dup = np.vstack([X, np.repeat(X[:1], 1000, axis=0)])
    gm = fit_quietly(GaussianMixture(4, random_state=0), dup)
    assert_finite(gm)
    k = np.argmin(np.linalg.norm(gm.means_ - X[0], axis=1))
    np.testing.assert_allclose(gm.means_[k], X[0], atol=1e-6)
    assert gm.weights_[k] == pytest.approx(1000 / len(dup), rel=1e-3)


def test_offset_1e8_fits_as_well_as_centred(covariance_type):
    X = blobs(3000, 3, 3, np.random.default_rng(4), spread=5.0)
    centred = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    shifted = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X + 1e8)
    np.testing.assert_allclose(shifted.means_ - 1e8, centred.means_, atol=1e-6)
    np.testing.assert_allclose(shifted.covariances_, centred.covariances_, rtol=1e-6)
    assert shifted.lower_bound_ == pytest.approx(centred.lower_bound_, rel=1e-7)


@pytest.mark.parametrize("scale", [1e-8, 1e150])
def test_extreme_scales(scale, covariance_type):
    """Tiny and huge data fit like unit data, once reg_covar matches the scale (the
    default 1e-6 would dominate variances of 1e-16: choose reg_covar for the units)."""
    X = blobs(2000, 2, 2, np.random.default_rng(5))
    unit = GaussianMixture(2, covariance_type=covariance_type, random_state=0, reg_covar=1e-6).fit(X)
    scaled = GaussianMixture(2, covariance_type=covariance_type, random_state=0, reg_covar=1e-6 * scale**2).fit(X * scale)
    np.testing.assert_allclose(scaled.means_ / scale, unit.means_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(scaled.covariances_ / scale**2, unit.covariances_, rtol=1e-6)
    default = fit_quietly(GaussianMixture(2, covariance_type=covariance_type, random_state=0), X * 1e-8)
    assert_finite(default)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, bool, object])
def test_integer_boolean_object_dtypes(dtype):
    X = (np.random.default_rng(6).integers(0, 2, size=(400, 3)) * 5 + np.arange(3)).astype(dtype)
    gm = fit_quietly(GaussianMixture(2, random_state=0), X)
    assert_finite(gm)
    assert gm.means_.dtype == np.float64


def test_complex_dtype_is_refused():
    with pytest.raises(ValueError, match=r"[Cc]omplex"):
        GaussianMixture(2).fit(np.ones((10, 2), dtype=np.complex128))


def test_fortran_strided_read_only_arrays(X):
    reference = GaussianMixture(3, random_state=0, chunk_size=100).fit(X)
    fortran = np.asfortranarray(X)
    wide = np.zeros((len(X), 6))
    wide[:, ::2] = X
    read_only = X.copy()
    read_only.flags.writeable = False
    for variant in (fortran, wide[:, ::2], read_only):
        gm = GaussianMixture(3, random_state=0, chunk_size=100).fit(variant)
        np.testing.assert_array_equal(gm.means_, reference.means_)
    assert not read_only.flags.writeable


def test_collapse_policies(X):
    """A component started far from all data collapses; each policy is defined, never NaN."""
    means = np.vstack([X[:2], [[1e3, 1e3, 1e3]]])
    kwargs = {"means_init": means, "weights_init": [0.4, 0.4, 0.2], "precisions_init": np.stack([np.eye(3)] * 3),
              "max_iter": 50}
    with pytest.warns(CollapseWarning, match="re-seeded at row"):
        reseeded = fit_quietly_keep_collapse(GaussianMixture(3, on_collapse="reseed", **kwargs), X)
    assert_finite(reseeded)
    assert np.abs(reseeded.means_).max() < 100  # the far component came back to the data
    with pytest.warns(CollapseWarning, match="dropped: 2 remain"):
        dropped = fit_quietly_keep_collapse(GaussianMixture(3, on_collapse="drop", **kwargs), X)
    assert dropped.means_.shape == (2, 3)
    assert dropped.predict_proba(X).shape == (len(X), 2)
    assert_finite(dropped)
    ignored = fit_quietly(GaussianMixture(3, on_collapse="ignore", **kwargs), X)
    assert_finite(ignored)
    np.testing.assert_allclose(ignored.covariances_[2], 1e-6 * np.eye(3))  # reg_covar, as scikit-learn


def test_a_collapsed_soft_count_never_reads_as_its_threshold():
    """The warning's count has the digits that show it below the threshold: a soft count
    of 0.99996 rows under 1 row reads 0.99996, not 1 (three digits gave "1 < 1.0")."""
    from fastem._engine import _below

    assert _below(0.99996, 1.0) == "0.99996"
    assert _below(0.25, 1.0) == "0.25"
    for count, threshold in ((0.9999999, 1.0), (1e-300, 1.0), (1.0 - 2**-52, 1.0), (4.999, 5.0)):
        assert float(_below(count, threshold)) < threshold


def test_collapse_with_sklearn_defaults_is_unchanged(X):
    """Without a collapse, on_collapse changes nothing: the same model as scikit-learn."""
    init = {"means_init": X[:3], "weights_init": np.full(3, 1 / 3), "precisions_init": unit_precisions("full", 3, 3),
            "max_iter": 100}
    sk = SkGaussianMixture(3, **init).fit(X)
    for policy in ("reseed", "drop", "ignore"):
        np.testing.assert_allclose(GaussianMixture(3, on_collapse=policy, **init).fit(X).means_, sk.means_, rtol=1e-7)


def test_row_sampling_never_permutes_huge_data():
    """Drawing seed rows from 469 million rows costs memory for the draw, not the rows."""
    import tracemalloc

    from fastem._init import choose_rows

    rng = np.random.RandomState(0)
    tracemalloc.start()
    rows = choose_rows(rng, 468_750_000, 100_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 2**20
    assert len(np.unique(rows)) == 100_000
    assert rows.min() >= 0
    assert rows.max() < 468_750_000
    small = choose_rows(np.random.RandomState(3), 1000, 5)  # scikit-learn's draw where it is cheap
    np.testing.assert_array_equal(small, np.random.RandomState(3).choice(1000, 5, replace=False))


def test_same_clustering_ignores_the_clusters_names():
    """k-means restarts that find one split under other names tie (the earlier run stays:
    test_extreme_scales catches the swap it prevents); another split does not."""
    from fastem._init import same_clustering

    a = np.array([0, 0, 1, 1, 2, 2])
    assert same_clustering(a, np.array([2, 2, 0, 0, 1, 1]))
    assert not same_clustering(a, np.array([0, 0, 1, 1, 1, 2]))  # a row moved
    assert not same_clustering(a, np.array([0, 0, 1, 1, 1, 1]))  # two clusters merged
    assert not same_clustering(np.array([0, 0, 1, 1, 1, 1]), a)  # one split in two


# ---------------------------------------------------------------- issue: no input corrupts memory
def test_warm_start_with_other_features_is_scikit_learns_error(covariance_type):
    rng = np.random.default_rng(0)
    for first, second in ((3, 5), (5, 3)):
        gm = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(blobs(300, first, 2, rng))
        with pytest.raises(ValueError, match=f"X has {second} features, but GaussianMixture is expecting {first}"):
            gm.set_params(warm_start=True).fit(blobs(300, second, 2, rng))
        assert gm.means_.shape == (2, first)  # the failed fit left the model as it was


def test_scaling_every_weight_by_a_constant_changes_nothing(covariance_type, X):
    reference = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    for scale in (1.0 / len(X), 1e-6, 1e6):
        scaled = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(
            X, sample_weight=np.full(len(X), scale))
        for name in ATTRIBUTES:
            np.testing.assert_allclose(getattr(scaled, name), getattr(reference, name), rtol=1e-8, err_msg=name)


def test_the_collapse_threshold_is_in_rows_whatever_the_weights(X):
    means = np.vstack([X[:2], [[1e3, 1e3, 1e3]]])
    kwargs = {"means_init": means, "weights_init": [0.4, 0.4, 0.2], "precisions_init": np.stack([np.eye(3)] * 3),
              "max_iter": 50, "on_collapse": "drop"}
    with pytest.warns(CollapseWarning, match="dropped: 2 remain"):
        fit_quietly_keep_collapse(GaussianMixture(3, **kwargs), X, sample_weight=np.full(len(X), 1e-4))


def test_the_parameter_count_follows_dropped_components(X):
    means = np.vstack([X[:2], [[1e3, 1e3, 1e3]]])
    kwargs = {"means_init": means, "weights_init": [0.4, 0.4, 0.2], "precisions_init": np.stack([np.eye(3)] * 3),
              "max_iter": 50, "on_collapse": "drop"}
    with pytest.warns(CollapseWarning):
        gm = fit_quietly_keep_collapse(GaussianMixture(3, **kwargs), X)
    assert gm.n_parameters() == 2 * 6 + 2 * 3 + 1  # 19, not the 29 of three components
    assert gm.bic(X) == pytest.approx(-2 * gm.score_samples(X).sum() + 19 * np.log(len(X)))


def test_partial_fit_after_fit_weighs_the_rows_already_seen():
    rng = np.random.default_rng(2)
    X = blobs(40_000, 3, 3, rng)
    gm = GaussianMixture(3, random_state=0).fit(X)
    before = {name: getattr(gm, name).copy() for name in ("weights_", "means_")}
    gm.partial_fit(X[:20])
    # 20 rows against 40,000: the model moves by about 20 / 40,020 of the batch's pull
    np.testing.assert_allclose(gm.weights_, before["weights_"], atol=2e-3)
    np.testing.assert_allclose(gm.means_, before["means_"], atol=2e-2)
    assert gm.n_steps_ == 1


def test_partial_fit_after_fit_step_is_the_share_of_the_new_rows():
    """The first step after fit is S <- (1 - rho) S_fit + rho S_batch with rho = b / (n + b)."""
    rng = np.random.default_rng(3)
    X = blobs(4000, 2, 2, rng)
    gm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    w0, m0 = gm.weights_.copy(), gm.means_.copy()
    import naive

    _, resp = naive.e_step(X[:1000], w0, m0, gm.covariances_, "diag")
    rho = 1000 / 5000
    s0 = (1 - rho) * w0 + rho * resp.mean(axis=0)
    s1 = (1 - rho) * w0[:, None] * m0 + rho * (resp.T @ X[:1000]) / 1000
    gm.partial_fit(X[:1000])
    np.testing.assert_allclose(gm.weights_, s0 / s0.sum(), rtol=1e-9)
    np.testing.assert_allclose(gm.means_, s1 / s0[:, None], rtol=1e-9)


@pytest.mark.parametrize("kind", ["npy", "callable", "csv"])
def test_sources_with_no_features_are_refused(tmp_path, kind):
    from fastem import source

    np.save(tmp_path / "x.npy", np.zeros((10, 0)))
    np.savetxt(tmp_path / "x.csv", np.ones((10, 2)), delimiter=",", header="a,b", comments="")
    open_it = {"npy": lambda: source(str(tmp_path / "x.npy")),
               "callable": lambda: source(lambda: iter([np.zeros((10, 0))])),
               "csv": lambda: source(str(tmp_path / "x.csv"), columns=[])}[kind]
    with pytest.raises(ValueError, match="0 features: a mixture needs at least one column"):
        open_it()


def test_checkpoint_refuses_data_changed_past_its_first_rows(tmp_path):
    X = blobs(20_000, 2, 2, np.random.default_rng(2))
    checkpoint = tmp_path / "c.npz"
    gm = GaussianMixture(2, random_state=0, max_iter=5, tol=0.0, checkpoint=str(checkpoint))
    interrupted_fit(gm, X, after=2)
    changed = X.copy()
    changed[15_000] += 1.0  # far beyond the first 4096 rows the old fingerprint hashed
    with pytest.raises(ValueError, match="other data or other parameters"):
        gm.fit(changed)
    weights = np.ones(len(X))
    weights[19_999] = 2.0
    with pytest.raises(ValueError, match="other data or other parameters"):
        gm.fit(X, sample_weight=weights)
