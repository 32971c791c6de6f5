"""A vectorisable exp for log-sum-exp (Numba's LLVM has no SVML here, so math.exp stays
scalar and blocks vectorisation of the loop around it).

exp(x) = 2^k exp(r) with k = round(x / ln 2) and |r| <= ln(2) / 2; exp(r) by its Taylor
polynomial of degree 13 (truncation below 1e-17, so the result is within a few ulp);
2^k is assembled from exponent bits by the "magic number" trick, with no float-to-int
conversion. Arguments below -708 give exactly 0.0 (this also covers -inf).
"""

import numpy as np
from numba import njit

from ._options import JIT

LOG2E = 1.4426950408889634
LN2_HI = 0.6931471803691238  # ln 2 split in two so that k * LN2_HI is exact
LN2_LO = 1.9082149292705877e-10
MAGIC = 4503599627370496.0 + 1023.0  # 2^52 + the exponent bias
INV_FACT = tuple(1.0 / float(np.prod(np.arange(1, i + 1))) for i in range(14))


@njit(**JIT)
def exp_nonpositive(x, nb, out, bits):
    """out[:nb] = exp(x[:nb]) for x <= 0, x not NaN; bits: (B,) int64 scratch."""
    as_float = bits.view(np.float64)
    c2, c3, c4, c5, c6, c7 = INV_FACT[2], INV_FACT[3], INV_FACT[4], INV_FACT[5], INV_FACT[6], INV_FACT[7]
    c8, c9, c10, c11, c12, c13 = INV_FACT[8], INV_FACT[9], INV_FACT[10], INV_FACT[11], INV_FACT[12], INV_FACT[13]
    for b in range(nb):
        v = x[b]
        v = v if v > -708.0 else -708.0
        k = np.floor(v * LOG2E + 0.5)
        r = (v - k * LN2_HI) - k * LN2_LO
        p = c13
        p = p * r + c12
        p = p * r + c11
        p = p * r + c10
        p = p * r + c9
        p = p * r + c8
        p = p * r + c7
        p = p * r + c6
        p = p * r + c5
        p = p * r + c4
        p = p * r + c3
        p = p * r + c2
        p = p * r + 1.0
        p = p * r + 1.0
        out[b] = p if x[b] > -708.0 else 0.0
        as_float[b] = k + MAGIC
    for b in range(nb):
        bits[b] = bits[b] << 52
    for b in range(nb):
        out[b] *= as_float[b]
