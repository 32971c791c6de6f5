"""Block functions for diagonal covariances (and spherical ones, whose single precision
per component is repeated over the features by the caller)."""

from numba import njit

from ._options import JIT


@njit(**JIT)
def diag_log_prob(xT, nb, loc, prec, log_norm, maha, logp):
    """logp[k, b] = log_norm[k] - sum_d ((x_bd - loc_kd) p_kd)^2 / 2 with prec (K, 1, D)."""
    n_features = xT.shape[0]
    half = xT.dtype.type(0.5)
    for k in range(loc.shape[0]):
        for b in range(nb):
            maha[b] = 0
        for d in range(n_features):
            m = loc[k, d]
            p = prec[k, 0, d]
            for b in range(nb):
                t = (xT[d, b] - m) * p
                maha[b] += t * t
        c = log_norm[k]
        for b in range(nb):
            logp[k, b] = c - half * maha[b]


@njit(**JIT)
def diag_accumulate(xT, nb, loc, resp, s0, s1, s2):
    """s0[k] += sum r, s1[k, d] += sum r (x_d - loc_kd), s2[k, 0, d] += sum r (x_d - loc_kd)^2."""
    n_features = xT.shape[0]
    zero = xT.dtype.type(0)
    for k in range(loc.shape[0]):
        total = zero
        for b in range(nb):
            total += resp[k, b]
        s0[k] += total
        for d in range(n_features):
            m = loc[k, d]
            a1 = zero
            a2 = zero
            for b in range(nb):
                t = xT[d, b] - m
                rt = resp[k, b] * t
                a1 += rt
                a2 += rt * t
            s1[k, d] += a1
            s2[k, 0, d] += a2
