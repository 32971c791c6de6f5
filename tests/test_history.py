"""The recorded history (asv_benchmarks/history.py and results/): machine names from the
CPU, the commits --all runs, the committed results consistent with their machine and
loaded by ``asv publish``, and the pages served on 127.0.0.1."""

import json
import pathlib
import subprocess
import sys
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "asv_benchmarks"))
import history

RESULTS = ROOT / "asv_benchmarks" / "results"
MACHINES = sorted(path.parent for path in RESULTS.glob("*/machine.json"))
MAIN = set(subprocess.run(["git", "rev-list", "--first-parent", "main"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.split())

XEON = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 167
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu sse4_2 avx avx2 avx512f avx512bw

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: another processor, which must not be read
"""
EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC 7B13 64-Core Processor
flags\t\t: fpu sse4_2 avx avx2 fma
"""
CORE = """vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 158
model name\t: Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz
flags\t\t: fpu sse4_2
"""


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize(("cpuinfo", "name"), [(XEON, "intel-xeon-6-167-avx512"), (EPYC, "amd-epyc-7b13-25-1-avx2"),
                                               (CORE, "intel-core-i7-8700-6-158-sse4_2"), ("", "cpu-x-x-base")])
def test_machine_name_from_the_first_processor(tmp_path, cpuinfo, name):
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    assert history.machine_name(path) == name


def test_all_runs_the_commits_that_changed_the_package():
    listed = history.package_commits("HEAD")
    line = git("rev-list", "--first-parent", "--reverse", "HEAD").split()
    assert listed
    assert listed[0] == line[0]  # the first commit made the package
    assert [commit for commit in line if commit in set(listed)] == listed  # oldest first, on the line
    for commit in line:
        changed = git("diff-tree", "--root", "--no-commit-id", "--name-only", "-r", commit).split()
        touches = any(path == "pyproject.toml" or path.startswith("fastem/") for path in changed)
        assert touches == (commit in listed), (commit, changed)


def test_committed_results_belong_to_their_machine_and_to_main():
    assert MACHINES, "no recorded results"
    for folder in MACHINES:
        machine = json.loads((folder / "machine.json").read_text())
        assert machine["machine"] == folder.name
        results = [path for path in folder.glob("*.json") if path.name != "machine.json"]
        assert results, folder.name
        for path in results:
            result = json.loads(path.read_text())
            fields = {key: value for key, value in machine.items() if key != "version"}
            assert {key: result["params"].get(key) for key in fields} == fields, path.name  # one graph per machine
            assert path.name.startswith(result["commit_hash"][:8])
            assert result["commit_hash"] in MAIN, path.name  # asv publish plots main's first-parent line


def test_recorded_results_publish(tmp_path):
    """asv publish builds the pages from the committed results: the headline series has a
    graph for each machine, with a diag point for each of its commits that has one."""
    html = tmp_path / "html"
    done = subprocess.run([sys.executable, "-m", "asv", "publish", "--no-pull", "--html-dir", str(html)],
                          cwd=ROOT / "asv_benchmarks", check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    index = json.loads((html / "index.json").read_text())
    assert history.SERIES in index["benchmarks"]
    for folder in MACHINES:
        graphs = list((html / "graphs").glob(f"**/machine-{folder.name}/**/{history.SERIES}.json"))
        assert len(graphs) == 1, (folder.name, graphs)
        points = json.loads(graphs[0].read_text())  # [revision, [diag, full]] per commit
        diag = {revision for revision, values in points if history._measured(values[0])}
        commits = [path.name[:8] for path in folder.glob("*.json") if path.name != "machine.json"]
        measured = [c for c in commits if history._measured(history.recorded(folder.name, c)[history.SERIES][0])]
        assert len(diag) == len(measured), folder.name


def test_a_commit_is_skipped_only_with_every_result_its_profile_needs(tmp_path, monkeypatch):
    monkeypatch.setattr(history, "HERE", tmp_path)
    folder = tmp_path / "results" / "m"
    folder.mkdir(parents=True)
    iteration, ratio = history.SERIES, "bench_gate.GateRatio.track_iteration_over_matmul"
    recorded = {"a" * 40: {iteration: [0.1, None]}, "b" * 40: {iteration: [0.1, 0.2], ratio: [3.0, 8.0]},
                "c" * 40: {iteration: [float("nan"), 0.2], ratio: [3.0, 8.0]}, "d" * 40: {ratio: [3.0, 8.0]}}
    for commit, results in recorded.items():
        columns = {key: [values, [["'diag'", "'full'"]], "1"] for key, values in results.items()}
        (folder / f"{commit[:8]}-virtualenv-py3.11.json").write_text(json.dumps({"results": columns}))
    commits = [*recorded, "e" * 40]  # e has no results
    assert history.lacking("m", commits, history.PROFILE_NEEDS) == ["a" * 40, "c" * 40, "d" * 40, "e" * 40]
    assert history.lacking("m", commits, history.HEADLINE_NEEDS) == ["c" * 40, "d" * 40, "e" * 40]


def test_pages_are_served_on_loopback(tmp_path):
    (tmp_path / "index.html").write_text("<p>asv</p>")
    with history.serve(tmp_path) as url:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "index.html", timeout=10) as response:
            assert response.read() == b"<p>asv</p>"
