"""The comparison script runs and prints what it says; its floor follows the performance
model. (No timing is asserted: speed is measured by the script and asv, not by tests.)"""

import json
import re

import pytest

from fastem import bench


def test_floor_is_the_largest_of_the_three_bounds():
    rates = {"bandwidth": 1e10, "multiply_adds": 1e11, "exps": 1e9}
    n, d, k = 1_000_000, 16, 16
    assert bench.floor_seconds(rates, n, d, k, "full", 8) == pytest.approx(n * k * d * (d + 3) / 1e11)
    assert bench.floor_seconds(rates, n, d, k, "diag", 8) == pytest.approx(n * k / 1e9)  # the exps
    assert bench.floor_seconds(rates, n, 2, 1, "diag", 8) == pytest.approx(n * 2 * 8 / 1e10)  # the read


def test_compute_seconds_adds_the_exps_to_the_multiply_adds():
    rates = {"bandwidth": 1e10, "multiply_adds": 1e11, "exps": 1e9}
    n, d, k = 1_000_000, 16, 16
    assert bench.compute_seconds(rates, n, d, k, "diag") == pytest.approx(3 * n * k * d / 1e11 + n * k / 1e9)
    assert bench.compute_seconds(rates, n, d, k, "full") == pytest.approx(n * k * d * (d + 3) / 1e11 + n * k / 1e9)


@pytest.mark.slow  # 14 s; test_thread_scaling_prints_both_counts_and_the_ratio times fastem the same way
def test_table_has_a_row_per_covariance_type(capsys):
    """A smoke test of the script end to end (the floor itself is tested above)."""
    assert bench.main(["-n", "3000", "-d", "3", "-k", "2", "--covariance", "diag", "full", "--no-memory",
                       "--iterations", "1"]) == 0
    out = capsys.readouterr().out
    for cov in ("diag", "full"):
        numbers = r"\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+([\d.]+)\s+([\d.]+)x\s+([\d.]+)\s+([\d.]+)x"
        row = re.search(rf"^{cov}{numbers}", out, re.MULTILINE)
        assert row, out
        assert all(float(v) >= 0 for v in row.groups())  # times of 3,000 rows print as 0.0000
        assert float(row.group(4)) > 0  # the square product's rate, G multiply-adds/s


def test_each_row_floor_takes_the_faster_rates_around_its_timing(monkeypatch, capsys):
    """Rates are measured before and after each row's fastem timing; the faster of each
    pair (the lower floor) sets the row's floor, whichever side it was measured on."""
    product = iter([1e9, 2e9, 4e9, 3e9])  # header (= first row's before), after; before, after
    monkeypatch.setattr(bench, "machine_rates", lambda dtype: {
        "bandwidth": 1e15, "multiply_adds": next(product), "skinny_multiply_adds": 1e9, "exps": 1e15})
    monkeypatch.setattr(bench, "timed_fits", lambda *args, **kwargs: (1.0, None))
    n, d, k = 1_000_000, 4, 2
    assert bench.main(["-n", str(n), "-d", str(d), "-k", str(k), "--covariance", "full", "diag",
                       "--no-memory"]) == 0
    out = capsys.readouterr().out
    for cov, madds, rate in (("full", n * k * d * (d + 3), 2e9), ("diag", 3 * n * k * d, 4e9)):
        row = re.search(rf"^{cov}\s+([\d.]+)\s+([\d.e-]+)\s+([\d.]+)x\s+([\d.]+)\s+([\d.]+)x", out, re.MULTILINE)
        assert row, out
        assert float(row.group(2)) == pytest.approx(madds / rate, abs=1e-4)  # 0.0280, 0.0060
        assert float(row.group(4)) == pytest.approx(rate / 1e9)
        assert float(row.group(5)) == pytest.approx(rate / madds, rel=1e-3)  # 1 s over the madds' time (exps free)


def test_thread_scaling_prints_both_counts_and_the_ratio(capsys):
    bench.thread_scaling(2000, 3, 2, "diag", rounds=2)
    out = capsys.readouterr().out
    pattern = (r"1 thread [\d.]+ s/it, \d+ threads [\d.]+ s/it .* speed-up [\d.]+x \(rounds: [\d.]+-[\d.]+x\); "
               r"the square matrix product in the same rounds [\d.]+x \([\d.]+-[\d.]+x\)")
    assert re.search(pattern, out), out


@pytest.mark.slow  # 15 s; test_table_has_a_row_per_covariance_type runs the same table code
def test_bayesian_table_times_both_libraries_from_the_same_start(capsys):
    """--bayesian: a row per covariance type with fastem's and scikit-learn's
    BayesianGaussianMixture times, their ratio, and lower bounds that agree (the same
    initial seed rows in both, 1 + m iterations each)."""
    assert bench.main(["--bayesian", "-n", "2000", "-d", "3", "-k", "3", "--covariance", "diag", "full",
                       "--iterations", "1", "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("BayesianGaussianMixture: N=2,000 D=3 K=3"), out
    header = next(line for line in out.splitlines() if line.startswith("covariance"))
    for column in ("fastem s/it", "sklearn s/it", "speed-up", "bound rel. diff"):
        assert column in header, header
    assert "pomegranate" not in header  # no variational peers
    assert "torchgmm" not in header
    for cov in ("diag", "full"):
        numbers = r"\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+([\d.]+)\s+([\d.]+)x\s+([\d.]+)\s+([\d.]+)x"
        row = re.search(rf"^{cov}{numbers}\s+(\S+)$", out, re.MULTILINE)
        assert row, out
        fastem, sklearn, speedup, difference = (float(row.group(i)) for i in (1, 6, 7, 8))
        assert min(fastem, sklearn, speedup) >= 0  # times of 2,000 rows may print as 0.0000
        assert difference < 1e-8, row.group(0)  # the same path in both libraries


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 2 iterations, tol=0
@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_bayesian_starting_point_is_the_same_in_both_libraries(covariance_type):
    """The keywords of --bayesian give fastem and scikit-learn the same start (tied:
    'random', see starting_point) and so the same lower bound after two iterations."""
    X = bench.make_data(3000, 3, 3, "float64")
    init = bench.starting_point(X, 3, covariance_type, bayesian=True)
    fits = [bench._estimator(library, 3, covariance_type, 2, init, bayesian=True).fit(X)
            for library in ("fastem", "sklearn")]
    assert [type(fit).__module__.split(".")[0] for fit in fits] == ["fastem", "sklearn"]
    assert bench.bound_difference(fits[0], fits[1], 1) < 1e-8


def test_bayesian_peak_child_prints_the_extra_memory(capsys):
    for library in ("fastem", "sklearn"):
        assert bench.main(["--peak-child", library, "--bayesian", "--covariance", "diag", "-n", "6000", "-d", "3",
                           "-k", "2"]) == 0
        assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["extra_mb"] >= 0


def test_pygmmis_table_times_both_from_the_same_start_to_the_same_likelihood(capsys):
    """--missing --pygmmis: both libraries run EM for incomplete data from the same start,
    so after the same iterations they reach the same log-likelihood of the observed entries
    (pygmmis's huge variances for missing entries marginalise them to rounding)."""
    assert bench.main(["--missing", "0.1", "--pygmmis", "-n", "3000", "-d", "3", "-k", "2"]) == 0
    out = capsys.readouterr().out
    rows = dict(re.findall(r"^(fastem|pygmmis)\s+[\d.]+\s+(-?[\d.]+)$", out, re.MULTILINE))
    assert set(rows) == {"fastem", "pygmmis"}, out
    assert float(rows["pygmmis"]) == pytest.approx(float(rows["fastem"]), rel=1e-5, abs=1e-5)
    assert re.search(r"pygmmis / fastem: [\d.]+x \(rounds: [\d.]+x [\d.]+x [\d.]+x\)", out), out


def test_matrix_times_fastem_beside_its_peers_from_one_start(monkeypatch, capsys):
    """--matrix: a line per shape with fastem's time over its compute bound, a baseline
    fastem (here this very tree, imported in a child process: the same model to the bit),
    oneDAL where installed and scikit-learn, and the libraries' log-likelihoods after the
    same iterations agreeing."""
    from pathlib import Path

    from fastem import _matrix

    monkeypatch.setattr(_matrix, "SHAPES", (_matrix.Shape(3000, 3, 2, "diag"), _matrix.Shape(3000, 4, 3, "full")))
    root = Path(__file__).resolve().parents[1]
    rows = _matrix.matrix(rounds=1, iterations=1, baseline=str(root))
    out = capsys.readouterr().out
    assert "peers: scikit-learn" in out
    with_onedal = bench._importable("daal4py")
    for row, text in zip(rows, ("3e3 x 3, K=2 diag", "3e3 x 4, K=3 full"), strict=True):
        assert row["shape"] == text
        assert re.search(rf"^{re.escape(text)}\s+[\d.]+\s+[\d.]+x\s+[\d.]+\s+[\d.]+x", out, re.MULTILINE), out
        assert min(row["fastem"], row["bound"], row["sklearn"]) > 0
        ll = row["log_likelihoods"]
        assert set(ll) == {"fastem", "baseline", "sklearn"} | ({"oneDAL"} if with_onedal else set())
        assert ll["baseline"] == ll["fastem"]  # the same code, the same start
        for name in ll:
            assert ll[name] == pytest.approx(ll["fastem"], rel=1e-6), name


def test_matrix_rows_are_checked():
    with pytest.raises(SystemExit):
        bench.main(["--matrix", "0"])


def test_asv_large_profile_times_the_matrix_shapes():
    """asv's large profile keeps its own copy of the shapes (asv runs commits older than
    fastem._matrix): it must be the matrix's."""
    import sys
    from pathlib import Path

    from fastem import _matrix

    suite = str(Path(__file__).resolve().parents[1] / "asv_benchmarks")
    sys.path.insert(0, suite)
    try:
        from benchmarks import bench_large
    finally:
        sys.path.remove(suite)
    assert [f"{s.n}x{s.d}x{s.k} {s.covariance_type} {s.dtype}" for s in _matrix.SHAPES] == bench_large.SHAPES


def test_blas_description_names_the_library_and_a_forced_coretype(monkeypatch):
    """The bench's headers say which BLAS ran scikit-learn's products and the bound's, and
    whether OPENBLAS_CORETYPE chose its kernels for another CPU."""
    from threadpoolctl import threadpool_info

    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    text = bench.blas_description()
    assert text.startswith("BLAS: ")
    found = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert found, "NumPy's BLAS not found"
    for lib in found:
        assert f"{lib['internal_api']} {lib['version']}" in text
    assert "OPENBLAS_CORETYPE" not in text
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert "OPENBLAS_CORETYPE=Haswell chose them" in bench.blas_description()
