"""Packaged ONNX super-resolution models (see docs/model.md)."""
