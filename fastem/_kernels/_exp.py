"""A vectorisable exp and log for log-sum-exp (Numba's LLVM has no SVML here, so math.exp
and math.log stay scalar and block vectorisation of the loop around them).

The exp, in the precision of its argument:

exp(x) = 2^k exp(r) with k = round(x / ln 2) and |r| <= ln(2) / 2 (Cody and Waite's
two-part ln 2); exp(r) by its Taylor polynomial of degree 13 (float64: truncation below
1e-17) or 7 (float32: below 5e-9); 2^k built directly from its exponent bits (a shift and
a bit cast, which vectorise; a table lookup would be a gather, slow on these cores).
Relative error: a few 1e-15 in float64, a few ulp in float32. Arguments below -200
(float64) or -60 (float32) give exactly 0.0 (as does -inf): a responsibility that small
is 1e-87 (1e-26) of its row's largest, far below rounding, and keeping it would breed
subnormal numbers, which x86 computes about 100 times slower (responsibilities of
well-separated clusters did, tripling a full-covariance pass).

The exponentials are computed in place: LLVM vectorises ``x[b] = f(x[b])`` on one array,
but for two arrays that may overlap it adds a run-time overlap check, and the same array
passed as both input and output fails the check into the scalar loop (4x slower).

The log, in float64: log(v) = e ln 2 + log(m) with v = 2^e m read from v's bits, m in
[sqrt(1/2), sqrt(2)), and log(m) = 2 atanh(s) with s = (m - 1) / (m + 1), |s| < 0.172, by
its series to s^21 (truncation below 1e-17). Relative error about 1e-16.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ._options import JIT, single_precision, wide_vectors

LOG2E = 1.4426950408889634
LN2_HI_64, LN2_LO_64 = 0.6931471803691238, 1.9082149292705877e-10
LN2_HI_32, LN2_LO_32 = 0.693145751953125, 1.428606765330187e-06  # LN2_HI_32 has 17 significant bits
INV_FACT = tuple(1.0 / math.factorial(i) for i in range(14))  # 1 / i!


@intrinsic
def pow2(typingctx, k, like):
    """2.0**k (k an integer in the normal exponent range) as a float of like's type."""
    if not isinstance(k, types.Integer) or like not in (types.float32, types.float64):
        return None
    width, bias, mantissa = (32, 127, 23) if like == types.float32 else (64, 1023, 52)

    def codegen(context, builder, signature, args):
        ity = ir.IntType(width)
        value = args[0]
        if k.bitwidth > width:
            value = builder.trunc(value, ity)
        elif k.bitwidth < width:
            value = builder.sext(value, ity)
        bits = builder.shl(builder.add(value, ir.Constant(ity, bias)), ir.Constant(ity, mantissa))
        return builder.bitcast(bits, context.get_value_type(like))

    return like(k, like), codegen


@intrinsic
def float64_bits(typingctx, x):
    """The bits of float64 x as an int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def bits_float64(typingctx, bits):
    """The float64 whose bits are the int64 bits."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(bits), codegen


MANTISSA = (1 << 52) - 1
ONE_BITS = 1023 << 52  # the exponent bits of 1.0
SQRT2 = math.sqrt(2.0)
INV_ODD = tuple(1.0 / (2 * i + 1) for i in range(11))  # 1 / (2i + 1)


@njit(**JIT)
def log_positive(v):
    """log(v) in float64 for v zero (-inf) or a normal positive number; vectorises."""
    v = np.float64(v)
    bits = float64_bits(v)
    e = (bits >> 52) - 1023
    m = bits_float64((bits & MANTISSA) | ONE_BITS)  # in [1, 2)
    big = m > SQRT2
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    p = INV_ODD[10]
    p = p * z + INV_ODD[9]
    p = p * z + INV_ODD[8]
    p = p * z + INV_ODD[7]
    p = p * z + INV_ODD[6]
    p = p * z + INV_ODD[5]
    p = p * z + INV_ODD[4]
    p = p * z + INV_ODD[3]
    p = p * z + INV_ODD[2]
    p = p * z + INV_ODD[1]
    k = float(e)
    result = k * LN2_HI_64 + (k * LN2_LO_64 + 2.0 * (s + s * z * p))
    return result if v > 0.0 else -np.inf


@njit(**JIT)
def exp_shifted(x, nb, shift):
    """x[:nb] <- exp(x[:nb] - shift[:nb]) in place, in x's precision, for x <= shift
    (not NaN); results below the module's cut-off are flushed to 0.0."""
    wide_vectors()
    ty = x.dtype.type
    single = single_precision(x)
    low = ty(-60.0) if single else ty(-200.0)
    hi = ty(LN2_HI_32) if single else ty(LN2_HI_64)
    lo = ty(LN2_LO_32) if single else ty(LN2_LO_64)
    log2e, half, one, zero = ty(LOG2E), ty(0.5), ty(1.0), ty(0.0)
    c2, c3, c4, c5, c6, c7 = (ty(INV_FACT[2]), ty(INV_FACT[3]), ty(INV_FACT[4]), ty(INV_FACT[5]),
                              ty(INV_FACT[6]), ty(INV_FACT[7]))
    c8, c9, c10, c11, c12, c13 = (ty(INV_FACT[8]), ty(INV_FACT[9]), ty(INV_FACT[10]), ty(INV_FACT[11]),
                                  ty(INV_FACT[12]), ty(INV_FACT[13]))
    for b in range(nb):
        v = x[b] - shift[b]
        keep = v > low
        v = v if keep else low
        k = np.floor(v * log2e + half)
        r = (v - k * hi) - k * lo
        if single:  # degree 7 is exact to float32's precision
            p = c7
        else:
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
        p = p * r + one
        p = p * r + one
        x[b] = p * pow2(np.int32(k), one) if keep else zero
