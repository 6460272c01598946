"""IR lowered to a program (program.py): what does not depend on the documents is folded by the
reference evaluator, and a step is emitted per remaining operation, reductions over products as
matrix products. compile.py's `Plan` caches one program per input shapes and constants.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from appkit.expr import batch_kernels as K
from appkit.expr import functions as fn
from appkit.expr import ir
from appkit.expr.evaluate import EvalContext, evaluate
from appkit.expr.program import Array, Step, Unsupported, Value, chained, static_array
from appkit.expr.typecheck import feature_key, function_def
from appkit.tensor.type import CellType, TensorType
from appkit.tensor.value import to_cell_dtype

if TYPE_CHECKING:
    from appkit.expr.compile import Plan


class ProgramBuilder:
    """Builds the program for one set of input shapes and constants."""

    def __init__(self, plan: "Plan", input_types: Mapping[str, TensorType], constants: EvalContext):
        self.plan = plan
        self.input_types = input_types
        self.constants = constants
        self.steps: list[Step] = []
        self.slots = len(input_types)
        self.inputs = {name: Value(t, slot=i) for i, (name, t) in enumerate(input_types.items())}
        self.memo: dict[tuple[int, int], tuple[ir.Expr, Mapping[str, Value], Value]] = {}
        self.static_memo: dict[tuple[int, int], tuple[ir.Expr, Mapping[str, Value], bool]] = {}
        self.function_values: dict[str, Value] = {}  # zero-argument functions, compiled once
        self.static_functions: dict[tuple[str, tuple[bool, ...]], bool] = {}
        self.stack: list[str] = []

    # --- helpers ------------------------------------------------------------------------------------

    def static(self, node: ir.Expr, env: Mapping[str, Value]) -> Value:
        values = dict(self.constants.values)
        values.update({k: v.tensor for k, v in env.items() if v.tensor is not None})
        t = evaluate(node, EvalContext(values, self.constants.functions, self.constants.seed))
        return Value(t.type, const=static_array(t), tensor=t)

    def is_static(self, node: ir.Expr, env: Mapping[str, Value]) -> bool:
        """Whether a node depends on no document input (memoised, so deep expressions stay linear)."""
        key = (id(node), id(env))
        hit = self.static_memo.get(key)
        if hit is not None:
            return hit[2]
        if isinstance(node, ir.Ref):
            if node.name in env:
                result = not env[node.name].batched
            elif node.name in self.plan.functions and node.name not in self.inputs:
                result = self.function_is_static(node.name, ())
            else:
                result = node.name not in self.inputs
        elif isinstance(node, ir.Feature) and feature_key(node) in self.inputs:
            result = False
        elif isinstance(node, ir.Feature) and node.output is None and node.name in self.plan.functions:
            result = self.function_is_static(node.name, tuple(self.is_static(a, env) for a in node.args))
        else:
            result = all(self.is_static(c, env) for c in ir.children(node))  # type: ignore[arg-type]
        self.static_memo[key] = (node, env, result)  # holding node and env keeps their ids unique
        return result

    def function_is_static(self, name: str, static_args: tuple[bool, ...]) -> bool:
        """Whether a call of a rank-profile function, with arguments of this static-ness, reads documents."""
        key = (name, static_args)
        if key in self.static_functions:
            return self.static_functions[key]
        definition = function_def(self.plan.functions[name])
        if name in self.stack or len(static_args) != len(definition.params):
            return False  # recursion or a wrong call: leave it to compile, which reports it
        self.static_functions[key] = False  # while deciding (a cycle reads as "not static")
        self.stack.append(name)
        try:
            env = {p: Value(TensorType.scalar(), slot=-1 if st else 0) for p, st in zip(definition.params, static_args)}
            result = self.is_static(definition.body, env)
        finally:
            self.stack.pop()
        self.static_functions[key] = result
        return result

    def emit(self, type_: TensorType, ins: Sequence[Value | None], make: Callable[[bool], Callable[..., Array]],
             inplace_ok: bool = False, fresh: bool = True) -> Value:
        out = Value(type_, slot=self.slots, fresh=fresh)
        self.slots += 1
        for v in ins:
            if v is not None:
                v.uses += 1
        self.steps.append(Step(make, out.slot, tuple(ins), inplace_ok, out))
        return out

    # --- compile ------------------------------------------------------------------------------------

    def compile(self, node: ir.Expr, env: Mapping[str, Value]) -> Value:
        key = (id(node), id(env))  # by identity: hashing frozen trees is quadratic in their depth
        hit = self.memo.get(key)
        if hit is not None:
            return hit[2]
        if self.is_static(node, env):
            v = self.static(node, env)
        else:
            method = getattr(self, "_" + type(node).__name__, None)
            if method is None:
                raise Unsupported(f"{type(node).__name__} on document values")
            v = method(node, env)
        self.memo[key] = (node, env, v)
        return v

    def _Ref(self, node: ir.Ref, env: Mapping[str, Value]) -> Value:
        if node.name in env:
            return env[node.name]
        if node.name in self.inputs:
            return self.inputs[node.name]
        return self.call(node.name, (), env)

    def _Feature(self, node: ir.Feature, env: Mapping[str, Value]) -> Value:
        key = feature_key(node)
        if key in self.inputs:
            return self.inputs[key]
        if node.output is None and node.name in self.plan.functions:
            return self.call(node.name, node.args, env)
        if node.name in ir.AGGREGATORS and node.args and all(isinstance(a, ir.Ref) for a in node.args[1:]):
            dims = tuple(a.name for a in node.args[1:] if isinstance(a, ir.Ref))
            return self.compile(ir.Reduce(node.args[0], node.name, dims, span=node.span), env)
        raise Unsupported(f"feature {key}")

    def call(self, name: str, args: Sequence[ir.Expr], env: Mapping[str, Value]) -> Value:
        if name not in self.plan.functions or name in self.stack:
            raise Unsupported(f"function {name}")
        if not args and name in self.function_values:
            return self.function_values[name]
        definition = function_def(self.plan.functions[name])
        bound = {p: self.compile(a, env) for p, a in zip(definition.params, args)}
        self.stack.append(name)
        try:
            value = self.compile(definition.body, bound)
        finally:
            self.stack.pop()
        if not args:
            self.function_values[name] = value
        return value

    # --- elementwise ----------------------------------------------------------------------------------

    def layout(self, v: Value, out: TensorType) -> tuple[int, ...]:
        """v's dense shape with size-1 axes for the dimensions of `out` it lacks (canonical order)."""
        return tuple((v.type.dimension(d.name).size if v.type.has(d.name) else 1) or 1  # type: ignore[union-attr]
                     for d in out.dimensions)

    def operand(self, v: Value, out: TensorType, dtype: np.dtype) -> Any:
        """A document-independent operand, reshaped and cast once, at build time."""
        if isinstance(v.const, float):
            return v.const
        return np.ascontiguousarray(np.asarray(v.const).reshape(self.layout(v, out)), dtype=dtype)

    def unary(self, x: Value, cell: Callable[[Array], Array], inplace_kernel: Callable[[Array], Array] | None,
              type_: TensorType | None = None) -> Value:
        out_type = type_ or x.type.map()
        dtype = np.dtype(out_type.cell_type.numpy_dtype) if out_type.cell_type is CellType.DOUBLE else np.float32
        to_storage = K.storage(out_type)

        def make(inplace: bool) -> Callable[[Array], Array]:
            if inplace and inplace_kernel is not None:
                return inplace_kernel
            if to_storage is None:
                return lambda a: np.asarray(cell(a.astype(dtype, copy=False)), dtype=dtype)
            return lambda a: to_storage(cell(a.astype(dtype, copy=False)))
        ok = inplace_kernel is not None and x.dtype == dtype and to_storage is None
        return self.emit(out_type, [x], make, inplace_ok=ok)

    def binary(self, a: Value, b: Value, cell: Callable[[Array, Array], Array], ufunc: Any = None,
               commutative: bool = False) -> Value:
        out = TensorType.join(a.type, b.type)
        dtype = np.dtype(np.float64 if out.cell_type is CellType.DOUBLE else np.float32)
        if not a.batched and commutative:
            a, b = b, a  # the document side first: it is the one that may be overwritten
        shape_a, shape_b = self.layout(a, out), self.layout(b, out)
        full_a = a.batched and shape_a == tuple(d.size for d in out.dimensions)
        to_storage = K.storage(out)
        ins: list[Value | None]
        if not b.batched:
            const_b = self.operand(b, out, dtype)
            ra = (-1, *shape_a)

            def make(inplace: bool) -> Callable[..., Array]:
                if inplace:
                    return lambda x: ufunc(x, const_b, out=x)
                if to_storage is not None:
                    return lambda x: to_storage(cell(x.reshape(ra).astype(dtype, copy=False), const_b))
                return lambda x: np.asarray(cell(x.reshape(ra).astype(dtype, copy=False), const_b), dtype=dtype)
            ins = [a]
        elif not a.batched:
            const_a = self.operand(a, out, dtype)
            rb = (-1, *shape_b)

            def make(inplace: bool) -> Callable[..., Array]:
                return lambda y: np.asarray(cell(const_a, y.reshape(rb).astype(dtype, copy=False)), dtype=dtype)
            ins, full_a = [b], False
        else:
            ra, rb = (-1, *shape_a), (-1, *shape_b)

            def make(inplace: bool) -> Callable[..., Array]:
                if inplace:
                    return lambda x, y: ufunc(x, y.reshape(rb), out=x)
                return lambda x, y: np.asarray(cell(x.reshape(ra).astype(dtype, copy=False),
                                                    y.reshape(rb).astype(dtype, copy=False)), dtype=dtype)
            ins = [a, b]
        ok = ufunc is not None and full_a and a.dtype == dtype and to_storage is None
        return self.emit(out, ins, make, inplace_ok=ok)

    def _Neg(self, node: ir.Neg, env: Mapping[str, Value]) -> Value:
        return self.unary(self.compile(node.arg, env), fn.negate, lambda a: np.negative(a, out=a))

    def _Not(self, node: ir.Not, env: Mapping[str, Value]) -> Value:
        return self.unary(self.compile(node.arg, env), fn.logical_not, None)

    def _BinaryOp(self, node: ir.BinaryOp, env: Mapping[str, Value]) -> Value:
        a, b = self.compile(node.left, env), self.compile(node.right, env)
        return self.binary(a, b, fn.OPERATORS[node.op], K.UFUNCS.get(node.op), node.op in ("+", "*"))

    def _Map(self, node: ir.Map, env: Mapping[str, Value]) -> Value:
        x = self.compile(node.arg, env)
        simple = K.simple_unary(node.fn)
        if simple is not None:
            return self.unary(x, *simple)
        return self.unary(x, self.cell_function(node.fn, env), None)

    def _Join(self, node: ir.Join, env: Mapping[str, Value]) -> Value:
        a, b = self.compile(node.left, env), self.compile(node.right, env)
        op = K.simple_binary(node.fn)
        if op is not None:
            return self.binary(a, b, fn.OPERATORS[op], K.UFUNCS.get(op), op in ("+", "*"))
        return self.binary(a, b, self.cell_function(node.fn, env))

    def _Merge(self, node: ir.Merge, env: Mapping[str, Value]) -> Value:
        a, b = self.compile(node.left, env), self.compile(node.right, env)
        if a.type.mapped_dimensions or b.type.mapped_dimensions:
            raise Unsupported("merge of mapped tensors")
        TensorType.merge(a.type, b.type)  # dense merge of equal dimensions is a join
        return self.binary(a, b, self.cell_function(node.fn, env))

    def cell_function(self, lam: ir.Lambda, env: Mapping[str, Value]) -> Callable[..., Array]:
        """A lambda body as a vectorised numpy function of its parameters (cellwise math only)."""
        params = lam.params

        def build(node: ir.Expr) -> Callable[[tuple[Array, ...]], Any]:
            if not any(isinstance(n, ir.Ref) and n.name in params for n in ir.walk(node)):
                v = self.compile(node, env)
                if v.batched or not isinstance(v.const, float):
                    raise Unsupported("a lambda using a per-document or tensor value")
                const = v.const
                return lambda xs: const
            if isinstance(node, ir.Ref):
                i = params.index(node.name)
                return lambda xs: xs[i]
            if isinstance(node, ir.BinaryOp):
                op, left, right = fn.OPERATORS[node.op], build(node.left), build(node.right)
                return lambda xs: op(left(xs), right(xs))
            if isinstance(node, (ir.Neg, ir.Not)):
                f1, arg = (fn.negate if isinstance(node, ir.Neg) else fn.logical_not), build(node.arg)
                return lambda xs: f1(np.asarray(arg(xs)))
            if isinstance(node, ir.Call) and fn.math_arity(node.name) == len(node.args):
                parts = [build(a) for a in node.args]
                if len(parts) == 1:
                    u, p0 = fn.UNARY[node.name], parts[0]
                    return lambda xs: u(np.asarray(p0(xs)))
                b2, p0, p1 = fn.BINARY[node.name], parts[0], parts[1]
                return lambda xs: b2(np.asarray(p0(xs)), np.asarray(p1(xs)))
            if isinstance(node, ir.If):
                c, t, f = build(node.condition), build(node.if_true), build(node.if_false)
                return lambda xs: np.where(K.truth(c(xs)), t(xs), f(xs))
            raise Unsupported(f"{type(node).__name__} inside a lambda")
        body = build(lam.body)
        return lambda *xs: body(xs)

    # --- reduce and contraction -----------------------------------------------------------------------

    def _Reduce(self, node: ir.Reduce, env: Mapping[str, Value]) -> Value:
        product = K.product_operands(node.arg) if node.aggregator == "sum" else None
        if product is not None:
            a, b = self.compile(product[0], env), self.compile(product[1], env)
            return self.contract(a, b, node.dims or TensorType.join(a.type, b.type).dimension_names)
        return self.reduce(self.compile(node.arg, env), node.aggregator, node.dims)

    def reduce(self, x: Value, aggregator: str, dims: Sequence[str]) -> Value:
        out = x.type.reduce(tuple(dims))
        names = set(dims) if dims else set(x.type.dimension_names)
        axes = tuple(1 + i for i, d in enumerate(x.type.dimensions) if d.name in names)
        dtype = np.dtype(np.float64 if out.cell_type is CellType.DOUBLE else np.float32)
        agg = K.AGGREGATE[aggregator]
        return self.emit(out, [x], lambda inplace: lambda a: agg(a.astype(dtype, copy=False), axes))

    def contract(self, a: Value, b: Value, dims: Sequence[str]) -> Value:
        """sum(a * b, dims) as one matrix product per document group (BLAS), never the full product."""
        only_a = [d for d in dims if a.type.has(d) and not b.type.has(d)]
        only_b = [d for d in dims if b.type.has(d) and not a.type.has(d)]
        if only_a:
            a = self.sum_out(a, only_a)
        if only_b:
            b = self.sum_out(b, only_b)
        contracted = [d for d in dims if a.type.has(d) and b.type.has(d)]
        if not contracted:
            return self.binary(a, b, np.multiply, np.multiply, True)
        if not a.batched:
            a, b = b, a
        out = TensorType.join(a.type, b.type).reduce(tuple(dims))
        dtype = np.dtype(np.float64 if out.cell_type is CellType.DOUBLE else np.float32)
        shared = [d.name for d in a.type.dimensions if b.type.has(d.name) and d.name not in contracted]
        free_a = [d.name for d in a.type.dimensions if not b.type.has(d.name)]
        free_b = [d.name for d in b.type.dimensions if not a.type.has(d.name)]
        size = {d.name: d.size or 1 for d in (*a.type.dimensions, *b.type.dimensions)}
        prod = lambda names: int(np.prod([size[n] for n in names], dtype=np.int64))  # noqa: E731
        order_a = [a.type.dimension_names.index(n) for n in (*shared, *free_a, *contracted)]
        order_b = [b.type.dimension_names.index(n) for n in (*shared, *contracted, *free_b)]
        mid_a = (*[size[n] for n in shared], prod(free_a), prod(contracted))
        mid_b = (*[size[n] for n in shared], prod(contracted), prod(free_b))
        produced = (*shared, *free_a, *free_b)
        unflat = (-1, *[size[n] for n in produced])
        perm = [0] + [1 + produced.index(d) for d in out.dimension_names]
        finish = (lambda r: r.reshape(unflat)) if perm == sorted(perm) else \
            (lambda r: np.transpose(r.reshape(unflat), perm))
        to_storage = K.storage(out)
        if to_storage is not None:
            inner_finish = finish
            finish = lambda r: to_storage(inner_finish(r))  # noqa: E731
        if not b.batched:
            w = np.ascontiguousarray(np.transpose(np.asarray(b.const), order_b).reshape(mid_b), dtype=dtype)
            ta = (0, *[1 + i for i in order_a])
            if not shared:  # one GEMM over all documents: (N*free_a, c) @ (c, free_b)
                flat = (-1, mid_a[-1])
                gemm = K.skinny_matmul if w.shape[1] <= K.SKINNY_COLUMNS else np.matmul

                in_order = ta == tuple(range(len(ta)))

                def kernel(x: Array) -> Array:
                    rows = (x if in_order else np.transpose(x, ta)).reshape(flat)
                    return finish(gemm(rows if rows.dtype == dtype else rows.astype(dtype), w))
            else:
                rows = (-1, *mid_a)

                def kernel(x: Array) -> Array:
                    return finish(np.matmul(np.transpose(x, ta).reshape(rows).astype(dtype, copy=False), w))
            return self.emit(out, [a], lambda inplace: kernel)
        ta = (0, *[1 + i for i in order_a])
        tb = (0, *[1 + i for i in order_b])
        rows_a, rows_b = (-1, *mid_a), (-1, *mid_b)

        def kernel2(x: Array, y: Array) -> Array:
            xa = np.transpose(x, ta).reshape(rows_a).astype(dtype, copy=False)
            yb = np.transpose(y, tb).reshape(rows_b).astype(dtype, copy=False)
            return finish(np.matmul(xa, yb))
        return self.emit(out, [a, b], lambda inplace: kernel2)

    def sum_out(self, v: Value, dims: Sequence[str]) -> Value:
        if not v.batched:
            t = v.tensor if v.tensor is not None else None
            if t is None:
                raise Unsupported("reduction of a constant without its value")
            from appkit.tensor import ops
            r = ops.reduce(t, "sum", tuple(dims))
            return Value(r.type, const=static_array(r), tensor=r)
        return self.reduce(v, "sum", dims)

    # --- structure ------------------------------------------------------------------------------------

    def _Rename(self, node: ir.Rename, env: Mapping[str, Value]) -> Value:
        x = self.compile(node.arg, env)
        out = x.type.rename(node.from_dims, node.to_dims)
        mapping = dict(zip(node.from_dims, node.to_dims))
        renamed = [mapping.get(n, n) for n in x.type.dimension_names]
        perm = (0, *[1 + renamed.index(n) for n in out.dimension_names])
        if perm == tuple(range(len(perm))):
            return self.emit(out, [x], lambda inplace: lambda a: a, fresh=False)
        return self.emit(out, [x], lambda inplace: lambda a: np.transpose(a, perm), fresh=False)

    def _Concat(self, node: ir.Concat, env: Mapping[str, Value]) -> Value:
        a, b = self.compile(node.left, env), self.compile(node.right, env)
        out = TensorType.concat(a.type, b.type, node.dim)
        dtype = np.dtype(np.float64 if out.cell_type is CellType.DOUBLE else np.float32)
        axis = 1 + out.dimension_names.index(node.dim)
        sizes = [d.size or 1 for d in out.dimensions]
        parts = []
        for v in (a, b):
            own = v.type.dimension(node.dim)
            shape = list(sizes)
            shape[axis - 1] = own.size if own is not None and own.size else 1
            layout = self.layout(v, out)
            parts.append((v, tuple(shape), layout, None if v.batched else self.operand(v, out, dtype)))
        batched = [v for v in (a, b) if v.batched]

        def kernel(*xs: Array) -> Array:
            n = xs[0].shape[0]
            it = iter(xs)
            blocks = []
            for v, shape, layout, const in parts:
                arr = next(it).reshape((-1, *layout)) if v.batched else np.asarray(const)[np.newaxis]
                blocks.append(np.broadcast_to(arr.astype(dtype, copy=False), (n, *shape)))
            return np.concatenate(blocks, axis=axis)
        return self.emit(out, batched, lambda inplace: kernel)

    def _Slice(self, node: ir.Slice, env: Mapping[str, Value]) -> Value:
        x = self.compile(node.arg, env)
        from appkit.expr.evaluate import _slice_dims
        names = _slice_dims(node, x.type)
        index: list[Any] = [slice(None)] * (1 + x.type.rank)
        in_range = True
        for name, (_, label) in zip(names, node.address):
            d = x.type.dimension(name)
            if d is None or d.mapped:
                raise Unsupported("slice of a mapped or missing dimension")
            if isinstance(label, ir.String):
                i = int(label.value) if label.value.lstrip("-").isdigit() else -1
            else:
                v = self.compile(label, env)
                if v.batched:
                    raise Unsupported("slice at a per-document label")
                i = int(v.const)
            in_range = in_range and 0 <= i < (d.size or 0)
            index[1 + x.type.dimension_names.index(name)] = i if in_range else 0
        out = x.type.peek(names)
        key = tuple(index)
        if not in_range:
            return self.emit(out, [x], lambda inplace: lambda a: np.zeros_like(a[key]))
        return self.emit(out, [x], lambda inplace: lambda a: a[key], fresh=False)

    def _CellCast(self, node: ir.CellCast, env: Mapping[str, Value]) -> Value:
        x = self.compile(node.arg, env)
        if x.type.is_scalar:
            return x
        out = x.type.cell_cast(node.cell_type)
        return self.emit(out, [x], lambda inplace: lambda a: to_cell_dtype(a, node.cell_type))

    def _If(self, node: ir.If, env: Mapping[str, Value]) -> Value:
        c = self.compile(node.condition, env)
        if not c.batched:
            return self.compile(node.if_true if K.truth(c.const) else node.if_false, env)
        a, b = self.compile(node.if_true, env), self.compile(node.if_false, env)
        if a.type.dimensions != b.type.dimensions:
            raise Unsupported("if with branches of different shapes")
        picked = self.binary(c, a, lambda m, x: np.where(K.truth(m), x, 0), None)
        other = self.binary(c, b, lambda m, y: np.where(K.truth(m), 0, y), None)
        return self.binary(picked, other, np.add, np.add, True)

    def _Generate(self, node: ir.Generate, env: Mapping[str, Value]) -> Value:
        """A generated tensor whose cells read document values (reshapes of imported models): the body
        runs once over index grids, and peeks become one gather per document batch."""
        out = TensorType.generate(node.type)
        sizes = tuple(d.size or 1 for d in out.dimensions)
        grids = dict(zip(out.dimension_names, np.indices(sizes, dtype=np.float64))) if sizes else {}
        ins: list[Value] = []
        lead = (-1,) + (1,) * len(sizes)

        def build(e: ir.Expr) -> Callable[[tuple[Array, ...]], Any]:
            if not any(isinstance(n, ir.Ref) and n.name in grids for n in ir.walk(e)):
                v = self.compile(e, env)
                if not v.type.is_scalar:
                    raise Unsupported("a tensor value inside a generated cell")
                if not v.batched:
                    return lambda xs, c=v.const: c
                ins.append(v)
                i = len(ins) - 1
                return lambda xs: xs[i].reshape(lead)
            if isinstance(e, ir.Ref):
                return lambda xs, g=grids[e.name]: g
            if isinstance(e, ir.BinaryOp):
                op, left, right = fn.OPERATORS[e.op], build(e.left), build(e.right)
                return lambda xs: op(np.asarray(left(xs)), np.asarray(right(xs)))
            if isinstance(e, ir.Call) and fn.math_arity(e.name) == len(e.args) == 1:
                u, arg = fn.UNARY[e.name], build(e.args[0])
                return lambda xs: u(np.asarray(arg(xs)))
            if isinstance(e, ir.Slice):
                return self.gather(e, env, build, ins)
            raise Unsupported(f"{type(e).__name__} in a generated cell reading document values")
        body = build(node.body)
        dtype = np.dtype(np.float64 if out.cell_type is CellType.DOUBLE else np.float32)
        store = K.storage(out)

        def kernel(*xs: Array) -> Array:
            cells = np.broadcast_to(body(xs), (xs[0].shape[0], *sizes))
            return store(cells) if store is not None else cells.astype(dtype)
        return self.emit(out, ins, lambda inplace: kernel)

    def gather(self, e: ir.Slice, env: Mapping[str, Value], build: Callable[[ir.Expr], Any],
               ins: list[Value]) -> Callable[[tuple[Array, ...]], Any]:
        """t{d1:(expr), ...} at index grids: fancy indexing, cells outside the tensor read as 0."""
        from appkit.expr.evaluate import _slice_dims
        if any(isinstance(n, ir.Ref) and n.name in env for n in ir.walk(e.arg)):
            raise Unsupported("a peek into a lambda parameter")
        t = self.compile(e.arg, env)
        names = _slice_dims(e, t.type)
        if t.type.mapped_dimensions or sorted(names) != list(t.type.dimension_names):
            raise Unsupported("a partial or mapped peek in a generated cell")
        labels = {name: build(label) for name, (_, label) in zip(names, e.address)}
        index, valid = [], np.array(True)
        for d in t.type.dimensions:
            try:
                raw = labels[d.name](())  # indexes from the grids alone (document-independent)
            except IndexError:
                raise Unsupported("a peek at per-document indexes") from None
            i = np.trunc(np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=-1.0)).astype(np.intp)
            ok = (i >= 0) & (i < (d.size or 1))
            valid = valid & ok
            index.append(np.where(ok, i, 0))
        mask = None if bool(np.all(valid)) else valid
        if not t.batched:
            cells = np.asarray(t.const)[tuple(index)]
            return lambda xs: cells if mask is None else np.where(mask, cells, 0)
        ins.append(t)
        k, where = len(ins) - 1, (slice(None), *index)
        return lambda xs: xs[k][where] if mask is None else np.where(mask, xs[k][where], 0)

    def _In(self, node: ir.In, env: Mapping[str, Value]) -> Value:
        items = [self.compile(i, env) for i in node.items]
        if any(i.batched or not isinstance(i.const, float) for i in items):
            raise Unsupported("'in' with per-document items")
        values = np.array([i.const for i in items])
        return self.unary(self.compile(node.arg, env),
                          lambda a: (a[..., None] == values).any(axis=-1).astype(a.dtype), None)

    def _Switch(self, node: ir.Switch, env: Mapping[str, Value]) -> Value:
        chain = node.default  # switch is a chain of ifs on equality
        for case, result in reversed(node.cases):
            chain = ir.If(ir.BinaryOp("==", node.subject, case, span=node.span), result, chain, span=node.span)
        return self.compile(chain, env)

    def _Call(self, node: ir.Call, env: Mapping[str, Value]) -> Value:
        arity = fn.math_arity(node.name)
        if arity is not None:
            first = self.compile(node.args[0], env)
            reduce = fn.reduce_if_dimension(node, first.type)
            if reduce is not None and not (isinstance(node.args[1], ir.Ref) and node.args[1].name in env):
                return self.reduce(first, node.name, reduce.dims)
            if arity == 1:
                inplace = K.INPLACE_UNARY.get(node.name)
                return self.unary(first, fn.UNARY[node.name], inplace)
            return self.binary(first, self.compile(node.args[1], env), fn.BINARY[node.name])
        lowered = fn.lower_call(node)
        if lowered is None:
            raise Unsupported(f"{node.name} on document values")
        return self.compile(lowered, env)

    # --- finish -------------------------------------------------------------------------------------

    def program(self, root: Value) -> list[tuple[Callable[..., Array], int, tuple[Any, ...]]]:
        root.uses += 1
        prog: list[tuple[Callable[..., Array], int, tuple[Any, ...]]] = []
        previous: Value | None = None
        links = 0  # calls nested in the last entry (kept short: each link is a Python frame)
        for step in self.steps:
            first = step.ins[0] if step.ins else None
            inplace = bool(step.inplace_ok and first is not None and first.fresh and first.uses == 1)
            kernel = step.make(inplace)
            ins = tuple(v.slot if v is not None else -1 for v in step.ins)
            if previous is not None and len(step.ins) == 1 and first is previous and first.uses == 1 and links < 8:
                # a chain (product, + bias, relu): one call per link instead of a register round trip
                inner, _, ins = prog.pop()
                kernel = chained(kernel, inner)
                links += 1
            else:
                links = 0
            prog.append((kernel, step.out, ins))
            previous = step.result
        return prog


__all__ = ["ProgramBuilder"]
