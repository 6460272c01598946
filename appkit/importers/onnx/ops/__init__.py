"""ONNX op converters, one module per family; importing this package registers them all in `ONNX`."""

from appkit.importers.onnx.ops import (  # noqa: F401  (registration)
    bitwise, control, conv, elementwise, matrix, nn, quant, recurrent, reduce, resize, shape,
)
