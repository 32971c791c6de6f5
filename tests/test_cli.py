"""The fastem command, driven as a user drives it: its entry point in this process (a new
interpreter per command cost most of the suite's time), and as a program in a subprocess."""

import contextlib
import io
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import blobs

import fastem as lib
from fastem import _progress, cli
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


def test_fit_shows_progress_as_lines_and_saves_no_progress(files, tmp_path):
    """stderr is not a terminal here: whole lines, no \\r redraws; the model file does not
    keep the progress the command turned on."""
    result = fastem("fit", files / "x.npy", "-k", 2, "-o", tmp_path / "m.npz")
    assert result.returncode == 0
    assert "rows" in result.stderr  # the progress
    assert "\r" not in result.stderr
    assert all(line.startswith("fastem: ") for line in result.stderr.splitlines())
    assert lib.load(tmp_path / "m.npz").get_params()["progress"] is False


def test_the_model_agrees_with_the_library(files, data, tmp_path):
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
    result = fastem("demo", "--quick", "-q", "-o", tmp_path / "demo.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert " rows in " not in result.stderr  # -q: no progress
    out = result.stdout
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
    device = fails(1, "predict", model, files / "x.npy", "-o", "/dev/full")  # a device is not a file to write
    assert "fastem writes .npy, .parquet or .csv files" in device, device
    (tmp_path / "a_file").write_text("")
    assert "does not exist" in fails(1, "predict", model, files / "x.npy", "-o", tmp_path / "a_file" / "labels.npy")
    assert "fastem writes .npy, .parquet or .csv" in fails(1, "predict", model, files / "x.npy",
                                                           "-o", tmp_path / "labels.txt")
    assert not (tmp_path / "labels.txt").exists()
    assert not (tmp_path / "labels.txt.npy").exists()
    err = fails(1, "sample", model, "-n", 100_000_000_000, "-o", tmp_path / "draws.npy")
    assert "Unable to allocate" in err, err
    assert err.count("\n") == 1
    assert not (tmp_path / "draws.npy").exists()


def test_an_hdf5_group_as_key_is_one_line(files, tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "g.h5", "w") as f:
        f.create_group("points").create_dataset("x", data=np.ones((10, 2)))
    assert "'points' is an HDF5 group, not a dataset" in fails(1, "fit", tmp_path / "g.h5", "--key", "points", "-k", 1)


# ---------------------------------------------------------------------- for scripts
@pytest.fixture(scope="module")
def model(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_model") / "m.npz"
    lib.GaussianMixture(3, random_state=0).fit(data).save(path)
    return path


def test_fit_json_is_the_model_written(files, tmp_path):
    out = ok("fit", files / "x.npy", "-k", 3, "--covariance", "diag", "-q", "--json", "-o", tmp_path / "m")
    record = json.loads(out)  # the whole of stdout
    gm = lib.load(tmp_path / "m.npz")
    assert set(record) == {"estimator", "n_components", "covariance_type", "n_samples", "n_features", "dtype",
                           "feature_names", "n_iter", "converged", "lower_bound", "n_parameters", "bic", "seconds",
                           "model"}
    assert record["estimator"] == "GaussianMixture"
    assert record["model"] == str(tmp_path / "m.npz")
    assert record["n_iter"] == gm.n_iter_
    assert record["converged"] is bool(gm.converged_)
    assert record["lower_bound"] == gm.lower_bound_
    assert record["n_components"] == 3
    assert record["covariance_type"] == "diag"
    assert (record["n_samples"], record["n_features"], record["dtype"]) == (3000, 3, "float64")
    assert record["feature_names"] is None
    assert record["n_parameters"] == gm.n_parameters()
    assert record["bic"] == pytest.approx(-2 * gm.lower_bound_ * 3000 + gm.n_parameters() * np.log(3000), rel=1e-12)
    assert isinstance(record["seconds"], float)
    assert record["seconds"] > 0
    assert json.loads(ok("fit", files / "x.npy", "-k", 3, "-q", "--json"))["model"] is None


def test_fit_json_names_the_columns_as_the_library_does(files):
    record = json.loads(ok("fit", files / "x.parquet", "--columns", "a,b,c", "-k", 2, "-q", "--json"))
    gm = lib.GaussianMixture(2, random_state=0).fit(lib.source(files / "x.parquet", columns=["a", "b", "c"]))
    names = getattr(gm, "feature_names_in_", None)
    assert record["feature_names"] == (None if names is None else list(names))
    assert record["n_iter"] == gm.n_iter_


def test_score_json_is_the_models_score(model, files, data):
    record = json.loads(ok("score", model, files / "x.npy", "--json", "-q"))
    gm = lib.load(model)
    total, p = gm.score_samples(data).sum(), gm.n_parameters()
    assert set(record) == {"n_samples", "n_parameters", "log_likelihood_per_row", "log_likelihood_total", "bic", "aic"}
    assert record["n_samples"] == 3000
    assert record["n_parameters"] == p
    assert record["log_likelihood_total"] == pytest.approx(total, rel=1e-12)
    assert record["log_likelihood_per_row"] == pytest.approx(total / 3000, rel=1e-12)
    assert record["bic"] == pytest.approx(-2 * total + p * np.log(3000), rel=1e-12)
    assert record["aic"] == pytest.approx(-2 * total + 2 * p, rel=1e-12)


def test_select_json_lists_every_k_and_the_best(files, data, tmp_path):
    record = json.loads(ok("select", files / "x.npy", "-k", "1..4", "-q", "--json", "--covariance", "diag",
                           "-o", tmp_path / "best.npz"))
    assert set(record) == {"criterion", "n_samples", "fits", "best_k", "model"}
    assert record["criterion"] == "bic"
    assert [fit["k"] for fit in record["fits"]] == [1, 2, 3, 4]
    for fit in record["fits"]:
        assert set(fit) == {"k", "n_iter", "converged", "n_parameters", "log_likelihood_per_row",
                            "log_likelihood_total", "bic", "aic"}
        n, total, p = 3000, fit["log_likelihood_total"], fit["n_parameters"]
        assert fit["bic"] == pytest.approx(-2 * total + p * np.log(n), rel=1e-12)
        assert fit["aic"] == pytest.approx(-2 * total + 2 * p, rel=1e-12)
    assert record["best_k"] == 3 == min(record["fits"], key=lambda fit: fit["bic"])["k"]
    best = lib.load(record["model"])
    assert best.n_components == 3
    assert best.n_iter_ == record["fits"][2]["n_iter"]
    assert best.score_samples(data).sum() == pytest.approx(record["fits"][2]["log_likelihood_total"], rel=1e-12)
    assert best.get_params()["progress"] is False


def test_info_json_is_the_models_content(model):
    record = json.loads(ok("info", model, "--json"))
    gm = lib.load(model)
    names = getattr(gm, "feature_names_in_", None)
    assert record == {
        "model": str(model), "estimator": "GaussianMixture", "n_components": 3, "covariance_type": "full",
        "n_features": 3,
        "n_parameters": gm.n_parameters(), "dtype": str(gm.means_.dtype), "missing": "error",
        "feature_names": None if names is None else list(names), "weights": gm.weights_.tolist(),
        "means": gm.means_.tolist(), "converged": bool(gm.converged_), "n_iter": gm.n_iter_,
        "lower_bound": gm.lower_bound_,
    }


def test_json_values_are_plain_and_non_finite_is_null():
    assert cli._json_value({"a": -np.inf, "b": np.float32(1.5), "c": np.arange(2), "d": [np.nan, np.True_]}) == \
        {"a": None, "b": 1.5, "c": [0, 1], "d": [None, True]}


def test_a_failing_json_command_prints_nothing_on_stdout(tmp_path):
    result = fastem("fit", tmp_path / "missing.npy", "-k", 2, "--json")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("fastem: error: no such file")


def test_quiet_leaves_the_results_only(model, files, tmp_path):
    loud = fastem("predict", model, files / "x.npy", "-o", tmp_path / "l.npy")
    assert loud.stdout == f"wrote labels of 3,000 rows to {tmp_path / 'l.npy'}\n"
    assert " rows in " in loud.stderr  # a loaded model shows progress unless -q
    assert "\r" not in loud.stderr
    for args in (["predict", model, files / "x.npy", "-o", tmp_path / "l.npy"],
                 ["sample", model, "-n", 10, "-o", tmp_path / "s.npy"]):
        result = fastem(*args, "-q")
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    for args in (["score", model, files / "x.npy"], ["info", model], ["fit", files / "x.npy", "-k", 2],
                 ["select", files / "x.npy", "-k", "1..2"]):
        result = fastem(*args, "-q")
        assert result.returncode == 0
        assert result.stderr == ""
        assert result.stdout  # the results


def test_warnings_show_on_stderr_one_line_each_even_with_quiet(files):
    for quiet in ([], ["-q"]):
        result = fastem("fit", files / "x.npy", "-k", 3, "--max-iter", 1, "--tol", 1e-12, "--json", *quiet)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["converged"] is False
        shown = [line for line in result.stderr.splitlines() if "warning" in line]
        assert shown == [("fastem: warning: Best performing initialization did not converge. Try different init "
                          "parameters, or increase max_iter, tol, or check for degenerate data.")]
    result = fastem("select", files / "x.npy", "-k", "2,3", "--max-iter", 1, "--tol", 1e-12, "-q")
    assert result.returncode == 0, result.stderr
    assert [line.split(": ")[2] for line in result.stderr.splitlines()] == ["K=2", "K=3"]
    assert "warning" not in result.stdout


@pytest.mark.parametrize("command", ["info", "predict", "score", "sample"])
def test_a_file_that_is_not_a_model_is_a_model_file_error(command, files, tmp_path):
    (tmp_path / "notes.txt").write_text("not a model\n")
    extra = {"info": [], "predict": [files / "x.npy", "-o", tmp_path / "l.npy"], "score": [files / "x.npy"],
             "sample": ["-n", 5, "-o", tmp_path / "s.npy"]}[command]
    for path in (files / "x.npy", tmp_path / "notes.txt"):
        with pytest.raises(lib.ModelFileError) as error:
            lib.load(path)
        assert fails(1, command, path, *extra) == f"fastem: error: {error.value}\n"
        assert "is not a readable fastem model" in str(error.value)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_output_into_a_missing_folder_fails_before_any_work(model, files, tmp_path):
    missing = tmp_path / "no" / "such"
    for args in (["fit", files / "x.npy", "-k", 2, "-o", missing / "m.npz"],
                 ["fit", files / "x.npy", "-k", 2, "-o", missing / "m"],
                 ["select", files / "x.npy", "-k", "1..2", "-o", missing / "m.npz"],
                 ["predict", model, files / "x.npy", "-o", missing / "l.parquet"],
                 ["sample", model, "-n", 10, "-o", missing / "s.csv"]):
        result = fastem(*args)  # progress on: any pass over the data would print a line
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr == f"fastem: error: -o {args[-1]}: the folder {missing} does not exist\n"
    assert os.listdir(tmp_path) == []


def test_output_suffixes_fastem_does_not_write_are_refused_before_any_work(model, files, tmp_path):
    for command, args in (("predict", [model, files / "x.npy"]), ("sample", [model, "-n", 10])):
        for name in ("labels.txt", "labels", "labels.npz"):
            err = fails(1, command, *args, "-o", tmp_path / name)  # no progress line: nothing was read
            assert err == (f"fastem: error: -o {tmp_path / name}: fastem writes .npy, .parquet or .csv files; "
                           "give a path with one of those suffixes\n")
    assert os.listdir(tmp_path) == []


def test_predict_writes_the_format_of_its_suffix(model, files, data, tmp_path):
    import pyarrow.parquet as pq

    gm = lib.load(model)
    labels, proba = gm.predict(data), gm.predict_proba(data)
    for suffix in (".npy", ".parquet", ".csv"):
        out = ok("predict", model, files / "x.npy", "-o", tmp_path / f"l{suffix}")
        assert out == f"wrote labels of 3,000 rows to {tmp_path / f'l{suffix}'}\n"
        ok("predict", model, files / "x.npy", "--proba", "-q", "-o", tmp_path / f"p{suffix}")
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), labels)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), proba)
    assert pq.read_table(tmp_path / "l.parquet").column_names == ["label"]
    np.testing.assert_array_equal(pq.read_table(tmp_path / "l.parquet").column("label").to_numpy(), labels)
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.column_names == ["component_0", "component_1", "component_2"]
    np.testing.assert_array_equal(np.column_stack([c.to_numpy() for c in table.columns]), proba)
    assert (tmp_path / "l.csv").read_text().splitlines()[0].strip('"') == "label"
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "l.csv", skiprows=1), labels)
    assert (tmp_path / "p.csv").read_text().splitlines()[0].replace('"', "") == "component_0,component_1,component_2"
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1), proba)  # exact text
    assert sorted(os.listdir(tmp_path)) == sorted(f"{w}{s}" for w in "lp" for s in (".npy", ".parquet", ".csv"))


def test_sample_writes_the_format_of_its_suffix(model, tmp_path):
    import pyarrow.parquet as pq

    for suffix in (".npy", ".parquet", ".csv"):
        out = ok("sample", model, "-n", 50, "--seed", 3, "-o", tmp_path / f"s{suffix}")
        assert out == f"wrote 50 rows x 3 features to {tmp_path / f's{suffix}'}\n"
    draws = np.load(tmp_path / "s.npy")
    assert draws.shape == (50, 3)
    table = pq.read_table(tmp_path / "s.parquet")
    assert table.column_names == ["x0", "x1", "x2"]
    np.testing.assert_array_equal(np.column_stack([c.to_numpy() for c in table.columns]), draws)
    np.testing.assert_array_equal(np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1), draws)


def test_csv_text_reads_back_exactly(tmp_path):
    """The .csv writer (fastem._outputs, block by block): every number reads back to itself,
    and names with commas and quotes stay one column each."""
    from fastem._outputs import open_output

    rows = np.random.default_rng(0).standard_normal((70_007, 2)) * 10.0 ** np.arange(-8, 8, 8)
    for array, columns in ((rows, ["a, first", 'b"q']), (rows.astype(np.float32), ["u", "v"]),
                           (np.arange(9), ["label"])):
        with open_output(tmp_path / "x.csv", columns, array.dtype, flat=array.ndim == 1) as writer:
            for block in np.array_split(array, 3):
                writer.write(block)
            writer.close()
        table = pyarrow_csv().read_csv(tmp_path / "x.csv")
        assert table.column_names == columns
        back = np.column_stack([c.to_numpy() for c in table.columns]).astype(array.dtype)
        np.testing.assert_array_equal(back.reshape(array.shape), array)


def pyarrow_csv():
    return pytest.importorskip("pyarrow.csv")


@pytest.mark.parametrize(("separator", "option"), [(";", ";"), ("\t", "tab"), ("\t", "\\t")])
def test_delimiter_reads_the_same_data(separator, option, files, data, tmp_path):
    np.savetxt(tmp_path / "x.csv", data, delimiter=separator, header=separator.join("abc"), comments="")
    ok("fit", files / "x.csv", "-k", 3, "-q", "-o", tmp_path / "comma.npz")
    ok("fit", tmp_path / "x.csv", "-k", 3, "-q", "--delimiter", option, "-o", tmp_path / "other.npz")
    comma, other = lib.load(tmp_path / "comma.npz"), lib.load(tmp_path / "other.npz")
    np.testing.assert_array_equal(other.means_, comma.means_)
    assert other.n_iter_ == comma.n_iter_


def test_delimiter_on_data_that_is_not_csv_is_one_line(files):
    err = fails(1, "fit", files / "x.npy", "-k", 2, "--delimiter", ";")
    assert "delimiter" in err
    assert err.count("\n") == 1


# ---------------------------------------------------------------------- progress
class Terminal(io.StringIO):
    def isatty(self):
        return True


def _fit_with_progress(data, stream) -> str:
    with contextlib.redirect_stderr(stream):
        lib.GaussianMixture(2, progress=True, tol=1e9, random_state=0).fit(data)
    return stream.getvalue()


def test_progress_on_a_non_terminal_is_whole_lines(data, monkeypatch):
    monkeypatch.delenv("FASTEM_PROGRESS", raising=False)
    text = _fit_with_progress(data, io.StringIO())
    assert "\r" not in text
    lines = text.splitlines()
    assert lines
    assert all(line.startswith("fastem: ") and " rows in " in line for line in lines)
    assert "fastem: pass " in text
    assert "3.00k rows" in text


def test_progress_on_a_terminal_is_a_bar(data, monkeypatch):
    monkeypatch.delenv("FASTEM_PROGRESS", raising=False)
    assert "\r" in _fit_with_progress(data, Terminal())


@pytest.mark.parametrize(("mode", "bar"), [("bar", True), ("lines", False), ("off", None)])
def test_fastem_progress_chooses(mode, bar, data, monkeypatch):
    monkeypatch.setenv("FASTEM_PROGRESS", mode)
    for stream in (io.StringIO(), Terminal()):
        text = _fit_with_progress(data, stream)
        if bar is None:
            assert text == ""
        else:
            assert ("\r" in text) is bar
            assert "rows" in text
    with _progress.mode("off"):
        assert _fit_with_progress(data, Terminal()) == ""


def test_a_long_pass_on_a_non_terminal_says_how_far_it_is(monkeypatch):
    monkeypatch.delenv("FASTEM_PROGRESS", raising=False)
    monkeypatch.setattr(_progress, "LINE_INTERVAL", 0.0)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), _progress.bar(2000, "pass 1") as progress:
        progress.update(500)
        progress.update(1500)
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("fastem: pass 1: 500 of 2.00k rows (25%), ")
    assert lines[1].startswith("fastem: pass 1: 2.00k of 2.00k rows (100%), ")
    assert lines[2].startswith("fastem: pass 1: 2.00k rows in ")
    assert len(lines) == 3


def test_predict_checks_the_column_names_of_the_fit(files, tmp_path):
    """--columns in another order than the fit's is an error that names the problem."""
    ok("fit", files / "x.parquet", "--columns", "a,b,c", "-k", 2, "-q", "-o", tmp_path / "m.npz")
    assert lib.load(tmp_path / "m.npz").feature_names_in_.tolist() == ["a", "b", "c"]
    err = fails(1, "predict", tmp_path / "m.npz", files / "x.parquet", "--columns", "b,a,c", "-q",
                "-o", tmp_path / "l.npy")
    assert err == ("fastem: error: The feature names should match those that were passed during fit. "
                   "Feature names must be in the same order as they were in fit.\n")
    err = fails(1, "predict", tmp_path / "m.npz", files / "x.csv", "--columns", "a,b", "-q", "-o", tmp_path / "l.npy")
    assert "Feature names seen at fit time, yet now missing: - c" in err
    ok("predict", tmp_path / "m.npz", files / "x.csv", "-q", "-o", tmp_path / "l.npy")  # a CSV of the same names
    assert sorted(os.listdir(tmp_path)) == ["l.npy", "m.npz"]


# ---------------------------------------------------------------------- fit --bayesian
def _bayesian(data, k, **kwargs):
    """The library's BayesianGaussianMixture of what fit --bayesian -k k fits (seed 0)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return lib.BayesianGaussianMixture(k, **{"random_state": 0, **kwargs}).fit(data)


def _effective(model) -> int:
    return int(np.sum(np.asarray(model.weights_, dtype=np.float64) > 0.01))


def test_fit_bayesian_reports_and_saves_the_model(files, data, tmp_path):
    out = ok("fit", files / "x.npy", "-k", 5, "--bayesian", "--max-iter", 100, "-q", "-o", tmp_path / "b.npz")
    model = lib.load(tmp_path / "b.npz")
    assert type(model) is lib.BayesianGaussianMixture
    assert model.get_params()["progress"] is False
    same = _bayesian(data, 5, max_iter=100)
    np.testing.assert_allclose(model.means_, same.means_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.weights_, same.weights_, rtol=1e-10, atol=1e-12)
    assert model.n_iter_ == same.n_iter_
    lines = out.splitlines()
    assert lines[0] == ("fitted BayesianGaussianMixture K=5 full (dirichlet_process prior, weight concentration 0.2) "
                        "on 3,000 rows x 3 features (float64)")
    assert lines[1] == f"  iterations      {model.n_iter_} ({'converged' if model.converged_ else 'NOT converged'})"
    assert lines[2] == f"  lower bound     {model.lower_bound_:.6g} (variational, of all the rows)"
    assert lines[3] == f"  effective       {_effective(model)} of 5 components have a weight above 1%"
    assert _effective(model) == 3  # the data's three blobs
    assert lines[4].startswith("  time            ")
    assert lines[5] == f"  model           {tmp_path / 'b.npz'}"
    assert "BIC" not in out


def test_fit_bayesian_json_is_the_model_written(files, data, tmp_path):
    out = ok("fit", files / "x.npy", "-k", 4, "--bayesian", "--covariance", "diag", "--weight-concentration-prior-type",
             "dirichlet_distribution", "--weight-concentration-prior", 0.05, "--max-iter", 30, "-q", "--json",
             "-o", tmp_path / "b")
    record = json.loads(out)  # the whole of stdout
    model = lib.load(tmp_path / "b.npz")
    assert set(record) == {"estimator", "n_components", "covariance_type", "weight_concentration_prior_type",
                           "weight_concentration_prior", "n_samples", "n_features", "dtype", "feature_names", "n_iter",
                           "converged", "lower_bound", "weights", "effective_components", "seconds", "model"}
    assert record["estimator"] == "BayesianGaussianMixture"
    assert (record["n_components"], record["covariance_type"]) == (4, "diag")
    assert record["weight_concentration_prior_type"] == model.weight_concentration_prior_type == "dirichlet_distribution"
    assert record["weight_concentration_prior"] == model.weight_concentration_prior_ == 0.05
    assert (record["n_samples"], record["n_features"], record["dtype"], record["feature_names"]) == (
        3000, 3, "float64", None)
    assert record["n_iter"] == model.n_iter_
    assert record["converged"] is bool(model.converged_)
    assert record["lower_bound"] == model.lower_bound_
    assert record["weights"] == model.weights_.tolist()
    assert record["effective_components"] == _effective(model)
    assert record["model"] == str(tmp_path / "b.npz")
    same = _bayesian(data, 4, covariance_type="diag", weight_concentration_prior_type="dirichlet_distribution",
                     weight_concentration_prior=0.05, max_iter=30)
    np.testing.assert_allclose(record["weights"], same.weights_, rtol=1e-10, atol=1e-12)
    assert json.loads(ok("fit", files / "x.npy", "-k", 2, "--bayesian", "--max-iter", 5, "-q", "--json"))[
        "model"] is None


@pytest.fixture(scope="module")
def bayesian_model(files, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_bayesian") / "b.npz"
    ok("fit", files / "x.npy", "-k", 5, "--bayesian", "--covariance", "tied", "--max-iter", 30, "-q", "-o", path)
    return path


def test_predict_score_sample_on_a_bayesian_model_file(bayesian_model, files, data, tmp_path):
    model = lib.load(bayesian_model)
    ok("predict", bayesian_model, files / "x.npy", "-q", "-o", tmp_path / "l.npy")
    ok("predict", bayesian_model, files / "x.npy", "--proba", "-q", "-o", tmp_path / "p.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "l.npy"), model.predict(data))
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), model.predict_proba(data))
    record = json.loads(ok("score", bayesian_model, files / "x.npy", "-q", "--json"))
    total = model.score_samples(data).sum()
    assert set(record) == {"n_samples", "log_likelihood_per_row", "log_likelihood_total"}
    assert record["n_samples"] == 3000
    assert record["log_likelihood_total"] == pytest.approx(total, rel=1e-12)
    assert record["log_likelihood_per_row"] == pytest.approx(total / 3000, rel=1e-12)
    out = ok("score", bayesian_model, files / "x.npy", "-q")
    assert out == f"rows            3,000\nlog-likelihood  {total / 3000:.6f} per row, {total:.6g} in all\n"
    ok("sample", bayesian_model, "-n", 50, "--seed", 1, "-q", "-o", tmp_path / "s.npy")
    model.random_state = 1
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), model.sample(50)[0])


def test_info_on_a_bayesian_model_file(bayesian_model):
    model = lib.load(bayesian_model)
    record = json.loads(ok("info", bayesian_model, "--json"))
    assert record == {
        "model": str(bayesian_model), "estimator": "BayesianGaussianMixture", "n_components": 5,
        "covariance_type": "tied", "weight_concentration_prior_type": "dirichlet_process", "n_features": 3,
        "dtype": "float64", "missing": "error", "feature_names": None, "weights": model.weights_.tolist(),
        "means": model.means_.tolist(),
        "effective_components": _effective(model), "converged": bool(model.converged_), "n_iter": model.n_iter_,
        "lower_bound": model.lower_bound_,
    }
    lines = ok("info", bayesian_model).splitlines()
    assert lines[:6] == [
        f"model           {bayesian_model}",
        "estimator       BayesianGaussianMixture (dirichlet_process prior)",
        f"components      5 (tied covariance), 3 features, {_effective(model)} effective (weight above 1%)",
        (f"fit             {model.n_iter_} iterations, {'converged' if model.converged_ else 'not converged'}, "
        f"lower bound {model.lower_bound_:.6g}"),
        "dtype           float64",
        "missing values  an error (NaN)",
    ]
    assert lines[6].startswith(f"  component 0: weight {model.weights_[0]:.4f}, mean ")
    assert len(lines) == 11


def test_info_names_a_gaussian_mixture(model):
    assert ok("info", model).splitlines()[1] == "estimator       GaussianMixture"


def test_options_of_the_bayesian_fit_are_refused_elsewhere(files, tmp_path):
    """Prior options without --bayesian, and --bayesian in select, are command-line errors
    (status 2) that say what to do, before any work."""
    for args, message in [
        (["fit", files / "x.npy", "-k", 2, "--weight-concentration-prior", 0.1],
         "fastem fit: error: --weight-concentration-prior applies to a Bayesian mixture: add --bayesian"),
        (["fit", files / "x.npy", "-k", 2, "--weight-concentration-prior-type", "dirichlet_distribution"],
         "fastem fit: error: --weight-concentration-prior-type applies to a Bayesian mixture: add --bayesian"),
        (["select", files / "x.npy", "-k", "1..3", "--bayesian"],
         ("fastem select: error: select fits GaussianMixture only (it compares K by BIC or AIC), not --bayesian: "
         "for a Bayesian mixture use fit --bayesian, with -k an upper bound on the components")),
        (["select", files / "x.npy", "-k", "1..3", "--weight-concentration-prior", 1],
         ("fastem select: error: select fits GaussianMixture only (it compares K by BIC or AIC), not "
         "--weight-concentration-prior:")),
        (["fit", files / "x.npy", "-k", 2, "--bayesian", "--weight-concentration-prior", 0],
         "fastem fit: error: argument --weight-concentration-prior: expected a finite number > 0, got '0'"),
        (["fit", files / "x.npy", "-k", 2, "--bayesian", "--weight-concentration-prior", "nan"],
         "expected a finite number > 0, got 'nan'"),
        (["fit", files / "x.npy", "-k", 2, "--bayesian", "--weight-concentration-prior-type", "uniform"],
         "argument --weight-concentration-prior-type: invalid choice: 'uniform'"),
    ]:
        result = fastem(*args, "-o", tmp_path / "m.npz")
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        assert "Traceback" not in result.stderr
        assert message in result.stderr.splitlines()[-1], result.stderr
        assert " rows in " not in result.stderr  # no pass over the data
    assert os.listdir(tmp_path) == []
    assert "--bayesian" in fastem("fit", "--help").stdout
    assert "--bayesian" not in fastem("select", "--help").stdout
