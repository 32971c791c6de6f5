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

# Forms of a family's driver: SHIFTED only, or EXPANDED, which runs diag's expanded form
# where its bound allows (diag.expand_block) and the shifted one elsewhere; a fit compiles
# one of the two (_kernels.expanded_form chooses).
SHIFTED = 0
EXPANDED = 1

MAX_GROUPS = 64  # row groups per call: the unit of parallel work, fixed by data size
GROUP_BUDGET = 16 * 2**20  # bytes of per-group sums at most: allocated (zeroed) per call, so kept to
# a size the allocator recycles (64 MB for D=64, K=32 full cost 73,000 page faults per pass)


@njit(**JIT)
def block_rows(n_features, itemsize):
    """Rows per block: 256 in float64 and 512 in float32 (2 KiB per feature), fewer only
    where a block would pass 1 MiB (past 512 features; at least 128 rows); a
    multiple of 16, so that the rows of aligned scratch (see _buffers.aligned_empty) stay
    aligned. Shorter rows do not repay a register tile's setup and its final sums; longer
    blocks fall out of the caches that hold a block while each component's pass reads it
    again (docs/how_it_works.rst, "Blocks")."""
    return max(128, min(2048 // itemsize, 2**20 // (itemsize * max(n_features, 1)))) // 16 * 16


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
