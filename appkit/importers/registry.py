"""One converter per op, in a registry keyed by op type (and, for ONNX, the opset it appeared in).

    ONNX = OpRegistry("onnx")

    @ONNX.register("Relu", "Sigmoid", "Tanh", since_version=6)
    def unary(ctx, node, inputs, **attrs) -> Operand: ...

A family registers with one call. `lookup(op, opset)` picks the newest converter whose
`since_version` is at most the model's opset. Converters are pure: they return Operands and never
mutate the graph. `appkit ops` and docs/operators.md are generated from `op_types()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Converter = Callable[..., Any]


@dataclass(frozen=True)
class Registration:
    op_type: str
    since_version: int
    converter: Converter
    note: str = ""


class OpRegistry:
    def __init__(self, framework: str):
        self.framework = framework
        self._by_op: dict[str, list[Registration]] = {}

    def register(self, *op_types: str, since_version: int = 1, note: str = "") -> Callable[[Converter], Converter]:
        def decorate(fn: Converter) -> Converter:
            for op in op_types:
                regs = self._by_op.setdefault(op, [])
                if any(r.since_version == since_version for r in regs):
                    raise ValueError(f"{self.framework} op {op} (since {since_version}) registered twice")
                regs.append(Registration(op, since_version, fn, note))
                regs.sort(key=lambda r: r.since_version)
            return fn

        return decorate

    def lookup(self, op_type: str, opset: int | None = None) -> Registration | None:
        regs = self._by_op.get(op_type)
        if not regs:
            return None
        if opset is None:
            return regs[-1]
        usable = [r for r in regs if r.since_version <= opset]
        return usable[-1] if usable else None

    def op_types(self) -> list[str]:
        return sorted(self._by_op)

    def registrations(self, op_type: str) -> list[Registration]:
        return list(self._by_op.get(op_type, ()))

    def __contains__(self, op_type: str) -> bool:
        return op_type in self._by_op
