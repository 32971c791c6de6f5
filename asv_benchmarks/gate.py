"""The regression gate: a change against main (or the last release), on this machine.

    python asv_benchmarks/gate.py [BASE] [HEAD] [--rounds N] [--factor F] [--threads T]

Each commit is checked out in a temporary git worktree and imported from there by a new
process per measurement (its kernels compile once, in the worktree's own cache). The
rounds are interleaved, the order flipping each round (BASE, HEAD, then HEAD, BASE, ...),
so that a drift of the machine's pace hits both; each measurement is the gate benchmark
of benchmarks/bench_gate.py: seconds per EM iteration over seconds of a fixed matrix
product timed in the same process, the kernels on one thread unless told otherwise (on
a shared 2-core machine a preempted thread stalls the whole parallel pass: rounds on two
threads scattered more widely). The gate fails (exit status 1) when, for some covariance
type, the median over the rounds of HEAD's ratio over BASE's exceeds the factor. The
factor comes from the noise measured on the project's 2-core machine
(docs/user_guide/performance.rst, "The regression gate").
"""

import argparse
import contextlib
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
FACTOR = 1.15  # ten self-comparisons: medians 0.97-1.08; a planted diag slowdown: 1.20-1.21 (performance.rst)
ROUNDS = 5
THREADS = 1
COVARIANCE_TYPES = ("diag", "full")

# One measurement, in a new process that imports the fastem of the worktree on its path.
MEASURE = """
import json, sys
sys.path.insert(0, {suite!r})
from benchmarks.bench_gate import GateRatio
bench = GateRatio()
out = {{}}
for covariance_type in {covariance_types!r}:
    bench.setup(covariance_type)
    out[covariance_type] = bench.track_iteration_over_matmul(covariance_type)
print(json.dumps(out))
"""


def _git(*args, cwd=HERE):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def measure(tree, covariance_types=COVARIANCE_TYPES, threads=THREADS):
    """{covariance type: ratio} from a new process importing fastem from ``tree``, its
    kernels on ``threads`` threads."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONSAFEPATH="1", NUMBA_NUM_THREADS=str(threads))
    code = MEASURE.format(suite=str(HERE), covariance_types=tuple(covariance_types))
    done = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, cwd=tree)
    if done.returncode != 0:
        raise RuntimeError(f"the gate's measurement failed in {tree}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(base, head, rounds=ROUNDS, covariance_types=COVARIANCE_TYPES, workdir=None, log=print,
            threads=THREADS):
    """Interleaved rounds of base and head; returns {covariance type: median of head / base}.
    The worktrees go in a temporary folder, or in workdir, where they stay (with their
    compiled kernels) for the next comparison of the same commits."""
    commits = {name: _git("rev-parse", "--verify", f"{name}^{{commit}}") for name in (base, head)}
    with contextlib.ExitStack() as stack:
        root = pathlib.Path(workdir) if workdir else pathlib.Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="fastem-gate-")))
        trees = {}
        for name, commit in commits.items():
            trees[name] = root / commit[:12]
            if not (trees[name] / ".git").exists():
                _git("worktree", "add", "--detach", str(trees[name]), commit)
                if not workdir:
                    stack.callback(_git, "worktree", "remove", "--force", str(trees[name]))
        ratios = {c: [] for c in covariance_types}
        for r in range(rounds):
            order = (base, head) if r % 2 == 0 else (head, base)
            got = {name: measure(trees[name], covariance_types, threads) for name in order}
            for c in covariance_types:
                ratios[c].append(got[head][c] / got[base][c])
            log(f"round {r + 1}/{rounds}: " + ", ".join(
                f"{c} {got[base][c]:.3f} -> {got[head][c]:.3f} ({ratios[c][-1]:.3f}x)" for c in covariance_types))
    return {c: statistics.median(values) for c, values in ratios.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", nargs="?", default="main", help="the commit compared against (default: main)")
    parser.add_argument("head", nargs="?", default="HEAD", help="the change (default: HEAD)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"interleaved rounds (default {ROUNDS})")
    parser.add_argument("--factor", type=float, default=FACTOR,
                        help=f"the median slowdown that fails the gate (default {FACTOR})")
    parser.add_argument("--covariance", nargs="+", default=list(COVARIANCE_TYPES), choices=COVARIANCE_TYPES)
    parser.add_argument("--threads", type=int, default=THREADS,
                        help=f"the kernels' threads in each measurement (default {THREADS})")
    parser.add_argument("--workdir", help="keep the worktrees (and their compiled kernels) here for the next run")
    args = parser.parse_args(argv)
    medians = compare(args.base, args.head, args.rounds, args.covariance, args.workdir, threads=args.threads)
    slower = {c: m for c, m in medians.items() if m > args.factor}
    for c, m in medians.items():
        print(f"{c}: {args.head} / {args.base} = {m:.3f}x (median of {args.rounds} rounds)"
              + ("  SLOWER" if c in slower else ""))
    if slower:
        print(f"gate: failed, slower than {args.factor}x: {', '.join(slower)}")
        return 1
    print(f"gate: passed (factor {args.factor})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
