"""ONNX bitwise ops on integers, in Vespa's double cell math: exact for the values a double holds
exactly (|x| < 2^53). Bits come from floor division and fmod; signed values are taken modulo 2^bits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from appkit.expr import ir
from appkit.importers import lower
from appkit.importers.lower import ConversionError, Operand, lam
from appkit.importers.lower_cells import BINARY, call, num
from appkit.importers.onnx.context import ONNX, NodeContext


def _integer_type(ctx: NodeContext) -> np.dtype:
    dtype = ctx.input_dtype(0)
    if dtype is None or dtype.kind not in "iu":
        raise ConversionError(f"{ctx.op_type} needs integer inputs")
    if dtype.itemsize > 4:
        raise ConversionError(f"{ctx.op_type} on 64-bit integers is not exact in double cells")
    return dtype


def _unsigned(a: ir.Expr, bits: int, signed: bool) -> ir.Expr:
    return ir.If(ir.BinaryOp("<", a, num(0)), ir.BinaryOp("+", a, num(2.0 ** bits)), a) if signed else a


def _signed(a: ir.Expr, bits: int, signed: bool) -> ir.Expr:
    return ir.If(ir.BinaryOp(">=", a, num(2.0 ** (bits - 1))), ir.BinaryOp("-", a, num(2.0 ** bits)), a) if signed else a


def _bit(a: ir.Expr, i: int) -> ir.Expr:
    return call("fmod", call("floor", ir.BinaryOp("/", a, num(2.0 ** i))), num(2))


_COMBINE = {"BitwiseAnd": lambda x, y: ir.BinaryOp("*", x, y),
            "BitwiseOr": lambda x, y: ir.BinaryOp("-", ir.BinaryOp("+", x, y), ir.BinaryOp("*", x, y)),
            "BitwiseXor": lambda x, y: ir.BinaryOp("!=", x, y)}
_NUMPY = {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or, "BitwiseXor": np.bitwise_xor}


@ONNX.register("BitwiseAnd", "BitwiseOr", "BitwiseXor", since_version=18, note="integers up to 32 bits")
def bitwise(ctx: NodeContext, a: Operand, b: Operand) -> Operand:
    dtype = _integer_type(ctx)
    if a.is_constant and b.is_constant:
        return lower.constant(_NUMPY[ctx.op_type](np.asarray(a.value), np.asarray(b.value)))
    bits, signed = dtype.itemsize * 8, dtype.kind == "i"
    combine = _COMBINE[ctx.op_type]

    def body(x: ir.Expr, y: ir.Expr) -> ir.Expr:
        ux, uy = _unsigned(x, bits, signed), _unsigned(y, bits, signed)
        total: ir.Expr = num(0)
        for i in range(bits):
            total = ir.BinaryOp("+", total, ir.BinaryOp("*", num(2.0 ** i), combine(_bit(ux, i), _bit(uy, i))))
        return _signed(total, bits, signed)

    BINARY.setdefault(f"bitwise_{ctx.op_type}_{dtype}", (body, _NUMPY[ctx.op_type]))
    return lower.binary(a, b, f"bitwise_{ctx.op_type}_{dtype}")


@ONNX.register("BitwiseNot", since_version=18, note="integers up to 32 bits")
def bitwise_not(ctx: NodeContext, x: Operand) -> Operand:
    dtype = _integer_type(ctx)
    if x.is_constant:
        return lower.constant(np.bitwise_not(np.asarray(x.value)))
    top = 2.0 ** (dtype.itemsize * 8) - 1
    body = ir.BinaryOp("-", num(-1), lower.A) if dtype.kind == "i" else ir.BinaryOp("-", num(top), lower.A)
    return replace(x, expr=ir.Map(x.expr, lam("a", body)), value=None)


@ONNX.register("BitShift", since_version=11, note="unsigned integers up to 32 bits")
def bit_shift(ctx: NodeContext, x: Operand, y: Operand) -> Operand:
    dtype = _integer_type(ctx)
    if dtype.kind == "i":
        raise ConversionError("BitShift of signed integers (overflow and negative shifts) is not converted")
    left = ctx.attr("direction") == "LEFT"
    if x.is_constant and y.is_constant:
        fn = np.left_shift if left else np.right_shift
        return lower.constant(fn(np.asarray(x.value), np.asarray(y.value)))
    modulus = 2.0 ** (dtype.itemsize * 8)
    key = f"bitshift_{'left' if left else 'right'}_{dtype}"

    def body(a: ir.Expr, s: ir.Expr) -> ir.Expr:
        scale = call("pow", num(2), s)
        if left:
            return call("fmod", ir.BinaryOp("*", a, scale), num(modulus))
        return call("floor", ir.BinaryOp("/", a, scale))

    BINARY.setdefault(key, (body, np.left_shift if left else np.right_shift))
    return lower.binary(x, y, key)
