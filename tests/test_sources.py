"""Every source gives the model the in-memory array gives; bad sources give clear errors."""

import errno
import os
import warnings

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
