"""The HTTP service around a loaded model."""
