"""Metrics as readable text: report.md and the table printed after a run.
"""

from __future__ import annotations

from pipeline.artifacts.names import RELIABILITY_FILE
from pipeline.common.errors import counted
from pipeline.evaluation.metrics import FEW_DOCUMENTS


def render_markdown(metrics: dict, title: str) -> str:
    lines = [f"# {title}", ""]
    lines += _render_real_news(metrics.get("real_news_dev"))
    if metrics.get("protocol"):
        lines += [f"Protocol: {metrics['protocol']}", ""]
    lines += [
        f"{counted(metrics['n_sentences'], 'sentence')} in {counted(metrics['n_documents'], 'document')}.",
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


def _render_real_news(real: dict | None) -> list[str]:
    """The yardstick first: figures on real news articles the model never saw (data.dev_path)."""
    if not real:
        return []
    if "macro_f1" not in real:
        return ["## Real news (development set)", "", f"Not scored: {real['data']}: {real.get('skipped')}.", ""]
    boot = real["bootstrap"]
    lines = [
        "## Real news (development set)", "",
        f"Real text: {real['n_sentences']} sentences of {real['n_documents']} news articles labeled by the "
        f"annotation guide ({real['data']}), never trained on. {boot['confidence']:.0%} intervals from "
        f"{boot['n_resamples']} bootstrap resamples of whole articles.", "",
        "| | F1 | interval | support |", "|---|---:|---:|---:|",
        f"| macro F1 | {real['macro_f1']:.3f} | {interval_text(boot['macro_f1'])} | {real['n_sentences']} |",
    ]
    for label, pair in boot["per_label_f1"].items():
        row = real["per_label"][label]
        lines.append(f"| {label} | {row['f1']:.3f} | {interval_text(pair)} | {row['support']} |")
    return lines + ["", "The rest of this report is on the training data's own evaluation protocol.", ""]


def interval_text(pair) -> str:
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
    lines.append(f"| macro F1 | {metrics['macro_f1']:.3f} | {interval_text(boot['macro_f1'])} |{fold_macro}")
    for label, pair in boot["per_label_f1"].items():
        fold = f" {folds[label]['mean']:.3f} ± {folds[label]['std']:.3f} |" if folds else ""
        lines.append(f"| {label} | {metrics['per_label'][label]['f1']:.3f} | {interval_text(pair)} |{fold}")
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
            f"| {name} | {row['macro_f1']:.3f} | {interval_text(row['macro_f1_interval'])} |{fold} "
            f"{row['accuracy']:.3f} |"
        )
    return lines


def _render_calibration(metrics: dict) -> list[str]:
    cal = metrics.get("calibration")
    if not cal:
        return []
    method = f" Scores come from {cal['score_method']}." if cal.get("score_method") else ""
    lines = [
        "", "## Calibration", "",
        f"Brier score {cal['brier']:.3f} (0 best, 2 worst){_per_label_brier(cal)}; expected calibration error "
        f"{cal['ece']:.3f} over {cal['n_bins']} equal-width bins of the top score.{method}", "",
        f"![reliability diagram]({RELIABILITY_FILE})", "",
        "| top score | sentences | mean top score | accuracy |",
        "|---|---:|---:|---:|",
    ]
    for b in cal["bins"]:
        lines.append(f"| ({b['low']:.1f}, {b['high']:.1f}] | {b['count']} | {b['confidence']:.3f} | {b['accuracy']:.3f} |")
    return lines


def _per_label_brier(cal: dict) -> str:
    shares = cal.get("brier_per_label")
    if not shares:
        return ""
    return ", the sum of one-vs-rest scores per label: " + ", ".join(f"{k} {v:.3f}" for k, v in shares.items())


def _render_mistakes(metrics: dict) -> list[str]:
    mistakes = metrics.get("confident_mistakes")
    if mistakes is None:
        return []
    lines = ["", "## Most confident mistakes", ""]
    if not mistakes:
        return lines + ["None: every sentence was labeled correctly."]
    lines += ["| score | true | predicted | document | sentence |", "|---:|---|---|---|---|"]
    for m in mistakes:
        cells = [f"{m['score']:.3f}", m["label"], m["predicted"], _cell(m["doc_id"]), _cell(m["text"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _cell(value) -> str:
    """A table cell on one line, shown as text: a | or a line break would split the row, and viewers that allow
    HTML would render a sentence's <script> or <i>."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


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
