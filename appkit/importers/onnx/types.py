"""ONNX element types and shapes in Vespa's terms (cell types, d0..dn dimensions, symbolic sizes).

The native converter maps every ONNX type to float cells except double (as Vespa's
onnx/TypeConverter did); ONNX Runtime bindings keep int8 and bfloat16 (as OnnxModelInfo does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper

from appkit.tensor.type import CellType, Dimension, TensorType

# ONNX element types appkit can represent (everything numeric, and bool)
_SUPPORTED = {
    TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.INT8,
    TensorProto.INT16, TensorProto.INT32, TensorProto.INT64, TensorProto.UINT8, TensorProto.UINT16,
    TensorProto.UINT32, TensorProto.UINT64, TensorProto.BOOL,
}


class UnsupportedType(ValueError):
    pass


def type_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type)
    except ValueError:
        return str(elem_type)


def numpy_dtype(elem_type: int) -> np.dtype:
    if elem_type not in _SUPPORTED:
        raise UnsupportedType(
            f"A ONNX tensor with data type {type_name(elem_type)} cannot be converted to a Vespa tensor type")
    if elem_type == TensorProto.BFLOAT16:
        return np.dtype(np.float32)
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


def cell_type(elem_type: int) -> CellType:
    """The converted expression's cell type: double stays double, everything else is float."""
    numpy_dtype(elem_type)  # rejects strings and the like
    return CellType.DOUBLE if elem_type == TensorProto.DOUBLE else CellType.FLOAT


def runtime_cell_type(elem_type: int) -> CellType:
    """The cell type ONNX Runtime binds (modern onnx-model): int8 and bfloat16 are kept."""
    numpy_dtype(elem_type)
    return {TensorProto.DOUBLE: CellType.DOUBLE, TensorProto.INT8: CellType.INT8,
            TensorProto.BFLOAT16: CellType.BFLOAT16}.get(elem_type, CellType.FLOAT)


Size = int | str | None  # a fixed size, a symbolic name (dim_param), or unknown / -1


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: its name, element type and sizes as the model declares them."""

    name: str
    elem_type: int
    sizes: tuple[Size, ...] | None  # None when the rank is unknown

    @property
    def type_name(self) -> str:
        return type_name(self.elem_type).lower()

    def converted_shape(self) -> tuple[int | None, ...]:
        """Sizes for the converted expressions (reference §2.7): -1 or unknown -> unbound, a symbolic
        dim_param -> 1 (Vespa ranks with batch size 1)."""
        out: list[int | None] = []
        for s in self.sizes or ():
            if isinstance(s, str):
                out.append(1)
            elif s is None or s < 0:
                out.append(None)
            else:
                out.append(1 if s == 0 else s)
        return tuple(out)

    def vespa_type(self, runtime: bool = False) -> TensorType:
        cell = runtime_cell_type(self.elem_type) if runtime else cell_type(self.elem_type)
        shape = self.converted_shape() if not runtime else tuple(
            s if isinstance(s, int) and s > 0 else None for s in (self.sizes or ()))
        return TensorType([Dimension(f"d{i}", s) for i, s in enumerate(shape)], cell)

    def describe(self) -> str:
        """`float[batch,784]`: the declared type, symbolic sizes by name."""
        sizes = "?" if self.sizes is None else ",".join("?" if s is None else str(s) for s in self.sizes)
        return f"{self.type_name}[{sizes}]"


def tensor_info(value_info) -> TensorInfo:  # onnx.ValueInfoProto
    t = value_info.type.tensor_type
    sizes: tuple[Size, ...] | None = None
    if t.HasField("shape"):
        dims: list[Size] = []
        for d in t.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param:
                dims.append(d.dim_param)
            else:
                dims.append(None)
        sizes = tuple(dims)
    return TensorInfo(value_info.name, int(t.elem_type), sizes)
