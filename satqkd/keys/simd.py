"""Explicit 16 x float32 vectors for numba kernels: a vector type and a few intrinsics.

numba vectorises loops by itself only when it can prove that arrays do not overlap, and
its SLP vectoriser (off by default) is fragile with integer bit tricks.  The LDPC decoder
(:mod:`satqkd.keys.ldpc`) needs exp and log on every edge, which only pay off as wide
vector arithmetic, so this module gives numba a value type ``f32x16`` (an LLVM
``<16 x float>``, one AVX-512 register or two AVX2 ones) and intrinsics that emit
vector LLVM IR directly:

* memory: :func:`vload`/:func:`vstore` (16 consecutive float32), :func:`vload_rot`/
  :func:`vstore_rot` (a 16-element block read or written cyclically shifted: the
  circulant permutations of quasi-cyclic codes);
* arithmetic: ``+ - * /`` between vectors, :func:`vsplat`, :func:`vmin`, :func:`vmax`,
  :func:`vabs`, :func:`vflipsign`, :func:`vcountneg`, :func:`vrecip`;
* :func:`vexpneg` and :func:`vln`: exp(-x) and ln(x) from the exponent and mantissa
  fields and short least-squares polynomials (relative error 1.1e-4 on exp(-x) up to
  x = 87, absolute error 1e-4 on ln).

Indices are element offsets (no wraparound, no bounds check): callers keep them in range.
All arithmetic carries LLVM's ``fast`` flag.  Where the host has AVX-512 the intrinsics
use its instructions (``vpermps`` for the shifts, ``vrcp14ps`` for reciprocals,
``vrndscaleps``/``vscalefps`` in exp, ``vgetexpps``/``vgetmantps`` in ln: measured 15 %
faster on the LDPC sweep); elsewhere portable IR computes the same functions (the
reciprocal exactly, so results may differ in the last digits between the two).
"""

from __future__ import annotations

import operator

import llvmlite.binding as llb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

#: Vector width (float32 lanes).
WIDTH = 16
_F = ir.FloatType()
_I32 = ir.IntType(32)
_VF = ir.VectorType(_F, WIDTH)
_VI = ir.VectorType(_I32, WIDTH)
_VS = ir.VectorType(ir.IntType(16), WIDTH)
_FAST = ("fast",)
_AVX512 = "+avx512f" in llb.get_host_cpu_features().flatten().split(",")
#: exp2(f) on (-1, 0] (least squares on Chebyshev nodes, absolute error 5.5e-5, relative
#: 1.1e-4) and
#: log2(1 + t) / t on [0, 1) (absolute error of log2 1.2e-4); highest power last.
EXP2_POLY = (0.99994506, 0.69134248, 0.23088929, 0.03954314)
LOG2_POLY = (1.43863518, -0.67772275, 0.32183867, -0.08283638)
#: vexpneg's result is at most EXP_UMAX (exp(-x) for x >= 1.95e-3), so that 1 - u > 0.
EXP_UMAX = 1.0 - 2.0**-9
_I16T = ir.IntType(16)
_ALL = ir.Constant(_I16T, -1)  # AVX-512 write mask: all lanes
_CUR = ir.Constant(_I32, 4)  # AVX-512 rounding: current direction


class F32x16(types.Type):
    """numba type of a 16 x float32 vector value."""

    def __init__(self) -> None:
        super().__init__(name="f32x16")


f32x16 = F32x16()


@register_model(F32x16)
class _F32x16Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VF)


def _fconst(x: float) -> ir.Constant:
    return ir.Constant(_VF, [float(np.float32(x))] * WIDTH)


def _iconst(x: int) -> ir.Constant:
    return ir.Constant(_VI, [int(x)] * WIDTH)


def _splat(builder, value, vty):
    v = builder.insert_element(ir.Constant(vty, ir.Undefined), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined),
                                  ir.Constant(_VI, [0] * WIDTH))


def _address(context, builder, aryty, ary, idx, vty):
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.bitcast(builder.gep(data, [idx]), vty.as_pointer())


def _is_array(ary, dtype) -> bool:
    return isinstance(ary, types.Array) and ary.dtype == dtype and ary.ndim == 1


@intrinsic
def vload(typingctx, ary, idx):
    """ary[idx:idx + 16] of a float32 array."""
    if not (_is_array(ary, types.float32) and isinstance(idx, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        p = _address(context, builder, sig.args[0], args[0], args[1], _VF)
        return builder.load(p, align=4)
    return f32x16(ary, idx), codegen


@intrinsic
def vstore(typingctx, ary, idx, v):
    """ary[idx:idx + 16] = v."""
    if not (_is_array(ary, types.float32) and v == f32x16):
        return None

    def codegen(context, builder, sig, args):
        p = _address(context, builder, sig.args[0], args[0], args[1], _VF)
        builder.store(args[2], p, align=4)
        return context.get_dummy_value()
    return types.void(ary, idx, v), codegen


def _rotation(builder, shift, sign: int):
    s = builder.trunc(shift, _I32) if shift.type.width > 32 else shift
    if s.type.width < 32:
        s = builder.sext(s, _I32)
    iota = ir.Constant(_VI, list(range(WIDTH)))
    sv = _splat(builder, s, _VI)
    t = builder.add(iota, sv) if sign > 0 else builder.sub(iota, sv)
    return builder.and_(t, _iconst(WIDTH - 1))


def _x86(builder, name: str, args: list):
    """Call the AVX-512 intrinsic ``name`` returning 16 x float32."""
    fnty = ir.FunctionType(_VF, [a.type for a in args])
    return builder.call(cgutils.get_or_insert_function(builder.module, fnty, name), args)


def _permute(builder, v, idx):
    """out[i] = v[idx[i]]."""
    if _AVX512:
        return _x86(builder, "llvm.x86.avx512.permvar.sf.512", [v, idx])
    out = ir.Constant(_VF, ir.Undefined)
    for i in range(WIDTH):
        e = builder.extract_element(v, builder.extract_element(idx, ir.Constant(_I32, i)))
        out = builder.insert_element(out, e, ir.Constant(_I32, i))
    return out


@intrinsic
def vload_rot(typingctx, ary, idx, shift):
    """out[i] = ary[idx + (i + shift) % 16] (0 <= shift < 16)."""
    if not (_is_array(ary, types.float32) and isinstance(shift, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        p = _address(context, builder, sig.args[0], args[0], args[1], _VF)
        return _permute(builder, builder.load(p, align=4), _rotation(builder, args[2], +1))
    return f32x16(ary, idx, shift), codegen


@intrinsic
def vstore_rot(typingctx, ary, idx, shift, v):
    """ary[idx + (i + shift) % 16] = v[i]: the inverse of :func:`vload_rot`."""
    if not (_is_array(ary, types.float32) and isinstance(shift, types.Integer)
            and v == f32x16):
        return None

    def codegen(context, builder, sig, args):
        p = _address(context, builder, sig.args[0], args[0], args[1], _VF)
        w = _permute(builder, args[3], _rotation(builder, args[2], -1))
        builder.store(w, p, align=4)
        return context.get_dummy_value()
    return types.void(ary, idx, shift, v), codegen


@intrinsic
def vsplat(typingctx, x):
    """All 16 lanes = x (a float32)."""
    if x != types.float32:
        return None

    def codegen(context, builder, sig, args):
        return _splat(builder, args[0], _VF)
    return f32x16(x), codegen


def _binary(opname: str):
    @intrinsic
    def op(typingctx, a, b):
        if a != f32x16 or b != f32x16:
            return None

        def codegen(context, builder, sig, args):
            return getattr(builder, opname)(args[0], args[1], flags=_FAST)
        return f32x16(a, b), codegen
    return op


_vadd, _vsub, _vmul, _vdiv = (_binary(n) for n in ("fadd", "fsub", "fmul", "fdiv"))


def _register(pyop, vop) -> None:
    @overload(pyop)
    def _impl(a, b):
        if a == f32x16 and b == f32x16:
            return lambda a, b: vop(a, b)


for _pyop, _vop in ((operator.add, _vadd), (operator.sub, _vsub),
                    (operator.mul, _vmul), (operator.truediv, _vdiv)):
    _register(_pyop, _vop)


def _select(cmp: str):
    @intrinsic
    def op(typingctx, a, b):
        if a != f32x16 or b != f32x16:
            return None

        def codegen(context, builder, sig, args):
            c = builder.fcmp_ordered(cmp, args[0], args[1], flags=_FAST)
            return builder.select(c, args[0], args[1])
        return f32x16(a, b), codegen
    return op


vmin = _select("<")
vmin.__doc__ = "Lane-wise minimum."
vmax = _select(">")
vmax.__doc__ = "Lane-wise maximum."


@intrinsic
def vabs(typingctx, a):
    """|a| (sign bit cleared)."""
    if a != f32x16:
        return None

    def codegen(context, builder, sig, args):
        b = builder.and_(builder.bitcast(args[0], _VI), _iconst(0x7FFFFFFF))
        return builder.bitcast(b, _VF)
    return f32x16(a), codegen


@intrinsic
def vflipsign(typingctx, a, b):
    """a with its sign flipped in the lanes where b's sign bit is set (a x sign(b))."""
    if a != f32x16 or b != f32x16:
        return None

    def codegen(context, builder, sig, args):
        s = builder.and_(builder.bitcast(args[1], _VI), _iconst(-0x80000000))
        return builder.bitcast(builder.xor(builder.bitcast(args[0], _VI), s), _VF)
    return f32x16(a, b), codegen


@intrinsic
def vcountneg(typingctx, a):
    """Number of lanes whose sign bit is set (int64)."""
    if a != f32x16:
        return None

    def codegen(context, builder, sig, args):
        bits = builder.lshr(builder.bitcast(args[0], _VI), _iconst(31))
        acc = builder.extract_element(bits, ir.Constant(_I32, 0))
        for i in range(1, WIDTH):
            acc = builder.add(acc, builder.extract_element(bits, ir.Constant(_I32, i)))
        return builder.zext(acc, ir.IntType(64))
    return types.int64(a), codegen


@intrinsic
def vrecip(typingctx, a):
    """1 / a (AVX-512: vrcp14ps, relative error < 2^-14; otherwise a division)."""
    if a != f32x16:
        return None

    def codegen(context, builder, sig, args):
        if _AVX512:
            return _x86(builder, "llvm.x86.avx512.rcp14.ps.512", [args[0], args[0], _ALL])
        return builder.fdiv(_fconst(1.0), args[0], flags=_FAST)
    return f32x16(a), codegen


def _poly(builder, x, coefs):
    p = _fconst(coefs[-1])
    for c in coefs[-2::-1]:
        p = builder.fadd(builder.fmul(p, x, flags=_FAST), _fconst(c), flags=_FAST)
    return p


@intrinsic
def vexpneg(typingctx, a):
    """min(exp(-x), EXP_UMAX) for x >= 0: y = -x log2(e) = n + f, n = ceil(y), f in (-1, 0],
    2^f from EXP2_POLY, times 2^n (vscalefps, or the exponent field with y >= -126)."""
    if a != f32x16:
        return None

    def codegen(context, builder, sig, args):
        b = builder
        y = b.fmul(args[0], _fconst(-1.4426950408889634), flags=_FAST)
        if _AVX512:
            n = _x86(b, "llvm.x86.avx512.mask.rndscale.ps.512",
                     [y, ir.Constant(_I32, 2), y, _ALL, _CUR])  # 2: round up
            p = _poly(b, b.fsub(y, n, flags=_FAST), EXP2_POLY)
            u = _x86(b, "llvm.x86.avx512.mask.scalef.ps.512", [p, n, p, _ALL, _CUR])
        else:
            y = b.select(b.fcmp_ordered("<", y, _fconst(-126.0)), _fconst(-126.0), y)
            n = b.fptosi(y, _VI)  # truncation: ceil for y <= 0
            p = _poly(b, b.fsub(y, b.sitofp(n, _VF), flags=_FAST), EXP2_POLY)
            scale = b.bitcast(b.shl(b.add(n, _iconst(127)), _iconst(23)), _VF)
            u = b.fmul(scale, p, flags=_FAST)
        big = b.fcmp_ordered(">", u, _fconst(EXP_UMAX))
        return b.select(big, _fconst(EXP_UMAX), u)
    return f32x16(a), codegen


@intrinsic
def vln(typingctx, a):
    """ln(x) for normal x > 0: exponent plus LOG2_POLY on the mantissa in [1, 2)
    (vgetexpps/vgetmantps, or the bit fields)."""
    if a != f32x16:
        return None

    def codegen(context, builder, sig, args):
        b = builder
        x = args[0]
        if _AVX512:
            e = _x86(b, "llvm.x86.avx512.mask.getexp.ps.512", [x, x, _ALL, _CUR])
            mant = _x86(b, "llvm.x86.avx512.mask.getmant.ps.512",
                        [x, ir.Constant(_I32, 0), x, _ALL, _CUR])  # 0: [1, 2)
        else:
            bits = b.bitcast(x, _VI)
            e = b.sitofp(b.sub(b.lshr(bits, _iconst(23)), _iconst(127)), _VF)
            mant = b.bitcast(b.or_(b.and_(bits, _iconst(0x7FFFFF)), _iconst(0x3F800000)), _VF)
        t = b.fsub(mant, _fconst(1.0), flags=_FAST)
        lg = b.fadd(e, b.fmul(_poly(b, t, LOG2_POLY), t, flags=_FAST), flags=_FAST)
        return b.fmul(lg, _fconst(0.6931471805599453), flags=_FAST)
    return f32x16(a), codegen
