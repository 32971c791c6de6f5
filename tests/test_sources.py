"""Every source gives the model the in-memory array gives; bad sources give clear errors."""

import errno
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import blobs

import fastem
from fastem import GaussianMixture, sources
from fastem.sources import (
    ArraySource,
    CallableSource,
    CSVSource,
    HDF5Source,
    IteratorSource,
    NpySource,
    ParquetSource,
    ZarrSource,
    source,
)

KWARGS = {"n_components": 3, "covariance_type": "full", "random_state": 0, "init_params": "random_from_data", "chunk_size": 700}


@pytest.fixture(scope="module")
def data():
    return blobs(5000, 4, 3, np.random.default_rng(7))


@pytest.fixture(scope="module")
def reference(data):
    return GaussianMixture(**KWARGS).fit(data)


def write_all(data, folder):
    """The same data in every format; returns {format: what to pass to fit}."""
    import h5py
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zarr

    paths = {}
    np.save(folder / "x.npy", data)
    paths["npy"] = str(folder / "x.npy")
    with h5py.File(folder / "x.h5", "w") as f:
        f.create_dataset("points", data=data, chunks=(1000, data.shape[1]))
        f.create_dataset("other", data=np.zeros(3))
    paths["hdf5"] = (str(folder / "x.h5"), {"key": "points"})
    z = zarr.open_array(str(folder / "x.zarr"), mode="w", shape=data.shape, chunks=(1000, data.shape[1]), dtype=data.dtype)
    z[:] = data
    paths["zarr"] = str(folder / "x.zarr")
    table = pa.table({f"f{i}": data[:, i] for i in range(data.shape[1])} | {"label": ["a"] * len(data)})
    pq.write_table(table, folder / "x.parquet", row_group_size=1500)
    paths["parquet"] = (str(folder / "x.parquet"), {"columns": [f"f{i}" for i in range(data.shape[1])]})
    np.savetxt(folder / "x.csv", data, delimiter=",", header=",".join(f"f{i}" for i in range(data.shape[1])),
               comments="", fmt="%.17g")
    paths["csv"] = str(folder / "x.csv")
    paths["memmap"] = np.load(folder / "x.npy", mmap_mode="r")
    paths["callable"] = lambda: (data[s : s + 999] for s in range(0, len(data), 999))
    return paths


@pytest.fixture(scope="module")
def files(data, tmp_path_factory):
    return write_all(data, tmp_path_factory.mktemp("formats"))


@pytest.mark.parametrize("kind", ["npy", "hdf5", "zarr", "parquet", "csv", "memmap", "callable"])
def test_every_source_gives_the_in_memory_model(kind, files, data, reference):
    obj, options = files[kind] if isinstance(files[kind], tuple) else (files[kind], {})
    X = source(obj, chunk_size=700, **options) if options else obj
    fitted = GaussianMixture(**KWARGS).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(fitted, name), getattr(reference, name), rtol=1e-10, atol=1e-12)
    assert fitted.n_iter_ == reference.n_iter_
    np.testing.assert_array_equal(fitted.predict(X), reference.predict(data))
    assert fitted.score(X) == pytest.approx(reference.score(data), rel=1e-12)


def test_source_types_by_path_and_object(files, data):
    import h5py
    import zarr

    assert isinstance(source(files["npy"]), NpySource)
    assert isinstance(source(files["hdf5"][0], key="points"), HDF5Source)
    assert isinstance(source(files["zarr"]), ZarrSource)
    assert isinstance(source(*files["parquet"][:1], **files["parquet"][1]), ParquetSource)
    assert isinstance(source(files["csv"]), CSVSource)
    assert isinstance(source(files["memmap"]), ArraySource)
    assert isinstance(source(files["callable"]), CallableSource)
    assert isinstance(source(iter([data])), IteratorSource)
    with h5py.File(files["hdf5"][0], "r") as f:
        assert isinstance(source(f["points"]), HDF5Source)
        assert source(f["points"]).count_rows() == len(data)
    assert isinstance(source(zarr.open_array(files["zarr"], mode="r")), ZarrSource)
    assert source(files["csv"]).count_rows() == len(data)


def test_array_source_chunks_are_views(data):
    chunks = list(ArraySource(data, chunk_size=1000).chunks())
    assert all(np.shares_memory(c, data) for c in chunks)
    assert sum(len(c) for c in chunks) == len(data)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000, 5000])
def test_npy_chunk_sizes_give_the_same_model(chunk_size, files, reference):
    fitted = GaussianMixture(**dict(KWARGS, chunk_size=chunk_size)).fit(files["npy"])
    np.testing.assert_allclose(fitted.means_, reference.means_, rtol=1e-10)
    np.testing.assert_allclose(fitted.covariances_, reference.covariances_, rtol=1e-9)


def test_float32_npy_stays_float32(tmp_path, data):
    np.save(tmp_path / "x32.npy", data.astype(np.float32))
    src = source(tmp_path / "x32.npy")
    assert src.dtype == np.float32
    assert all(c.dtype == np.float32 for c in src.chunks())


def test_npy_buffers_are_reused_only_once_released(tmp_path, data):
    """A pass that drops each chunk reads into a few recycled buffers; chunks a consumer
    keeps are never overwritten by later reads."""
    np.save(tmp_path / "x.npy", data)
    src = source(tmp_path / "x.npy", chunk_size=7)
    buffers = set()
    total = np.zeros(data.shape[1])
    for chunk in src.chunks():
        buffers.add(id(chunk))
        total += chunk.sum(axis=0)
    np.testing.assert_allclose(total, data.sum(axis=0))
    assert len(buffers) <= 6 < -(-len(data) // 7)
    kept = list(src.chunks())
    np.testing.assert_array_equal(np.concatenate(kept), data)
    assert len({id(chunk) for chunk in kept}) == len(kept)
    views = [chunk[1:3] for chunk in src.chunks()]  # a view keeps its chunk's buffer
    np.testing.assert_array_equal(np.concatenate(views), np.concatenate([data[i + 1 : i + 3] for i in range(0, len(data), 7)]))


@pytest.mark.parametrize(("dtype", "chunk_size"), [("float64", 1), ("float64", 7), ("float32", 1000), ("int16", 300)])
def test_npy_direct_reads_give_the_same_chunks(tmp_path, data, dtype, chunk_size):
    """O_DIRECT reads whole aligned blocks; each chunk starts mid-block (after the header,
    after rows that do not fill a block) and must hold exactly its rows. Where the file
    system has no O_DIRECT (tmpfs) the source falls back to plain reads, also checked here."""
    values = (data * 100).astype(dtype)
    path = tmp_path / "x.npy"
    np.save(path, values)
    plain = [c.copy() for c in source(path, chunk_size=chunk_size, direct=False).chunks()]
    direct = [c.copy() for c in source(path, chunk_size=chunk_size, direct=True).chunks()]
    assert [len(c) for c in direct] == [len(c) for c in plain]
    np.testing.assert_array_equal(np.concatenate(direct), values.astype(source(path).dtype))
    np.testing.assert_array_equal(np.concatenate(direct), np.concatenate(plain))


def test_npy_direct_reads_fit_the_same_model(tmp_path, data, reference):
    np.save(tmp_path / "x.npy", data)
    fitted = GaussianMixture(**KWARGS).fit(source(tmp_path / "x.npy", chunk_size=999, direct=True))
    np.testing.assert_allclose(fitted.means_, reference.means_, rtol=1e-10)
    np.testing.assert_allclose(fitted.covariances_, reference.covariances_, rtol=1e-9)


def test_direct_reads_by_default_only_for_files_bigger_than_half_of_memory(tmp_path, data, monkeypatch):
    np.save(tmp_path / "x.npy", data)
    assert not source(tmp_path / "x.npy").direct  # a small file: the page cache serves it
    size = (tmp_path / "x.npy").stat().st_size
    monkeypatch.setattr(sources, "_memory_bytes", lambda: size)
    assert source(tmp_path / "x.npy").direct
    assert not source(tmp_path / "x.npy", direct=False).direct


def test_npy_direct_reads_fall_back_when_the_file_system_refuses_them(tmp_path, data, monkeypatch):
    np.save(tmp_path / "x.npy", data)
    src = source(tmp_path / "x.npy", chunk_size=1000, direct=True)

    def refuse(*args):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(sources, "_open_direct", lambda path: os.open(path, os.O_RDONLY))
    monkeypatch.setattr(sources.os, "preadv", refuse)
    np.testing.assert_array_equal(np.concatenate([c.copy() for c in src.chunks()]), data)


def test_npy_direct_reads_report_a_file_cut_after_opening(tmp_path, data):
    path = tmp_path / "x.npy"
    np.save(path, data)
    src = source(path, chunk_size=1000, direct=True)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 5000 * 8)
    with pytest.raises(ValueError, match="truncated at row"):
        list(src.chunks())


def test_npy_source_reads_with_bounded_memory(tmp_path):
    """Resident memory grows by a few chunks, not by the file's size (200 MB here)."""
    psutil = pytest.importorskip("psutil")
    path = tmp_path / "big.npy"
    rows, cols = 3_125_000, 8
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (rows, cols)})
        block = np.random.default_rng(0).normal(size=(125_000, cols))
        f.writelines(block.tobytes() for _ in range(rows // 125_000))
    process = psutil.Process()
    before = process.memory_info().rss
    peak = before
    total = 0.0
    for chunk in source(path, chunk_size=65536).chunks():
        total += chunk[0, 0]
        peak = max(peak, process.memory_info().rss)
    assert (peak - before) < 60 * 2**20  # a 200 MB file read in 4 MB chunks


def test_one_shot_iterator_is_refused_by_fit(data):
    with pytest.raises(ValueError, match=r"one-shot iterator.*partial_fit"):
        GaussianMixture(2).fit(iter([data[:100], data[100:200]]))


def test_chunk_with_nan_names_chunk_and_row(data):
    bad = data.copy()
    bad[2345, 2] = np.nan
    chunks = lambda: (bad[s : s + 1000] for s in range(0, len(bad), 1000))
    with pytest.raises(ValueError, match=r"contains NaN or inf: row 2345, column 2 holds nan \(chunk 2, row 345 of the chunk\)"):
        GaussianMixture(2).fit(chunks)


def test_npy_with_inf_in_a_late_chunk(tmp_path, data):
    bad = np.tile(data, (4, 1))
    bad[19_999, 0] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(ValueError, match=r"NaN or inf: row 19999, column 0 holds inf \(chunk 999, row 19 of the chunk\)"):
        GaussianMixture(2, chunk_size=20).fit(tmp_path / "bad.npy")


def test_chunks_of_differing_widths(data):
    chunks = lambda: iter([data[:100], data[100:200, :3]])
    with pytest.raises(ValueError, match=r"chunk 1 \(from row 100\) has shape \(100, 3\).*4 features"):
        GaussianMixture(2).fit(chunks)


def test_empty_sources():
    with pytest.raises(ValueError, match="empty"):
        GaussianMixture(2).fit(lambda: iter([]))
    with pytest.raises(ValueError, match="empty"):
        GaussianMixture(2).fit(lambda: iter([np.empty((0, 3))]))


def test_unreadable_and_truncated_files(tmp_path, data):
    with pytest.raises(FileNotFoundError, match="no such file"):
        GaussianMixture(2).fit(tmp_path / "missing.npy")
    (tmp_path / "junk.npy").write_bytes(b"this is not numpy")
    with pytest.raises(ValueError, match=r"not a readable \.npy file"):
        GaussianMixture(2).fit(tmp_path / "junk.npy")
    np.save(tmp_path / "whole.npy", data)
    raw = (tmp_path / "whole.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated"):
        GaussianMixture(2).fit(tmp_path / "cut.npy")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 either")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        source(tmp_path / "junk.h5")
    (tmp_path / "junk.parquet").write_bytes(b"nor parquet")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        source(tmp_path / "junk.parquet")
    (tmp_path / "x.unknown").write_bytes(b"1,2")
    with pytest.raises(ValueError, match="unknown data format"):
        source(tmp_path / "x.unknown")
    (tmp_path / "words.csv").write_text("a,b\n1,2\nx,y\n")
    with pytest.raises(ValueError, match="does not parse as numbers"):
        GaussianMixture(1).fit(tmp_path / "words.csv")


def test_non_numeric_columns_need_a_choice(files):
    with pytest.raises(TypeError, match=r"column\(s\) \['label'\] are not numeric"):
        source(files["parquet"][0])


def test_sources_never_modify_their_data(files, data):
    before = {k: os.stat(files[k]).st_mtime_ns for k in ("npy", "csv")}
    content = np.load(files["npy"])
    GaussianMixture(2, random_state=0).fit(files["npy"])
    GaussianMixture(2, random_state=0).fit(files["csv"])
    assert {k: os.stat(files[k]).st_mtime_ns for k in ("npy", "csv")} == before
    np.testing.assert_array_equal(np.load(files["npy"]), content)


def test_missing_extra_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)  # import h5py now fails
    (tmp_path / "x.h5").write_bytes(b"")
    with pytest.raises(ImportError, match=r"pip install 'fastem\[hdf5\]'"):
        source(tmp_path / "x.h5")


def test_progress_bar_runs(capsys, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GaussianMixture(2, progress=True, max_iter=2, random_state=0).fit(data)
    assert "rows" in capsys.readouterr().err


def test_source_is_exported():
    assert fastem.source is source


def test_a_checked_file_is_checked_again_only_when_it_changes(tmp_path, data):
    path = tmp_path / "x.npy"
    np.save(path, data)
    src = source(path, chunk_size=1000)
    assert sum(len(c) for c in src.chunks()) == len(data)
    assert src._verified is not None
    bad = data.copy()
    bad[4321, 0] = np.nan
    np.save(path, bad)  # the file changes: size the same, modification time not
    import os

    os.utime(path, ns=(src._verified[1] + 10**9, src._verified[1] + 10**9))
    with pytest.raises(ValueError, match="row 4321"):
        list(src.chunks())


# ---------------------------------------------------------------------- datasets of many files
NAMES = [f"f{i}" for i in range(4)]


def assert_same_model(fitted, reference):
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(fitted, name), getattr(reference, name), rtol=1e-10, atol=1e-12)
    assert fitted.n_iter_ == reference.n_iter_


def table_of(rows):
    import pyarrow as pa

    return pa.table({n: rows[:, i] for i, n in enumerate(NAMES)} | {"label": ["a"] * len(rows)})


@pytest.fixture(scope="module")
def parquet_folder(data, tmp_path_factory):
    """data in 8 Parquet files of differing row-group sizes, the last in a subfolder, next
    to files a dataset skips (_SUCCESS, .hidden)."""
    import pyarrow.parquet as pq

    folder = tmp_path_factory.mktemp("pq")
    (folder / "sub").mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(data)), 8)):
        where = folder / "sub" if i == 7 else folder
        pq.write_table(table_of(data[rows]), where / f"part-{i:02d}.parquet", row_group_size=97 * (i + 1))
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".hidden.parquet").write_bytes(b"not parquet")
    return folder


@pytest.mark.parametrize("form", ["folder", "glob", "list", "dataset"])
def test_parquet_datasets_give_the_in_memory_model(form, parquet_folder, data, reference):
    import pyarrow.dataset as ds

    files = sorted(str(p) for p in parquet_folder.rglob("part-*.parquet"))
    obj = {"folder": str(parquet_folder), "glob": str(parquet_folder / "**" / "*.parquet"), "list": files,
           "dataset": ds.dataset(files, format="parquet")}[form]
    src = source(obj, columns=NAMES, chunk_size=700)
    assert isinstance(src, sources.DatasetSource if form == "dataset" else ParquetSource)
    assert src.n_samples == len(data)
    assert src.feature_names == tuple(NAMES)
    chunks = [c.copy() for c in src.chunks()]
    assert max(len(c) for c in chunks) == 700  # small row groups joined, long ones cut
    np.testing.assert_array_equal(np.concatenate(chunks), data)
    fitted = GaussianMixture(**KWARGS).fit(src)
    assert_same_model(fitted, reference)
    assert list(fitted.feature_names_in_) == NAMES
    np.testing.assert_array_equal(fitted.predict(src), reference.predict(data))


def test_parquet_dataset_reads_with_bounded_memory(tmp_path):
    """Arrow's own memory (its default pool and the reading pool) stays below a few row
    groups (3.2 MB each), not a share of the dataset's 200 MB (Dataset.to_batches took
    half of it, whatever its readahead)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    block = np.arange(400_000 * 8, dtype=np.float64).reshape(-1, 8)
    table = pa.table({f"c{j}": block[:, j] for j in range(8)})
    for i in range(8):
        pq.write_table(table, tmp_path / f"{i}.parquet", row_group_size=50_000, compression="none",
                       use_dictionary=False)
    del table  # its columns were copied into Arrow's default pool
    src = source(str(tmp_path), chunk_size=65536)
    reading = sources._reading_pool()
    separate = reading.backend_name != pa.default_memory_pool().backend_name
    peak, rows = 0, 0
    for chunk in src.chunks():
        arrow = pa.total_allocated_bytes() + (reading.bytes_allocated() if separate else 0)
        peak, rows = max(peak, arrow), rows + len(chunk)
    assert rows == 8 * len(block)
    assert 0 < peak < 12 * 2**20


def test_parquet_files_must_share_the_chosen_columns(tmp_path, data):
    """Every file is checked at open: one without a chosen column is named; an integer
    column in one file and a float one in another read as floats."""
    import pyarrow.parquet as pq

    pq.write_table(table_of(data[:100]), tmp_path / "a.parquet")
    pq.write_table(table_of(data[100:200]).drop_columns(["f2"]), tmp_path / "b.parquet")
    with pytest.raises(ValueError, match=r"b\.parquet has no column\(s\) \['f2'\]"):
        source(str(tmp_path), columns=NAMES)
    ints = table_of(np.round(data[100:200] * 10)).drop_columns(["label"])
    ints = ints.cast(pa_schema_of(ints, "int64"))
    pq.write_table(ints, tmp_path / "b.parquet")
    src = source(str(tmp_path), columns=NAMES)
    assert src.dtype == np.float64
    assert src.n_samples == 200
    np.testing.assert_array_equal(np.concatenate([c.copy() for c in src.chunks()]),
                                  np.vstack([data[:100], np.round(data[100:200] * 10)]))


def pa_schema_of(table, type_name):
    import pyarrow as pa

    return pa.schema([(n, getattr(pa, type_name)()) for n in table.column_names])


def test_a_partitioned_dataset_reads_its_partition_column(tmp_path, data):
    """A column of the partitioning (not in the files) comes from the dataset scanner."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    for year in (2020, 2021):
        (tmp_path / f"year={year}").mkdir()
        pq.write_table(table_of(data[:50]).drop_columns(["label"]), tmp_path / f"year={year}" / "p.parquet")
    dataset = ds.dataset(str(tmp_path), format="parquet", partitioning="hive")
    src = source(dataset, columns=["f0", "year"])
    got = np.concatenate([c.copy() for c in src.chunks()])
    np.testing.assert_array_equal(np.sort(got[:, 1]), np.repeat([2020.0, 2021.0], 50))
    np.testing.assert_array_equal(got[:50, 0], data[:50, 0])


def test_dataset_column_selection(parquet_folder, data):
    src = source(str(parquet_folder), columns=["f3", "f1"])
    assert src.feature_names == ("f3", "f1")
    np.testing.assert_array_equal(np.concatenate([c.copy() for c in src.chunks()]), data[:, [3, 1]])
    with pytest.raises(TypeError, match=r"column\(s\) \['label'\] are not numeric"):
        source(str(parquet_folder))
    with pytest.raises(ValueError, match=r"has no column\(s\) \['zz'\]"):
        source(str(parquet_folder), columns=["zz"])
    assert source(str(parquet_folder), columns=[2, "f0"]).feature_names == ("f2", "f0")  # indices too
    with pytest.raises(ValueError, match="column index 9 is out of range"):
        source(str(parquet_folder), columns=[9])


def test_a_glob_reads_only_its_matches(parquet_folder, data):
    src = source(str(parquet_folder / "*.parquet"), columns=NAMES)  # not the subfolder's file
    assert src.n_samples == sum(len(r) for r in np.array_split(np.arange(len(data)), 8)[:7])
    with pytest.raises(FileNotFoundError, match=r"no files match .*\*\.csv"):
        source(str(parquet_folder / "*.csv"))


def test_feather_and_csv_folders_give_the_in_memory_model(data, reference, tmp_path):
    from pyarrow import feather

    (tmp_path / "fe").mkdir()
    (tmp_path / "csv").mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(data)), 5)):
        feather.write_feather(table_of(data[rows]).drop_columns(["label"]), tmp_path / "fe" / f"{i}.arrow")
        np.savetxt(tmp_path / "csv" / f"{i}.csv", data[rows], delimiter=",", header=",".join(NAMES), comments="",
                   fmt="%.17g")
    for folder, kind in (("fe", sources.DatasetSource), ("csv", CSVSource)):
        src = source(str(tmp_path / folder), chunk_size=700)
        assert isinstance(src, kind)
        assert src.feature_names == tuple(NAMES)
        assert_same_model(GaussianMixture(**KWARGS).fit(src), reference)


def test_csv_files_of_a_folder_must_share_their_columns(data, tmp_path):
    np.savetxt(tmp_path / "0.csv", data[:10], delimiter=",", header=",".join(NAMES), comments="")
    np.savetxt(tmp_path / "1.csv", data[10:20], delimiter=",", header="f0,f1,f2,other", comments="")
    with pytest.raises(ValueError, match=r"1\.csv has columns \['f0', 'f1', 'f2', 'other'\], not those of"):
        list(source(str(tmp_path)).chunks())


def test_a_folder_of_mixed_formats_needs_format(data, tmp_path):
    np.save(tmp_path / "a.npy", data)
    np.savetxt(tmp_path / "b.csv", data, delimiter=",")
    with pytest.raises(ValueError, match=r"cannot tell one data format.*pass format="):
        source(str(tmp_path))


# ---------------------------------------------------------------------- CSV through pyarrow
def write(path, text):
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return str(path)


def read_all(src):
    return np.concatenate([c.copy() for c in src.chunks()])


def test_csv_quoted_header_with_commas(tmp_path):
    src = source(write(tmp_path / "x.csv", '"a, first",b\n1,2\n3,4\n'))
    assert src.feature_names == ("a, first", "b")
    np.testing.assert_array_equal(read_all(src), [[1, 2], [3, 4]])


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2"])
def test_compressed_csv_gives_the_in_memory_model(suffix, data, reference, tmp_path):
    import bz2
    import gzip

    text = "\n".join([",".join(NAMES), *(",".join(f"{v:.17g}" for v in row) for row in data)]).encode()
    path = write(tmp_path / f"x{suffix}", (gzip.compress if suffix.endswith("gz") else bz2.compress)(text))
    src = source(path, chunk_size=700)
    assert src.feature_names == tuple(NAMES)
    assert_same_model(GaussianMixture(**KWARGS).fit(src), reference)


@pytest.mark.parametrize(("name", "text", "options"), [
    ("x.csv", "a;b\n1;2\n3;4\n", {"delimiter": ";"}),
    ("x.tsv", "a\tb\n1\t2\n3\t4\n", {}),
    ("x.txt", "  a   b\n1  2\n\t3 \t 4  \n", {}),  # whitespace, found for .txt
    ("x.dat.csv", "a  b\n 1 2\n3    4", {"delimiter": "whitespace"}),
    ("x.csv", "a b\n1 2\n3   4\n", {"delimiter": " "}),
])
def test_csv_delimiters(tmp_path, name, text, options):
    src = source(write(tmp_path / name, text), **options)
    assert src.feature_names == ("a", "b")
    np.testing.assert_array_equal(read_all(src), [[1, 2], [3, 4]])


def test_csv_missing_value_names_file_column_and_line(tmp_path):
    rows = "\n".join(f"{i},{i + 1}" for i in range(3000))
    path = write(tmp_path / "x.csv", f"a,b\n\n{rows}\n7,\n8,9\n")
    with pytest.raises(ValueError, match=r"x\.csv: column 'b' has a missing value at line 3003 \(data row 3000\)"):
        list(source(path, chunk_size=100).chunks())
    path = write(tmp_path / "y.csv", "a,b\n1,2\n3,NA\n")
    with pytest.raises(ValueError, match=r"y\.csv: column 'b' has a missing value \('NA'\) at line 3 \(data row 1\)"):
        GaussianMixture(1).fit(path)


def test_csv_text_column_is_named(tmp_path):
    path = write(tmp_path / "x.csv", "a,name,b\n1,x,2\n3,y,4\n")
    with pytest.raises(ValueError, match=r"column 'name' holds text \('x' at line 2 \(data row 0\)\), which does not "
                                         r"parse as numbers: leave the column out with columns="):
        GaussianMixture(1).fit(path)
    np.testing.assert_array_equal(read_all(source(path, columns=["a", "b"])), [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match=r"if ';' separates the columns, pass delimiter=';'"):
        GaussianMixture(1).fit(write(tmp_path / "y.csv", "a;b\n1;2\n"))


@pytest.mark.parametrize(("header", "names", "rows"), [
    (None, ("a", "b"), [[1, 2], [3, 4]]), (True, ("a", "b"), [[1, 2], [3, 4]]),
])
def test_csv_header_with_names(tmp_path, header, names, rows):
    src = source(write(tmp_path / "x.csv", "a,b\n1,2\n3,4\n"), header=header)
    assert src.feature_names == names
    np.testing.assert_array_equal(read_all(src), rows)


def test_csv_header_detected_or_chosen(tmp_path):
    path = write(tmp_path / "x.csv", "1,2\n3,4\n")
    assert source(path).feature_names is None
    np.testing.assert_array_equal(read_all(source(path)), [[1, 2], [3, 4]])
    assert source(path, header=True).feature_names == ("1", "2")
    np.testing.assert_array_equal(read_all(source(path, header=True)), [[3, 4]])
    np.testing.assert_array_equal(read_all(source(path, columns=[1])), [[2], [4]])
    with pytest.raises(ValueError, match="has no header line: choose columns by index"):
        source(path, columns=["a"])
    with pytest.raises(ValueError, match=r"text \('a'"):
        list(source(write(tmp_path / "y.csv", "a,b\n1,2\n"), header=False).chunks())


def test_csv_bad_delimiter_is_named(tmp_path):
    with pytest.raises(ValueError, match="delimiter must be one character or 'whitespace'"):
        source(write(tmp_path / "x.csv", "1,2\n"), delimiter="::")


# ---------------------------------------------------------------------- Arrow, polars, pandas
def test_arrow_table_and_record_batch_give_the_in_memory_model(data, reference):
    table = table_of(data).drop_columns(["label"])
    for obj in (table, table.combine_chunks().to_batches()[0]):
        src = source(obj, chunk_size=700)
        assert isinstance(src, sources.ArrowSource)
        assert src.feature_names == tuple(NAMES)
        fitted = GaussianMixture(**KWARGS).fit(obj)
        assert_same_model(fitted, reference)
        assert list(fitted.feature_names_in_) == NAMES
    with pytest.raises(TypeError, match=r"Arrow table: column\(s\) \['label'\] are not numeric"):
        source(table_of(data))
    assert source(table_of(data), columns=["f1"]).feature_names == ("f1",)


def test_arrow_stream_is_one_pass(data):
    import pyarrow as pa

    table = table_of(data)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=333))
    src = source(reader, columns=NAMES, chunk_size=700)
    assert not src.reiterable
    assert src.feature_names == tuple(NAMES)
    np.testing.assert_array_equal(read_all(src), data)
    with pytest.raises(ValueError, match="one-shot stream and was read already"):
        read_all(src)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=333))
    stepped = GaussianMixture(**KWARGS).partial_fit(source(reader, columns=NAMES, chunk_size=700))
    same = GaussianMixture(**KWARGS).partial_fit(iter([data[s : s + 700] for s in range(0, len(data), 700)]))
    np.testing.assert_allclose(stepped.means_, same.means_, rtol=1e-10)
    numbers = table.drop_columns(["label"])
    with pytest.raises(ValueError, match="one-shot"):
        GaussianMixture(2).fit(pa.RecordBatchReader.from_batches(numbers.schema, numbers.to_batches()))


def test_polars_frames_give_the_in_memory_model(data, reference):
    pl = pytest.importorskip("polars")
    frame = pl.from_arrow(table_of(data))
    for obj in (frame.drop("label"), frame.lazy().drop("label"), source(frame.lazy(), columns=NAMES)):
        fitted = GaussianMixture(**KWARGS).fit(obj)
        assert_same_model(fitted, reference)
        assert list(fitted.feature_names_in_) == NAMES
    with pytest.raises(TypeError, match=r"polars LazyFrame: column\(s\) \['label'\] are not numeric"):
        source(frame.lazy())


def test_pandas_dataframe_source(data, reference):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(data, columns=NAMES).assign(label="a")
    src = source(frame, columns=NAMES, chunk_size=700)
    assert isinstance(src, ArraySource)
    assert src.feature_names == tuple(NAMES)
    assert_same_model(GaussianMixture(**KWARGS).fit(src), reference)
    with pytest.raises(TypeError, match=r"pandas DataFrame: column\(s\) \['label'\] are not numeric"):
        source(frame)
    assert source(pd.DataFrame(data)).feature_names is None  # names that are not strings


def test_feature_names_of_every_source(files, tmp_path, data):
    assert source(files["npy"]).feature_names is None
    assert source(files["hdf5"][0], key="points").feature_names is None
    assert source(files["zarr"]).feature_names is None
    assert source(data).feature_names is None
    assert source(files["callable"]).feature_names is None
    assert source(files["csv"]).feature_names == tuple(NAMES)
    assert source(files["parquet"][0], **files["parquet"][1]).feature_names == tuple(NAMES)


def test_is_source_object_imports_nothing(monkeypatch, data):
    import pyarrow as pa
    import pyarrow.dataset as ds

    table = table_of(data)
    assert all(sources.is_source_object(o) for o in (table, table.to_batches()[0], ds.dataset(table),
                                                     pa.RecordBatchReader.from_batches(table.schema, [])))
    pd = pytest.importorskip("pandas")
    for name in ("pyarrow", "polars", "pandas"):
        monkeypatch.setitem(sys.modules, name, None)  # importing them now fails
    assert not any(sources.is_source_object(o) for o in (data, [[1.0]], "x.parquet", pd.DataFrame(data), iter([])))


# ---------------------------------------------------------------------- URLs (fsspec)
@pytest.fixture
def memory(data, files):
    """A folder of fsspec's memory file system holding x.npy, x.parquet and pq/ (3 files)."""
    import fsspec
    import pyarrow.parquet as pq

    fs = fsspec.filesystem("memory")
    root = f"/fastem-{os.getpid()}-{id(data)}"
    fs.put(files["npy"], f"{root}/x.npy")
    fs.put(files["parquet"][0], f"{root}/x.parquet")
    for i, rows in enumerate(np.array_split(np.arange(len(data)), 3)):
        with fs.open(f"{root}/pq/{i}.parquet", "wb") as f:
            pq.write_table(table_of(data[rows]), f, row_group_size=500)
    yield f"memory://{root}"
    fs.rm(root, recursive=True)


@pytest.mark.parametrize("name", ["x.npy", "x.parquet", "pq", "pq/*.parquet"])
def test_memory_urls_give_the_in_memory_model(memory, name, data, reference):
    options = {} if name == "x.npy" else {"columns": NAMES}
    src = source(f"{memory}/{name}", chunk_size=700, **options)
    assert src._file_stamp() is None  # no stat for remote files: every pass is checked
    np.testing.assert_array_equal(read_all(src), data)
    assert_same_model(GaussianMixture(**KWARGS).fit(src), reference)


def test_cached_memory_url_and_nan_in_it(memory, data):
    """A chained URL (simplecache::) reads as the plain one; a NaN is found on every pass."""
    import fsspec

    np.testing.assert_array_equal(read_all(source(f"simplecache::{memory}/x.npy", chunk_size=999)), data)
    bad = data.copy()
    bad[1234, 1] = np.nan
    with fsspec.open(f"{memory}/bad.npy", "wb") as f:
        np.save(f, bad)
    src = source(f"{memory}/bad.npy", chunk_size=1000)
    for _ in range(2):
        with pytest.raises(ValueError, match="row 1234, column 1 holds nan"):
            read_all(src)


def test_file_urls_are_local_files(files, parquet_folder, data, reference):
    src = source(Path(files["npy"]).absolute().as_uri(), chunk_size=700)
    assert isinstance(src, NpySource)
    assert src.fs is None  # local reads (O_DIRECT where asked)
    assert_same_model(GaussianMixture(**KWARGS).fit(src), reference)
    np.testing.assert_array_equal(read_all(source(parquet_folder.absolute().as_uri(), columns=NAMES)), data)


def test_url_errors_name_the_extra_or_the_protocol(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "gcsfs", None)  # as if gcsfs were not installed
    with pytest.raises(ImportError, match=r"gs:// URLs need gcsfs, which is not installed: pip install 'fastem\[gcs\]'"):
        source("gs://bucket/x.npy")
    with pytest.raises(ValueError, match=r"unknown URL protocol 'nosuch'"):
        source("nosuch://bucket/x.parquet")
    with pytest.raises(FileNotFoundError, match=r"no such file: memory://nothing/x\.npy"):
        source("memory://nothing/x.npy")
    with pytest.raises(TypeError, match="'storage_options' applies to URLs"):
        source(str(tmp_path / "x.npy"), storage_options={"anon": True})
    assert sources.is_url("s3://b/x.npy")
    assert not any(sources.is_url(p) for p in ("C:\\data\\x.npy", "C://data/x.npy", "relative/x.npy"))


def test_a_pass_closed_early_stops_its_reader(tmp_path):
    """The reader thread has queued the last chunks when the consumer stops after one (as
    LocalBackend.head does): closing the pass must not wait forever for it."""
    import threading
    import time

    np.save(tmp_path / "x.npy", np.arange(6000.0).reshape(3000, 2))
    chunks = source(tmp_path / "x.npy", chunk_size=1024).chunks()  # 3 chunks, 2 queued ahead
    next(chunks)
    time.sleep(0.3)  # the reader reaches the end of the file
    closer = threading.Thread(target=chunks.close, daemon=True)
    closer.start()
    closer.join(10)
    assert not closer.is_alive(), "closing the pass hangs"


def test_a_list_of_files_refuses_a_folder_in_it(parquet_folder):
    with pytest.raises(ValueError, match=r"a list of files holds .*, a folder or a glob"):
        source([str(parquet_folder), str(parquet_folder / "*.parquet")])
