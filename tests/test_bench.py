"""The comparison script runs and prints what it says; its floor follows the performance
model. (No timing is asserted: speed is measured by the script and asv, not by tests.)"""

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
    monkeypatch.setattr(bench, "seconds_per_iteration", lambda *args, **kwargs: 1.0)
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
