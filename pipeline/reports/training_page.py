"""report.html of a training or evaluation run: one self-contained page beside report.md.

The real-news dev set's figures first (when the run scored it), then per-label metrics, the
confusion matrix, a calibration diagram (when scores are probabilities), the top features per
label (linear models) and the worst mistakes: the wrong predictions made with the most
confidence (out-of-fold in cross-validation).
"""

from __future__ import annotations

import html

from pipeline.artifacts.names import REAL_NEWS_DEV
from pipeline.evaluation.metrics import real_news_figures
from pipeline.reports.articles_page import label_meta, page_head
from pipeline.reports.markdown import interval_text

WORST_MISTAKES = 25
TOP_FEATURES = 12


def render_training_report(metrics: dict, title: str, predictions=None, estimator=None) -> str:
    labels = list(metrics["per_label"])
    meta = label_meta(labels)
    sections = [
        ("metrics", "Per-label metrics", _metrics_section(metrics, meta)),
        ("confusion", "Confusion matrix", _confusion_section(metrics, meta)),
        ("calibration", "Calibration", _calibration_section(metrics.get("calibration"), predictions, meta)),
        ("features", "Top features per label", _features_section(estimator, meta)),
        ("mistakes", "Worst mistakes", _mistakes_section(predictions, meta)),
    ]
    if metrics.get("folds"):
        sections.insert(1, ("folds", "Folds", _folds_section(metrics)))
    real = metrics.get(REAL_NEWS_DEV)
    if real:
        sections.insert(0, ("real-news", "Real news (development set)", _real_news_section(real, meta)))
    e = html.escape
    cards = [
        ("macro F1", f"{metrics['macro_f1']:.3f}"),
        ("accuracy", f"{metrics['accuracy']:.3f}"),
        ("sentences", str(metrics["n_sentences"])),
        ("documents", str(metrics["n_documents"])),
    ]
    if "macro_f1_fold_std" in metrics:
        cards.insert(1, ("macro F1 across folds", f"{metrics['macro_f1_fold_mean']:.3f} ± {metrics['macro_f1_fold_std']:.3f}"))
    if real_news_figures(metrics) is not None:
        cards[0] = ("macro F1, " + ("cross-validation" if metrics.get("folds") else "test file"), cards[0][1])
        on_real_news = f"{real['macro_f1']:.3f} {interval_text(real['bootstrap']['macro_f1'])}"
        cards.insert(0, ("macro F1 on real news", on_real_news))
    parts = [
        page_head(title, scripts=(), style_attributes=True),
        '<body>\n<div class="doc">\n',
        f"<h1>{e(title)}</h1>\n",
        f'<p class="sub">{e(metrics.get("protocol", ""))}</p>\n' if metrics.get("protocol") else "",
        '<div class="cards">' + "".join(f'<div class="card">{e(k)}<b>{e(v)}</b></div>' for k, v in cards) + "</div>\n",
        "<nav>" + "".join(f'<a href="#{key}">{e(name)}</a>' for key, name, _ in sections) + "</nav>\n",
    ]
    for key, name, body in sections:
        parts.append(f'<section id="{key}">\n<h2>{e(name)}</h2>\n{body}</section>\n')
    parts.append("</div>\n</body>\n</html>\n")
    return "".join(parts)


def _label_cell(meta: dict, label: str) -> str:
    color = meta["colors"].get(label, "#888888")
    name = meta["names"].get(label, label)
    return f'<span class="swatch" style="background:{color}"></span> {html.escape(name)}'


def _metrics_section(metrics: dict, meta: dict) -> str:
    rows = []
    for label, row in metrics["per_label"].items():
        rows.append(
            f'<tr><td class="label">{_label_cell(meta, label)}</td><td>{row["precision"]:.3f}</td>'
            f'<td>{row["recall"]:.3f}</td><td>{row["f1"]:.3f}</td><td>{row["support"]}</td></tr>'
        )
    averages = "".join(
        f"<tr><td class=\"label\">{name}</td><td></td><td></td><td>{metrics[key]:.3f}</td><td>{metrics['n_sentences']}</td></tr>"
        for name, key in (("macro average", "macro_f1"), ("weighted average", "weighted_f1"), ("micro average", "micro_f1"))
    )
    return (
        '<table class="grid"><thead><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th>'
        "<th>support</th></tr></thead>\n<tbody>" + "\n".join(rows) + "\n" + averages + "</tbody></table>\n"
    )


def _real_news_section(real: dict, meta: dict) -> str:
    """The yardstick: F1 per label with its interval on real articles the model never saw."""
    e = html.escape
    if "macro_f1" not in real:
        return f"<p>Not scored: {e(str(real['data']))}: {e(str(real.get('skipped')))}.</p>\n"
    boot = real["bootstrap"]
    rows = "".join(
        f'<tr><td class="label">{_label_cell(meta, label)}</td><td>{row["f1"]:.3f}</td>'
        f'<td>{interval_text(boot["per_label_f1"][label])}</td><td>{row["support"]}</td></tr>'
        for label, row in real["per_label"].items()
    )
    return (
        f"<p>{real['n_sentences']} sentences of {real['n_documents']} real news articles labeled by the annotation "
        f"guide ({e(str(real['data']))}), never trained on; {boot['confidence']:.0%} intervals from "
        f"{boot['n_resamples']} bootstrap resamples of whole articles. The sections below are on the training "
        "data's own evaluation.</p>\n"
        '<table class="grid"><thead><tr><th>label</th><th>F1</th><th>interval</th><th>support</th></tr></thead>\n'
        f"<tbody>{rows}\n"
        f'<tr><td class="label">macro average</td><td>{real["macro_f1"]:.3f}</td>'
        f"<td>{interval_text(boot['macro_f1'])}</td><td>{real['n_sentences']}</td></tr></tbody></table>\n"
    )


def _folds_section(metrics: dict) -> str:
    rows = "".join(
        f"<tr><td>{i}</td><td>{f['n_documents']}</td><td>{f['n_sentences']}</td><td>{f['macro_f1']:.3f}</td>"
        f"<td>{f['accuracy']:.3f}</td></tr>"
        for i, f in enumerate(metrics["folds"])
    )
    return (
        '<table class="grid"><thead><tr><th>fold</th><th>documents</th><th>sentences</th><th>macro F1</th>'
        f"<th>accuracy</th></tr></thead><tbody>{rows}</tbody></table>\n"
    )


def _confusion_section(metrics: dict, meta: dict) -> str:
    cm = metrics["confusion_matrix"]
    labels, matrix = cm["labels"], cm["matrix"]
    head = "".join(f"<th>{_label_cell(meta, label)}</th>" for label in labels)
    rows = []
    for label, row in zip(labels, matrix):
        total = sum(row) or 1
        cells = []
        for j, count in enumerate(row):
            share = count / total
            # Shade by the share of the true label's sentences; the diagonal in blue, errors in red.
            rgb = "26, 86, 219" if labels[j] == label else "179, 38, 30"
            cells.append(
                f'<td style="background: rgba({rgb}, {0.08 + 0.6 * share:.2f})" title="{share:.0%} of {html.escape(label)}">{count}</td>'
                if count else "<td>0</td>"
            )
        rows.append(f'<tr><td class="label">{_label_cell(meta, label)}</td>{"".join(cells)}</tr>')
    return (
        '<p class="muted">Rows: true label; columns: predicted label. Shading: share of the row.</p>\n'
        f'<table class="grid"><thead><tr><th>true \\ predicted</th>{head}</tr></thead>\n'
        f"<tbody>{''.join(rows)}</tbody></table>\n"
    )


def _calibration_section(calibration: dict | None, predictions, meta: dict) -> str:
    """The numbers of metrics.json's "calibration" (as report.md shows them), and a diagram per label."""
    if not calibration:
        return '<p class="muted">Not available: this run kept no per-sentence scores.</p>\n'
    e = html.escape
    summary = (
        f'<p>Brier score <b>{calibration["brier"]:.3f}</b> (0 best, 2 worst; the sum of the labels\' scores '
        f'below); expected calibration error <b>{calibration["ece"]:.3f}</b> over {calibration["n_bins"]} '
        "equal-width bins of the top score.</p>\n"
    )
    per_label = calibration.get("brier_per_label") or {}
    rows = "".join(f'<tr><td class="label">{_label_cell(meta, label)}</td><td>{value:.3f}</td></tr>'
                   for label, value in per_label.items())
    table = (
        '<table class="grid"><thead><tr><th>label (one vs rest)</th><th>Brier score</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>\n" if rows else ""
    )
    if predictions is None or not predictions.probabilistic:
        why = ("this run kept no per-sentence scores" if predictions is None else
               f"this model has no predict_proba; its scores are {e(str(calibration.get('score_method')))}, "
               "not probabilities to be calibrated")
        return summary + table + f'<p class="muted">Diagram not drawn: {why}.</p>\n'
    image = _calibration_png(predictions, meta)
    return (
        summary
        + '<p class="muted">For each label, sentences binned by the predicted probability of that label '
        "against the share of them that truly have it; a calibrated model follows the diagonal.</p>\n"
        f'<img class="plot" alt="calibration diagram: observed share against predicted probability, one line per label" '
        f'src="data:image/png;base64,{image}">\n' + table
    )


def _calibration_png(predictions, meta: dict) -> str:
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.calibration import calibration_curve

    y_true = np.asarray(predictions.y_true, dtype=object)
    n_bins = int(min(10, max(3, len(y_true) // 40)))
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.plot([0, 1], [0, 1], linestyle=":", color="#777777", label="perfectly calibrated")
    for k, label in enumerate(predictions.labels):
        hits = (y_true == label).astype(int)
        if hits.min() == hits.max():
            continue  # a label that is always or never true has no curve
        observed, predicted = calibration_curve(hits, predictions.scores[:, k], n_bins=n_bins)
        ax.plot(predicted, observed, marker="o", color=meta["colors"].get(label), label=meta["names"].get(label, label))
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted probability", ylabel="observed share")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _features_section(estimator, meta: dict) -> str:
    from pipeline.reports.explain import LinearExplainer, OcclusionExplainer

    explainer = LinearExplainer.of(estimator) if estimator is not None else None
    if explainer is None and estimator is not None and OcclusionExplainer.of(estimator) is not None:
        name = type(getattr(estimator, "named_steps", {}).get("clf", estimator)).__name__
        return (
            f'<p class="muted">Not available: {html.escape(name)} has no '
            "per-feature weights. The scored-articles report (<code>score --format html</code>) and the server "
            f"explain each sentence by {html.escape(OcclusionExplainer.description)}.</p>\n"
        )
    if explainer is None:
        why = "no fitted model was given" if estimator is None else (
            f"{type(getattr(estimator, 'named_steps', {}).get('clf', estimator)).__name__} has no per-feature weights"
        )
        return f'<p class="muted">Not available: {html.escape(why)}.</p>\n'
    columns = []
    for label, features in explainer.top_features(TOP_FEATURES).items():
        items = "".join(
            f'<li><span class="term">{html.escape(f["term"])}</span>'
            + (f' <span class="muted">({html.escape(f["source"])})</span>' if f["source"] else "")
            + f' <span class="muted">{f["weight"]:.3f}</span></li>'
            for f in features
        )
        columns.append(f"<div><h3>{_label_cell(meta, label)}</h3><ol>{items}</ol></div>")
    return (
        '<p class="muted">The features with the largest weight for each label in the model fitted on all '
        "training sentences (␣ marks a space in a character n-gram).</p>\n"
        f'<div class="features">{"".join(columns)}</div>\n'
    )


def _mistakes_section(predictions, meta: dict) -> str:
    if predictions is None:
        return '<p class="muted">Not available: this run kept no per-sentence predictions.</p>\n'
    import numpy as np

    wrong = [i for i, (t, p) in enumerate(zip(predictions.y_true, predictions.y_pred)) if t != p]
    if not wrong:
        return '<p class="muted">No sentence was predicted wrongly.</p>\n'
    confidence = np.array([predictions.score(i, predictions.y_pred[i]) for i in wrong])
    order = np.argsort(-confidence, kind="stable")[:WORST_MISTAKES]
    kind = "probability" if predictions.probabilistic else "score"
    rows = []
    for rank in order:
        i = wrong[rank]
        true, predicted = predictions.y_true[i], predictions.y_pred[i]
        rows.append(
            f'<tr><td class="text">{html.escape(predictions.texts[i])}</td>'
            f'<td class="label">{html.escape(str(predictions.groups[i]))}</td>'
            f'<td class="label">{_label_cell(meta, true)}</td><td class="label">{_label_cell(meta, predicted)}</td>'
            f"<td>{confidence[rank]:.3f}</td><td>{predictions.score(i, true):.3f}</td></tr>"
        )
    return (
        f'<p class="muted">The {len(order)} wrong predictions (of {len(wrong)}) made with the highest {kind}'
        " for the predicted label (predictions of the protocol above).</p>\n"
        '<table class="grid"><thead><tr><th>sentence</th><th>document</th><th>true</th><th>predicted</th>'
        f"<th>{kind} of predicted</th><th>{kind} of true</th></tr></thead>\n<tbody>" + "\n".join(rows) + "</tbody></table>\n"
    )
