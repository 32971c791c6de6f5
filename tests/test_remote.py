"""s3:// URLs served by a real S3-compatible server (moto's, started here on 127.0.0.1)
fit the model the local files fit: a .npy, a folder of Parquet files, a glob, a CSV."""

import numpy as np
import pytest
from conftest import blobs

from fastem import GaussianMixture, source

moto_server = pytest.importorskip("moto.server")
s3fs = pytest.importorskip("s3fs")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

KWARGS = {"n_components": 3, "covariance_type": "full", "random_state": 0, "init_params": "random_from_data"}
BUCKET = "fastem-test"


@pytest.fixture(scope="module")
def data():
    return blobs(4000, 3, 3, np.random.default_rng(11))


@pytest.fixture(scope="module")
def reference(data):
    return GaussianMixture(**KWARGS, chunk_size=700).fit(data)


@pytest.fixture(scope="module")
def s3(data, tmp_path_factory):
    """(endpoint URL, storage_options) of a moto S3 server on a free port of 127.0.0.1,
    its bucket holding x.npy, x.csv and pq/ (four Parquet files, differing row groups)."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        options = {"key": "testing", "secret": "testing",
                   "client_kwargs": {"endpoint_url": endpoint}}
        local = tmp_path_factory.mktemp("bucket")
        np.save(local / "x.npy", data)
        np.savetxt(local / "x.csv", data, delimiter=",", header="a,b,c", comments="", fmt="%.17g")
        (local / "pq").mkdir()
        for i, rows in enumerate(np.array_split(np.arange(len(data)), 4)):
            part = data[rows]
            pq.write_table(pa.table({"a": part[:, 0], "b": part[:, 1], "c": part[:, 2]}), local / "pq" / f"{i}.parquet",
                           row_group_size=100 * (i + 1))
        fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
        fs.mkdir(BUCKET)
        fs.put(str(local) + "/", f"{BUCKET}/", recursive=True)
        yield endpoint, options
    finally:
        server.stop()


def assert_same_model(fitted, reference):
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(fitted, name), getattr(reference, name), rtol=1e-10, atol=1e-12)
    assert fitted.n_iter_ == reference.n_iter_


@pytest.mark.parametrize("key", ["x.npy", "pq", "pq/*.parquet", "x.csv"])
def test_s3_urls_fit_as_local_data(s3, key, data, reference):
    _, options = s3
    src = source(f"s3://{BUCKET}/{key}", storage_options=options, chunk_size=700)
    assert src.n_samples in (None, len(data))
    assert src.feature_names == (None if key == "x.npy" else ("a", "b", "c"))
    np.testing.assert_array_equal(np.concatenate([c.copy() for c in src.chunks()]), data)
    fitted = GaussianMixture(**KWARGS).fit(src)
    assert_same_model(fitted, reference)
    np.testing.assert_array_equal(fitted.predict(src), reference.predict(data))


def test_s3_reads_the_aws_environment_variables(s3, monkeypatch, data, reference):
    """No storage_options: s3fs (botocore) takes the endpoint and keys from AWS_* variables."""
    endpoint, _ = s3
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        fitted = GaussianMixture(**KWARGS, chunk_size=700).fit(f"s3://{BUCKET}/pq")
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    assert_same_model(fitted, reference)
    assert list(fitted.feature_names_in_) == ["a", "b", "c"]


def test_s3_missing_objects_are_named(s3):
    _, options = s3
    with pytest.raises(FileNotFoundError, match=f"no such file: s3://{BUCKET}/nothing.npy"):
        source(f"s3://{BUCKET}/nothing.npy", storage_options=options)
    with pytest.raises(FileNotFoundError, match=f"no files match s3://{BUCKET}/pq/\\*.csv"):
        source(f"s3://{BUCKET}/pq/*.csv", storage_options=options)
