"""The recorded performance history of the CI machine, and its published pages.

    python asv_benchmarks/history.py [--recent N] [--all] [--publish] [--screenshot PNG]

Runs the history profile (benchmarks/bench_gate.py: one EM iteration at 1e6 x 16, K=16,
and the gate's ratio to a matrix product) with asv on every release commit (releases.py:
where the version in pyproject.toml changed) and on the last N commits of main, on the
commits that lack its results in results/ only. --all adds the headline series, the diag
iteration, on every commit of main that changed the package (fastem/ or pyproject.toml;
the others install the same code as their parent). Then ``asv publish`` builds html/ from
results/ (with its own copies of the scripts asv's pages load from CDNs, fetched from the
npm registry), and --screenshot opens the pages in headless Chromium (Debian's
``chromium`` package) served on 127.0.0.1 and saves a picture of the diag iteration's
time series.

results/ is committed. Its asv machine is named after the CPU it ran on (machine_name():
vendor, model name, family and model numbers, widest vector instructions), because the
project's 2-core CI machine is not always the same processor, and results of two
processors do not belong in one series.
"""

import argparse
import contextlib
import functools
import http.server
import json
import math
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import threading

HERE = pathlib.Path(__file__).resolve().parent
PROFILE = "^bench_gate"
HEADLINE = r"^bench_gate\.Iteration\.time_em_iteration\('diag'\)"  # --all's profile
SERIES = "bench_gate.Iteration.time_em_iteration"  # the screenshot's graph (its diag line)
# what each profile must have of a commit to skip it: {benchmark: parameter indices}
PROFILE_NEEDS = {SERIES: (0, 1), "bench_gate.GateRatio.track_iteration_over_matmul": (0, 1)}
HEADLINE_NEEDS = {SERIES: (0,)}
PACKAGE = ("fastem", "pyproject.toml")  # what a commit must change to be run by --all


def first_processor(cpuinfo="/proc/cpuinfo"):
    """The fields of the first processor of a /proc/cpuinfo text, {key: value}."""
    fields = {}
    for line in pathlib.Path(cpuinfo).read_text().splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _isa(fields):
    flags = set(fields.get("flags", "").split())
    return next((isa for isa in ("avx512f", "avx2", "sse4_2") if isa in flags), "base").replace("avx512f", "avx512")


def machine_name(cpuinfo="/proc/cpuinfo"):
    """The asv machine name of this CPU, e.g. ``intel-xeon-6-167-avx512``: vendor, model
    name without trademarks and clock, family and model numbers, and the widest of
    avx512f / avx2 / sse4_2 that it has."""
    fields = first_processor(cpuinfo)
    vendor = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(fields.get("vendor_id"), "cpu")
    name = re.sub(r"\((?:R|TM|tm)\)|@.*|\b(?:processor|cpu|intel|amd)\b|\b\d+-core\b", " ",
                  fields.get("model name", ""), flags=re.IGNORECASE)
    words = [word for word in re.split(r"[^a-z0-9]+", name.lower()) if word]
    return "-".join([vendor, *words, fields.get("cpu family", "x"), fields.get("model", "x"), _isa(fields)])


def machine_fields(cpuinfo="/proc/cpuinfo"):
    """asv's machine.json fields for this machine, named by machine_name; only what stays
    the same from boot to boot (no kernel version, RAM in whole GiB), since asv keys each
    graph by all of them."""
    fields = first_processor(cpuinfo)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {"machine": machine_name(cpuinfo), "arch": platform.machine(), "os": platform.system(),
            "num_cpu": str(os.cpu_count()), "ram": f"{round(ram / 2**30)} GiB",
            "cpu": f"{fields.get('model name', 'unknown')} (family {fields.get('cpu family', '?')}, model "
                   f"{fields.get('model', '?')}, {_isa(fields)})"}


def _revs(*args):
    """git rev-list of main's first-parent line, oldest first."""
    return subprocess.run(["git", "rev-list", "--first-parent", "--reverse", *args], cwd=HERE.parent, check=True,
                          capture_output=True, text=True).stdout.split()


def package_commits(branch="main"):
    """The commits of branch's first-parent line that changed PACKAGE, oldest first."""
    return _revs(branch, "--", *PACKAGE)


def asv(*args):
    """Runs asv in this folder; raises on failure."""
    subprocess.run([sys.executable, "-m", "asv", *args], cwd=HERE, check=True)


def recorded(machine, commit):
    """{benchmark: [value per parameter combination]} of commit in results/machine/, None
    where a combination has no result."""
    values = {}
    for path in (HERE / "results" / machine).glob(f"{commit[:8]}-*.json"):
        result = json.loads(path.read_text())
        for key, columns in result.get("results", {}).items():
            value = columns[0] if isinstance(columns, list) else columns
            values[key] = value if isinstance(value, list) else [value]
    return values


def _measured(value):
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def lacking(machine, commits, needs):
    """The commits that lack a result of some needs entry: {benchmark: parameter indices}."""
    def done(commit):
        values = recorded(machine, commit)
        return all(key in values and all(i < len(values[key]) and _measured(values[key][i]) for i in indices)
                   for key, indices in needs.items())
    return [commit for commit in commits if not done(commit)]


def record(machine, recent=10, every=False):
    """asv run of the profile on the releases and the recent commits, and with every, of
    the headline on each commit that changed the package, each on the commits that lack
    it in results/ only; machine is machine_fields()."""
    from asv.machine import Machine

    # asv's own writer of ~/.asv-machine.json; `asv machine --yes` would leave out the
    # fields equal to its defaults (arch, num_cpu), and the results would start a new graph
    Machine.load(machine_name=machine["machine"], **machine)
    machine = machine["machine"]
    hashfile = HERE / "releases.txt"  # generated, not kept
    subprocess.run([sys.executable, str(HERE / "releases.py"), "-o", str(hashfile)], check=True)
    commits = hashfile.read_text().split() + _revs(f"main~{recent}..main")
    stages = [(PROFILE, PROFILE_NEEDS, list(dict.fromkeys(commits)))]
    if every:
        stages.append((HEADLINE, HEADLINE_NEEDS, package_commits()))
    for bench, needs, wanted in stages:
        todo = lacking(machine, wanted, needs)
        print(f"history: {bench}: {len(todo)} of {len(wanted)} commits to run", flush=True)
        if todo:
            hashfile.write_text("\n".join(todo) + "\n")
            # a commit's first process compiles its kernels (10-40 s): one round of each benchmark
            asv("run", "--machine", machine, "--show-stderr", "-a", "rounds=1", "--bench", bench,
                f"HASHFILE:{hashfile}")


# asv publish's pages load these from CDNs; the published pages carry their own copies,
# from the npm registry (stupidtable 1.0.1 is not there: 1.1.3 sorts the same tables).
VENDORED = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery@3.3.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": ("flot@0.8.3", "jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": ("flot@0.8.3", "jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot@0.8.3", "jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot@0.8.3", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin@1.1.3", "stupidtable.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": ("blueimp-md5@2.19.0", "js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": ("bootstrap@3.1.1", "dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap@3.1.1", "dist/css/bootstrap.min.css"),
}


def vendor(html=HERE / "html", cache=HERE / ".vendor"):
    """Rewrites the published index.html to load its scripts and styles from html/vendor/,
    fetched once with ``npm pack`` into cache; fails on an external URL it does not know."""
    index = html / "index.html"
    text = index.read_text()
    external = set(re.findall(r'(?:src|href)="(https://(?:code\.jquery\.com|cdnjs\.cloudflare\.com|cdn\.jsdelivr'
                              r'\.net)/[^"]+)"', text))
    unknown = external - set(VENDORED)
    if unknown:
        raise SystemExit(f"history: the published pages load {sorted(unknown)}, which VENDORED does not hold")
    cache.mkdir(exist_ok=True)
    (html / "vendor").mkdir(exist_ok=True)
    for url in sorted(external):
        spec, member = VENDORED[url]
        tarball = cache / (spec.replace("@", "-") + ".tgz")
        if not tarball.exists():
            packed = subprocess.run(["npm", "pack", spec, "--silent"], cwd=cache, check=True, capture_output=True,
                                    text=True).stdout.split()[-1]
            (cache / packed).rename(tarball)
        with tarfile.open(tarball) as archive:
            data = archive.extractfile(f"package/{member}").read()
        local = f"vendor/{spec.replace('@', '-')}-{pathlib.PurePosixPath(member).name}"
        (html / local).write_bytes(data)
        text = text.replace(f'"{url}"', f'"{local}"')
    # their integrity hashes are the CDN files' (minified builds of some): the copies are
    # checked by their npm packages' own integrity instead
    index.write_text(re.sub(r'\s+integrity="[^"]*"', "", text))


@contextlib.contextmanager
def serve(folder):
    """An HTTP server of folder on 127.0.0.1 (a free port), yielding its URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/"
        finally:
            server.shutdown()


def screenshot(png, machine, width=1400, height=900):
    """A picture of the published series SERIES of machine, as headless Chromium renders it."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("history: no chromium: apt-get install chromium (Debian's package)")
    with serve(HERE / "html") as url:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={width},{height}", "--virtual-time-budget=15000",
                        f"--screenshot={pathlib.Path(png).resolve()}",
                        f"{url}#{SERIES}?machine={machine}&p-covariance_type=%27diag%27"],
                       check=True, capture_output=True, timeout=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recent", type=int, default=10, help="commits of main to run besides the releases")
    parser.add_argument("--all", action="store_true",
                        help="also the diag iteration on every commit that changed the package")
    parser.add_argument("--machine", default=None, help="asv machine name (default: machine_name() of this CPU)")
    parser.add_argument("--no-run", action="store_true", help="publish the recorded results only")
    parser.add_argument("--publish", action="store_true", help="asv publish: html/ from results/")
    parser.add_argument("--screenshot", metavar="PNG", help="also a picture of the diag iteration's history")
    args = parser.parse_args(argv)
    machine = args.machine or machine_name()
    if not args.no_run:
        record({**machine_fields(), "machine": machine}, args.recent, args.all)
    if args.publish or args.screenshot:
        asv("publish")
        vendor()
    if args.screenshot:
        if not (HERE / "results" / machine / "machine.json").exists():
            raise SystemExit(f"history: no results of machine {machine!r} to picture (--machine NAME)")
        screenshot(args.screenshot, machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
