import json

import numpy as np
import pytest
from conftest import train_with, write_jsonl

from pipeline import load_model
from pipeline.common.errors import PipelineError
from pipeline.evaluation.calibration import (
    brier_score,
    calibration_summary,
    expected_calibration_error,
)
from pipeline.reports.plots import plot_reliability

# Label order deliberately not alphabetical: columns must be matched to labels, not sorted.
LABELS = ["threat", "reporting", "editorial_framing"]
Y_TRUE = ["threat", "reporting", "threat", "editorial_framing"]
SCORES = np.array([
    [0.65, 0.25, 0.10],  # top threat 0.65, right
    [0.58, 0.32, 0.10],  # top threat 0.58, wrong
    [0.20, 0.25, 0.55],  # top editorial_framing 0.55, wrong
    [0.05, 0.10, 0.85],  # top editorial_framing 0.85, right
])


def test_brier_score_matches_a_hand_computed_case():
    # squared distances to the one-hot truth: 0.195, 0.8088, 1.005, 0.035
    assert brier_score(Y_TRUE, SCORES, LABELS) == pytest.approx((0.195 + 0.8088 + 1.005 + 0.035) / 4)
    assert brier_score(Y_TRUE, np.eye(3)[[0, 1, 0, 2]], LABELS) == 0.0


def test_float32_probabilities_are_scored_without_a_warning():
    # Frozen-embedding models give float32 probabilities whose rows miss 1 by ~1e-7: every run with
    # features=minilm printed scikit-learn's "y_prob values do not sum to one".
    import warnings

    rows = np.array([[0.1, 0.2, 0.7]] * 4, dtype=np.float32) + np.float32(1e-7) * np.array([1, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert brier_score(Y_TRUE, rows, LABELS) == pytest.approx(brier_score(Y_TRUE, rows.astype(float), LABELS))


def test_the_brier_score_is_the_sum_of_each_labels_one_vs_rest_score():
    # threat column against the truth 1, 0, 1, 0: (0.35² + 0.58² + 0.8² + 0.05²) / 4
    summary = calibration_summary(Y_TRUE, SCORES, LABELS)
    assert list(summary["brier_per_label"]) == LABELS
    assert summary["brier_per_label"]["threat"] == pytest.approx((0.35**2 + 0.58**2 + 0.8**2 + 0.05**2) / 4)
    assert sum(summary["brier_per_label"].values()) == pytest.approx(summary["brier"])


def test_expected_calibration_error_matches_a_hand_computed_case():
    # bins (0.5,0.6]: 0.58 and 0.55, both wrong: gap 0.565; (0.6,0.7]: 0.65 right: 0.35; (0.8,0.9]: 0.85 right: 0.15
    assert expected_calibration_error(Y_TRUE, SCORES, LABELS) == pytest.approx((2 * 0.565 + 0.35 + 0.15) / 4)
    summary = calibration_summary(Y_TRUE, SCORES, LABELS)
    assert [(round(b["low"], 9), round(b["high"], 9), b["count"]) for b in summary["bins"]] == [
        (0.5, 0.6, 2), (0.6, 0.7, 1), (0.8, 0.9, 1)
    ]
    assert [b["accuracy"] for b in summary["bins"]] == [0.0, 1.0, 1.0]


def test_reliability_diagram_is_a_png(tmp_path):
    plot_reliability(calibration_summary(Y_TRUE, SCORES, LABELS)["bins"], tmp_path / "r.png", "title")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def corpus_file(tmp_path, n_documents=12):
    """Documents whose sentences carry a word typical of their label, with some noise."""
    rng = np.random.default_rng(0)
    words = {"threat": "destroy", "reporting": "announced", "editorial_framing": "shameful",
             "background_fact": "founded"}
    rows = []
    for d in range(n_documents):
        for i, label in enumerate(list(words) * 2):
            cue = words[label] if rng.random() < 0.8 else rng.choice(list(words.values()))
            rows.append({"text": f"Sentence {i} {cue} filler{rng.integers(50)} in doc {d}.", "label": label,
                         "doc_id": f"doc{d}"})
    return write_jsonl(tmp_path / "docs.jsonl", rows)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_option_fits_on_grouped_folds(tmp_path, method):
    data = corpus_file(tmp_path)
    metrics = train_with(tmp_path, [f"data.path={data}", "model=linear_svc", f"calibration={method}"], run_name="cal")
    model = load_model(tmp_path / "models" / "cal")
    calibrated = model.estimator.named_steps["clf"]
    assert type(calibrated).__name__ == "CalibratedClassifierCV" and calibrated.method == method
    assert len(calibrated.calibrated_classifiers_) == 3  # one per StratifiedGroupKFold fold
    assert model.card["score_method"] == "predict_proba"
    assert metrics["calibration"]["score_method"] == "predict_proba"
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 <= saved["calibration"]["ece"] <= 1 and 0 <= saved["calibration"]["brier"] <= 2


def test_calibration_needs_enough_documents_per_training_set(tmp_path):
    with pytest.raises(PipelineError, match="config calibration: cannot calibrate on a training set of 1 documents"):
        train_with(tmp_path, ["data=seed", "calibration=sigmoid"])
    assert not (tmp_path / "models").exists()
