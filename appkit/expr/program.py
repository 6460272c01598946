"""The program of a compiled expression: a short list of numpy steps over (N, ...) arrays, one
register per value, and what runs it (`run_program`). program_builder.py makes programs from IR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from appkit.tensor.type import CellType, TensorType
from appkit.tensor.value import Tensor

Array = np.ndarray


class Unsupported(Exception):
    """A construct the vectorised compiler does not handle on the document side."""


@dataclass(eq=False)
class Value:
    """A value in the program: its (bound) type, and either a slot (per document) or a constant."""

    type: TensorType
    slot: int = -1                 # register of a per-document value, shape (N, *dense sizes)
    const: Any = None              # document-independent value: float (scalar) or array (dense sizes)
    tensor: Tensor | None = None   # the same, as a Tensor (for the reference evaluator)
    fresh: bool = False            # produced into a new array the program owns (may be overwritten)
    uses: int = 0

    @property
    def batched(self) -> bool:
        return self.slot >= 0

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64 if self.type.cell_type is CellType.DOUBLE else np.float32)


@dataclass(eq=False)
class Step:
    make: Callable[[bool], Callable[..., Array]]  # given "may write into input 0", the kernel
    out: int
    ins: tuple[Value | None, ...]
    inplace_ok: bool = False       # the kernel can write into its first input
    result: Value | None = None


def run_program(program: "Program", arrays: Sequence[Array]) -> Array:
    regs: list[Any] = [None] * program.n_slots
    for i, (a, dtype) in enumerate(zip(arrays, program.input_dtypes)):
        regs[i] = a if a.dtype == dtype else a.astype(dtype)
    with np.errstate(all="ignore"):  # NaN and inf are values here, as in Vespa, not warnings
        for kernel, out, ins in program.steps:
            regs[out] = kernel(*[regs[i] for i in ins])
    return regs[program.root.slot]


def chained(outer: Callable[..., Array], inner: Callable[..., Array]) -> Callable[..., Array]:
    return lambda *xs: outer(inner(*xs))


def static_array(t: Tensor) -> Any:
    if t.type.mapped_dimensions:
        raise Unsupported(f"document-independent value of type {t.type} has mapped dimensions")
    if t.type.is_scalar:
        return float(t.cells_array[0])
    return t.cells_array[0]


@dataclass
class Program:
    steps: list[tuple[Callable[..., Array], int, tuple[Any, ...]]]
    n_slots: int
    root: Value
    keep: tuple[Any, ...]  # the constant objects this program was built from (their ids key the cache)
    input_dtypes: tuple[np.dtype, ...] = ()


__all__ = ["Program", "Step", "Unsupported", "Value", "chained", "run_program", "static_array"]
