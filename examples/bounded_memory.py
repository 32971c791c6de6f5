"""Bounded memory: a Parquet folder and streamed predictions
=========================================================

A folder of Parquet files fitted and a .npy file's predictions streamed to disk, each in
a fresh process whose peak resident memory is reported.

1. A Parquet dataset (files of several row groups, 16 float64 columns) of --parquet-gb,
   fitted by ``GaussianMixture.fit("folder")`` with K=8 diagonal components.
2. A .npy file of --npy-gb (16 float64 columns), whose probabilities under that model are
   written by ``predict_proba(path, out="proba.npy")`` chunk by chunk; then checked
   against the in-memory predictions, block by block.

Run::

    python examples/bounded_memory.py [--parquet-gb 2] [--npy-gb 4] [--folder DIR]
    python examples/bounded_memory.py --quick          # 50 MB of each (CI)
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

D, K, FILES = 16, 8, 8
ROWS_PER_WRITE = 500_000
SCRIPT = globals().get("__file__", sys.argv[0])  # this file (sphinx-gallery sets sys.argv[0], not __file__)


# %%
# The data: rows of a known 8-component mixture, written half a million rows at a time, to
# a folder of Parquet files of several row groups each and to one .npy file.
def blocks(rows: int, seed: int):
    """rows of a known 8-component mixture, ROWS_PER_WRITE at a time."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(scale=5.0, size=(K, D))
    for start in range(0, rows, ROWS_PER_WRITE):
        n = min(ROWS_PER_WRITE, rows - start)
        yield centres[rng.integers(K, size=n)] + rng.standard_normal((n, D))


def write_parquet(folder: Path, gigabytes: float) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir()
    rows = int(gigabytes * 1e9) // (8 * D) // FILES
    names = [f"x{j}" for j in range(D)]
    for i in range(FILES):
        with pq.ParquetWriter(folder / f"part-{i:02d}.parquet", pa.schema([(n, pa.float64()) for n in names])) as w:
            for block in blocks(rows, seed=i + 1):
                w.write_table(pa.table(dict(zip(names, block.T, strict=True))), row_group_size=100_000 + 25_000 * i)


def write_npy(path: Path, gigabytes: float) -> None:
    rows = int(gigabytes * 1e9) // (8 * D)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(rows, D))
    start = 0
    for block in blocks(rows, seed=99):
        X[start : start + block.shape[0]] = block
        start += block.shape[0]
    X.flush()
    del X


# %%
# Each measured step runs in a process of its own, which reports its peak resident
# memory: the fit on the folder (``fit("folder")``), then the probabilities of every row of
# the .npy file written chunk by chunk (``predict_proba(source, out="proba.npy")``).
def peak_mib() -> float:
    """This process's peak resident memory, MiB: VmHWM, which starts afresh with the program
    (ru_maxrss keeps the parent's peak across fork and exec), or ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(step: str, folder: Path) -> None:
    """One measured step, in its own process: prints a JSON line with its peak memory."""
    import fastem

    if step == "fit":
        gm = fastem.GaussianMixture(K, covariance_type="diag", max_iter=20, random_state=0, progress=True)
        gm.fit(str(folder / "parquet"))
        gm.save(folder / "model.npz")
        result = {"n_iter": gm.n_iter_, "columns": list(gm.feature_names_in_)}
    else:
        gm = fastem.load(folder / "model.npz")
        gm.set_params(progress=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the .npy has no column names; the model has
            written = gm.predict_proba(fastem.source(folder / "x.npy", chunk_size=200_000), out=folder / "proba.npy")
        result = {"written": written.name}
    result["peak_mib"] = peak_mib()
    print(json.dumps(result))


def measure(step: str, folder: Path) -> dict:
    out = subprocess.run([sys.executable, SCRIPT, "--child", step, "--folder", str(folder)], check=True,
                         stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.splitlines()[-1])


# %%
# The run: write the files, measure both steps, and check that the streamed
# probabilities equal the in-memory ones block by block.
def main() -> None:
    parser = argparse.ArgumentParser(
        description="Bounded memory: a folder of Parquet files fitted and a .npy file's predictions")
    parser.add_argument("--parquet-gb", type=float, default=2.0, help="size of the Parquet dataset (default 2 GB)")
    parser.add_argument("--npy-gb", type=float, default=4.0, help="size of the .npy file (default 4 GB)")
    parser.add_argument("--folder", default=tempfile.gettempdir(), help="where to write the files")
    parser.add_argument("--quick", action="store_true", help="50 MB of each (CI)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.folder))
        return
    work = Path(tempfile.mkdtemp(prefix="fastem-bounded-", dir=args.folder))
    try:
        parquet_gb, npy_gb = (0.05, 0.05) if args.quick else (args.parquet_gb, args.npy_gb)
        write_parquet(work / "parquet", parquet_gb)
        write_npy(work / "x.npy", npy_gb)
        size = sum(p.stat().st_size for p in (work / "parquet").iterdir()) / 1e9
        fit = measure("fit", work)
        print(f"fit on a folder of {FILES} Parquet files, {size:.2f} GB, columns {fit['columns'][0]}.."
              f"{fit['columns'][-1]}: {fit['n_iter']} iterations, peak resident memory {fit['peak_mib']:.0f} MiB")
        predicted = measure("predict", work)
        print(f"predict_proba of a {(work / 'x.npy').stat().st_size / 1e9:.2f} GB .npy to {predicted['written']} "
              f"({(work / 'proba.npy').stat().st_size / 1e9:.2f} GB): peak resident memory "
              f"{predicted['peak_mib']:.0f} MiB")
        import fastem

        gm = fastem.load(work / "model.npz").set_params(progress=False)
        X, written = np.load(work / "x.npy", mmap_mode="r"), np.load(work / "proba.npy", mmap_mode="r")
        for start in range(0, X.shape[0], 1_000_000):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # no column names, as above
                expected = gm.predict_proba(np.asarray(X[start : start + 1_000_000]))
            if not np.array_equal(written[start : start + 1_000_000], expected):
                raise SystemExit(f"the streamed probabilities differ from the in-memory ones at rows {start:,}+")
        print(f"the streamed probabilities equal the in-memory ones on all {X.shape[0]:,} rows")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
