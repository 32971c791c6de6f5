"""Every example runs, in its quick mode, and says what it promises."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(name, *args, cwd=None):
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args], check=False, capture_output=True, text=True,
                            timeout=900, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_example_is_tested():
    tested = {"quickstart.py", "seed_walkthrough.py", "model_selection.py", "streaming_partial_fit.py",
              "out_of_core.py", "dask_cluster.py", "bounded_memory.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_quickstart():
    out = run("quickstart.py", "--quick")
    assert "converged=True" in out
    assert "identical predictions" in out


def test_seed_walkthrough():
    out = run("seed_walkthrough.py")
    assert "variance 1.0752479631618" in out
    assert "0.29421497" in out


def test_model_selection():
    out = run("model_selection.py", "--quick")
    assert "best by BIC: K=5" in out


def test_streaming_partial_fit():
    out = run("streaming_partial_fit.py", "--quick")
    assert "online shortfall" in out


def test_out_of_core(tmp_path):
    out = run("out_of_core.py", "--quick", "--folder", str(tmp_path), "--iterations", "2")
    assert "plain sequential read" in out
    assert "peak resident memory" in out
    assert list(tmp_path.iterdir()) == []  # the example removes its file


def test_dask_cluster():
    out = run("dask_cluster.py", "--quick")
    assert "same model" in out


def test_bounded_memory(tmp_path):
    out = run("bounded_memory.py", "--quick", "--folder", str(tmp_path))
    assert "fit on a folder of 8 Parquet files" in out
    assert "columns x0..x15" in out
    assert "the streamed probabilities equal the in-memory ones" in out
    assert list(tmp_path.iterdir()) == []  # the example removes its files
