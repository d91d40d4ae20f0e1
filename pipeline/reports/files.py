"""A run folder's evaluation files: metrics.json, report.md, report.html and the plots.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.artifacts.names import (
    CONFUSION_FILE,
    HTML_REPORT_FILE,
    METRICS_FILE,
    RELIABILITY_FILE,
    REPORT_FILE,
)
from pipeline.evaluation.metrics import Predictions
from pipeline.reports.markdown import render_markdown
from pipeline.reports.plots import plot_confusion


def write_reports(
    metrics: dict, out_dir: str | Path, title: str, *, predictions: Predictions | None = None, estimator=None
) -> None:
    """Write metrics.json, report.md, report.html, confusion_matrix.png (and reliability.png) into `out_dir`.

    With `predictions` the HTML report adds calibration and the worst mistakes; with the
    fitted `estimator`, the top features per label. Each file is replaced whole
    (pipeline.common.atomic): a killed run leaves old or new files, never half-written ones.
    """
    from pipeline.common import atomic
    from pipeline.reports.training_page import render_training_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    atomic.write_text(out / REPORT_FILE, render_markdown(metrics, title))
    with atomic.replacing(out / CONFUSION_FILE, "wb") as handle:
        plot_confusion(metrics, handle)
    atomic.write_text(out / HTML_REPORT_FILE, render_training_report(metrics, title, predictions, estimator))
    if metrics.get("calibration"):
        from pipeline.reports.plots import plot_reliability

        cal = metrics["calibration"]
        with atomic.replacing(out / RELIABILITY_FILE, "wb") as handle:
            plot_reliability(cal["bins"], handle, f"Brier {cal['brier']:.3f}, ECE {cal['ece']:.3f}")
