"""Typography is the outlet's, not the rhetoric's: the default model's character n-grams read
curly quotes, apostrophes, dashes and the ellipsis as their typewriter forms."""

import numpy as np

from pipeline.features.typography import plain_lowercase

CURLY = ["“We will strike them,” the commander said – and he’ll do it…",
         "Officials called it «a ‘serious’ warning» — nothing more."]
STRAIGHT = ['"We will strike them," the commander said - and he\'ll do it...',
            "Officials called it \"a 'serious' warning\" - nothing more."]


def test_curly_and_typewriter_forms_read_alike():
    assert [plain_lowercase(t) for t in CURLY] == [t.lower() for t in STRAIGHT]
    assert plain_lowercase("Café ÉTÉ 12%") == "café été 12%"  # letters, digits and signs untouched


def test_the_default_text_features_do_not_see_typography():
    from conftest import compose

    from pipeline.training.setup import build_run

    run = build_run(compose("train", ["data=seed"]))
    data = run.data.load_train()
    text = run.estimator.steps[0][1].transformers[0][1]  # word and character TF-IDF of the default
    text.fit(data.texts)
    curly, straight = text.transform(CURLY).toarray(), text.transform(STRAIGHT).toarray()
    np.testing.assert_array_equal(curly, straight)
    assert np.count_nonzero(curly) > 20


def test_the_preprocessor_is_the_one_function_a_skops_model_may_name():
    from pipeline.artifacts.loading import trusted_type

    assert trusted_type("pipeline.features.typography.plain_lowercase")
    assert not trusted_type("pipeline.features.union.union")  # other project functions stay refused
    assert not trusted_type("builtins.eval")
