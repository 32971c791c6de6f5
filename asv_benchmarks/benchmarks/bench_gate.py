"""The benchmarks of the regression gate (gate.py beside this folder) and of the recorded
history (history.py): GateRatio, fastem's seconds per EM iteration over the seconds of a
fixed matrix product timed in the same process, so that the machine's pace, which drifts
by 1.5-2x from hour to hour on a shared virtual machine, cancels out of the result; and
Iteration, the seconds of one EM iteration at 1e6 x 16, K=16. Only the public API is used,
so every commit since the first can run them."""

import time
import warnings

import numpy as np

from .common import fit_quietly, make_data, one_iteration

N_ROWS, N_FEATURES, N_COMPONENTS = 200_000, 16, 16
SAMPLES = 9  # alternations of the two timings per round


class GateRatio:
    """track_iteration_over_matmul: the median over SAMPLES alternations of one EM iteration
    (``fit`` with max_iter=1 from the current parameters, warm_start) over the median of a
    512 x 512 float64 matrix product on one BLAS thread."""

    params = (["diag", "full"],)
    param_names = ("covariance_type",)
    number = 1
    repeat = 1
    timeout = 600
    version = 1

    def setup(self, covariance_type):
        self.X = make_data(N_ROWS, N_FEATURES, N_COMPONENTS)
        self.gm = one_iteration(self.X, N_COMPONENTS, covariance_type)
        rng = np.random.default_rng(0)
        self.A, self.B = rng.standard_normal((512, 512)), rng.standard_normal((512, 512))

    def track_iteration_over_matmul(self, covariance_type):
        from threadpoolctl import threadpool_limits

        fits, products = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(SAMPLES):
                start = time.perf_counter()
                self.gm.fit(self.X)
                fits.append(time.perf_counter() - start)
                with threadpool_limits(1, user_api="blas"):  # no BLAS threads left spinning into the fit
                    start = time.perf_counter()
                    self.A @ self.B
                    products.append(time.perf_counter() - start)
        return float(np.median(fits) / np.median(products))

    track_iteration_over_matmul.unit = "matrix products per EM iteration"


class Iteration:
    """time_em_iteration: one EM iteration at 1e6 x 16, K=16 (float64), the history's
    headline series, through the public API only (``fit`` with max_iter=1 and warm_start,
    from scikit-learn's starting point), so that every commit since the first runs it."""

    params = (["diag", "full"],)
    param_names = ("covariance_type",)
    number = 1
    repeat = 5  # iterations timed per round
    timeout = 600
    version = 1

    def setup(self, covariance_type):
        self.X = make_data(1_000_000, N_FEATURES, N_COMPONENTS)
        self.gm = one_iteration(self.X, N_COMPONENTS, covariance_type)

    def time_em_iteration(self, covariance_type):
        fit_quietly(self.gm, self.X)
