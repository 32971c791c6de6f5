"""Every benchmark of the asv suite runs, once, at its first (smallest) parameters: a
benchmark broken by a change fails here, in CI's time, where the whole suite at every
shape would take many minutes (``asv run`` measures it)."""

import inspect
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parents[1] / "asv_benchmarks"
PREFIXES = ("time_", "peakmem_", "track_", "timeraw_", "mem_")


def _benchmarks():
    sys.path.insert(0, str(SUITE))
    try:
        from benchmarks import bench_blocks, bench_em, bench_large
    finally:
        sys.path.remove(str(SUITE))
    for module in (bench_blocks, bench_em, bench_large):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                yield pytest.param(cls, id=f"{module.__name__.split('.')[-1]}.{name}")


@pytest.mark.parametrize("benchmark", list(_benchmarks()))
def test_every_benchmark_runs_at_its_first_parameters(benchmark):
    params = [values[0] for values in getattr(benchmark, "params", ())]
    methods = [m for m in dir(benchmark) if m.startswith(PREFIXES)]
    assert methods, f"{benchmark.__name__} has no benchmark"
    instance = benchmark()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if hasattr(instance, "setup"):
            instance.setup(*params)
        for name in methods:
            result = getattr(instance, name)(*params)
            if name.startswith("track_"):
                assert isinstance(result, float | int), (name, result)
            if name.startswith("timeraw_"):  # asv runs the code it returns in a new process
                code, setup = result
                subprocess.run([sys.executable, "-c", setup + code], check=True, timeout=300)
