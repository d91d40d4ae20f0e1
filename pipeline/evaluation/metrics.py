"""Per-label metrics of predictions, by fold and pooled, with baselines and confident mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from pipeline.artifacts.names import REAL_NEWS_DEV

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
    # {label: scores} of labels outside `labels` that the model predicts (a 4-label model
    # evaluated on data with three): metrics leave them out, mistakes show their scores.
    other_scores: dict | None = None

    def score(self, i: int, label: str) -> float:
        """Sentence i's score for `label`, a predicted label outside `labels` included."""
        if label in self.labels:
            return float(self.scores[i][self.labels.index(label)])
        return float(self.other_scores[label][i])


def real_news_figures(metrics: dict) -> dict | None:
    """A run's real-news dev figures (metrics.json's real_news_dev), or None when it was not scored there."""
    dev = metrics.get(REAL_NEWS_DEV)
    return dev if isinstance(dev, dict) and "macro_f1" in dev else None


def compute_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    labels: Sequence[str],
    groups: Sequence[str],
) -> dict:
    """Per-label precision/recall/F1/support, averages, accuracy and the confusion matrix."""
    from sklearn.metrics import (
        accuracy_score,
        classification_report,
        confusion_matrix,
        f1_score,
    )

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
    from pipeline.evaluation.calibration import calibration_summary
    from pipeline.evaluation.uncertainty import document_bootstrap

    y_true, y_pred, labels, groups = predictions.y_true, predictions.y_pred, predictions.labels, predictions.groups
    metrics = compute_metrics(y_true, y_pred, labels, groups)
    if folds:
        metrics.update(folds=folds, **fold_summary(folds, labels))
    metrics["bootstrap"] = document_bootstrap(y_true, y_pred, groups, labels, seed=seed)
    if baselines:
        metrics["baselines"] = baselines
    scores, scored = predictions.scores, labels
    if predictions.other_scores:  # every label the model scores: its probabilities sum to one over them all
        import numpy as np

        scored = [*labels, *predictions.other_scores]
        scores = np.column_stack([scores, *predictions.other_scores.values()])
    metrics["calibration"] = dict(score_method=score_method, **calibration_summary(y_true, scores, scored))
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
    from pipeline.evaluation.uncertainty import document_bootstrap

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
    confidence = [predictions.score(i, p) for i, p in enumerate(y_pred)]
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
