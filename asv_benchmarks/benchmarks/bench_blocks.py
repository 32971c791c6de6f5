"""The fused pass stage by stage: one block of rows on one thread, through the same block
functions the parallel drivers call. When EMIteration slows down, these say which stage:
the transposing load, the log-densities, the exps of the log-sum-exp or the accumulation."""

import functools
import inspect

import numpy as np

from .common import DTYPES, make_data

FAMILIES = ["full", "tied", "diag"]  # 'spherical' runs the diag kernel
BLOCKS = 64  # blocks per timed call, so that the call's own cost (~1 us) stays small
N_FEATURES = N_COMPONENTS = 16


@functools.cache
def _loops():
    """Jitted loops running one block function ``reps`` times (compiled per dtype on first use).
    Never cached on disk: Numba's cache would not notice the block functions change between
    the commits asv compares, and would time the first commit's kernels for all of them."""
    from numba import njit

    from fastem._kernels.drivers import accumulate_block, load_block, log_prob_block, normalize_block

    @njit
    def load(reps, X, weight, rows, xT, wb):
        for i in range(reps):
            load_block(X, weight, i * rows, rows, xT, wb)

    @njit
    def log_prob(reps, family, xT, nb, loc, center, prec, log_norm, work, scratch, logp):
        for _ in range(reps):
            log_prob_block(family, xT, nb, loc, center, prec, log_norm, work, scratch, logp)

    @njit
    def normalize(reps, logp, nb, top, total, *prefetch):
        for _ in range(reps):
            normalize_block(logp, nb, top, total, *prefetch)

    @njit
    def accumulate(reps, family, xT, nb, loc, resp, wb, scratch, s0, s1, s2):
        for _ in range(reps):
            accumulate_block(family, xT, nb, loc, resp, wb, scratch, s0, s1, s2)

    return load, log_prob, normalize, accumulate


class Block:
    """Seconds for 64 blocks of one stage (16 features, 16 components; 256 rows a block in
    float64, 512 in float32), one thread, data in cache. The log-densities of 'tied'
    include centring the block; the exps run on the same block again and again, which costs
    the same (the exp has no branches). A stage's loop compiles on its first call, in
    asv's warm-up."""

    params = (FAMILIES, DTYPES)
    param_names = ("family", "dtype",)
    version = 1

    def setup(self, family, dtype):
        from fastem._kernels import DIAG, FULL, TIED, block_rows, drivers, full
        from fastem._kernels.drivers import normalize_block

        d, k = N_FEATURES, N_COMPONENTS
        self.family = {"full": FULL, "tied": TIED, "diag": DIAG}[family]
        self.rows = int(block_rows(d, np.dtype(dtype).itemsize))
        self.X = make_data(BLOCKS * self.rows, d, k, dtype)
        self.weight = np.zeros(0)
        rng = np.random.default_rng(0)
        ty = self.X.dtype
        self.loc = self.X[rng.choice(len(self.X), k, replace=False)].copy()
        self.center = self.X.mean(axis=0).astype(ty)
        if self.family == FULL:
            self.prec = np.triu(np.tile(np.eye(d), (k, 1, 1)) + 0.1 * rng.standard_normal((k, d, d))).astype(ty)
        elif self.family == TIED:
            self.prec = np.triu(np.eye(d) + 0.1 * rng.standard_normal((d, d)))[None].astype(ty)
            self.loc = ((self.loc - self.center) @ self.prec[0]).astype(ty)
        else:
            self.prec = rng.uniform(0.5, 2.0, (k, 1, d)).astype(ty)
        self.log_norm = np.zeros(k, dtype=ty)
        try:  # the scratch is made in Python since the drivers hold their parallel loop only
            from fastem._kernels._buffers import scratch

            xT, work, per_component, vec = scratch(self.X.dtype, d, 1, self.rows, k)
        except ImportError:
            xT, work, per_component, vec = drivers._scratch(self.X, 1, self.rows, k)
        self.xT, self.work, self.logp, self.vec = xT[0], work[0], per_component[0], vec[0]
        self.s0, self.s1 = np.zeros(k), np.zeros((k, d))
        self.s2 = np.zeros(self.prec.shape)
        self.load, self.log_prob, self.normalize, self.accumulate = _loops()
        # inputs from NumPy, so that each benchmark's process compiles only its own loop
        self.xT[:, :] = self.X[: self.rows].T
        self.logp[:] = -rng.uniform(0.0, 50.0, self.logp.shape)  # log-densities
        self.resp = rng.uniform(0.0, 1.0, (k, self.rows)).astype(ty)
        self.resp /= self.resp.sum(axis=0)
        self.vec[:] = 1.0
        # the drivers' own arguments where a commit has them: full's padded factors and
        # locations (block_params), the next block's rows for the prefetch
        try:
            from fastem._kernels._buffers import block_params
        except ImportError:
            block_params = getattr(drivers, "block_params", None)
        if block_params is not None:
            self.coef, self.e_loc, self.m_loc = block_params(self.family, self.loc, self.center, self.prec)
        else:
            padded = self.family == FULL and hasattr(full, "padded_upper")
            self.coef = full.padded_upper(self.prec) if padded else self.prec
            self.e_loc = self.m_loc = self.loc
        with_prefetch = len(inspect.signature(normalize_block.py_func).parameters) == 6
        self.prefetch = (self.X, self.rows) if with_prefetch else ()

    def time_load(self, family, dtype):
        self.load(BLOCKS, self.X, self.weight, self.rows, self.xT, self.vec[0])

    def time_log_prob(self, family, dtype):
        self.log_prob(BLOCKS, self.family, self.xT, self.rows, self.e_loc, self.center, self.coef, self.log_norm,
                      self.work, self.vec[1:6], self.logp)

    def time_normalize(self, family, dtype):
        self.normalize(BLOCKS, self.logp, self.rows, self.vec[2], self.vec[3], *self.prefetch)

    def time_accumulate(self, family, dtype):
        self.accumulate(BLOCKS, self.family, self.xT, self.rows, self.m_loc, self.resp, self.vec[0], self.vec[2:6],
                        self.s0, self.s1, self.s2)
