"""Every kernel against the slow references in naive.py."""

import inspect
import re

import llvmlite.binding
import naive
import numba
import numpy as np
import pytest
from conftest import random_params

from fastem import _kernels
from fastem._engine import (
    KernelParams,
    Params,
    Stats,
    array_chunks,
    em_pass,
    m_step,
    precision_cholesky,
    resp_pass,
    score_pass,
)
from fastem._engine import symmetric as _symmetric
from fastem._kernels import _options

# Relative tolerances against the float64 references on the same values. float64 data:
# rounding of long sums. float32 data: the kernels compute each block in float32 (8 lanes
# per vector; relative error about 1e-7 per quantity, a few 1e-6 after a block's sums of
# 512 rows) and add blocks in float64, so 2e-5 bounds them with room.
RTOL = {np.float64: 1e-9, np.float32: 2e-5}


def scale(X):
    """An absolute tolerance's unit for sums over X: float32 sums cancel to about eps * n * |x|."""
    X = np.asarray(X)
    return 1.0 if X.dtype == np.float64 else 1e4 * len(X) * float(np.abs(X).max())


# Feature counts 1 to 20 cross the kernels' tile edges (four-row passes, two-by-four Gram tiles).
# 37 and 64 components run diag's expanded form (diag.EXPANDED_MIN_COMPONENTS) in float64.
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 1, 2), (1000, 3, 4), (600, 5, 3), (500, 7, 3), (777, 8, 5), (300, 13, 2), (3000, 20, 3),
                                   (700, 9, 37), (600, 4, 64)])
def test_em_pass_matches_reference(covariance_type, dtype, shape, rng):
    n, n_features, n_components = shape
    params = random_params(covariance_type, n_components, n_features, rng)
    X = (rng.normal(scale=2.0, size=(n, n_features))).astype(dtype)
    weight = rng.uniform(0.1, 2.0, size=n)
    stats = em_pass(array_chunks(X, 256), params, weight)
    log_density, resp = naive.e_step(X, params.weights, params.means, params.covariances, covariance_type)
    assert stats.loglik == pytest.approx(float(weight @ log_density), rel=RTOL[dtype])
    assert stats.weight == pytest.approx(weight.sum(), rel=1e-12)
    s0, s1, s2 = naive.moments(X, resp, stats.shift, weight)
    np.testing.assert_allclose(stats.s0, s0, rtol=RTOL[dtype], atol=1e-12)
    np.testing.assert_allclose(stats.s1, s1, rtol=RTOL[dtype], atol=1e-9 * scale(X))
    if covariance_type in ("full", "tied"):  # the kernels fill the upper triangle only
        assert not np.tril(stats.s2, -1).any()
    if covariance_type == "full":
        np.testing.assert_allclose(_symmetric(stats.s2), s2, rtol=RTOL[dtype], atol=1e-9 * scale(X))
    elif covariance_type == "tied":
        c = stats.shift[0]
        Xc = X.astype(np.float64) - c
        np.testing.assert_allclose(_symmetric(stats.s2[0]), (Xc.T * (resp.sum(1) * weight)) @ Xc, rtol=RTOL[dtype], atol=1e-9 * scale(X))
    else:
        np.testing.assert_allclose(stats.s2[:, 0, :], np.diagonal(s2, axis1=1, axis2=2), rtol=RTOL[dtype], atol=1e-9 * scale(X))


def test_full_keeps_precision_for_components_far_from_the_centre(rng):
    """float64 full takes its log-densities from rows centred on the means' average and
    whitened locations, whose rounding grows with a row's distance from that centre in
    units of its component's spread: two clusters about 1e5 apart and a third, a hundred
    times narrower, beside the first, all 1e8 from the origin, keep each row's
    log-density, the log-likelihood and the moments to 1e-9 (whitened from the origin
    instead, the log-densities moved by up to 2.6e-6)."""
    means = 1e8 + rng.normal(scale=1e5, size=(3, 3))
    means[2] = means[0] + rng.normal(size=3)
    A = rng.normal(size=(3, 3, 3))
    cov = A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(3)
    cov[2] *= 1e-4
    labels = rng.integers(3, size=3000)
    X = means[labels] + np.einsum("nij,nj->ni", np.linalg.cholesky(cov)[labels], rng.standard_normal((3000, 3)))
    params = Params("full", np.full(3, 1 / 3), means, cov, precision_cholesky(cov, "full"))
    stats = em_pass(array_chunks(X, 1000), params)
    log_density, resp = naive.e_step(X, params.weights, means, cov, "full")
    np.testing.assert_allclose(score_pass(array_chunks(X, 1000), params, len(X))[0], log_density, rtol=0, atol=1e-9)
    assert stats.loglik == pytest.approx(float(log_density.sum()), rel=1e-9)
    s0, s1, s2 = naive.moments(X, resp, stats.shift)
    np.testing.assert_allclose(stats.s0, s0, rtol=1e-9)
    np.testing.assert_allclose(stats.s1, s1, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(_symmetric(stats.s2), s2, rtol=1e-9, atol=1e-9)


def _expanded_case(rng, n_components=37, n_features=9, tight=False):
    """Data and diag params 1e6 from the origin with EXPANDED_MIN_COMPONENTS or more
    components; tight: one component a millionth as wide, far from the others, which puts
    the expanded form's rounding past diag.EXPANDED_ERROR."""
    params = random_params("diag", n_components, n_features, rng, offset=1e6)
    cov = params.covariances.copy()
    if tight:
        cov[0] *= 1e-12
    params = Params("diag", params.weights, params.means, cov, precision_cholesky(cov, "diag"))
    X = 1e6 + rng.normal(scale=2.0, size=(1000, n_features))
    X[:50] = params.means[0] + np.sqrt(cov[0]) * rng.standard_normal((50, n_features))
    return X, params


def _block(X, params):
    """The first block of X as the fused pass sees it: (xT (D, B), kernel params, coef)."""
    kp = KernelParams.from_params(params)
    coef, _, _ = _kernels._buffers.block_params(_kernels.DIAG, kp.loc, kp.center, kp.prec)
    return np.ascontiguousarray(X[:256].T), kp, coef


@pytest.mark.parametrize("tight", [False, True])
def test_expand_block_follows_the_bound(tight, rng):
    X, params = _expanded_case(rng, tight=tight)
    xT, kp, coef = _block(X, params)
    sq = np.full_like(xT, np.nan)
    reach = np.abs(X[:256] - kp.center).max(axis=0)
    worst = (((coef[:, 0] * reach + np.abs(coef[:, 3])) ** 2).sum(axis=1)).max()
    expanded = _kernels.diag.expand_block(xT, 256, kp.center, coef, sq)
    assert expanded == (worst * np.finfo(np.float64).eps <= _kernels.diag.EXPANDED_ERROR) == (not tight)
    if expanded:  # centred in place, squares beside
        np.testing.assert_array_equal(xT, (X[:256] - kp.center).T)
        np.testing.assert_array_equal(sq, xT * xT)
    else:  # the block is left for the shifted kernels
        np.testing.assert_array_equal(xT, X[:256].T)


def test_expand_block_refuses_float32_and_nan(rng):
    X, params = _expanded_case(rng)
    xT, kp, coef = _block(X, params)
    sq = np.empty_like(xT)
    assert not _kernels.diag.expand_block(xT.astype(np.float32), 256, kp.center.astype(np.float32),
                                          coef.astype(np.float32), sq.astype(np.float32))
    xT[3, 17] = np.nan
    assert not _kernels.diag.expand_block(xT, 256, kp.center, coef, sq)


def test_expanded_form_from_32_float64_diag_components(monkeypatch):
    least = _kernels.diag.EXPANDED_MIN_COMPONENTS
    assert least == 32
    assert _kernels.expanded_form(_kernels.DIAG, np.float64, least)  # conftest: as on a CPU where it pays
    assert not _kernels.expanded_form(_kernels.DIAG, np.float64, least - 1)
    assert not _kernels.expanded_form(_kernels.DIAG, np.float32, 256)
    assert not _kernels.expanded_form(_kernels.FULL, np.float64, 256)
    monkeypatch.setattr(_kernels, "EXPANDED_PAYS", False)
    assert not _kernels.expanded_form(_kernels.DIAG, np.float64, 256)


def test_expanded_form_pays_on_intel_cores_only():
    for name in ("skylake-avx512", "icelake-server", "sapphirerapids", "haswell", "generic"):
        assert _kernels.expanded_pays(name), name
    for name in ("znver2", "znver4", "znver5"):
        assert not _kernels.expanded_pays(name), name


def test_expanded_kernels_match_reference(rng):
    """The expanded log-densities and moments against the direct formulas (37 components:
    a tile edge; 9 features: odd)."""
    X, params = _expanded_case(rng)
    xT, kp, coef = _block(X, params)
    sq = np.empty_like(xT)
    assert _kernels.diag.expand_block(xT, 256, kp.center, coef, sq)
    logp = np.empty((37, 256))
    _kernels.diag.diag_expanded_log_prob(xT, sq, 250, coef, kp.log_norm, logp)
    p = kp.prec[:, 0]
    ref = kp.log_norm[:, None] - 0.5 * (((X[:250, None, :] - kp.loc[None]) * p[None]) ** 2).sum(axis=2).T
    np.testing.assert_allclose(logp[:, :250], ref, rtol=1e-12, atol=1e-9)
    resp = rng.uniform(size=(37, 256))
    s0, s1, s2 = np.zeros(37), np.zeros((37, 9)), np.zeros((37, 1, 9))
    _kernels.diag.diag_expanded_accumulate(xT, sq, 250, kp.loc, kp.center, resp, s0, s1, s2)
    t = X[None, :250, :] - kp.loc[:, None, :]  # (K, B, D), around the means
    r = resp[:, :250, None]
    np.testing.assert_allclose(s0, resp[:, :250].sum(axis=1), rtol=1e-13)
    np.testing.assert_allclose(s1, (r * t).sum(axis=1), rtol=1e-9, atol=1e-9 * 250)
    np.testing.assert_allclose(s2[:, 0], (r * t * t).sum(axis=1), rtol=1e-9)


def test_diag_keeps_precision_past_the_expanded_bound(rng):
    """A component a millionth as wide as the others: the expanded form would move its
    rows' log-densities by more than 1e-9; the fused pass runs those blocks shifted and
    matches the reference to 1e-9, as it does where the bound holds."""
    for tight in (False, True):
        X, params = _expanded_case(rng, tight=tight)
        stats = em_pass(array_chunks(X, 1000), params)
        log_density, resp = naive.e_step(X, params.weights, params.means, params.covariances, "diag")
        np.testing.assert_allclose(score_pass([X], params, len(X))[0], log_density, rtol=0, atol=1e-9)
        assert stats.loglik == pytest.approx(float(log_density.sum()), rel=1e-12)
        s0, s1, s2 = naive.moments(X, resp, stats.shift)
        np.testing.assert_allclose(stats.s0, s0, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(stats.s1, s1, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(stats.s2[:, 0, :], np.diagonal(s2, axis1=1, axis2=2), rtol=1e-9, atol=1e-12)
    xT, kp, coef = _block(X, params)  # the tight case, forced through the expanded kernel
    centred = xT - kp.center[:, None]
    logp = np.empty((37, 256))
    _kernels.diag.diag_expanded_log_prob(centred, centred * centred, 256, coef, kp.log_norm, logp)
    assert np.abs(logp[0, :50] - log_density[:50] + np.log(resp[:50, 0])).max() > 1e-9


def test_m_step_matches_reference(covariance_type, rng):
    X = rng.normal(size=(2000, 4)) * 3 + 1e3  # an offset: shifted statistics keep precision
    params = random_params(covariance_type, 3, 4, rng, offset=1e3)
    stats = em_pass(array_chunks(X, 500), params)
    new = m_step(stats, covariance_type, reg_covar=1e-6, eps=0.0)
    _, resp = naive.e_step(X, params.weights, params.means, params.covariances, covariance_type)
    weights, means, cov = naive.m_step(X, resp, covariance_type, 1e-6)
    np.testing.assert_allclose(new.weights, weights, rtol=1e-9)
    np.testing.assert_allclose(new.means, means, rtol=1e-9)
    np.testing.assert_allclose(new.covariances, cov, rtol=1e-7)


def test_resp_pass_matches_reference(covariance_type, dtype, rng):
    X = rng.normal(size=(1500, 5)).astype(dtype)
    resp = rng.dirichlet(np.ones(3), size=1500)
    weight = rng.uniform(0, 3, size=1500)
    center = rng.normal(size=5)
    stats = resp_pass(array_chunks(X, 400), covariance_type, center, resp, weight)
    s0, s1, s2 = naive.moments(X, resp, stats.shift, weight)
    np.testing.assert_allclose(stats.s0, s0, rtol=RTOL[dtype])
    np.testing.assert_allclose(stats.s1, s1, rtol=RTOL[dtype], atol=1e-9 * scale(X))
    if covariance_type in ("full", "tied"):  # the kernels fill the upper triangle only
        assert not np.tril(stats.s2, -1).any()
    if covariance_type == "full":
        np.testing.assert_allclose(_symmetric(stats.s2), s2, rtol=RTOL[dtype], atol=1e-9 * scale(X))
    elif covariance_type == "tied":
        Xc = X.astype(np.float64) - center
        np.testing.assert_allclose(_symmetric(stats.s2[0]), (Xc.T * (resp.sum(1) * weight)) @ Xc, rtol=RTOL[dtype], atol=1e-9 * scale(X))
    else:
        np.testing.assert_allclose(stats.s2[:, 0, :], np.diagonal(s2, axis1=1, axis2=2), rtol=RTOL[dtype], atol=1e-9 * scale(X))


def test_score_matches_reference(covariance_type, dtype, rng):
    params = random_params(covariance_type, 4, 6, rng)
    X = rng.normal(scale=2.0, size=(2500, 6)).astype(dtype)
    log_density, labels, resp = score_pass(array_chunks(X, 1000), params, len(X), with_resp=True)
    ref_density, ref_resp = naive.e_step(X, params.weights, params.means, params.covariances, covariance_type)
    np.testing.assert_allclose(log_density, ref_density, rtol=RTOL[dtype])
    np.testing.assert_allclose(resp, ref_resp, rtol=RTOL[dtype] * 10, atol=RTOL[dtype] * 1e-4)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12 if dtype == np.float64 else 1e-6)
    clear = np.sort(ref_resp, axis=1)[:, -1] - np.sort(ref_resp, axis=1)[:, -2] > 1e-9
    np.testing.assert_array_equal(labels[clear], ref_resp.argmax(axis=1)[clear])


def test_lloyd_matches_reference(dtype, rng):
    X = rng.normal(size=(3000, 5)).astype(dtype)
    centers = rng.normal(size=(6, 5))
    centers[5] = 100.0  # an empty cluster
    weight = rng.uniform(0.5, 1.5, size=3000)
    counts, sums = np.zeros(6), np.zeros((6, 5))
    labels = np.empty(3000, dtype=np.int64)
    inertia = _kernels.lloyd_accumulate(X, weight, centers, counts, sums, labels)
    ref_labels, ref_counts, ref_new, ref_inertia = naive.lloyd_step(X, centers, weight)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(counts, ref_counts, rtol=RTOL[dtype])
    assert inertia == pytest.approx(ref_inertia, rel=RTOL[dtype])
    moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1e-300)[:, None], 0.0)
    np.testing.assert_allclose(centers + moved, ref_new, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("src", "dst"), [(np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64)])
@pytest.mark.parametrize("n_features", [1, 7, 8, 16, 19])
@pytest.mark.parametrize("nb", [1, 7, 8, 13, 512])
def test_load_block_transposes_rows(src, dst, n_features, nb, rng):
    """The transposing load (8x8 tiles in registers, scalar edges) against NumPy's
    transpose, from a row that is not the first, converting float32 data to float64 scratch
    (k-means does); scratch past the block's rows is left alone."""
    from fastem._kernels._buffers import aligned_empty
    from fastem._kernels.drivers import load_block

    X = rng.normal(size=(nb + 11, n_features)).astype(src)
    weight = rng.uniform(size=nb + 11)
    xT = aligned_empty(1, n_features, 512, dst)[0]
    xT[:] = np.nan
    wb = np.zeros(512)
    load_block(X, weight, 5, nb, xT, wb)
    np.testing.assert_array_equal(xT[:, :nb], X[5:5 + nb].T.astype(dst))
    assert np.isnan(xT[:, nb:]).all()
    np.testing.assert_array_equal(wb[:nb], weight[5:5 + nb])
    load_block(X, weight[:0], 5, nb, xT, wb)  # no sample weights: ones
    np.testing.assert_array_equal(wb[:nb], 1.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", [1, 3, 4, 5, 16, 19])
def test_padded_upper_keeps_the_upper_triangle(dtype, n_features, rng):
    """The full kernel's tiles read sixteen coefficients without a test, so every entry
    below the diagonal and past the last feature must be 0, whatever the input holds there."""
    prec = rng.normal(size=(3, n_features, n_features)).astype(dtype)
    out = _kernels.full.padded_upper(prec)
    width = -(-n_features // 4) * 4
    assert out.shape == (3, width, width)
    assert out.dtype == dtype
    expected = np.zeros((3, width, width), dtype=dtype)
    expected[:, :n_features, :n_features] = np.triu(prec)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_features", [1, 5, 16])
def test_locations_whiten_float64_only(dtype, n_features, rng):
    """full_log_prob's locations: P_k^T (mu_k - c) for float64 blocks, mu_k - c itself for
    float32 ones (which keep the per-component differences), zero in the padding."""
    prec = np.triu(rng.normal(size=(3, n_features, n_features))).astype(dtype)
    shift = rng.normal(size=(3, n_features)).astype(dtype)
    out = _kernels.full.locations(shift, _kernels.full.padded_upper(prec))
    width = -(-n_features // 4) * 4
    assert out.shape == (3, width)
    assert out.dtype == dtype
    assert not out[:, n_features:].any()
    if dtype == np.float64:
        expected = np.einsum("kij,ki->kj", prec.astype(np.float64), shift.astype(np.float64))
        np.testing.assert_allclose(out[:, :n_features], expected, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(out[:, :n_features], shift)


def test_exp_shifted_matches_numpy(dtype):
    from fastem._kernels._exp import exp_shifted

    x = np.concatenate([-np.logspace(-12, 3, 4000), [0.0, -0.0, -np.inf, -199.0, -201.0, -59.0, -61.0]]).astype(dtype)
    shift = np.linspace(-5.0, 5.0, x.size).astype(dtype)  # exp(x - shift) for x - shift <= 0
    x = np.minimum(x + shift, shift)
    out = x.copy()
    exp_shifted(out, out.size, shift)
    assert out.dtype == dtype
    difference = (x - shift).astype(np.float64)  # rounded to dtype, as the kernel's is
    expected = np.exp(difference)
    kept = difference > (-60.0 if dtype == np.float32 else -200.0)
    assert np.all(out[~kept] == 0.0)  # flushed to zero, never subnormal
    rel = np.abs(out[kept] / expected[kept] - 1.0)
    assert rel.max() < (1e-6 if dtype == np.float32 else 1e-14)


def test_log_positive_matches_numpy(dtype):
    """The vectorised log of the per-row tail, over log-sum-exp's totals (1 to K), the
    mantissa's split at sqrt(2), the whole normal range, and 0 (a row no component explains)."""
    from numba import njit

    from fastem._kernels._exp import log_positive

    @njit
    def logs(v, out):
        for i in range(v.size):
            out[i] = log_positive(v[i])

    rng = np.random.default_rng(0)
    info = np.finfo(dtype)
    v = np.concatenate([
        rng.uniform(1.0, 64.0, 5000).astype(dtype),
        np.exp(rng.uniform(np.log(info.tiny), np.log(info.max), 5000)).astype(dtype),
        np.nextafter(dtype(np.sqrt(2.0)), np.array([0.0, 3.0], dtype)),
        np.array([1.0, 2.0, 0.5, info.tiny, info.max, 0.0], dtype),
    ])
    out = np.empty(v.size)
    logs(v, out)
    expected = np.log(v.astype(np.float64)[:-1])
    assert np.all(np.abs(out[:-1] - expected) <= 4e-16 * np.maximum(np.abs(expected), 1.0))
    assert out[-1] == -np.inf


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_first_nonfinite(dtype, value):
    X = np.ones((1000, 3), dtype=dtype)
    assert _kernels.first_nonfinite(X) == -1
    X[737, 2] = value
    X[900, 0] = value
    assert _kernels.first_nonfinite(X) == 737


@pytest.mark.parametrize("chunk_size", [1, 7, 1000, None])
def test_chunked_equals_one_chunk(covariance_type, chunk_size, rng):
    params = random_params(covariance_type, 3, 4, rng)
    X = rng.normal(size=(2000, 4))
    one = em_pass([X], params)
    many = em_pass(array_chunks(X, chunk_size or len(X)), params)
    assert many.loglik == pytest.approx(one.loglik, rel=1e-12)
    for a, b in [(many.s0, one.s0), (many.s1, one.s1), (many.s2, one.s2)]:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("n_components", [5, 33])  # 33: diag's expanded form in float64
def test_thread_count_does_not_change_bits(covariance_type, n_components, rng):
    params = random_params(covariance_type, n_components, 7, rng)
    X = rng.normal(size=(50_000, 7))
    kp = KernelParams.from_params(params)
    results = []
    for n_threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        numba.set_num_threads(n_threads)
        try:
            stats = em_pass([X], params)
            log_density, labels, resp = score_pass([X], params, len(X), with_resp=True)
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        results.append((stats.loglik, stats.s0, stats.s1, stats.s2, log_density, labels, resp))
    assert kp.loc.shape == (n_components, 7)
    for other in results[1:]:
        assert other[0] == results[0][0]
        for a, b in zip(other[1:], results[0][1:], strict=False):
            np.testing.assert_array_equal(a, b)


def test_stats_zero_shapes(covariance_type):
    stats = Stats.zeros(covariance_type, np.zeros((3, 4)))
    expected = {"full": (3, 4, 4), "tied": (1, 4, 4), "diag": (3, 1, 4), "spherical": (3, 1, 4)}
    assert stats.s2.shape == expected[covariance_type]


def _kernel_dispatchers():
    modules = [_options, _kernels.drivers, _kernels.full, _kernels.tied, _kernels.diag, _kernels.kmeans,
               _kernels.missing]
    for module in modules:
        for name, obj in inspect.getmembers(module):
            if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", obj
    for (family, form), fused in _kernels._FUSED.items():  # the closures of drivers.family_drivers
        yield f"fastem._kernels.drivers.fused_pass[{family}, {form}]", fused


def test_every_kernel_uses_the_shared_options():
    found = dict(_kernel_dispatchers())
    assert len(found) >= 16
    for name, dispatcher in found.items():
        options = dispatcher.targetoptions
        assert options.get("fastmath") == _options.FASTMATH, name
        cached = type(dispatcher._cache).__name__ != "NullCache"  # cache=True installs a FunctionCache
        assert cached == _options.CACHE, name
        assert "nnan" not in options["fastmath"], name
        assert "ninf" not in options["fastmath"], name
    parallel = {name for name, d in found.items() if d.targetoptions.get("parallel")}
    assert parallel == {
        *(f"fastem._kernels.drivers.fused_pass[{family}, {form}]" for family, form in _kernels._FUSED),
        "fastem._kernels.kmeans.lloyd_accumulate",
        "fastem._kernels.missing.em_diag",
        "fastem._kernels.missing.masked_pass",
        "fastem._kernels.missing.pattern_inverses",
        "fastem._kernels.missing.score_diag",
    }


def test_kernels_ask_for_wide_vectors(rng):
    """wide_vectors() puts LLVM's 512-bit preference on the block functions and on a driver's
    parallel body (a function of its own); without it Intel's AVX-512 cores get 256-bit
    loops. Compiled afresh: Numba cannot show the code of a kernel loaded from its cache."""
    def fresh(dispatcher):
        options = {key: value for key, value in dispatcher.targetoptions.items() if key != "nopython"}
        return numba.njit(**{**options, "cache": False})(dispatcher.py_func)

    n_features, n_components, rows = 5, 3, 32
    xT = rng.normal(size=(n_features, rows))
    loc = rng.normal(size=(n_components, n_features))
    log_prob = fresh(_kernels.full.full_log_prob)
    prec = _kernels.full.padded_upper(np.tile(np.eye(n_features), (n_components, 1, 1)))
    padded_loc = _kernels.full.locations(loc, prec)  # (K, D4), as the drivers pass it
    log_prob(xT, rows, padded_loc, prec, np.zeros(n_components), np.empty((5, rows)), np.empty((n_components, rows)))
    lloyd = fresh(_kernels.kmeans.lloyd_accumulate)
    X = rng.normal(size=(100, n_features))
    from fastem._kernels._buffers import aligned_empty, layout

    rows, n_blocks, groups, slots = layout(len(X), n_features, 8, n_components * (n_features + 1) + 1, 2)
    lloyd(X, np.zeros(0), loc, rows, n_blocks, groups, slots, aligned_empty(slots, n_features, rows, np.float64),
          aligned_empty(slots, 3, rows, np.float64), np.empty((slots, rows), dtype=np.int64),
          np.zeros((groups, n_components)), np.zeros((groups, n_components, n_features)), np.zeros(groups),
          np.zeros(0, dtype=np.int64))
    has_avx512 = "+avx512f" in llvmlite.binding.get_host_cpu_features().flatten()
    for kernel, name in ((log_prob, "full_log_prob"), (lloyd, "parfor_gufunc")):
        ir = "".join(kernel.inspect_llvm().values())
        groups = dict(re.findall(r"attributes (#\d+) = \{([^}]*)\}", ir))
        wide = {group for group, attributes in groups.items() if '"prefer-vector-width"="512"' in attributes}
        defined = re.findall(r"define [^@]*@\"?([^\"(]+)\"?\([^)]*\)[^{]*?(#\d+)", ir)
        assert any(name in function and group in wide for function, group in defined), name
        if has_avx512:
            assert "zmm" in "".join(kernel.inspect_asm().values())
