"""Model folders saved before the package had subpackages still load and score the same."""

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline import load_model

FIXTURES = Path(__file__).parent / "fixtures" / "models"
EXPECTED = json.loads((FIXTURES / "expected_scores.json").read_text())


@pytest.fixture
def empty_store(tmp_path, monkeypatch):
    monkeypatch.setenv("RHETORIC_TRUST_STORE", str(tmp_path / "trusted.json"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("trust", [False, True], ids=["skops", "joblib"])
def test_a_model_saved_with_the_old_module_paths_loads_and_scores_the_same(name, trust, empty_store):
    expected = EXPECTED[name]
    model = load_model(FIXTURES / name, trust=trust)
    assert model.loaded_with == ("joblib" if trust else "skops")
    assert model.labels == expected["labels"]
    np.testing.assert_allclose(model.predict_proba(expected["sentences"]), expected["scores"], atol=1e-9)
    article = [[r["scores"][label] for label in model.labels] for r in model.predict_sentences(expected["sentences"])]
    np.testing.assert_allclose(article, [[s[label] for label in model.labels] for s in expected["article"]], atol=1e-6)


def test_old_class_paths_name_the_classes_at_their_new_place():
    import importlib

    from pipeline.features.discourse import DiscourseFeatures
    from pipeline.models.streaming import StreamingPipeline

    assert importlib.import_module("pipeline.discourse").DiscourseFeatures is DiscourseFeatures
    assert importlib.import_module("pipeline.streaming").StreamingPipeline is StreamingPipeline
