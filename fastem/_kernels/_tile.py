"""Loading a block of row-major data as (features, rows): an 8x8 transpose in registers,
and a prefetch hint that asks for the next block's rows ahead of their load.

Written as LLVM IR (Numba has no other way to say vector shuffles or llvm.prefetch): LLVM
does not vectorise the scalar transposing loop (8 loads and 8 stores to 8 different rows
per row of the tile, and an aliasing question between them), which ran as scalar moves: a
sixth to a fifth of a diag block's time.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# The three rounds of an 8x8 transpose: pairs of rows, then pairs of pairs, then halves.
_ROUNDS = (
    ((0, 8, 2, 10, 4, 12, 6, 14), (1, 9, 3, 11, 5, 13, 7, 15), 1),
    ((0, 1, 8, 9, 4, 5, 12, 13), (2, 3, 10, 11, 6, 7, 14, 15), 2),
    ((0, 1, 2, 3, 8, 9, 10, 11), (4, 5, 6, 7, 12, 13, 14, 15), 4),
)


def _c_float_matrix(ty):
    return (isinstance(ty, types.Array) and ty.ndim == 2 and ty.layout == "C"
            and ty.dtype in (types.float32, types.float64))


@intrinsic
def transpose8(typingctx, src, row, col, dst, dst_col):
    """dst[col + j, dst_col + i] = src[row + i, col + j] for i, j in 0..7, converting to
    dst's precision. src and dst C-contiguous 2-d float arrays; no bounds checks: the
    caller keeps the tile inside both."""
    if not (_c_float_matrix(src) and _c_float_matrix(dst)):
        return None
    if not all(isinstance(i, types.Integer) for i in (row, col, dst_col)):
        return None

    def codegen(context, builder, signature, args):
        src_ary = context.make_array(src)(context, builder, args[0])
        dst_ary = context.make_array(dst)(context, builder, args[3])
        i0, j0, b0 = (context.cast(builder, a, t, types.intp)
                      for a, t in zip((args[1], args[2], args[4]), signature.args[1:3] + signature.args[4:], strict=False))
        src_vec = ir.VectorType(context.get_value_type(src.dtype), 8)
        dst_vec = ir.VectorType(context.get_value_type(dst.dtype), 8)
        one = ir.Constant(context.get_value_type(types.intp), 1)
        rows = []
        index = i0
        for _ in range(8):
            ptr = cgutils.get_item_pointer(context, builder, src, src_ary, [index, j0], wraparound=False)
            rows.append(builder.load(builder.bitcast(ptr, src_vec.as_pointer()), align=src.dtype.bitwidth // 8))
            index = builder.add(index, one)
        for low, high, span in _ROUNDS:  # rows i and i + span combine
            low_mask = ir.Constant(ir.VectorType(ir.IntType(32), 8), low)
            high_mask = ir.Constant(ir.VectorType(ir.IntType(32), 8), high)
            out = [None] * 8
            for i in range(8):
                if i & span:
                    continue
                out[i] = builder.shuffle_vector(rows[i], rows[i + span], low_mask)
                out[i + span] = builder.shuffle_vector(rows[i], rows[i + span], high_mask)
            rows = out
        index = j0
        for j in range(8):  # after the rounds, rows[j] holds column j of the tile
            value = rows[j]
            if dst.dtype != src.dtype:
                value = (builder.fpext if dst.dtype.bitwidth > src.dtype.bitwidth else builder.fptrunc)(value, dst_vec)
            ptr = cgutils.get_item_pointer(context, builder, dst, dst_ary, [index, b0], wraparound=False)
            builder.store(value, builder.bitcast(ptr, dst_vec.as_pointer()), align=dst.dtype.bitwidth // 8)
            index = builder.add(index, one)
        return context.get_dummy_value()

    return types.none(src, row, col, dst, dst_col), codegen


@intrinsic
def prefetch_line(typingctx, src, row, offset):
    """Asks the caches for the line holding byte ``offset`` past src[row, 0], into L2 (a
    hint: it never faults and returns nothing)."""
    if not (_c_float_matrix(src) and isinstance(row, types.Integer) and isinstance(offset, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        src_ary = context.make_array(src)(context, builder, args[0])
        i0 = context.cast(builder, args[1], signature.args[1], types.intp)
        zero = ir.Constant(context.get_value_type(types.intp), 0)
        start = cgutils.get_item_pointer(context, builder, src, src_ary, [i0, zero], wraparound=False)
        byte = ir.IntType(8)
        ptr = builder.gep(builder.bitcast(start, byte.as_pointer()),
                          [context.cast(builder, args[2], signature.args[2], types.intp)])
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 2), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(src, row, offset), codegen
