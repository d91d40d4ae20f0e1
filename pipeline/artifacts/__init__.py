"""Saved models and run files: names, folders, loading, trust, skops."""
