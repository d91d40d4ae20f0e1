"""Metrics, uncertainty, calibration, comparisons and leaderboards of runs."""
