"""Vespa tensors: the one type (`TensorType`) and value used by every part of appkit."""

from appkit.tensor.type import CellType, Dimension, TensorType, TensorTypeError

__all__ = ["CellType", "Dimension", "TensorType", "TensorTypeError"]
