"""ONNX op converters, one module per family; importing this package registers them all in `ONNX`."""

from appkit.importers.onnx.ops import control, conv, elementwise, matrix, nn, quant, reduce, resize, shape  # noqa: F401
