"""Model converters (source framework -> ONNX) for the model registry (hook hpcai_model_converters)."""
