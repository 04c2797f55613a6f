"""Files copied into a conversion job and run there with the image's python (not imported by
the platform): they need only numpy, onnx and onnxruntime."""
