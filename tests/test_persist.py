"""Model files: exact round trips, and clear errors for anything else."""

import io
import json
import math
import os
import pickle
import threading
import time
import warnings
import zipfile

import numpy as np
import pytest
from conftest import blobs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastem
from fastem import GaussianMixture, ModelFileError, _load, _persist

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


# ----------------------------------------------------------------------------------------------
# Model files are untrusted input: anything else than a model written by save is a
# ModelFileError that says what is wrong, never another exception or a garbage model.

def _contents(path):
    """(header dict, {name: array}) of a model file, read as plain NumPy would."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(arrays.pop("header").tobytes()), arrays


def _write(path, header, arrays, rehash=True, header_bytes=None):
    """A model file of header and arrays; rehash: the header's sha256 recomputed so that
    a change to the arrays reaches the validation (the checksums are anyone's to compute)."""
    header = dict(header)
    if rehash:
        header["sha256"] = {name: _persist._digest(a) for name, a in arrays.items()}
    text = header_bytes if header_bytes is not None else json.dumps(header).encode()
    np.savez(path, header=np.frombuffer(text, dtype=np.uint8), **arrays)
    return path


@pytest.fixture(scope="module")
def k2d3(tmp_path_factory):
    """A full K = 2, D = 3 model file: (model, path, header, arrays)."""
    X = blobs(400, 3, 2, np.random.default_rng(3))
    gm = GaussianMixture(2, random_state=0).fit(X)
    path = gm.save(tmp_path_factory.mktemp("k2d3") / "m.npz")
    return (gm, path, *_contents(path))


def _refused(path, match):
    with pytest.raises(ModelFileError, match=match):
        fastem.load(path)


def test_means_of_another_shape(k2d3, tmp_path):
    _, _, header, arrays = k2d3
    arrays = dict(arrays, means=np.zeros((5, 3)))
    _refused(_write(tmp_path / "m.npz", header, arrays),
             r"array 'means' has shape \(5, 3\), expected \(2, 3\) \(K = 2 components.*D = n_features_in_ = 3")


@pytest.mark.parametrize(("weights", "match"), [
    ([np.nan, 0.5], r"'weights' holds nan at index \(0,\): every entry must be finite"),
    ([1.5, -0.5], r"'weights' holds -0.5 at index 1: weights must be >= 0"),
    ([0.5, 0.6], r"'weights' sums to 1.1.*not 1"),
    ([[0.5, 0.5]], r"'weights' has shape \(1, 2\), expected \(K,\)"),
    ([0.2, 0.3, 0.5], r"'weights' has 3 components, expected 1 to n_components = 2"),
    ([], r"'weights' has 0 components"),
])
def test_invalid_weights(k2d3, tmp_path, weights, match):
    _, _, header, arrays = k2d3
    _refused(_write(tmp_path / "m.npz", header, dict(arrays, weights=np.array(weights, dtype=np.float64))), match)


@pytest.mark.parametrize(("name", "dtype"), [("weights", np.float32), ("means", np.int64), ("means", np.complex128),
                                             ("covariances", bool), ("means", object)])
def test_arrays_must_be_float64(k2d3, tmp_path, name, dtype):
    _, _, header, arrays = k2d3
    arrays = dict(arrays, **{name: arrays[name].astype(dtype)})
    match = (r"holds Python objects" if dtype is object
             else rf"array '{name}' has dtype {np.dtype(dtype)}, expected float64")
    _refused(_write(tmp_path / "m.npz", header, arrays), match)


def test_big_endian_arrays_are_read_as_native(k2d3, tmp_path):
    gm, _, header, arrays = k2d3
    again = fastem.load(_write(tmp_path / "m.npz", header, {k: a.astype(">f8") for k, a in arrays.items()}))
    assert again.means_.dtype == np.float64
    assert again.means_.dtype.isnative
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(again, name), getattr(gm, name))


@pytest.mark.parametrize(("change", "match"), [
    (lambda h: h.pop("params"), r"the model header has no 'params'"),
    (lambda h: h.update(sha256=list(h["sha256"])), r"'sha256' must be an object of array name -> hex digest, got list"),
    (lambda h: h.update(sha256={k: 1 for k in h["sha256"]}), r"'sha256' must be an object"),
    (lambda h: h.update(params=[1]), r"'params' must be a JSON object, got list"),
    (lambda h: h.update(extra=1), r"the model header has an unknown entry 'extra'"),
    (lambda h: h.update(format_version=True), r"'format_version' must be an int from 1 to 3, got bool"),
    (lambda h: h.update(format_version=0), r"'format_version' must be an int"),
    (lambda h: h["params"].pop("tol"), r"the model's 'params' has no 'tol'"),
    (lambda h: h["params"].update(colour=1), r"the model's 'params' has an unknown entry 'colour'"),
    (lambda h: h["params"].update(tol=float("nan")), r"The 'tol' parameter of GaussianMixture must be a float >= 0"),
    (lambda h: h["params"].update(n_components=0), r"The 'n_components' parameter.*must be an int >= 1"),
    (lambda h: h["params"].update(covariance_type="round"), r"The 'covariance_type' parameter.*must be one of"),
    (lambda h: h["params"].update(tol=10**400), r"the parameter 'tol' holds an int too large for a float: int 1000"),
    (lambda h: h["params"].update(random_state=-1), r"'random_state' must be None or an int in \[0, 2\*\*32\)"),
    (lambda h: h["params"].update(covariance_type="diag"), r"array 'covariances' has shape \(2, 3, 3\), expected"),
    (lambda h: h["attributes"].pop("n_iter_"), r"the model's 'attributes' has no 'n_iter_'"),
    (lambda h: h["attributes"].update(n_iter_=-1), r"'n_iter_' must be an int >= 0, got int -1"),
    (lambda h: h["attributes"].update(converged_=1), r"'converged_' must be a bool"),
    (lambda h: h["attributes"].update(lower_bound_=float("nan")), r"'lower_bound_' must be a float"),
    (lambda h: h["attributes"].update(lower_bounds_=[1.0, None]), r"'lower_bounds_' must be a list of floats"),
    (lambda h: h["attributes"].update(n_features_in_=4), r"'means' has shape \(2, 3\), expected \(2, 4\)"),
])
def test_invalid_headers(k2d3, tmp_path, change, match):
    _, _, header, arrays = k2d3
    header = json.loads(json.dumps(header))
    change(header)
    _refused(_write(tmp_path / "m.npz", header, arrays, rehash="sha256" not in match), match)


def test_lower_bound_may_be_minus_infinity(k2d3, tmp_path):
    _, _, header, arrays = k2d3
    header = json.loads(json.dumps(header))
    header["attributes"]["lower_bound_"] = -math.inf
    assert fastem.load(_write(tmp_path / "m.npz", header, arrays)).lower_bound_ == -math.inf


@pytest.mark.parametrize(("covariance_type", "change", "match"), [
    ("full", lambda c, p: c.__setitem__((0, 0, 1), c[0, 0, 1] + 1.0), r"covariance 0 is not symmetric"),
    ("full", lambda c, p: c.__setitem__(1, -c[1]), r"covariance 1 is not positive definite: its diagonal"),
    ("tied", lambda c, p: c.__setitem__(slice(None), np.ones_like(c)), r"covariance is not positive definite \(its "),
    ("full", lambda c, p: p.__setitem__((0, 1, 0), 0.1), r"precisions_cholesky 0 is not upper-triangular"),
    ("tied", lambda c, p: p.__setitem__((0, 0), -p[0, 0]), r"precisions_cholesky has a diagonal entry -"),
    ("full", lambda c, p: p.__setitem__((1, 0, 1), p[1, 0, 1] + 1e-3), r"precisions_cholesky 1 does not match cov"),
    ("diag", lambda c, p: c.__setitem__((1, 0), 0.0), r"'covariances' holds 0.0 at index \(1, 0\): every entry must be"),
    ("spherical", lambda c, p: p.__setitem__(0, -p[0]), r"'precisions_cholesky' holds -.* at index \(0,\)"),
    ("spherical", lambda c, p: c.__setitem__(0, c[0] * 1.01), r"precisions_cholesky does not match covariances at "),
])
def test_invalid_covariances(fitted, tmp_path, covariance_type, change, match):
    gm, _ = fitted
    header, arrays = _contents(gm.save(tmp_path / "m.npz"))
    arrays = {k: a.copy() for k, a in arrays.items()}
    change(arrays["covariances"], arrays["precisions_cholesky"])
    _refused(_write(tmp_path / "bad.npz", header, arrays), match)


def test_dropped_components_are_loaded(tmp_path):
    """A fit with on_collapse='drop' has fewer components than n_components; tied keeps its (D, D)."""
    X = np.vstack([blobs(300, 2, 2, np.random.default_rng(5)), [[200.0, 200.0]]])
    for covariance_type in ("full", "tied"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm = GaussianMixture(3, covariance_type=covariance_type, on_collapse="drop", collapse_threshold=5,
                                 random_state=0).fit(X)
        assert gm.weights_.shape == (2,)
        again = fastem.load(gm.save(tmp_path / "m.npz"))
        for name in ATTRIBUTES:
            np.testing.assert_array_equal(getattr(again, name), getattr(gm, name))


def test_unknown_and_init_arrays(tmp_path):
    X = blobs(300, 2, 2, np.random.default_rng(1))
    gm = GaussianMixture(2, means_init=X[:2], weights_init=[0.3, 0.7]).fit(X)
    header, arrays = _contents(gm.save(tmp_path / "m.npz"))
    _refused(_write(tmp_path / "extra.npz", header, dict(arrays, notes=np.zeros(2))),
             r"the file holds an unknown array 'notes'")
    _refused(_write(tmp_path / "nan.npz", header, dict(arrays, means_init=np.full((2, 2), np.nan))),
             r"array 'means_init' holds nan at index \(0, 0\)")
    # a wrong shape of an init array is for fit to report; load keeps it as the file has it
    again = fastem.load(_write(tmp_path / "shape.npz", header, dict(arrays, means_init=np.zeros(7))))
    np.testing.assert_array_equal(again.means_init, np.zeros(7))
    with pytest.raises(ValueError, match=r"'means' should have the shape of \(2, 2\)"):
        again.fit(X)


def test_archive_structure_is_checked(k2d3, tmp_path):
    _, path, header, arrays = k2d3
    np.savez_compressed(tmp_path / "zipped.npz", header=np.frombuffer(json.dumps(header).encode(), np.uint8),
                        **arrays)
    _refused(tmp_path / "zipped.npz", r"not a readable fastem model.*'header' is compressed")
    with zipfile.ZipFile(path) as z:
        members = {name: z.read(name) for name in z.namelist()}
    with zipfile.ZipFile(tmp_path / "note.npz", "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
        z.writestr("README.txt", b"hello")
    _refused(tmp_path / "note.npz", r"member 'README.txt' is not a \.npy array")
    # a .npy header declaring more data than its member holds is refused before reading
    raw = members["means.npy"]
    big = raw.replace(b"(2, 3)", b"(9, 9)", 1)
    with zipfile.ZipFile(tmp_path / "big.npz", "w") as z:
        for name, data in members.items():
            z.writestr(name, big if name == "means.npy" else data)
    _refused(tmp_path / "big.npz", r"'means' declares shape \(9, 9\) of float64 \(648 bytes of data\) but its member "
                                   r"holds 48 bytes")
    (tmp_path / "header.npz").write_bytes(b"")
    _write(tmp_path / "header.npz", header, arrays, header_bytes=b"[" * 100_000)
    _refused(tmp_path / "header.npz", r"the model header is damaged")
    _write(tmp_path / "digits.npz", header, arrays, header_bytes=b'{"format": ' + b"1" * 5000 + b"}")
    _refused(tmp_path / "digits.npz", r"the model header is damaged")


def test_paths_that_are_not_regular_files(tmp_path):
    (tmp_path / "folder.npz").mkdir()
    _refused(tmp_path / "folder.npz", r"folder.npz is not a fastem model: it is a directory, not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    outcome = []

    def read():
        try:
            fastem.load(fifo)
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    start = time.perf_counter()
    thread.start()
    thread.join(timeout=10)
    if thread.is_alive():  # blocked in open(): a writer releases it
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout=10)
        pytest.fail("fastem.load blocked on a FIFO")
    assert time.perf_counter() - start < 5
    assert len(outcome) == 1
    assert isinstance(outcome[0], ModelFileError), outcome
    assert "it is a FIFO (named pipe), not a regular file" in str(outcome[0])


# ---------------------------------------------------------------- the fuzz test
def _fit_quietly(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(X)


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """Valid model files: (model, header, arrays, bytes) of each covariance type, K = 2..3,
    D = 1..3, one with a dropped component and one with init arrays."""
    folder, out = tmp_path_factory.mktemp("originals"), []
    rng = np.random.default_rng(7)
    outlier = np.vstack([blobs(200, 2, 2, rng), [[300.0, 300.0]]])
    X2 = blobs(200, 2, 2, rng)
    models = [
        (GaussianMixture(3, covariance_type="full", random_state=0), blobs(300, 2, 3, rng)),
        (GaussianMixture(2, covariance_type="tied", random_state=0), blobs(300, 3, 2, rng)),
        (GaussianMixture(3, covariance_type="diag", random_state=0), blobs(300, 1, 3, rng)),
        (GaussianMixture(2, covariance_type="spherical", random_state=0), blobs(300, 3, 2, rng)),
        (GaussianMixture(3, covariance_type="full", on_collapse="drop", collapse_threshold=5, random_state=0), outlier),
        (GaussianMixture(2, covariance_type="diag", weights_init=[0.4, 0.6], means_init=X2[:2],
                         precisions_init=np.ones((2, 2)), max_iter=5), X2),
    ]
    for i, (estimator, X) in enumerate(models):
        gm = _fit_quietly(estimator, X)
        path = gm.save(folder / f"m{i}.npz")
        out.append((gm, *_contents(path), path.read_bytes()))
    assert out[4][0].weights_.shape == (2,)  # the dropped component
    return out


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(2**63, 10**30), st.just(10**400), st.just(-(2**64)),
    st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, 0.5, -1.0, 1e-300]),
    st.text(max_size=4), st.sampled_from(["full", "tied", "diag", "spherical", "fastem-model", "kmeans", "drop"]),
    st.lists(st.integers(0, 3), max_size=3), st.just([[1.0]]), st.just({}),
    st.dictionaries(st.text(max_size=2), st.integers(0, 2), max_size=2),
)
HEADER_TEXT_JUNK = [b"", b"NaN", b"[", b"]", b"{", b"}", b'"', b"1" * 5000, b"-", b"0", b"9", b"null", b"true",
                    b",", b":", b"\x00", b"\xff", b"[" * 5000, b"1e999", b'"sha256": []']
ENTRY_VALUES = [math.nan, math.inf, -math.inf, -1.0, 0.0, 0.5, 2.0, 1e-3]
ODD_DTYPES = [np.float32, np.int64, np.int8, bool, np.complex128, object, ">f8", "U3", np.uint8]


def _paths(header):
    """Where a header mutation can apply: (container keys..., key)."""
    paths = [(key,) for key in header]
    paths += [(part, key) for part in ("params", "attributes", "sha256") for key in header[part]]
    paths += [("attributes", "lower_bounds_", i) for i in range(min(3, len(header["attributes"]["lower_bounds_"])))]
    return paths


@st.composite
def mutations(draw, originals):
    """(original, file bytes, (header, arrays) the file holds when known, whether the file may
    hold a valid model other than the original)."""
    gm, header, arrays, raw = draw(st.sampled_from(originals))
    kind = draw(st.sampled_from(["header", "header", "header text", "arrays", "arrays", "arrays", "truncate", "flip"]))
    header = json.loads(json.dumps(header))
    arrays = dict(arrays)
    if kind == "truncate":
        return gm, raw[: draw(st.integers(0, len(raw) - 1))], None, False
    if kind == "flip":
        data = bytearray(raw)
        for _ in range(draw(st.integers(1, 3))):
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
        return gm, bytes(data), None, False
    rehash = kind == "arrays"
    if kind == "header":
        *where, key = draw(st.sampled_from(_paths(header)))
        target = header
        for part in where:
            target = target[part]
        action = draw(st.sampled_from(["drop", "replace", "replace", "wrap"]))
        if action == "drop" and isinstance(target, dict):
            del target[key]
        elif action == "wrap":
            target[key] = [target[key]]
        else:
            target[key] = draw(JUNK)
        text = json.dumps(header).encode()
    elif kind == "header text":
        text = json.dumps(header).encode()
        start = draw(st.integers(0, len(text)))
        text = text[:start] + draw(st.sampled_from(HEADER_TEXT_JUNK)) + text[start + draw(st.integers(0, 6)):]
    else:
        name = draw(st.sampled_from(sorted(arrays)))
        a = arrays[name]
        action = draw(st.sampled_from(["shape", "dtype", "entry", "entry", "permute", "transpose", "swap", "drop",
                                       "extra"]))
        if action == "shape":
            shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
            arrays[name] = np.resize(a, shape)
        elif action == "dtype":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arrays[name] = a.astype(draw(st.sampled_from(ODD_DTYPES)))
        elif action == "entry" and a.size:
            a = a.copy()
            a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from(ENTRY_VALUES))
            arrays[name] = a
        elif action == "permute":
            order = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).permutation(a.size)
            arrays[name] = a.ravel()[order].reshape(a.shape)
        elif action == "transpose":
            arrays[name] = np.ascontiguousarray(a.T)
        elif action == "swap":
            other = draw(st.sampled_from(sorted(arrays)))
            arrays[name], arrays[other] = arrays[other], a
        elif action == "drop":
            del arrays[name]
        elif action == "extra":
            extra = draw(st.sampled_from(["notes", "weights_init", "means_init", "precisions_init", "header2"]))
            arrays[extra] = draw(st.sampled_from([np.zeros(2), np.ones((2, 2)), np.array([np.nan]), a]))
        text = None
    header_bytes = text
    buffer = io.BytesIO()
    if rehash:
        header["sha256"] = {n: _persist._digest(v) for n, v in arrays.items()}
        header_bytes = json.dumps(header).encode()
    np.savez(buffer, header=np.frombuffer(header_bytes, dtype=np.uint8), **arrays)
    try:
        holds = json.loads(header_bytes.decode()), arrays
    except (UnicodeDecodeError, ValueError, RecursionError):
        holds = None
    return gm, buffer.getvalue(), holds, holds is not None


def _same_model(model, params, attributes, arrays):
    """Whether model is params, attributes and arrays exactly (arrays compared as float64)."""
    got = model.get_params()
    if set(got) != set(params):
        return False
    for name, value in params.items():
        if isinstance(value, np.ndarray) or isinstance(got[name], np.ndarray):
            if value is None or got[name] is None or not np.array_equal(np.asarray(got[name]), value):
                return False
        elif got[name] != value or type(got[name]) is not type(value):
            return False
    attributes = dict(attributes)
    dtype = np.dtype(attributes.pop("dtype", "float64"))
    names = attributes.pop("feature_names_in_", None)
    if any(getattr(model, k) != v for k, v in attributes.items()):
        return False
    if names != (None if not hasattr(model, "feature_names_in_") else list(model.feature_names_in_)):
        return False
    return all(getattr(model, attr).dtype == dtype and np.array_equal(getattr(model, attr), arrays[name].astype(dtype))
               for name, attr in _load.FITTED.items())


def _as_original(model, gm):
    attributes = {k: getattr(gm, k) for k in _load.ATTRIBUTES} | {"dtype": str(gm.means_.dtype)}
    return _same_model(model, gm.get_params(), attributes,
                       {name: getattr(gm, attr) for name, attr in _load.FITTED.items()})


def _as_the_file_says(model, holds):
    header, arrays = holds
    params = dict(header["params"], **{name: arrays.get(name) for name in _persist.INIT_ARRAYS})
    return _same_model(model, params, header["attributes"], {k: arrays[k].astype(np.float64) for k in _load.FITTED})


def _sane(model):
    """A usable mixture: probabilities that sum to one, labels of its components, finite densities."""
    k, d = model.means_.shape
    X = model.means_[np.arange(12) % k] + np.random.default_rng(0).normal(size=(12, d))
    proba = model.predict_proba(X)
    labels = model.predict(X)
    assert proba.shape == (12, k)
    assert np.all(np.isfinite(proba))
    assert np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    assert labels.min() >= 0
    assert labels.max() < k
    assert np.all(np.isfinite(model.score_samples(X)))
    np.testing.assert_allclose(model.weights_.sum(), 1.0, atol=1e-6)


@settings(max_examples=600, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_fuzzed_model_files(originals, tmp_path_factory, data):
    """A mutated model file (header, arrays with their checksums recomputed, truncated or
    flipped bytes) loads as the original, or, when the mutation left a valid model, as
    exactly what the file holds and a usable mixture; otherwise it is a ModelFileError."""
    gm, raw, holds, may_differ = data.draw(mutations(originals))
    path = tmp_path_factory.getbasetemp() / "fuzzed.npz"
    path.write_bytes(raw)
    try:
        model = fastem.load(path)
    except ModelFileError:
        return
    if _as_original(model, gm):
        return
    assert may_differ, "a damaged file loaded as another model"
    assert _as_the_file_says(model, holds), "load returned something else than the file holds"
    _sane(model)
