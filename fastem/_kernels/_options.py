"""The one place that holds fastem's Numba options and the row-block partition.

Every kernel is compiled with ``JIT`` (serial block functions) or ``PARALLEL_JIT``
(drivers with a ``prange``). fastmath is on without ``nnan``/``ninf``: log-sum-exp
needs ``-inf`` and NaN must propagate so that bad input is detected, not hidden.
The on-disk cache is on unless the environment sets ``FASTEM_CACHE=0``.
"""

import os

from numba import njit, types
from numba.extending import intrinsic

FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
CACHE = os.environ.get("FASTEM_CACHE", "1") != "0"

JIT = {"cache": CACHE, "fastmath": FASTMATH, "nogil": True, "error_model": "numpy"}
PARALLEL_JIT = {**JIT, "parallel": True}

# Covariance families of the kernels. 'spherical' runs as DIAG with its one
# precision per component repeated over the features.
FULL = 0
TIED = 1
DIAG = 2

MAX_GROUPS = 64  # row groups per call: the unit of parallel work, fixed by data size
GROUP_BUDGET = 16 * 2**20  # bytes of per-group sums at most: allocated (zeroed) per call, so kept to
# a size the allocator recycles (64 MB for D=64, K=32 full cost 73,000 page faults per pass)


@njit(**JIT)
def block_rows(n_features, itemsize):
    """Rows per block: 16384 / n_features, at least 128 and at most 256 for float64
    scratch and 512 for float32 (a multiple of 16, so that the rows of aligned scratch, see
    _buffers.aligned_empty, stay aligned). The caps keep a block of 16 features within
    32 KiB, which an L1 cache of 48 KiB can hold while each component's pass reads the
    block again (512 float64 rows are 64 KiB). One thread, 1e6 x 16,
    K=16, 512 -> 256 float64 rows: tied 91.6 -> 77.7 ms, full 254.1 -> 242.7, diag
    99.1 -> 96.1 (4 features: 43.9 -> 41.8); float32 diag at 256 rows ran 10% slower,
    its block already in 32 KiB at 512. At least 128 rows: with 64 rows of 256 features
    each tile's pass ran 16 vectors, too few to repay its setup (2e5 x 256, K=8 full, two
    alternations: 8.42, 8.75 s per iteration with 64 rows; 6.35, 6.04 with 128)."""
    return max(16, min(2048 // itemsize, max(128, 16384 // max(n_features, 1))) // 16 * 16)


@njit(**JIT)
def n_groups(n_blocks, bytes_per_group):
    """Number of row groups for ``n_blocks`` blocks: a function of the data shape only,
    never of the thread count, so results are bitwise the same for any thread count."""
    cap = max(1, GROUP_BUDGET // max(bytes_per_group, 1))
    return max(1, min(n_blocks, MAX_GROUPS, cap))


@njit(**JIT)
def n_slots(groups, threads):
    """Scratch slots for a call: one per thread at most. The ``prange`` runs over slots and
    slot s takes a contiguous run of groups (interleaved groups put neighbouring
    accumulators of two threads in one cache line: 2 threads were only 1.43x faster than
    1); scratch is per slot (a call allocates only a few
    hundred KiB, which the allocator reuses: per-group scratch was ~10 MB of fresh pages
    per call, whose page faults cost more than the kernel on 16 MB chunks), sums per group.
    ``threads`` comes from the caller: a kernel that reads Numba's thread count cannot be
    cached on disk."""
    return max(1, min(groups, threads))


@njit(inline="always", **JIT)
def single_precision(x):
    """True for a float32 array x, False for float64: a constant, which the kernels' dtype
    branches fold away (2^24 + 1 rounds to 2^24 in float32 only)."""
    ty = x.dtype.type
    return ty(16777217.0) == ty(16777216.0)


@intrinsic
def wide_vectors(typingctx):
    """Lets LLVM vectorise the calling function with 512-bit vectors where the CPU has them.

    LLVM's tuning for Intel's AVX-512 cores (Skylake-SP to Sapphire Rapids) prefers 256-bit
    vectors for automatic vectorisation, which halves the multiply-add rate of loops that
    are bound by it (on such a core a loop of independent multiply-adds ran at 30 G/s with
    256-bit vectors and 49 G/s with 512-bit ones). Called first in every kernel function:
    the preference is a function attribute, and the body of a ``prange`` is a function of
    its own. Harmless on CPUs without AVX-512 (LLVM then uses the widest vectors they have)."""
    def codegen(context, builder, signature, args):
        attributes = builder.function.attributes  # llvmlite's set of known names: these go in directly
        if isinstance(attributes, set):  # else only a hint is lost (tests/test_kernels.py notices)
            set.add(attributes, '"prefer-vector-width"="512"')
            set.add(attributes, '"min-legal-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen
