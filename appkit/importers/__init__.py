"""Model importers: TensorFlow SavedModels and ONNX graphs lowered to ranking expressions plus constants."""
