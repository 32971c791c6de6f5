"""The release commits, for asv's ``HASHFILE:`` input: the commits where the version in
pyproject.toml changed, oldest first, so that no git tag is needed.

    python asv_benchmarks/releases.py [-o releases.txt]     # one hash per line
    asv run HASHFILE:releases.txt                            # from asv_benchmarks/
"""

import argparse
import pathlib
import subprocess
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def version_at(commit):
    """The project version in pyproject.toml at commit, or None where it has none."""
    try:
        text = _git("show", f"{commit}:pyproject.toml")
    except subprocess.CalledProcessError:  # no pyproject.toml in that commit
        return None
    return tomllib.loads(text).get("project", {}).get("version")


def releases(branch="HEAD"):
    """[(commit, version)] where the version differs from the parent's, oldest first."""
    candidates = _git("log", "--reverse", "--format=%H", "-G", r"^version\s*=", branch, "--", "pyproject.toml").split()
    found, previous = [], None
    for commit in candidates:
        version = version_at(commit)
        if version is not None and version != previous:
            found.append((commit, version))
        previous = version
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", help="write the hashes here (default: stdout)")
    parser.add_argument("--branch", default="HEAD", help="the history to read (default HEAD)")
    args = parser.parse_args(argv)
    found = releases(args.branch)
    text = "".join(f"{commit}\n" for commit, _ in found)
    if args.output:
        pathlib.Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    for commit, version in found:
        print(f"{version}: {commit[:10]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
