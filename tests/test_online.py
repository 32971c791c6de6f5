"""partial_fit: stepwise online EM on a stream."""

import naive
import numpy as np
import pytest
from conftest import blobs, random_params

from fastem import GaussianMixture
from fastem._engine import KernelParams, Stats, array_chunks, em_pass
from fastem._engine import symmetric as _symmetric


def stream(n_batches, batch, rng, centers, scales):
    for _ in range(n_batches):
        labels = rng.integers(len(centers), size=batch)
        yield centers[labels] + scales[labels] * rng.standard_normal((batch, centers.shape[1]))


@pytest.mark.parametrize("covariance_type", ["full", "diag", "tied", "spherical"])
def test_one_pass_reaches_batch_accuracy(covariance_type):
    """One pass over a 200,000-row stream: held-out mean log-likelihood within 1% of
    batch EM's on the same rows (the example scales this to 10 million rows)."""
    rng = np.random.default_rng(3)
    centers = rng.normal(scale=4.0, size=(5, 4))
    scales = rng.uniform(0.5, 1.5, size=(5, 4))
    held_out = next(stream(1, 20_000, np.random.default_rng(99), centers, scales))
    online = GaussianMixture(5, covariance_type=covariance_type, random_state=0)
    for batch in stream(100, 2000, np.random.default_rng(1), centers, scales):
        online.partial_fit(batch)
    everything = np.vstack(list(stream(100, 2000, np.random.default_rng(1), centers, scales)))
    batch_em = GaussianMixture(5, covariance_type=covariance_type, random_state=0).fit(everything)
    assert online.n_steps_ == 100
    gap = abs(online.score(held_out) - batch_em.score(held_out)) / abs(batch_em.score(held_out))
    assert gap < 0.01, gap


def test_partial_fit_takes_a_stream_one_step_per_chunk():
    rng = np.random.default_rng(0)
    X = blobs(6000, 3, 3, rng)
    gm = GaussianMixture(3, random_state=0).partial_fit(iter([X[:2000], X[2000:4000], X[4000:]]))
    assert gm.n_steps_ == 3
    again = GaussianMixture(3, random_state=0)
    for part in (X[:2000], X[2000:4000], X[4000:]):
        again.partial_fit(part)
    np.testing.assert_allclose(gm.means_, again.means_, rtol=1e-12)


def test_first_step_is_one_em_step_from_the_initialisation(covariance_type):
    rng = np.random.default_rng(1)
    X = blobs(3000, 3, 3, rng)
    precisions = {"full": np.stack([np.eye(3)] * 3), "tied": np.eye(3), "diag": np.ones((3, 3)),
                  "spherical": np.ones(3)}[covariance_type]
    init = {"means_init": X[:3].copy(), "weights_init": np.full(3, 1 / 3), "covariance_type": covariance_type,
            "precisions_init": precisions}
    online = GaussianMixture(3, **init).partial_fit(X)
    batch = GaussianMixture(3, max_iter=1, tol=0.0, **init)
    with pytest.warns(Warning, match="did not converge"):
        batch.fit(X)
    np.testing.assert_allclose(online.means_, batch.means_, rtol=1e-10)
    np.testing.assert_allclose(online.covariances_, batch.covariances_, rtol=1e-9)


def test_rebased_stats_equal_stats_taken_around_the_new_shift(covariance_type):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(2000, 3))
    a = random_params(covariance_type, 3, 3, rng)
    b = random_params(covariance_type, 3, 3, rng)
    shift_b = KernelParams.from_params(b).shift
    moved = em_pass(array_chunks(X, 500), a).rebased(shift_b)  # a's responsibilities, around b's shift
    _, resp = naive.e_step(X, a.weights, a.means, a.covariances, covariance_type)
    s0, s1, s2 = naive.moments(X, resp, shift_b)
    np.testing.assert_allclose(moved.s0, s0, rtol=1e-10)
    np.testing.assert_allclose(moved.s1, s1, rtol=1e-9, atol=1e-9)
    if covariance_type == "full":
        np.testing.assert_allclose(_symmetric(moved.s2), s2, rtol=1e-9, atol=1e-9)
    elif covariance_type == "tied":
        Xc = X - shift_b[0]
        np.testing.assert_allclose(_symmetric(moved.s2[0]), Xc.T @ Xc, rtol=1e-9, atol=1e-9)
    else:
        np.testing.assert_allclose(moved.s2[:, 0], np.diagonal(s2, axis1=1, axis2=2), rtol=1e-9, atol=1e-9)
    assert isinstance(moved, Stats)


@pytest.mark.parametrize(("name", "value"), [("learning_decay", 0.5), ("learning_decay", 1.5), ("learning_offset", -1.0)])
def test_invalid_step_size_parameters(name, value):
    with pytest.raises(ValueError, match=name):
        GaussianMixture(2, **{name: value}).partial_fit(np.random.default_rng(0).normal(size=(50, 2)))


def test_a_loaded_model_goes_on_from_its_parameters(covariance_type, tmp_path):
    """A model loaded from a file steps from its own parameters (the batch taken whole:
    one EM iteration on the batch from them), not from a new initialisation."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    import fastem

    rng = np.random.default_rng(2)
    X = blobs(4000, 3, 3, rng, spread=1.5)  # overlapping: an EM step depends on where it starts
    fitted = GaussianMixture(3, covariance_type=covariance_type, random_state=0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(X[:2000])
    loaded = fastem.load(fitted.save(tmp_path / "model.npz"))
    stepped = loaded.partial_fit(X[2000:])
    start = {"weights_init": fitted.weights_, "means_init": fitted.means_, "precisions_init": fitted.precisions_}
    one_iteration = GaussianMixture(3, covariance_type=covariance_type, max_iter=1, tol=0.0, **start)
    with pytest.warns(Warning, match="did not converge"):
        one_iteration.fit(X[2000:])
    assert stepped.n_steps_ == 1
    np.testing.assert_allclose(stepped.means_, one_iteration.means_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stepped.covariances_, one_iteration.covariances_, rtol=1e-9, atol=1e-12)
