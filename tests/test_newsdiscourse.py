"""data=newsdiscourse: the real corpus read from paths.newsdiscourse_dir, never committed."""

import json

import pytest
from conftest import compose, newsdiscourse_dir, run_cli

CORPUS = newsdiscourse_dir()
pytestmark = pytest.mark.skipif(
    not (CORPUS / "train.jsonl").is_file(),
    reason=f"NewsDiscourse corpus not found at {CORPUS} (put shared/ beside the repo or set PIPELINE_SHARED_DIR)",
)
LABELS = ["reporting", "editorial_framing", "background_fact"]


def test_train_and_validation_load_with_three_labels_and_positions():
    from pipeline.common.config import instantiate

    data = instantiate(compose("train", ["data=newsdiscourse"]).data, "data")
    train, test = data.load_train(), data.load_test()
    assert data.labels == LABELS
    assert set(train.labels) == set(test.labels) == set(LABELS)
    assert not set(train.groups) & set(test.groups)
    # The corpus numbers sentences from 1 and skips some: positions keep its numbering.
    assert min(train.positions) >= 0 and max(train.positions) > 20
    for position, length in zip(train.positions, train.doc_lengths):
        assert position < length


@pytest.mark.slow
def test_train_cli_on_newsdiscourse_tests_on_validation(tmp_path):
    run_dir, models = tmp_path / "run", tmp_path / "models"
    result = run_cli("train", "data=newsdiscourse", "features=word_tfidf", f"hydra.run.dir={run_dir}",
                     f"paths.models_dir={models}", "run_name=nd")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert list(metrics["per_label"]) == LABELS
    assert "validation.jsonl" in metrics["protocol"] and "folds" not in metrics
    assert metrics["n_sentences"] == sum(1 for _ in open(CORPUS / "validation.jsonl", encoding="utf-8"))
    assert metrics["macro_f1"] > 0.5  # three classes: chance is about 0.33
    card = json.loads((models / "nd" / "model.json").read_text())
    assert sorted(card["labels"]) == sorted(LABELS)
    assert card["training_data"]["n_documents"] == len({json.loads(l)["doc_id"] for l in open(CORPUS / "train.jsonl")})
