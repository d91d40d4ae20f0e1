import json

from pipeline.evaluation.metrics import compute_metrics
from pipeline.reports.files import write_reports

LABELS = ["threat", "reporting"]


def test_metrics_match_a_hand_computed_case():
    y_true = ["threat", "threat", "reporting", "reporting"]
    y_pred = ["threat", "reporting", "reporting", "reporting"]
    m = compute_metrics(y_true, y_pred, LABELS, ["a", "a", "b", "c"])
    # threat: P=1, R=1/2, F1=2/3; reporting: P=2/3, R=1, F1=4/5
    assert m["per_label"]["threat"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert abs(m["per_label"]["reporting"]["f1"] - 0.8) < 1e-12
    assert abs(m["macro_f1"] - (2 / 3 + 0.8) / 2) < 1e-12
    assert m["accuracy"] == 0.75
    assert m["confusion_matrix"] == {"labels": LABELS, "matrix": [[1, 1], [0, 2]]}
    assert (m["n_documents"], m["n_sentences"]) == (3, 4)


def test_reports_are_written(tmp_path):
    m = compute_metrics(["threat", "reporting"], ["threat", "threat"], LABELS, ["a", "b"])
    write_reports(m, tmp_path, "Test run")
    assert json.loads((tmp_path / "metrics.json").read_text()) == m
    report = (tmp_path / "report.md").read_text()
    assert "| threat | 0.500 | 1.000 | 0.667 | 1 |" in report
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
