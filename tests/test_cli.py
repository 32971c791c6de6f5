"""The fastem command, driven as a user drives it: its entry point in this process (a new
interpreter per command cost most of the suite's time), and as a program in a subprocess."""

import contextlib
import io
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import blobs

from fastem.cli import main


def fastem(*args, cwd=None):
    """Run the command as `fastem ARGS` would: (returncode, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse: a malformed command line, --version
                code = exc.code
    finally:
        os.chdir(here)
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def ok(*args, cwd=None):
    result = fastem(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(code, *args):
    result = fastem(*args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


def program(*args):
    return subprocess.run([sys.executable, "-m", "fastem", *map(str, args)], check=False, capture_output=True,
                          text=True, timeout=600)


def test_the_program_runs_and_reports_errors_in_one_line(tmp_path):
    version = program("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("fastem ")
    missing = program("fit", tmp_path / "missing.npy", "-k", 2)
    assert missing.returncode == 1
    assert missing.stderr.startswith("fastem: error: no such file")
    assert missing.stderr.count("\n") == 1


@pytest.fixture(scope="module")
def data():
    return blobs(3000, 3, 3, np.random.default_rng(5))


@pytest.fixture(scope="module")
def files(data, tmp_path_factory):
    import h5py
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zarr

    folder = tmp_path_factory.mktemp("cli")
    np.save(folder / "x.npy", data)
    with h5py.File(folder / "x.h5", "w") as f:
        f.create_dataset("points", data=data)
    z = zarr.open_array(str(folder / "x.zarr"), mode="w", shape=data.shape, dtype=data.dtype)
    z[:] = data
    pq.write_table(pa.table({"a": data[:, 0], "b": data[:, 1], "c": data[:, 2], "name": ["x"] * len(data)}),
                   folder / "x.parquet")
    np.savetxt(folder / "x.csv", data, delimiter=",", header="a,b,c", comments="")
    return folder


@pytest.mark.parametrize(("name", "options"), [
    ("x.npy", []), ("x.h5", ["--key", "points"]), ("x.zarr", []), ("x.parquet", ["--columns", "a,b,c"]),
    ("x.csv", ["--dtype", "float32"]),
])
def test_fit_predict_score_on_every_format(name, options, files, data, tmp_path):
    model = tmp_path / "model.npz"
    out = ok("fit", files / name, "-k", 3, "--covariance", "diag", "-q", *options, "-o", model)
    assert "iterations" in out
    assert "converged" in out
    assert "BIC" in out
    assert "per iteration" in out
    assert model.exists()
    ok("predict", model, files / name, *options, "-o", tmp_path / "labels.npy")
    labels = np.load(tmp_path / "labels.npy")
    assert labels.shape == (len(data),)
    assert set(np.unique(labels)) == {0, 1, 2}
    ok("predict", model, files / name, *options, "--proba", "-o", tmp_path / "proba.npy")
    np.testing.assert_allclose(np.load(tmp_path / "proba.npy").sum(axis=1), 1.0)
    out = ok("score", model, files / name, *options)
    assert "log-likelihood" in out
    assert "BIC" in out
    assert "AIC" in out


def test_fit_shows_progress(files, tmp_path):
    result = fastem("fit", files / "x.npy", "-k", 2, "-o", tmp_path / "m.npz")
    assert result.returncode == 0
    assert "rows" in result.stderr  # the progress bars


def test_the_model_agrees_with_the_library(files, data, tmp_path):
    import fastem as lib

    ok("fit", files / "x.npy", "-k", 3, "--seed", 4, "-q", "-o", tmp_path / "m.npz")
    gm = lib.load(tmp_path / "m.npz")
    same = lib.GaussianMixture(3, random_state=4).fit(data)
    np.testing.assert_allclose(gm.means_, same.means_, rtol=1e-10)


def test_sample_and_info(files, tmp_path):
    ok("fit", files / "x.npy", "-k", 3, "-q", "-o", tmp_path / "m.npz")
    ok("sample", tmp_path / "m.npz", "-n", 500, "--seed", 1, "-o", tmp_path / "draws.npy")
    assert np.load(tmp_path / "draws.npy").shape == (500, 3)
    out = ok("info", tmp_path / "m.npz")
    assert "3 (full covariance), 3 features" in out
    assert "component 2" in out


def test_select_finds_the_true_k(files, tmp_path):
    out = ok("select", files / "x.npy", "-k", "1..5", "-q", "-o", tmp_path / "best.npz")
    assert "best K = 3" in out
    assert out.count("\n") >= 7
    assert (tmp_path / "best.npz").exists()


def test_demo_quick(tmp_path):
    out = ok("demo", "--quick", "-o", tmp_path / "demo.png", cwd=tmp_path)
    assert "fitted in" in out
    assert "true weight" in out
    assert "faster" in out
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_user_errors_are_one_line(files, tmp_path):
    err = fails(1, "fit", tmp_path / "missing.npy", "-k", 2)
    assert err.startswith("fastem: error: no such file")
    assert err.count("\n") == 1
    bad = np.load(files / "x.npy")
    bad[1234, 1] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    assert "row 1234" in fails(1, "fit", tmp_path / "bad.npy", "-k", 2, "-q")
    (tmp_path / "junk.npz").write_text("junk")
    assert "not a readable fastem model" in fails(1, "info", tmp_path / "junk.npz")
    assert "has no column(s) ['zzz']" in fails(1, "fit", files / "x.parquet", "--columns", "zzz", "-k", 2)
    assert "Expected n_samples >= n_components" in fails(1, "fit", files / "x.npy", "-k", 5000, "-q")
    fails(2, "fit", files / "x.npy")  # -k missing
    fails(2, "fit", files / "x.npy", "-k", 2, "--covariance", "banana")
    fails(2, "select", files / "x.npy", "-k", "5..x")


def test_output_and_resource_errors_are_one_line(files, tmp_path):
    model = tmp_path / "m.npz"
    ok("fit", files / "x.npy", "-k", 2, "-q", "-o", model)
    full = fails(1, "predict", model, files / "x.npy", "-o", "/dev/full")
    assert "No space left on device" in full, full
    (tmp_path / "a_file").write_text("")
    assert "does not exist" in fails(1, "predict", model, files / "x.npy", "-o", tmp_path / "a_file" / "labels.npy")
    assert "writes .npy files" in fails(1, "predict", model, files / "x.npy", "-o", tmp_path / "labels.csv")
    assert not (tmp_path / "labels.csv").exists()
    assert not (tmp_path / "labels.csv.npy").exists()
    err = fails(1, "sample", model, "-n", 100_000_000_000, "-o", tmp_path / "draws.npy")
    assert "Unable to allocate" in err, err
    assert err.count("\n") == 1
    assert not (tmp_path / "draws.npy").exists()


def test_an_hdf5_group_as_key_is_one_line(files, tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "g.h5", "w") as f:
        f.create_group("points").create_dataset("x", data=np.ones((10, 2)))
    assert "'points' is an HDF5 group, not a dataset" in fails(1, "fit", tmp_path / "g.h5", "--key", "points", "-k", 1)
