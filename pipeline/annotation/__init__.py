"""Labeling tools: templates, validation, agreement, suggestions, audit."""
