"""Streamed outputs (out=), float32 models and column names, against in-memory results
and scikit-learn."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from conftest import blobs
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import fastem
from fastem import GaussianMixture
from fastem._persist import read_model, write_archive

METHODS = {"labels": "predict", "proba": "predict_proba", "density": "score_samples"}


@pytest.fixture(scope="module")
def data():
    return blobs(3000, 3, 3, np.random.default_rng(3))


@pytest.fixture(scope="module")
def model(data):
    return GaussianMixture(3, random_state=0).fit(data)


def _read(path):
    """A result file as an array: .npy, or the Parquet or CSV columns stacked."""
    if str(path).endswith(".npy"):
        return np.load(path)
    import pyarrow.csv as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path) if str(path).endswith(".parquet") else pc.read_csv(path)
    columns = [table.column(i).to_numpy() for i in range(table.num_columns)]
    return columns[0] if len(columns) == 1 else np.column_stack(columns)


@pytest.mark.parametrize("suffix", [".npy", ".parquet", ".csv"])
@pytest.mark.parametrize("what", list(METHODS))
def test_streamed_outputs_equal_the_in_memory_results(model, data, tmp_path, what, suffix):
    np.save(tmp_path / "x.npy", data)
    source = fastem.source(tmp_path / "x.npy", chunk_size=700)
    method = getattr(model, METHODS[what])
    written = method(source, out=tmp_path / f"result{suffix}")
    assert written == tmp_path / f"result{suffix}"
    expected = method(data)
    got = _read(written)
    assert got.dtype == expected.dtype or suffix == ".csv"  # CSV text has no float32
    np.testing.assert_array_equal(got.astype(expected.dtype), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result" + suffix, "x.npy"]  # no temporary left


def test_parquet_output_names_its_columns(model, data, tmp_path):
    import pyarrow.parquet as pq

    assert pq.read_schema(model.predict_proba(data, out=tmp_path / "p.parquet")).names == [
        "component_0", "component_1", "component_2"]
    assert pq.read_schema(model.predict(data, out=tmp_path / "l.parquet")).names == ["label"]
    assert pq.read_schema(model.score_samples(data, out=tmp_path / "d.parquet")).names == ["log_density"]


def test_a_stream_of_unknown_length_is_written_whole(model, data, tmp_path):
    chunks = iter(np.array_split(data, 7))
    path = model.predict_proba(chunks, out=tmp_path / "p.npy")
    np.testing.assert_array_equal(np.load(path), model.predict_proba(data))


def test_dask_outputs_are_written_in_row_order(model, data, tmp_path):
    da = pytest.importorskip("dask.array")
    X = da.from_array(data, chunks=(170, 3))  # 18 blocks: more than one window of blocks
    path = model.score_samples(X, out=tmp_path / "d.npy")
    np.testing.assert_array_equal(np.load(path), model.score_samples(data))


def test_a_failed_pass_leaves_the_old_file_and_no_temporary(model, data, tmp_path):
    target = tmp_path / "labels.npy"
    np.save(target, np.arange(5))
    bad = data.copy()
    bad[2500, 1] = np.nan

    def chunks():
        yield from np.array_split(bad, 6)

    with pytest.raises(ValueError, match=r"NaN or inf: row 2500, column 1"):
        model.predict(chunks, out=target)
    np.testing.assert_array_equal(np.load(target), np.arange(5))
    assert [p.name for p in tmp_path.iterdir()] == ["labels.npy"]


@pytest.mark.parametrize(("out", "error", "match"), [
    ("labels.txt", ValueError, r"fastem writes \.npy, \.parquet or \.csv files"),
    ("folder/", IsADirectoryError, "is a directory"),
    ("missing/labels.npy", FileNotFoundError, r"the folder .*missing does not exist"),
    (".", IsADirectoryError, "is a directory"),
    (3, TypeError, "out must be a path"),
])
def test_bad_outputs_are_refused_before_any_pass(model, tmp_path, monkeypatch, out, error, match):
    monkeypatch.chdir(tmp_path)

    def never():
        raise AssertionError("the data was read")
        yield

    with pytest.raises(error, match=match):
        model.predict(never, out=out)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM from /proc (Linux)")
def test_streamed_predictions_keep_memory_bounded(tmp_path):
    """predict_proba(out=) of a .npy several times the size of the memory it may use."""
    rows, features = 1_500_000, 16  # 192 MB of float64
    X = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64, shape=(rows, features))
    rng = np.random.default_rng(0)
    for start in range(0, rows, 250_000):
        X[start : start + 250_000] = rng.normal(size=(250_000, features))
    X.flush()
    np.save(tmp_path / "x-head.npy", X[:1000])
    del X
    centres = np.repeat(np.arange(4.0), 5000)[:, None] * 10.0
    GaussianMixture(4, random_state=0).fit(rng.normal(size=(20_000, features)) + centres).save(tmp_path / "m.npz")
    script = textwrap.dedent("""
        import json, sys
        import fastem

        def peak():  # KiB; VmHWM starts afresh with the program (ru_maxrss keeps the parent's)
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

        model = fastem.load(sys.argv[1])
        model.predict_proba(sys.argv[2][:-4] + "-head.npy")  # compiles or loads the kernels
        before = peak()
        model.predict_proba(fastem.source(sys.argv[2], chunk_size=20_000), out=sys.argv[3])  # 2.5 MB chunks
        print(json.dumps({"before": before, "after": peak()}))
    """)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "m.npz"), str(tmp_path / "x.npy"),
                             str(tmp_path / "p.npy")], capture_output=True, text=True, check=True)
    kib = json.loads(result.stdout.splitlines()[-1])
    # the (rows, 4) output alone is 48 MB and the data 192 MB: neither may be held whole
    assert kib["after"] - kib["before"] < 40_000, kib
    model = fastem.load(tmp_path / "m.npz")
    got = np.load(tmp_path / "p.npy", mmap_mode="r")
    X = np.load(tmp_path / "x.npy", mmap_mode="r")
    for start in (0, 700_000, rows - 1000):
        np.testing.assert_array_equal(got[start : start + 1000], model.predict_proba(X[start : start + 1000]))


# ---------------------------------------------------------------------- float32 models
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def test_float32_is_kept_as_scikit_learn_keeps_it(covariance_type):
    X = blobs(2000, 3, 3, np.random.default_rng(5), dtype=np.float32)
    kwargs = {"n_components": 3, "covariance_type": covariance_type, "random_state": 0, "max_iter": 20}
    ours = GaussianMixture(**kwargs).fit(X)
    theirs = SkGaussianMixture(**kwargs).fit(X)
    for name in FITTED:
        assert getattr(ours, name).dtype == getattr(theirs, name).dtype == np.float32, name
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=2e-3, atol=2e-3)
    for method in ("score_samples", "predict_proba"):
        assert getattr(ours, method)(X).dtype == getattr(theirs, method)(X).dtype == np.float32, method
    assert ours.predict(X).dtype == np.int64
    # a float32 model scores float64 data in float64, as scikit-learn's does
    assert ours.score_samples(X.astype(np.float64)).dtype == theirs.score_samples(X.astype(np.float64)).dtype


def test_float32_model_round_trips_as_float32(tmp_path, covariance_type):
    X = blobs(2000, 3, 3, np.random.default_rng(6), dtype=np.float32)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    again = fastem.load(gm.save(tmp_path / "m.npz"))
    for name in FITTED:
        assert getattr(again, name).dtype == np.float32
        np.testing.assert_array_equal(getattr(again, name), getattr(gm, name))
    header, arrays = read_model(tmp_path / "m.npz")
    assert header["attributes"]["dtype"] == "float32"
    assert all(a.dtype == np.float64 for a in arrays.values())  # the file keeps EM's float64 numbers
    np.testing.assert_array_equal(again.predict_proba(X), gm.predict_proba(X))
    np.testing.assert_array_equal(again.score_samples(X), gm.score_samples(X))


def test_a_float32_model_continues_from_its_float64_parameters():
    """warm_start after a float32 fit starts from EM's float64 parameters, so one more
    fit of 0 iterations changes nothing, and edited attributes are what it starts from."""
    X = blobs(2000, 3, 3, np.random.default_rng(8), dtype=np.float32)
    gm = GaussianMixture(3, random_state=0, max_iter=5).fit(X)
    own = gm._fitted_params()
    assert own.means.dtype == np.float64
    assert not np.array_equal(own.means, own.means.astype(np.float32))  # not the rounded attributes
    gm.means_ = gm.means_ + np.float32(1.0)
    edited = gm._fitted_params()
    np.testing.assert_array_equal(edited.means, gm.means_.astype(np.float64))


def test_float32_weights_init_within_float32_rounding_are_accepted():
    X = blobs(600, 2, 3, np.random.default_rng(9), dtype=np.float32)
    weights = np.array([0.1, 0.2, 0.7], dtype=np.float32)
    assert weights.astype(np.float64).sum() != 1.0
    gm = GaussianMixture(3, weights_init=weights, random_state=0).fit(X)
    SkGaussianMixture(3, weights_init=weights, random_state=0).fit(X)  # scikit-learn accepts them too
    assert gm.weights_.dtype == np.float32


# ---------------------------------------------------------------------- column names
def test_dataframe_names_are_saved_and_checked(data, tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data, columns=["a", "b", "c"])
    gm = GaussianMixture(3, random_state=0).fit(frame)
    again = fastem.load(gm.save(tmp_path / "m.npz"))
    assert list(again.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(again.predict(frame), gm.predict(frame))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        again.predict(frame[["b", "a", "c"]])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        again.predict(data)


def test_name_warnings_point_at_the_callers_line(data, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"a": data[:, 0], "b": data[:, 1], "c": data[:, 2]}), tmp_path / "x.parquet")
    np.save(tmp_path / "x.npy", data)
    gm = GaussianMixture(3, random_state=0, max_iter=3).fit(str(tmp_path / "x.parquet"))
    for call in (gm.predict, gm.score, gm.bic):
        with pytest.warns(UserWarning, match="X does not have valid feature names") as record:
            call(str(tmp_path / "x.npy"))
        assert record[0].filename == __file__


def test_names_are_checked_before_the_width(data, tmp_path):
    """As scikit-learn reports a DataFrame with a missing column: by its names."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"a": data[:, 0], "b": data[:, 1], "c": data[:, 2]}), tmp_path / "abc.parquet")
    pq.write_table(pa.table({"a": data[:, 0], "b": data[:, 1]}), tmp_path / "ab.parquet")
    gm = GaussianMixture(3, random_state=0, max_iter=3).fit(str(tmp_path / "abc.parquet"))
    with pytest.raises(ValueError, match=r"Feature names seen at fit time, yet now missing:\n- c\n"):
        gm.predict(str(tmp_path / "ab.parquet"))


def test_dask_dataframe_sets_feature_names(data):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame(data, columns=["a", "b", "c"]), npartitions=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        gm = GaussianMixture(3, random_state=0, max_iter=3).fit(frame)
        assert list(gm.feature_names_in_) == ["a", "b", "c"]
        with pytest.raises(ValueError, match=r"Feature names unseen at fit time:\n- d\n"):
            gm.predict(dd.from_pandas(pd.DataFrame(data, columns=["a", "b", "d"]), npartitions=3))
        with pytest.raises(TypeError, match="Feature names are only supported if all input features have string"):
            gm.predict(dd.from_pandas(pd.DataFrame(data, columns=["a", 1, "c"]), npartitions=3))


def test_named_sources_set_and_check_feature_names(data, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"a": data[:, 0], "b": data[:, 1], "c": data[:, 2]}), tmp_path / "x.parquet")
    gm = GaussianMixture(3, random_state=0).fit(str(tmp_path / "x.parquet"))
    assert list(gm.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_allclose(gm.means_, GaussianMixture(3, random_state=0).fit(data).means_, rtol=1e-10)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        gm.predict(fastem.source(tmp_path / "x.parquet", columns=["b", "a", "c"]))
    again = fastem.load(gm.save(tmp_path / "m.npz"))
    assert list(again.feature_names_in_) == ["a", "b", "c"]
    np.testing.assert_array_equal(again.predict(str(tmp_path / "x.parquet")),
                                  GaussianMixture(3, random_state=0).fit(data).predict(data))


def test_format_version_1_files_still_load(model, data, tmp_path):
    """A file as fastem 0.1 wrote it: no dtype, no names; it loads as a float64 model."""
    header, arrays = read_model(model.save(tmp_path / "m.npz"))
    header = {k: v for k, v in header.items() if k not in ("sha256", "estimator")}  # version 3 added "estimator"
    header["format_version"] = 1
    for name in ("dtype", "feature_names_in_"):
        del header["attributes"][name]
    write_archive(tmp_path / "v1.npz", header, arrays)
    old = fastem.load(tmp_path / "v1.npz")
    assert old.means_.dtype == np.float64
    assert not hasattr(old, "feature_names_in_")
    np.testing.assert_array_equal(old.predict_proba(data), model.predict_proba(data))


@pytest.mark.parametrize(("change", "match"), [
    ({"dtype": "float16"}, r"'dtype' must be 'float32' or 'float64'"),
    ({"feature_names_in_": ["a", "b"]}, r"'feature_names_in_' must be null or a list of n_features_in_ strings"),
    ({"feature_names_in_": ["a", "b", 3]}, r"'feature_names_in_' must be null or a list"),
])
def test_invalid_dtype_and_names_are_refused(model, tmp_path, change, match):
    header, arrays = read_model(model.save(tmp_path / "m.npz"))
    header = {k: v for k, v in header.items() if k != "sha256"}
    header["attributes"].update(change)
    write_archive(tmp_path / "bad.npz", header, arrays)
    with pytest.raises(fastem.ModelFileError, match=match):
        fastem.load(tmp_path / "bad.npz")


def test_a_model_of_another_float_type_saves_as_float64(model, tmp_path):
    edited = fastem.load(model.save(tmp_path / "m.npz"))
    edited.means_ = edited.means_.astype(np.float16)
    assert fastem.load(edited.save(tmp_path / "edited.npz")).means_.dtype == np.float64


def test_saving_into_a_missing_folder_is_an_error(model, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"the folder .*nowhere does not exist"):
        model.save(tmp_path / "nowhere" / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_score_bic_and_aic_take_one_pass_and_no_per_row_array(model, data, tmp_path):
    import tracemalloc

    rows = np.tile(data, (1000, 1))  # 3,000,000 rows: their log-densities alone would be 24 MB
    np.save(tmp_path / "x.npy", rows)
    density = model.score_samples(rows)
    total = float(density.sum())
    source = fastem.source(tmp_path / "x.npy", chunk_size=20_000)
    tracemalloc.start()
    try:
        score, bic, aic = model.score(source), model.bic(source), model.aic(source)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < density.nbytes / 4, peak
    assert score == pytest.approx(total / rows.shape[0], rel=1e-12)
    p = model.n_parameters()
    assert bic == pytest.approx(-2 * total + p * np.log(rows.shape[0]), rel=1e-12)
    assert aic == pytest.approx(-2 * total + 2 * p, rel=1e-12)
    da = pytest.importorskip("dask.array")
    assert model.score(da.from_array(rows, chunks=(100_000, 3))) == pytest.approx(score, rel=1e-12)
