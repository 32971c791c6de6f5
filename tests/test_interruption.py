"""Interruption: Ctrl-C leaves the estimator as it was; checkpoints resume killed fits."""

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import blobs, interrupted_fit

import fastem._engine as engine
from fastem import GaussianMixture
from fastem._persist import ModelFileError, read_archive


def test_keyboard_interrupt_leaves_the_estimator_as_it_was(monkeypatch):
    X = blobs(2000, 3, 3, np.random.default_rng(0))
    gm = GaussianMixture(3, random_state=0).fit(X)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in gm.__dict__.items()}
    calls = []
    original = engine.em_stats

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) % 2 == 0:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "em_stats", interrupted)
    with pytest.raises(KeyboardInterrupt):
        gm.set_params(covariance_type="diag").fit(X[:, :2] * 3)
    gm.set_params(covariance_type="full")
    assert gm.__dict__.keys() == before.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(gm.__dict__[key], value, err_msg=key)
    fresh = GaussianMixture(3)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        fresh.fit(X)
    assert not hasattr(fresh, "n_features_in_")
    assert not hasattr(fresh, "means_")


CHILD = """
import sys, time
import numpy as np
import fastem._engine as engine
from fastem import GaussianMixture

m_step = engine.m_step
def slow_m_step(*args, **kwargs):  # slow the fit down so that the test can kill it mid-way
    time.sleep(0.15)
    return m_step(*args, **kwargs)
engine.m_step = slow_m_step
X = np.load(sys.argv[1])
GaussianMixture(4, random_state=0, tol=0.0, max_iter=25, n_init=2, init_params="random",
                checkpoint=sys.argv[2]).fit(X)
print("finished")
"""


def _where(path):
    header, _ = read_archive(path, "checkpoint", "fastem-checkpoint")
    return header["init_index"], header["current"]["n_iter"]


def test_killed_fit_resumes_to_the_same_model(tmp_path):
    X = blobs(3000, 3, 4, np.random.default_rng(1))
    np.save(tmp_path / "x.npy", X)
    checkpoint = tmp_path / "fit.ckpt.npz"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "x.npy"), str(checkpoint)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if checkpoint.exists() and _where(checkpoint) >= (1, 3):  # the second run, three iterations in
                break
            assert child.poll() is None, child.communicate()
            time.sleep(0.05)
        else:
            pytest.fail("the fit never reached its second run")
    finally:
        child.kill()
        child.communicate()
    assert child.returncode != 0
    stopped_at = _where(checkpoint)

    kwargs = {"random_state": 0, "tol": 0.0, "max_iter": 25, "n_init": 2, "init_params": "random"}
    resumed = GaussianMixture(4, checkpoint=str(checkpoint), **kwargs)
    with pytest.warns(Warning, match="did not converge"):
        resumed.fit(X)
    with pytest.warns(Warning, match="did not converge"):
        straight = GaussianMixture(4, **kwargs).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(straight, name))
    assert resumed.lower_bounds_ == straight.lower_bounds_
    assert not checkpoint.exists()  # removed once the fit completed
    assert stopped_at[0] == 1


def test_checkpoint_of_other_data_is_refused(tmp_path):
    X = blobs(500, 2, 2, np.random.default_rng(2))
    checkpoint = tmp_path / "c.npz"
    gm = GaussianMixture(2, random_state=0, max_iter=3, tol=0.0, checkpoint=str(checkpoint))
    interrupted_fit(gm, X, after=2)
    assert checkpoint.exists()
    with pytest.raises(ValueError, match="other data or other parameters"):
        gm.fit(X * 2)
    with pytest.raises(ValueError, match="other data or other parameters"):
        gm.set_params(n_components=3).fit(X)
    header = json.loads(np.load(checkpoint)["header"].tobytes())
    assert header["current"]["n_iter"] == 2


def _rewritten(path, change):
    """The checkpoint at path with change(arrays) applied and its checksums recomputed
    (anyone can), as a tampered or damaged file would be."""
    from fastem import _persist

    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    header = json.loads(arrays.pop("header").tobytes())
    change(arrays)
    header["sha256"] = {name: _persist._digest(a) for name, a in arrays.items()}
    np.savez(path, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)


@pytest.mark.parametrize(("name", "value", "match"), [
    ("current_means", np.zeros((2, 5)), r"array 'means' of shape \(2, 5\), not \(2, 2\)"),
    ("current_weights", np.full(7, 1 / 7), r"array 'weights' of shape \(7,\), not \(2,\)"),
    ("current_precisions_cholesky", np.zeros((2, 3, 3)), r"'precisions_cholesky' of shape \(2, 3, 3\), not \(2, 2, 2\)"),
    ("current_covariances", None, r"no array 'covariances'"),
    ("current_means", np.array([[0.0, np.nan], [1.0, 1.0]]), r"non-finite entry in array 'means'"),
])
def test_a_damaged_checkpoint_is_refused_before_any_kernel_runs(tmp_path, name, value, match):
    """Checkpoint arrays reach the kernels, which do no bounds checks: a shape the
    settings and the data do not give is a ModelFileError naming the array."""
    X = blobs(500, 2, 2, np.random.default_rng(2))
    checkpoint = tmp_path / "c.npz"
    gm = GaussianMixture(2, random_state=0, max_iter=3, tol=0.0, checkpoint=str(checkpoint))
    interrupted_fit(gm, X, after=2)

    def change(arrays):
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value

    _rewritten(checkpoint, change)
    with pytest.raises(ModelFileError, match=match):
        gm.fit(X)


def test_a_damaged_bayesian_checkpoint_is_refused(tmp_path):
    from fastem import BayesianGaussianMixture

    X = blobs(500, 2, 2, np.random.default_rng(2))
    checkpoint = tmp_path / "c.npz"
    options = {"max_iter": 4, "tol": 0.0, "random_state": 0, "covariance_type": "tied"}
    interrupted_fit(BayesianGaussianMixture(3, **options), X, after=2, checkpoint=checkpoint)
    _rewritten(checkpoint, lambda arrays: arrays.update(current_degrees_of_freedom=np.ones(3)))
    with pytest.raises(ModelFileError, match=r"array 'degrees_of_freedom' of shape \(3,\), not \(1,\)"):
        BayesianGaussianMixture(3, **options).fit(X, checkpoint=checkpoint)
