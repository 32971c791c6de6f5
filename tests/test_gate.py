"""The regression gate's decisions (asv_benchmarks/gate.py), with its measurement replaced:
interleaved rounds whose order flips, the median of head over base, the exit status. Its
timings are measured, not tested (the planted slowdown and the self-comparisons are in
docs/user_guide/performance.rst)."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "asv_benchmarks"))
import gate

HEAD = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
PARENT = subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=ROOT, check=True, capture_output=True,
                        text=True).stdout.strip()


@pytest.fixture
def fake_measure(monkeypatch):
    """gate.measure replaced: each worktree's commit gets the ratios of ``speeds``; the
    order of the calls and the thread counts asked for are recorded."""
    calls = []
    speeds = {}
    threads_seen = set()

    def measure(tree, covariance_types, threads):
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, check=True, capture_output=True,
                                text=True).stdout.strip()
        calls.append(commit)
        threads_seen.add(threads)
        return {c: speeds[commit][c] for c in covariance_types}

    monkeypatch.setattr(gate, "measure", measure)
    return calls, speeds, threads_seen


def test_a_slower_head_fails_the_gate(fake_measure):
    calls, speeds, _ = fake_measure
    speeds[PARENT] = {"diag": 5.0, "full": 14.0}
    speeds[HEAD] = {"diag": 6.5, "full": 14.0}  # diag 1.3x slower
    assert gate.main([PARENT, HEAD, "--rounds", "4"]) == 1
    assert calls == [PARENT, HEAD, HEAD, PARENT, PARENT, HEAD, HEAD, PARENT]  # interleaved, flipping


def test_the_same_speed_passes_and_the_factor_decides(fake_measure):
    _, speeds, threads = fake_measure
    speeds[PARENT] = {"diag": 5.0, "full": 14.0}
    speeds[HEAD] = {"diag": 5.5, "full": 14.0}  # 1.1x
    assert gate.main([PARENT, HEAD, "--rounds", "3"]) == 0
    assert threads == {1}  # one kernel thread unless told
    assert gate.main([PARENT, HEAD, "--rounds", "3", "--factor", "1.05", "--threads", "2"]) == 1
    assert threads == {1, 2}


def test_the_median_over_rounds_ignores_one_noisy_round(monkeypatch):
    values = iter([{"diag": 5.0}, {"diag": 9.0}, {"diag": 5.0}, {"diag": 5.0}, {"diag": 5.0}, {"diag": 5.1}])
    monkeypatch.setattr(gate, "measure", lambda tree, covariance_types, threads: next(values))
    medians = gate.compare(PARENT, HEAD, rounds=3, covariance_types=("diag",), log=lambda _: None)
    assert medians["diag"] == pytest.approx(1.02)  # rounds 1.8x, 1.0x, 1.02x


def test_worktrees_are_removed_and_kept_in_a_workdir(fake_measure, tmp_path):
    _, speeds, _ = fake_measure
    speeds[PARENT] = speeds[HEAD] = {"diag": 5.0}
    before = subprocess.run(["git", "worktree", "list"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    gate.compare(PARENT, HEAD, rounds=1, covariance_types=("diag",), log=lambda _: None)
    after = subprocess.run(["git", "worktree", "list"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    assert after == before
    gate.compare(PARENT, HEAD, rounds=1, covariance_types=("diag",), workdir=tmp_path, log=lambda _: None)
    kept = sorted(path.name for path in tmp_path.iterdir())
    assert kept == sorted(commit[:12] for commit in {PARENT, HEAD})
    for path in tmp_path.iterdir():
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=True)
