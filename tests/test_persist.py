"""Model files: exact round trips, and clear errors for anything else."""

import json
import pickle
import zipfile

import numpy as np
import pytest
from conftest import blobs

import fastem
from fastem import GaussianMixture, ModelFileError

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


@pytest.fixture
def fitted(covariance_type):
    X = blobs(1000, 3, 3, np.random.default_rng(0))
    return GaussianMixture(3, covariance_type=covariance_type, random_state=0, chunk_size=300).fit(X), X


def test_round_trip_is_exact(fitted, tmp_path):
    gm, X = fitted
    path = gm.save(tmp_path / "model.npz")
    again = fastem.load(path)
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(again, name), getattr(gm, name))
    assert again.get_params() == gm.get_params()
    assert (again.converged_, again.n_iter_, again.lower_bound_, again.n_features_in_) == (
        gm.converged_, gm.n_iter_, gm.lower_bound_, gm.n_features_in_)
    assert again.lower_bounds_ == gm.lower_bounds_
    np.testing.assert_array_equal(again.predict_proba(X), gm.predict_proba(X))


def test_init_arrays_are_kept(tmp_path):
    X = blobs(300, 2, 2, np.random.default_rng(1))
    gm = GaussianMixture(2, means_init=X[:2], weights_init=[0.3, 0.7]).fit(X)
    again = fastem.load(gm.save(tmp_path / "m"))
    np.testing.assert_array_equal(again.means_init, X[:2])
    np.testing.assert_array_equal(again.weights_init, [0.3, 0.7])
    assert (tmp_path / "m.npz").exists()


def test_pickle_round_trip(fitted):
    gm, X = fitted
    again = pickle.loads(pickle.dumps(gm))
    np.testing.assert_array_equal(again.score_samples(X), gm.score_samples(X))


@pytest.mark.parametrize("covariance_type", ["full"])
def test_truncated_file(fitted, tmp_path):
    gm, _ = fitted
    raw = gm.save(tmp_path / "m.npz").read_bytes()
    for size in (10, len(raw) // 2, len(raw) - 30):
        (tmp_path / "cut.npz").write_bytes(raw[:size])
        with pytest.raises(ModelFileError, match="not a readable fastem model"):
            fastem.load(tmp_path / "cut.npz")


@pytest.mark.parametrize("covariance_type", ["diag"])
def test_corrupted_array_fails_its_checksum(fitted, tmp_path):
    gm, _ = fitted
    path = gm.save(tmp_path / "m.npz")
    with np.load(path) as f:
        contents = {k: f[k] for k in f.files}
    contents["means"] = contents["means"] + 1e-9
    np.savez(tmp_path / "bad.npz", **contents)
    with pytest.raises(ModelFileError, match="'means' does not match its checksum"):
        fastem.load(tmp_path / "bad.npz")
    del contents["weights"]
    np.savez(tmp_path / "missing.npz", **contents)
    with pytest.raises(ModelFileError, match="'weights' is missing"):
        fastem.load(tmp_path / "missing.npz")


@pytest.mark.parametrize("covariance_type", ["tied"])
def test_newer_format_version(fitted, tmp_path):
    gm, _ = fitted
    path = gm.save(tmp_path / "m.npz")
    with np.load(path) as f:
        contents = {k: f[k] for k in f.files}
    header = json.loads(contents["header"].tobytes())
    header["format_version"] = 99
    contents["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(tmp_path / "new.npz", **contents)
    with pytest.raises(ModelFileError, match=r"uses model format 99.*upgrade fastem"):
        fastem.load(tmp_path / "new.npz")


def test_files_that_are_not_models(tmp_path):
    np.savez(tmp_path / "arrays.npz", a=np.ones(3))
    with pytest.raises(ModelFileError, match="not a fastem model"):
        fastem.load(tmp_path / "arrays.npz")
    np.savez(tmp_path / "other.npz", header=np.frombuffer(b'{"format": "something"}', dtype=np.uint8))
    with pytest.raises(ModelFileError, match="not a fastem model file"):
        fastem.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ModelFileError, match="not a readable fastem model"):
        fastem.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        fastem.load(tmp_path / "absent.npz")


def test_pickled_object_arrays_are_never_loaded(tmp_path):
    """An archive with an object array (which would unpickle) is refused, not executed."""
    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as z, z.open("header.npy", "w") as f:
        np.lib.format.write_array(f, np.array([{"format": "fastem-model"}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileError, match="not a readable fastem model"):
        fastem.load(tmp_path / "evil.npz")


@pytest.mark.parametrize("covariance_type", ["spherical"])
def test_interrupted_save_keeps_the_old_model(fitted, tmp_path, monkeypatch):
    gm, _ = fitted
    path = gm.save(tmp_path / "m.npz")
    before = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        gm.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary left behind


def test_unfitted_model_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        GaussianMixture(2).save(tmp_path / "m.npz")
