"""fastem's speed over releases: one EM iteration (GaussianMixture's and
BayesianGaussianMixture's), whole fits, scoring, memory, final log-likelihood, the ratio
to scikit-learn, and cold start."""

import numpy as np

from .common import COVARIANCE_TYPES, DTYPES, fit_quietly, make_data, starting_point

SHAPES = ["20000x16x16", "200000x16x16"]  # rows x features x components


def _shape(text):
    n, d, k = (int(v) for v in text.split("x"))
    return n, d, k


class EMIteration:
    """One fused pass (E-step + M-step statistics) and the M-step, from a fixed start."""

    params = (COVARIANCE_TYPES, DTYPES, SHAPES)
    param_names = ("covariance_type", "dtype", "shape",)
    timeout = 300

    def setup(self, covariance_type, dtype, shape):
        from fastem import GaussianMixture

        n, d, k = _shape(shape)
        self.X = make_data(n, d, k, dtype)
        self.init = starting_point(self.X, k, covariance_type)
        self.k = k
        self.gm = GaussianMixture(k, covariance_type=covariance_type, max_iter=1, tol=0.0, **self.init)
        fit_quietly(self.gm, self.X)  # compiles or loads the kernels
        from fastem._engine import array_chunks, em_pass, m_step

        self._pass = lambda: m_step(em_pass(array_chunks(self.X, 1 << 17), self.gm._fitted_params()),
                                    covariance_type, 1e-6, 0.0)

    def time_em_iteration(self, covariance_type, dtype, shape):
        self._pass()

    def time_predict(self, covariance_type, dtype, shape):
        self.gm.predict(self.X)

    def time_score_samples(self, covariance_type, dtype, shape):
        self.gm.score_samples(self.X)


class BayesianIteration:
    """One variational EM iteration of BayesianGaussianMixture: the pass under the
    posterior (E-step + M-step statistics), the variational M-step and the lower bound."""

    params = (COVARIANCE_TYPES, DTYPES, SHAPES)
    param_names = ("covariance_type", "dtype", "shape",)
    timeout = 300

    def setup(self, covariance_type, dtype, shape):
        try:
            from fastem import BayesianGaussianMixture
            from fastem.bayesian import Priors, variational_pass
        except ImportError:  # a commit before BayesianGaussianMixture
            raise NotImplementedError from None

        n, d, k = _shape(shape)
        self.X = make_data(n, d, k, dtype)
        bgm = BayesianGaussianMixture(k, covariance_type=covariance_type, max_iter=1, tol=0.0,
                                      init_params="random_from_data", random_state=0)
        fit_quietly(bgm, self.X)  # compiles or loads the kernels
        priors = Priors(bgm.weight_concentration_prior_type, bgm.weight_concentration_prior_,
                        bgm.mean_precision_prior_, bgm.mean_prior_, bgm.degrees_of_freedom_prior_,
                        bgm.covariance_prior_)
        backend, post = bgm._open(self.X, reset=False), bgm._fitted_posterior()
        eps = 10 * np.finfo(self.X.dtype).eps
        self._pass = lambda: variational_pass(backend, post, priors, bgm.reg_covar, eps)

    def time_iteration(self, covariance_type, dtype, shape):
        with np.errstate(over="ignore", invalid="ignore"):  # as fit
            self._pass()


class WholeFit:
    """A whole fit from the default k-means initialisation."""

    params = (COVARIANCE_TYPES, DTYPES)
    param_names = ("covariance_type", "dtype",)
    timeout = 300

    def setup(self, covariance_type, dtype):
        from fastem import GaussianMixture

        self.X = make_data(100_000, 8, 8, dtype)
        self.make = lambda: GaussianMixture(8, covariance_type=covariance_type, random_state=0)
        self.make().fit(self.X[:2000])

    def time_fit(self, covariance_type, dtype):
        self.make().fit(self.X)

    def peakmem_fit(self, covariance_type, dtype):
        self.make().fit(self.X)

    def track_log_likelihood(self, covariance_type, dtype):
        return float(self.make().fit(self.X).lower_bound_)

    track_log_likelihood.unit = "mean log-likelihood per row"


class SpeedupVsSklearn:
    """Seconds per EM iteration of scikit-learn / fastem's, measured in the same process."""

    params = (COVARIANCE_TYPES,)
    param_names = ("covariance_type",)
    timeout = 600
    number = 1
    repeat = 1

    def setup(self, covariance_type):
        self.X = make_data(100_000, 16, 16)
        self.init = starting_point(self.X, 16, covariance_type)

    def track_speedup(self, covariance_type):
        from fastem.bench import seconds_per_iteration

        fast = seconds_per_iteration("fastem", self.X, 16, covariance_type, self.init, 2)
        slow = seconds_per_iteration("sklearn", self.X, 16, covariance_type, self.init, 2)
        return slow / fast

    track_speedup.unit = "x faster than scikit-learn"


class ColdStart:
    """A new Python process: import fastem and fit 10,000 rows, with the on-disk kernel
    cache warm (the usual case) and switched off (compile time included)."""

    params = (["warm cache", "no cache"],)
    param_names = ("cache",)
    timeout = 600
    number = 1
    repeat = 1

    def timeraw_import_and_fit(self, cache):
        setup = "import os\n" + ("os.environ['FASTEM_CACHE'] = '0'\n" if cache == "no cache" else "")
        code = (
            "import numpy as np\n"
            "from fastem import GaussianMixture\n"
            "X = np.random.default_rng(0).normal(size=(10000, 8))\n"
            "GaussianMixture(4, covariance_type='diag', random_state=0).fit(X)\n"
        )
        return code, setup
