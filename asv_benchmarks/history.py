"""The recorded performance history of the reference machine, and its published pages.

    python asv_benchmarks/history.py [--recent N] [--all] [--publish] [--screenshot PNG]

Runs the history profile (benchmarks/bench_gate.py: one EM iteration at 1e6 x 16, K=16,
and the gate's ratio to a matrix product) with asv on every release commit (releases.py:
where the version in pyproject.toml changed) and on the last N commits of main, or on
every commit with --all, skipping commits already in results/; then ``asv publish`` builds
html/ from results/ (with its own copies of the scripts asv's pages load from CDNs,
fetched from the npm registry), and --screenshot opens the pages in headless Chromium (Debian's
``chromium`` package) served on 127.0.0.1 and saves a picture of the diag iteration's time
series. results/ is committed: its machine "reference" is the project's 2-core CI machine.
"""

import argparse
import contextlib
import functools
import http.server
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import threading

HERE = pathlib.Path(__file__).resolve().parent
MACHINE = "reference"
PROFILE = "^bench_gate"
SERIES = "bench_gate.Iteration.time_em_iteration"  # the screenshot's graph (its diag line)


def asv(*args):
    """Runs asv in this folder; raises on failure."""
    subprocess.run([sys.executable, "-m", "asv", *args], cwd=HERE, check=True)


def record(recent=10, every=False):
    """asv run of the profile on the releases and the recent commits (or all of them)."""
    asv("machine", "--machine", MACHINE, "--yes")
    hashfile = HERE / "releases.txt"  # generated, not kept
    subprocess.run([sys.executable, str(HERE / "releases.py"), "-o", str(hashfile)], check=True)
    common = ["run", "--machine", MACHINE, "--skip-existing-commits", "--bench", PROFILE, "--show-stderr", "-a",
              "rounds=1"]  # each commit compiles its kernels once per process: one round keeps it to minutes
    asv(*common, f"HASHFILE:{hashfile}")
    asv(*common, "main" if every else f"main~{recent}..main")


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


def screenshot(png, width=1400, height=900):
    """A picture of the published series SERIES, as headless Chromium renders it."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("history: no chromium: apt-get install chromium (Debian's package)")
    with serve(HERE / "html") as url:
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={width},{height}", "--virtual-time-budget=15000",
                        f"--screenshot={pathlib.Path(png).resolve()}", f"{url}#{SERIES}?p-covariance_type=%27diag%27"],
                       check=True, capture_output=True, timeout=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recent", type=int, default=10, help="commits of main to run besides the releases")
    parser.add_argument("--all", action="store_true", help="every commit of main")
    parser.add_argument("--no-run", action="store_true", help="publish the recorded results only")
    parser.add_argument("--publish", action="store_true", help="asv publish: html/ from results/")
    parser.add_argument("--screenshot", metavar="PNG", help="also a picture of the diag iteration's history")
    args = parser.parse_args(argv)
    if not args.no_run:
        record(args.recent, args.all)
    if args.publish or args.screenshot:
        asv("publish")
        vendor()
    if args.screenshot:
        screenshot(args.screenshot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
