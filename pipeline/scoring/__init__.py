"""Scoring new text at any size: inputs, batches, processes, Dask, resumable outputs."""
