"""The confusion matrix and reliability diagram as PNG files.
"""

from __future__ import annotations

from pathlib import Path


def plot_confusion(metrics: dict, path) -> None:
    """Draw the confusion matrix as PNG into `path` (a file name or a binary file)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    from pipeline.evaluation.metrics import real_news_figures

    cm = metrics["confusion_matrix"]
    display = ConfusionMatrixDisplay(np.array(cm["matrix"]), display_labels=cm["labels"])
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    display.plot(ax=ax, cmap="Blues", colorbar=False, xticks_rotation=30)
    # Beside real-news figures, say this matrix is the run's own evaluation, as report.html's cards do.
    own = "" if real_news_figures(metrics) is None else ", cross-validation" if metrics.get("folds") else ", test file"
    ax.set_title(f"macro F1 {metrics['macro_f1']:.3f}{own}")
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)


def plot_reliability(bins: list[dict], path: str | Path, title: str = "") -> None:
    """Reliability diagram of the top label from `reliability_bins`: accuracy against mean top score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.calibration import CalibrationDisplay

    display = CalibrationDisplay(
        prob_true=[b["accuracy"] for b in bins], prob_pred=[b["confidence"] for b in bins], y_prob=None
    )
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    display.plot(ax=ax, name="top label (numbers: sentences per bin)", marker="o")
    ax.set(xlabel="mean top score in bin", ylabel="accuracy in bin", xlim=(0, 1), ylim=(0, 1), title=title)
    for b in bins:
        ax.annotate(str(b["count"]), (b["confidence"], b["accuracy"]), textcoords="offset points",
                    xytext=(4, -10), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
