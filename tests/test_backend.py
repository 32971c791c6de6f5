"""One path for every kind of data: the engine's backend, covariance objects, one-pass scoring."""

import naive
import numpy as np
import pytest
from conftest import blobs

from fastem import GaussianMixture, source
from fastem._covariance import COVARIANCE_TYPES, covariance
from fastem._engine import KernelParams, Stats, array_chunks, em_pass, resp_pass


@pytest.fixture(scope="module")
def fitted():
    X = blobs(3000, 3, 3, np.random.default_rng(5))
    return X, GaussianMixture(3, random_state=0).fit(X)


SCORERS = ("predict", "predict_proba", "score_samples", "score", "bic", "aic")


@pytest.mark.parametrize("method", SCORERS)
def test_every_scoring_method_takes_a_one_shot_iterator(fitted, method):
    X, gm = fitted
    expected = getattr(gm, method)(X)
    got = getattr(gm, method)(iter(array_chunks(X, 700)))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("method", SCORERS)
def test_every_scoring_method_calls_a_callable_once(fitted, method):
    X, gm = fitted
    calls = []

    def chunks():
        calls.append(1)
        return array_chunks(X, 700)

    got = getattr(gm, method)(chunks)
    np.testing.assert_allclose(got, getattr(gm, method)(X), rtol=1e-12)
    assert len(calls) == 1


def test_tied_statistics_rebase_as_tied_with_one_feature():
    """(K, D) = (3, 1): the tied s2 has the diag family's shape (1, 1, 1); rebasing must
    still add every component's terms (Stats knows its covariance type)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 1))
    resp = rng.dirichlet(np.ones(3), size=500)
    around_a = resp_pass(array_chunks(X, 100), "tied", np.array([2.0]), resp)
    around_b = resp_pass(array_chunks(X, 100), "tied", np.array([-1.5]), resp)
    moved = around_a.rebased(around_b.shift)
    np.testing.assert_allclose(moved.s1, around_b.s1, rtol=1e-10)
    np.testing.assert_allclose(moved.s2, around_b.s2, rtol=1e-10)


def test_partial_fit_tied_with_one_feature_matches_a_reference():
    """Two steps of stepwise EM, tied covariance, one feature, against the textbook
    blend of responsibility-weighted moments computed by naive."""
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(-3, 1, size=(400, 1)), rng.normal(3, 1, size=(400, 1))])
    rng.shuffle(X)
    a, b = X[:400], X[400:]
    init = {"means_init": np.array([[-2.0], [2.0]]), "weights_init": np.array([0.5, 0.5]),
                "precisions_init": np.array([[1.0]])}
    gm = GaussianMixture(2, covariance_type="tied", learning_offset=1.0, learning_decay=0.6, **init)
    gm.partial_fit(a).partial_fit(b)
    # reference: first batch whole, then blend per unit weight with rho = 2 ** -0.6
    w0, m0, c0 = np.array([0.5, 0.5]), np.array([[-2.0], [2.0]]), np.array([[1.0]])
    _, ra = naive.e_step(a, w0, m0, c0, "tied")
    w1, m1, c1 = naive.m_step(a, ra, "tied", 1e-6)
    _, rb = naive.e_step(b, w1, m1, c1, "tied")
    rho = 2.0**-0.6

    def moments(X, r):  # per unit weight: counts, first and second raw moments
        return r.sum(0) / len(X), (r.T @ X) / len(X), np.einsum("nk,ni,nj->ij", r, X, X) / len(X)

    sa, sb = moments(a, ra), moments(b, rb)
    s0, s1, s2 = ((1 - rho) * p + rho * q for p, q in zip(sa, sb, strict=True))
    means = s1 / s0[:, None]
    cov = s2 - np.einsum("k,ki,kj->ij", s0, means, means) + 1e-6
    np.testing.assert_allclose(gm.means_, means, rtol=1e-9)
    np.testing.assert_allclose(gm.covariances_, cov / s0.sum(), rtol=1e-9)
    np.testing.assert_allclose(gm.weights_, s0 / s0.sum(), rtol=1e-9)


def test_stats_record_their_covariance_type(covariance_type):
    stats = Stats.zeros(covariance_type, np.zeros((3, 1)))
    assert stats.covariance_type == covariance_type
    assert stats.s2.shape == covariance(covariance_type).s2_shape(3, 1)


def test_each_covariance_object_counts_and_shapes_like_scikit_learn(covariance_type, rng):
    from sklearn.mixture import GaussianMixture as SkGM

    X = blobs(400, 3, 2, rng)
    sk = SkGM(2, covariance_type=covariance_type, random_state=0).fit(X)
    cov = covariance(covariance_type)
    assert cov.n_parameters(2, 3) == sk._n_parameters()
    assert cov.shape(2, 3) == sk.covariances_.shape
    np.testing.assert_allclose(cov.precision_cholesky(sk.covariances_), sk.precisions_cholesky_, rtol=1e-10)
    np.testing.assert_allclose(cov.precisions(sk.precisions_cholesky_), sk.precisions_, rtol=1e-10)
    P = cov.cholesky_from_precisions(sk.precisions_)
    np.testing.assert_allclose(cov.covariances_from_cholesky(P), sk.covariances_, rtol=1e-9)


def test_covariance_objects_are_the_only_names():
    assert COVARIANCE_TYPES == ("full", "tied", "diag", "spherical")
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        covariance("banana")


def test_one_nan_message_for_arrays_files_and_streams(tmp_path):
    X = blobs(3000, 3, 2, np.random.default_rng(0))
    X[2345, 1] = np.nan
    np.save(tmp_path / "x.npy", X)
    message = r"contains NaN or inf: row 2345, column 1 holds nan"
    for data in (X, str(tmp_path / "x.npy"), lambda: array_chunks(X, 1000)):
        with pytest.raises(ValueError, match=message):
            GaussianMixture(2).fit(data)
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2).partial_fit(iter(array_chunks(X, 1000)))


def test_a_source_that_grows_between_passes_is_an_error(fitted, tmp_path):
    X, _gm = fitted
    path = tmp_path / "a.csv"
    np.savetxt(path, X[:1000], delimiter=",")
    src = source(str(path))
    gm2 = GaussianMixture(3, random_state=0).fit(src)
    with open(path, "a") as f:
        np.savetxt(f, X[1000:1100], delimiter=",")
    with pytest.raises(ValueError, match=r"changed between passes: pass \d+ yielded more than the 1,000 rows"):
        gm2.predict(src)


def test_a_source_that_shrinks_between_passes_is_an_error(fitted, tmp_path):
    X, _ = fitted
    path = tmp_path / "a.csv"
    np.savetxt(path, X[:1000], delimiter=",")
    src = source(str(path))
    gm = GaussianMixture(3, random_state=0).fit(src)
    np.savetxt(path, X[:900], delimiter=",")
    with pytest.raises(ValueError, match=r"changed between passes: pass \d+ yielded 900 rows, not the 1,000"):
        gm.score(src)


def test_a_callable_that_yields_more_rows_on_a_later_pass_is_an_error(fitted):
    X, _ = fitted
    calls = []

    def chunks():
        calls.append(1)
        return array_chunks(X[: 1000 + 100 * (len(calls) > 2)], 500)

    with pytest.raises(ValueError, match="changed between passes"):
        GaussianMixture(3, random_state=0).fit(chunks)


def test_em_pass_and_the_kernel_layout_agree_with_the_reference(covariance_type, rng):
    """The layout each covariance object gives the kernels (through KernelParams) yields
    the reference log-likelihood."""
    from conftest import random_params

    params = random_params(covariance_type, 3, 4, rng, offset=50.0)
    X = rng.normal(size=(800, 4)) + 50.0
    kp = KernelParams.from_params(params)
    assert kp.covariance_type == covariance_type
    stats = em_pass(array_chunks(X, 300), params)
    log_density, _ = naive.e_step(X, params.weights, params.means, params.covariances, covariance_type)
    assert stats.loglik == pytest.approx(log_density.sum(), rel=1e-10)


def test_dask_collections_are_not_local_sources():
    da = pytest.importorskip("dask.array")
    with pytest.raises(TypeError, match="not a local source"):
        source(da.zeros((10, 2)))
