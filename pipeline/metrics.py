"""Per-label metrics and the evaluation files: metrics.json, report.md, report.html, confusion_matrix.png."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
HTML_REPORT_FILE = "report.html"
CONFUSION_FILE = "confusion_matrix.png"


@dataclass
class Predictions:
    """The per-sentence predictions behind a metrics dict (out-of-fold in cross-validation)."""

    texts: list[str]
    groups: list[str]
    y_true: list[str]
    y_pred: list[str]
    scores: Any  # array (n_sentences, n_labels), columns in `labels` order
    labels: list[str]
    probabilistic: bool  # scores are predict_proba, so their calibration can be judged


def compute_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str],
    groups: Sequence[str],
) -> dict:
    """Per-label precision/recall/F1/support, averages, accuracy and the confusion matrix."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    labels = list(labels)
    report = classification_report(
        y_true, y_pred, labels=labels, output_dict=True, zero_division=0
    )
    return {
        "per_label": {
            label: {
                "precision": report[label]["precision"],
                "recall": report[label]["recall"],
                "f1": report[label]["f1-score"],
                "support": int(report[label]["support"]),
            }
            for label in labels
        },
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y_true, y_pred, labels=labels, average="micro", zero_division=0)),
        "weighted_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
        ),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
        "n_documents": len(set(groups)),
        "n_sentences": len(y_true),
    }


def write_reports(
    metrics: dict, out_dir: str | Path, title: str, *, predictions: Predictions | None = None, estimator=None
) -> None:
    """Write metrics.json, report.md, report.html and confusion_matrix.png into `out_dir`.

    With `predictions` the HTML report adds calibration and the worst mistakes; with the
    fitted `estimator`, the top features per label.
    """
    from pipeline.training_report import write_training_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (out / REPORT_FILE).write_text(render_markdown(metrics, title), encoding="utf-8")
    plot_confusion(metrics, out / CONFUSION_FILE)
    write_training_report(out / HTML_REPORT_FILE, metrics, title, predictions=predictions, estimator=estimator)


def render_markdown(metrics: dict, title: str) -> str:
    lines = [f"# {title}", ""]
    if metrics.get("protocol"):
        lines += [f"Protocol: {metrics['protocol']}", ""]
    lines += [
        f"{metrics['n_sentences']} sentences in {metrics['n_documents']} documents.",
        "",
        "| label | precision | recall | f1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in metrics["per_label"].items():
        lines.append(
            f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |"
        )
    lines += [
        "",
        "| average | value |",
        "|---|---:|",
        f"| macro F1 | {metrics['macro_f1']:.3f} |",
        f"| micro F1 | {metrics['micro_f1']:.3f} |",
        f"| weighted F1 | {metrics['weighted_f1']:.3f} |",
        f"| accuracy | {metrics['accuracy']:.3f} |",
    ]
    if metrics.get("folds"):
        lines += ["", "| fold | documents | sentences | macro F1 |", "|---:|---:|---:|---:|"]
        for i, fold in enumerate(metrics["folds"]):
            lines.append(f"| {i} | {fold['n_documents']} | {fold['n_sentences']} | {fold['macro_f1']:.3f} |")
    cm = metrics["confusion_matrix"]
    lines += ["", "Confusion matrix (rows: true label, columns: predicted):", ""]
    lines.append("| true \\ predicted | " + " | ".join(cm["labels"]) + " |")
    lines.append("|---|" + "---:|" * len(cm["labels"]))
    for label, row in zip(cm["labels"], cm["matrix"]):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def plot_confusion(metrics: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = metrics["confusion_matrix"]
    display = ConfusionMatrixDisplay(np.array(cm["matrix"]), display_labels=cm["labels"])
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    display.plot(ax=ax, cmap="Blues", colorbar=False, xticks_rotation=30)
    ax.set_title(f"macro F1 {metrics['macro_f1']:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def print_table(metrics: dict, title: str) -> None:
    """The per-label table on the terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("label", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label, row in metrics["per_label"].items():
        table.add_row(label, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    table.add_section()
    table.add_row("macro F1", "", "", f"{metrics['macro_f1']:.3f}", str(metrics["n_sentences"]))
    table.add_row("accuracy", "", "", f"{metrics['accuracy']:.3f}", "")
    Console(stderr=False).print(table)
