"""The project's estimators keep scikit-learn's contract: parameter constraints, standard errors,
`clone`, `get_params`, fitted state in attributes ending in `_`, and the estimator checks."""

import json
import pickle

import numpy as np
import pytest
from conftest import CONFIG_DIR, SEED_DATA, compose, embeddings_installed, needs_embeddings
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from pipeline.common.sklearn_rules import InvalidParameterError
from pipeline.data.records import INPUT_COLUMNS, sentence_frame
from pipeline.features.context import ContextFeatures
from pipeline.features.discourse import DiscourseFeatures
from pipeline.features.embeddings import SentenceEmbeddings
from pipeline.models.streaming import BatchedSGDClassifier, StreamingPipeline

ROWS = [json.loads(line) for line in SEED_DATA.read_text(encoding="utf-8").splitlines()]
TEXTS = [row["text"] for row in ROWS]


def context_features():
    return ContextFeatures([("text", TfidfVectorizer(), "text"), ("context", DiscourseFeatures(), list(INPUT_COLUMNS))])


# Checks that cannot apply, with the reason; scikit-learn marks them xfail.
CANNOT_APPLY = {
    "StreamingPipeline": {
        "check_estimators_overwrite_params": "its steps are its parameters and are fitted in place, as in "
                                             "sklearn.pipeline.Pipeline",
        "check_classifier_data_not_an_array": "it reads a sequence of sentences batch by batch (len and indexing, "
                                              "as ArrowTexts on disk); an object with only __array__ is not one",
    },
}


def expected_failures(estimator) -> dict:
    return CANNOT_APPLY.get(type(estimator).__name__, {})


# Text estimators (string input tag) get only the checks scikit-learn can run on text: it feeds
# numbers to the others. tests below check the same contract on sentences.
@parametrize_with_checks(
    [
        BatchedSGDClassifier(batch_size=64, n_epochs=20, random_state=0),
        StreamingPipeline([("identity", FunctionTransformer()),
                           ("clf", BatchedSGDClassifier(batch_size=64, n_epochs=20, random_state=0))]),
        DiscourseFeatures(),
        SentenceEmbeddings(cache_dir=None),
        context_features(),
    ],
    expected_failed_checks=expected_failures,
    xfail_strict=True,  # a check that starts passing must lose its mark
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


TEXT_ESTIMATORS = [
    pytest.param(lambda tmp: DiscourseFeatures(neighbours=True, neighbour_min_df=1), id="DiscourseFeatures"),
    pytest.param(lambda tmp: context_features(), id="ContextFeatures"),
    # a cache, so the clones below reuse the vectors instead of loading the encoder again
    pytest.param(lambda tmp: SentenceEmbeddings(cache_dir=str(tmp)), id="SentenceEmbeddings", marks=needs_embeddings),
]


@pytest.mark.parametrize("make", TEXT_ESTIMATORS)
def test_text_estimators_keep_the_contract_on_sentences(make, tmp_path):
    """What check_estimator asks of an estimator, asked with the input these take: sentences."""
    estimator = make(tmp_path)
    texts = TEXTS[:12]
    params = estimator.get_params()
    twin = clone(estimator)
    assert twin.get_params().keys() == params.keys() and repr(twin) == repr(estimator)
    assert not [k for k in vars(twin) if k.endswith("_")], "fitted state set in __init__"
    with pytest.raises(NotFittedError):
        twin.transform(texts)
    assert twin.fit(texts) is twin
    assert repr(twin.get_params()) == repr(params), "fit changed a parameter"
    first = twin.transform(texts)
    again = pickle.loads(pickle.dumps(twin)).transform(texts)
    dense = lambda m: m.toarray() if hasattr(m, "toarray") else np.asarray(m)  # noqa: E731
    assert dense(first).shape[0] == len(texts)
    np.testing.assert_allclose(dense(again), dense(first), rtol=1e-6)
    np.testing.assert_allclose(dense(clone(estimator).fit(texts).transform(texts[:3])), dense(first)[:3], rtol=1e-6)
    with pytest.raises(TypeError, match="got one string"):
        twin.transform("one sentence")


@pytest.mark.parametrize("estimator, bad", [
    (DiscourseFeatures(), {"neighbour_min_df": 0}),
    (DiscourseFeatures(), {"position": "yes"}),
    (SentenceEmbeddings(cache_dir=None), {"batch_size": 0}),
    (SentenceEmbeddings(cache_dir=None), {"encoder": "bert-huge"}),
    (BatchedSGDClassifier(), {"batch_size": 0}),
    (BatchedSGDClassifier(), {"n_epochs": 1.5}),
    (BatchedSGDClassifier(), {"loss": "nope"}),
])
def test_bad_parameters_are_value_errors_naming_the_parameter(estimator, bad):
    """InvalidParameterError is a ValueError (and TypeError): no project error type leaks out."""
    (name, value), = bad.items()
    estimator.set_params(**bad)
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of {type(estimator).__name__}"):
        estimator._validate_params()
    assert issubclass(InvalidParameterError, ValueError) and issubclass(InvalidParameterError, TypeError)


def test_records_missing_a_column_are_a_value_error():
    frame = sentence_frame(TEXTS[:3]).drop(columns=["paragraph"])
    with pytest.raises(ValueError, match="sentence records lack column 'paragraph'"):
        DiscourseFeatures().fit(frame)


@pytest.mark.parametrize("override, key", [
    ("model.batch_size=0", "model.batch_size"),
    ("model.n_epochs=0", "model.n_epochs"),
    ("model.alpha=-1", "model.alpha"),
])
def test_a_bad_streaming_parameter_is_refused_naming_its_config_key(override, key):
    from pipeline.common.errors import PipelineError
    from pipeline.training.setup import build_run, check_params

    run = build_run(compose("train", ["experiment=out_of_core", override]))
    name = key.split(".")[-1]
    with pytest.raises(PipelineError, match=rf"^config {key}: The '{name}' parameter of BatchedSGDClassifier"):
        check_params(run.estimator)


def test_a_bad_discourse_parameter_is_refused_naming_its_config_key():
    from pipeline.common.errors import PipelineError
    from pipeline.training.setup import build_run, check_params

    run = build_run(compose("train", ["features.context.neighbour_min_df=0"]))
    with pytest.raises(PipelineError, match=r"^config features\.context\.neighbour_min_df: The 'neighbour_min_df'"):
        check_params(run.estimator)


FEATURES = sorted(path.stem for path in (CONFIG_DIR / "features").glob("*.yaml"))


@pytest.mark.parametrize("features", FEATURES)
def test_every_features_option_saves_a_pipeline_that_scores_bare_sentences(features):
    """The promise of model.joblib: predict_proba(list of str) works whatever the features."""
    from pipeline.data.records import input_kind
    from pipeline.training.setup import build_run

    reads_text = features == "sentences"  # the sentences unchanged: only a model that reads text takes them
    if ("minilm" in features or reads_text) and not embeddings_installed():
        pytest.skip("the embeddings extra is not installed (pip install -e '.[embeddings]')")
    model = ["model=minilm_finetune", "model.epochs=1", "model.max_length=16"] if reads_text else ["model=sgd"]
    run = build_run(compose("train", ["data=seed", f"features={features}", *model]))  # any model will do
    corpus = run.data.load_train()
    fitted = run.estimator.fit(corpus.inputs(input_kind(run.estimator)), corpus.labels)
    scores = fitted.predict_proba(["We will burn your city.", "The talks ended on Monday."])
    assert scores.shape == (2, 4) and np.allclose(scores.sum(axis=1), 1)
