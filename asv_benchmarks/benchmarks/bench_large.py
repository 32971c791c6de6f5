"""The ``large`` profile: one EM iteration at the shape matrix's shapes (many components,
many features, few features, float32; ``python -m fastem.bench --matrix`` times the same
shapes beside oneDAL and scikit-learn). Minutes per commit, so it is not in the history
profile: run it with ``asv run --bench bench_large``. Public API only, so that every
commit since the first runs it."""

from .common import fit_quietly, make_data, one_iteration

# rows x features x components covariance dtype, as fastem._matrix.SHAPES
SHAPES = [
    "1000000x16x16 diag float64",
    "1000000x16x16 full float64",
    "10000000x8x8 diag float64",
    "200000x64x32 full float64",
    "200000x64x256 diag float64",
    "100000x128x16 full float64",
    "1000000x16x16 full float32",
    "1000000x2x8 full float64",
    "1000000x2x8 diag float64",
    "200000x256x8 full float64",
    "200000x64x32 full float32",
    "200000x64x256 diag float32",
    "100000x128x16 full float32",
]


class LargeIteration:
    """time_em_iteration: one EM iteration (``fit`` with max_iter=1 and warm_start, from
    scikit-learn's starting point on a sample) at each shape of the matrix."""

    params = (SHAPES,)
    param_names = ("shape",)
    number = 1
    repeat = 5  # iterations timed per round
    timeout = 900
    version = 1

    def setup(self, shape):
        size, covariance_type, dtype = shape.split()
        n, d, k = (int(v) for v in size.split("x"))
        self.X = make_data(n, d, k, dtype)
        self.gm = one_iteration(self.X, k, covariance_type)

    def time_em_iteration(self, shape):
        fit_quietly(self.gm, self.X)
