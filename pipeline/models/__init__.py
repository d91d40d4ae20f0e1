"""Classifiers beyond scikit-learn's own: batched SGD, calibration, scores from any model."""
