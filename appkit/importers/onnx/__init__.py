"""The ONNX importer: ONNX graphs converted to Vespa ranking expressions, and ONNX model facts
(inputs, outputs, symbolic sizes) for the modern onnx-model form."""
