"""fastem compile / fastem.compile_kernels: after it, a new process's fit and predictions
load every kernel they run from Numba's on-disk cache and compile none."""

import json
import os
import subprocess
import sys

import pytest

import fastem

# A new process fits and predicts diag float64 on data of another shape than the warm-up's,
# then prints the cache misses and hits of every fastem dispatcher it ran.
FIT_AND_COUNT = """
import inspect, json
import numpy as np
import numba
import fastem
from fastem import _kernels
X = np.random.default_rng(1).normal(size=(5000, 7))
gm = fastem.GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
gm.predict_proba(X)
gm.score(X)
dispatchers = list(_kernels._FUSED.values())
for module in (_kernels.drivers, _kernels.kmeans, _kernels.diag, _kernels.full, _kernels.tied, _kernels.missing,
               _kernels._exp, _kernels._options):
    dispatchers += [obj for _, obj in inspect.getmembers(module) if isinstance(obj, numba.core.registry.CPUDispatcher)]
print(json.dumps({"misses": sum(sum(d.stats.cache_misses.values()) for d in dispatchers),
                  "hits": sum(sum(d.stats.cache_hits.values()) for d in dispatchers)}))
"""


def _env(cache_dir):
    env = {key: value for key, value in os.environ.items() if key != "FASTEM_CACHE"}
    return env | {"NUMBA_CACHE_DIR": str(cache_dir)}


def test_after_compile_a_fit_compiles_nothing(tmp_path):
    done = subprocess.run([sys.executable, "-m", "fastem", "compile", "--covariance", "diag"], check=False,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "diag float64:" in done.stderr
    run = subprocess.run([sys.executable, "-c", FIT_AND_COUNT], check=False, env=_env(tmp_path), capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    counts = json.loads(run.stdout.strip().splitlines()[-1])
    assert counts["misses"] == 0
    assert counts["hits"] >= 2  # the fused pass and k-means at least


def test_compile_kernels_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown covariance type or dtype 'diagonal'"):
        fastem.compile_kernels(["diagonal"])
    with pytest.raises(ValueError, match="'float16'"):
        fastem.compile_kernels(["diag"], dtypes=["float16"])


def test_compile_kernels_reports_each_combination():
    seen = []
    seconds = fastem.compile_kernels(["diag", "spherical"], report=lambda *args: seen.append(args))
    assert sorted(seconds) == [("diag", "float64", False), ("spherical", "float64", False)]
    assert [args[:3] for args in seen] == [("diag", "float64", False), ("spherical", "float64", False)]
    assert all(args[3] == seconds[args[:3]] > 0 for args in seen)
