"""Releases: the version lives in pyproject.toml alone, and asv's release list
(asv_benchmarks/releases.py, for HASHFILE:) is the commits where it changed."""

import pathlib
import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import fastem

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "asv_benchmarks"))
import releases

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_is_pyprojects():
    assert fastem.__version__ == PYPROJECT["project"]["version"]


def test_release_list_is_the_commits_where_the_version_changed():
    found = releases.releases()
    assert found, "no release commit"
    versions = [version for _, version in found]
    assert len(set(versions)) == len(versions)
    assert versions[-1] == PYPROJECT["project"]["version"]
    for commit, version in found:
        assert releases.version_at(commit) == version
        parents = subprocess.run(["git", "rev-list", "--parents", "-n", "1", commit], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout.split()[1:]
        assert all(releases.version_at(parent) != version for parent in parents)
    first = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.split()
    assert found[0][0] in first  # 0.1.0 came with the first commit


def test_release_list_writes_a_hashfile(tmp_path):
    out = tmp_path / "releases.txt"
    assert releases.main(["-o", str(out)]) == 0
    assert out.read_text().split() == [commit for commit, _ in releases.releases()]
