"""The HTML pages as files: self-contained, escaped, and holding the same records as JSONL."""

import json
import re

import numpy as np
import pytest
from conftest import ROOT, SEED_DATA, write_jsonl

from pipeline.score import main

INJECTION = 'Officials said <script>window.__pwned = 1</script> was posted. We will burn your city. <img src=x onerror="window.__pwned = 2">'


def embedded_data(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert found, "no report data in the page"
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def articles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("articles")
    for path in (ROOT / "seeds").glob("*.txt"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "zz_injected.txt").write_text(INJECTION + "\n", encoding="utf-8")
    return folder


def test_html_report_holds_the_jsonl_records_with_explanations(tmp_path, trained_model, articles, capsys):
    out = tmp_path / "report.html"
    main(["--model", str(trained_model), str(articles), "--format", "html", "-o", str(out)])
    main(["--model", str(trained_model), str(articles), "--format", "jsonl"])
    jsonl = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    data = embedded_data(out.read_text(encoding="utf-8"))
    assert [{k: v for k, v in r.items() if k != "explanation"} for r in data["records"]] == jsonl
    assert all(r["explanation"] and r["explanation"][0]["weight"] > 0 for r in data["records"] if r["label"] == "threat")
    assert data["meta"]["labels"] == ["threat", "reporting", "editorial_framing", "background_fact"]
    assert set(data["meta"]["colors"]) == set(data["meta"]["labels"])
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_html_report_is_self_contained_and_escapes_text(tmp_path, trained_model, articles):
    out = tmp_path / "report.html"
    main(["--model", str(trained_model), str(articles), "-o", str(out)])  # format from the suffix
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "window.__pwned" in page  # the sentence is there ...
    assert "<script>window.__pwned" not in page and "<img src=x" not in page  # ... but never as markup
    assert len(re.findall(r"<script\b", page)) == 3  # the data block and the two page scripts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page.replace("&#x27;", "'")
    texts = [r["text"] for r in embedded_data(page)["records"] if r["doc_id"] == "zz_injected"]
    assert texts[0].startswith("Officials said <script>window.__pwned = 1</script>")


def test_empty_input_still_gives_a_valid_page(tmp_path, trained_model):
    blank = tmp_path / "blank.txt"
    blank.write_text("\n\n", encoding="utf-8")
    out = tmp_path / "report.html"
    main(["--model", str(trained_model), str(blank), "--format", "html", "-o", str(out)])
    assert embedded_data(out.read_text(encoding="utf-8"))["records"] == []


def test_training_writes_report_html_with_every_section(tmp_path):
    from conftest import train_with

    train_with(tmp_path, ["data=seed"], run_name="seed")
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    for section in ("metrics", "folds", "confusion", "calibration", "features", "mistakes"):
        assert f'<section id="{section}">' in page
    assert 'src="data:image/png;base64,' in page  # the calibration diagram, inline
    assert "Not available" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    # The worst mistakes are out-of-fold and wrong: true and predicted differ on every row.
    rows = re.findall(r"<tr><td class=\"text\">.*?</tr>", page.split('id="mistakes"')[1], re.S)
    assert rows
    for row in rows:
        true, predicted = re.findall(r'<td class="label"><span class="swatch"[^>]*></span> ([^<]+)</td>', row)
        assert true != predicted


def test_cross_validation_keeps_out_of_fold_scores():
    from conftest import compose

    from pipeline.common.config import instantiate
    from pipeline.training.crossval import cross_validate
    from pipeline.training.setup import build_estimator

    cfg = compose("train", ["data=seed"])
    data = instantiate(cfg.data, "data")
    metrics, predictions = cross_validate(
        build_estimator(cfg.features, cfg.model), data.load_train(), instantiate(cfg.split, "split"),
        data.labels,
    )
    assert predictions.scores.shape == (55, 4) and predictions.probabilistic
    assert np.allclose(predictions.scores.sum(axis=1), 1)
    best = [predictions.labels[k] for k in predictions.scores.argmax(axis=1)]
    assert best == predictions.y_pred
    accuracy = np.mean([t == p for t, p in zip(predictions.y_true, predictions.y_pred)])
    assert accuracy == pytest.approx(metrics["accuracy"])


def test_worst_mistakes_are_the_most_confident_wrong_predictions():
    from pipeline.evaluation.metrics import Predictions, compute_metrics
    from pipeline.reports.training_page import render_training_report

    labels = ["threat", "reporting"]
    texts = ["right and sure", "wrong but unsure", "wrong and sure <b>bold</b>", "right"]
    y_true = ["threat", "threat", "reporting", "reporting"]
    y_pred = ["threat", "reporting", "threat", "reporting"]
    scores = np.array([[0.99, 0.01], [0.4, 0.6], [0.95, 0.05], [0.2, 0.8]])
    metrics = compute_metrics(y_true, y_pred, labels, ["a", "a", "b", "b"])
    page = render_training_report(metrics, "t", Predictions(texts, ["a", "a", "b", "b"], y_true, y_pred, scores, labels, True))
    mistakes = page.split('id="mistakes"')[1]
    assert mistakes.index("wrong and sure") < mistakes.index("wrong but unsure")
    assert "right and sure" not in mistakes
    assert "&lt;b&gt;bold&lt;/b&gt;" in mistakes and "<b>bold</b>" not in page
    assert "0.950" in mistakes and "0.050" in mistakes


def test_metrics_json_report_md_and_report_html_show_one_calibration_summary(trained_model):
    """One function computes the Brier score; the three files show its numbers (report.html used
    to show other, one-vs-rest Brier scores of its own)."""
    run = trained_model.parents[1] / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    calibration = metrics["calibration"]
    page = (run / "report.html").read_text(encoding="utf-8").split('id="calibration"')[1].split("</section>")[0]
    markdown = (run / "report.md").read_text(encoding="utf-8")
    brier, ece = f"{calibration['brier']:.3f}", f"{calibration['ece']:.3f}"
    assert f"Brier score <b>{brier}</b>" in page and f"calibration error <b>{ece}</b>" in page
    assert f"Brier score {brier}" in markdown and f"calibration error {ece}" in markdown
    per_label = calibration["brier_per_label"]
    assert list(per_label) == list(metrics["per_label"])
    assert sum(per_label.values()) == pytest.approx(calibration["brier"])
    for value in per_label.values():
        assert f"<td>{value:.3f}</td>" in page


def test_calibration_is_not_drawn_for_softmax_scores(tmp_path):
    from conftest import train_with

    train_with(tmp_path, ["data=seed", "model=linear_svc"], run_name="svc")
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    calibration = page.split('id="calibration"')[1].split("</section>")[0]
    assert "no predict_proba" in calibration and "<img" not in calibration
    assert '<section id="features">' in page and "has no per-feature weights" not in page


def test_evaluation_report_html_has_mistakes_and_features(tmp_path, trained_model):
    from pipeline.data.source import DataSource
    from pipeline.evaluation.saved_model import evaluate

    evaluate(model_dir=trained_model, data=DataSource(str(SEED_DATA)), out_dir=tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Not available" not in page
    assert "Evaluation of seed-model" in page


def test_the_real_news_figures_come_first_in_report_html(tmp_path):
    from conftest import train_with

    records = [json.loads(line) for line in (ROOT / "data" / "written" / "starter_mixed_topics.jsonl").open()]
    docs = list(dict.fromkeys(r["doc_id"] for r in records))[:3]
    dev = write_jsonl(tmp_path / "dev.jsonl", [r for r in records if r["doc_id"] in docs])
    metrics = train_with(tmp_path, ["data=seed", f"data.dev_path={dev}"], run_name="seed")
    real = metrics["real_news_dev"]
    page = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert page.index('<section id="real-news">') < page.index('<section id="metrics">')
    low, high = real["bootstrap"]["macro_f1"]
    assert f"macro F1 on real news<b>{real['macro_f1']:.3f} [{low:.3f}, {high:.3f}]</b>" in page
    assert f"macro F1, cross-validation<b>{metrics['macro_f1']:.3f}</b>" in page
    section = page.split('<section id="real-news">')[1].split("</section>")[0]
    assert f"{real['n_sentences']} sentences of 3 real news articles" in section
    assert f"<td>{real['per_label']['threat']['f1']:.3f}</td>" in section


@pytest.mark.parametrize("extra, title", [({}, "macro F1 0.582"),
                                          ({"real_news_dev": {"macro_f1": 0.3}, "folds": [{}]},
                                           "macro F1 0.582, cross-validation"),
                                          ({"real_news_dev": {"macro_f1": 0.3}}, "macro F1 0.582, test file")])
def test_the_confusion_matrix_png_says_which_evaluation_it_is_beside_real_news(monkeypatch, extra, title):
    """A run with real-news figures headed by 0.336 drew its cross-validation matrix titled "macro F1 0.582"."""
    import io

    from matplotlib.axes import Axes

    from pipeline.reports.plots import plot_confusion

    titles = []
    monkeypatch.setattr(Axes, "set_title", lambda self, text, *a, **k: titles.append(text))
    metrics = {"macro_f1": 0.5822, "confusion_matrix": {"labels": ["a", "b"], "matrix": [[1, 0], [0, 1]]}, **extra}
    plot_confusion(metrics, io.BytesIO())
    assert titles == [title]
