"""Per-label metrics and the evaluation files: metrics.json, report.md, report.html,
confusion_matrix.png and, when scores were kept, reliability.png."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
HTML_REPORT_FILE = "report.html"
CONFUSION_FILE = "confusion_matrix.png"
RELIABILITY_FILE = "reliability.png"
MISTAKES_SHOWN = 10
FEW_DOCUMENTS = 20  # below this, say that bootstrap intervals over documents are rough


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
    # scikit-learn sorts and compares labels several times per call: on 100k strings that
    # took 0.3 s per call, on their integer codes a few ms, with the same counts.
    codes = {label: code for code, label in enumerate(labels)}
    y_true, y_pred = label_codes(y_true, codes), label_codes(y_pred, codes)
    columns = list(range(len(labels)))
    report = classification_report(
        y_true, y_pred, labels=columns, target_names=labels, output_dict=True, zero_division=0
    )
    f1 = {
        average: float(f1_score(y_true, y_pred, labels=columns, average=average, zero_division=0))
        for average in ("macro", "micro", "weighted")
    }
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
        "macro_f1": f1["macro"],
        "micro_f1": f1["micro"],
        "weighted_f1": f1["weighted"],
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(y_true, y_pred, labels=columns).tolist(),
        },
        "n_documents": len(set(groups)),
        "n_sentences": len(y_true),
    }


def label_codes(values: Sequence, codes: dict):
    """Each value's code in `codes`; a value not in it is added with the next code."""
    import numpy as np

    return np.array([codes.setdefault(value, len(codes)) for value in values], dtype=np.int64)


def describe_predictions(predictions, *, seed: int = 0, folds: list[dict] | None = None,
                         baselines: dict | None = None, score_method: str | None = None) -> dict:
    """Everything a report says about scored `Predictions`.

    Pooled metrics as `compute_metrics`, plus: per-fold figures and their mean and std (when
    `folds` are given), bootstrap intervals over documents, baselines, calibration of the scores
    and the most confident mistakes. Deterministic given `seed`; holds no timings.
    """
    from pipeline.calibration import calibration_summary
    from pipeline.uncertainty import document_bootstrap

    y_true, y_pred, labels, groups = predictions.y_true, predictions.y_pred, predictions.labels, predictions.groups
    metrics = compute_metrics(y_true, y_pred, labels, groups)
    if folds:
        metrics.update(folds=folds, **fold_summary(folds, labels))
    metrics["bootstrap"] = document_bootstrap(y_true, y_pred, groups, labels, seed=seed)
    if baselines:
        metrics["baselines"] = baselines
    metrics["calibration"] = dict(score_method=score_method, **calibration_summary(y_true, predictions.scores, labels))
    metrics["confident_mistakes"] = confident_mistakes(predictions)
    return metrics


def fold_metrics(y_true, y_pred, labels, groups) -> dict:
    """What metrics.json keeps of one fold."""
    fold = compute_metrics(y_true, y_pred, labels, groups)
    return {
        **{k: fold[k] for k in ("n_documents", "n_sentences", "macro_f1", "accuracy")},
        "per_label_f1": {label: fold["per_label"][label]["f1"] for label in labels},
    }


def fold_summary(folds: list[dict], labels) -> dict:
    """Mean and standard deviation over folds of macro-F1 and of each label's F1."""
    import numpy as np

    macro = np.array([fold["macro_f1"] for fold in folds])
    per_label = {}
    for label in labels:
        values = np.array([fold["per_label_f1"][label] for fold in folds])
        per_label[label] = {"mean": float(values.mean()), "std": float(values.std())}
    return {
        "macro_f1_fold_mean": float(macro.mean()),
        "macro_f1_fold_std": float(macro.std()),
        "per_label_fold_f1": per_label,
    }


def baseline_summary(predictions, *, seed: int = 0, folds: list[dict] | None = None) -> dict:
    """The few figures a report shows for a baseline."""
    from pipeline.uncertainty import document_bootstrap

    y_true, y_pred, labels, groups = predictions.y_true, predictions.y_pred, predictions.labels, predictions.groups
    pooled = compute_metrics(y_true, y_pred, labels, groups)
    summary = {
        "macro_f1": pooled["macro_f1"],
        "macro_f1_interval": document_bootstrap(y_true, y_pred, groups, labels, seed=seed)["macro_f1"],
        "accuracy": pooled["accuracy"],
        "per_label_f1": {label: pooled["per_label"][label]["f1"] for label in labels},
    }
    if folds:
        summary.update({k: v for k, v in fold_summary(folds, labels).items() if k.startswith("macro")})
    return summary


def confident_mistakes(predictions, n: int = MISTAKES_SHOWN) -> list[dict]:
    """The wrongly labeled sentences whose predicted label scored highest, most confident first."""
    y_pred = predictions.y_pred
    column = {label: k for k, label in enumerate(predictions.labels)}
    confidence = [float(row[column[p]]) for row, p in zip(predictions.scores, y_pred)]
    wrong = [i for i, (t, p) in enumerate(zip(predictions.y_true, y_pred)) if t != p]
    wrong.sort(key=lambda i: (-confidence[i], i))
    return [
        {
            "doc_id": predictions.groups[i],
            "text": predictions.texts[i],
            "label": predictions.y_true[i],
            "predicted": y_pred[i],
            "score": float(confidence[i]),
        }
        for i in wrong[:n]
    ]


def write_reports(
    metrics: dict, out_dir: str | Path, title: str, *, predictions: Predictions | None = None, estimator=None
) -> None:
    """Write metrics.json, report.md, report.html, confusion_matrix.png (and reliability.png) into `out_dir`.

    With `predictions` the HTML report adds calibration and the worst mistakes; with the
    fitted `estimator`, the top features per label. Each file is replaced whole
    (pipeline.atomic): a killed run leaves old or new files, never half-written ones.
    """
    from pipeline import atomic
    from pipeline.training_report import render_training_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic.write_text(out / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")
    atomic.write_text(out / REPORT_FILE, render_markdown(metrics, title))
    with atomic.replacing(out / CONFUSION_FILE, "wb") as handle:
        plot_confusion(metrics, handle)
    atomic.write_text(out / HTML_REPORT_FILE, render_training_report(metrics, title, predictions, estimator))
    if metrics.get("calibration"):
        from pipeline.calibration import plot_reliability

        cal = metrics["calibration"]
        with atomic.replacing(out / RELIABILITY_FILE, "wb") as handle:
            plot_reliability(cal["bins"], handle, f"Brier {cal['brier']:.3f}, ECE {cal['ece']:.3f}")


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
        per_label = list(metrics["folds"][0].get("per_label_f1", {}))
        lines += [
            "",
            "| fold | documents | sentences | macro F1 |" + "".join(f" {label} F1 |" for label in per_label),
            "|---:|---:|---:|---:|" + "---:|" * len(per_label),
        ]
        for i, fold in enumerate(metrics["folds"]):
            cells = "".join(f" {fold['per_label_f1'][label]:.3f} |" for label in per_label)
            lines.append(f"| {i} | {fold['n_documents']} | {fold['n_sentences']} | {fold['macro_f1']:.3f} |{cells}")
    cm = metrics["confusion_matrix"]
    lines += ["", "Confusion matrix (rows: true label, columns: predicted):", ""]
    lines.append("| true \\ predicted | " + " | ".join(cm["labels"]) + " |")
    lines.append("|---|" + "---:|" * len(cm["labels"]))
    for label, row in zip(cm["labels"], cm["matrix"]):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    lines += _render_uncertainty(metrics) + _render_baselines(metrics)
    lines += _render_calibration(metrics) + _render_mistakes(metrics)
    return "\n".join(lines) + "\n"


def _interval(pair) -> str:
    return f"[{pair[0]:.3f}, {pair[1]:.3f}]"


def _render_uncertainty(metrics: dict) -> list[str]:
    boot = metrics.get("bootstrap")
    if not boot:
        return []
    folds = metrics.get("per_label_fold_f1")
    lines = [
        "", "## Uncertainty", "",
        f"{boot['confidence']:.0%} intervals from {boot['n_resamples']} bootstrap resamples of the "
        f"{boot['n_documents']} documents (whole documents drawn with replacement)."
        + (" With this few documents the intervals are rough." if boot["n_documents"] < FEW_DOCUMENTS else ""),
        "",
        "| | F1 | interval |" + (" folds mean ± std |" if folds else ""),
        "|---|---:|---:|" + ("---:|" if folds else ""),
    ]
    fold_macro = (
        f" {metrics['macro_f1_fold_mean']:.3f} ± {metrics['macro_f1_fold_std']:.3f} |" if folds else ""
    )
    lines.append(f"| macro F1 | {metrics['macro_f1']:.3f} | {_interval(boot['macro_f1'])} |{fold_macro}")
    for label, pair in boot["per_label_f1"].items():
        fold = f" {folds[label]['mean']:.3f} ± {folds[label]['std']:.3f} |" if folds else ""
        lines.append(f"| {label} | {metrics['per_label'][label]['f1']:.3f} | {_interval(pair)} |{fold}")
    return lines


def _render_baselines(metrics: dict) -> list[str]:
    baselines = metrics.get("baselines")
    if not baselines:
        return []
    folds = "macro_f1_fold_mean" in metrics
    lines = [
        "", "## Baselines", "",
        "Classifiers that ignore the text (scikit-learn DummyClassifier), evaluated the same way.", "",
        "| | macro F1 | interval |" + (" folds mean ± std |" if folds else "") + " accuracy |",
        "|---|---:|---:|" + ("---:|" if folds else "") + "---:|",
    ]
    rows = [("this model", {**metrics, "macro_f1_interval": metrics["bootstrap"]["macro_f1"]})]
    for name, row in [*rows, *baselines.items()]:
        fold = f" {row['macro_f1_fold_mean']:.3f} ± {row['macro_f1_fold_std']:.3f} |" if folds else ""
        lines.append(
            f"| {name} | {row['macro_f1']:.3f} | {_interval(row['macro_f1_interval'])} |{fold} {row['accuracy']:.3f} |"
        )
    return lines


def _render_calibration(metrics: dict) -> list[str]:
    cal = metrics.get("calibration")
    if not cal:
        return []
    method = f" Scores come from {cal['score_method']}." if cal.get("score_method") else ""
    lines = [
        "", "## Calibration", "",
        f"Brier score {cal['brier']:.3f} (0 best, 2 worst); expected calibration error "
        f"{cal['ece']:.3f} over {cal['n_bins']} equal-width bins of the top score.{method}", "",
        f"![reliability diagram]({RELIABILITY_FILE})", "",
        "| top score | sentences | mean top score | accuracy |",
        "|---|---:|---:|---:|",
    ]
    for b in cal["bins"]:
        lines.append(f"| ({b['low']:.1f}, {b['high']:.1f}] | {b['count']} | {b['confidence']:.3f} | {b['accuracy']:.3f} |")
    return lines


def _render_mistakes(metrics: dict) -> list[str]:
    mistakes = metrics.get("confident_mistakes")
    if mistakes is None:
        return []
    lines = ["", "## Most confident mistakes", ""]
    if not mistakes:
        return lines + ["None: every sentence was labeled correctly."]
    lines += ["| score | true | predicted | document | sentence |", "|---:|---|---|---|---|"]
    for m in mistakes:
        text = m["text"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {m['score']:.3f} | {m['label']} | {m['predicted']} | {m['doc_id']} | {text} |")
    return lines


def plot_confusion(metrics: dict, path) -> None:
    """Draw the confusion matrix as PNG into `path` (a file name or a binary file)."""
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
    fig.savefig(path, dpi=100, format="png")
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
