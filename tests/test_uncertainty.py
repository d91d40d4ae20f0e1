import numpy as np
import pytest
from sklearn.metrics import f1_score

from pipeline.evaluation.uncertainty import (
    document_bootstrap,
    document_counts,
    paired_bootstrap,
    resample_documents,
    resampled_f1,
)

LABELS = ["threat", "reporting"]
# Document a: threat right, threat read as reporting, reporting right.
# Document b: reporting right, threat read as reporting.
Y_TRUE = ["threat", "threat", "reporting", "reporting", "threat"]
Y_PRED = ["threat", "reporting", "reporting", "reporting", "reporting"]
GROUPS = ["a", "a", "a", "b", "b"]
# Every way to draw two documents from two: {a, a}, {a, b} twice, {b, b}.
ALL_DRAWS = [[2, 0], [1, 1], [1, 1], [0, 2]]


def test_intervals_match_a_hand_computed_case():
    # {a,a}: threat tp2 fn2 -> 2/3, reporting tp2 fp2 -> 2/3; macro 2/3
    # {a,b}: threat tp1 fn2 -> 1/2, reporting tp2 fp2 -> 2/3; macro 7/12
    # {b,b}: threat tp0 fn2 -> 0,   reporting tp2 fp2 -> 2/3; macro 1/3
    result = document_bootstrap(Y_TRUE, Y_PRED, GROUPS, LABELS, weights=np.array(ALL_DRAWS))
    # 95% percentile interval of 4 sorted values, linear interpolation at 0.075 and 2.925
    macro = [1 / 3, 7 / 12, 7 / 12, 2 / 3]
    assert result["macro_f1"] == pytest.approx([macro[0] + 0.075 * (macro[1] - macro[0]),
                                                macro[2] + 0.925 * (macro[3] - macro[2])])
    # threat over the draws: 0, 1/2, 1/2, 2/3
    assert result["per_label_f1"]["threat"] == pytest.approx([0.075 * 0.5, 0.5 + 0.925 * (2 / 3 - 0.5)])
    assert result["per_label_f1"]["reporting"] == pytest.approx([2 / 3, 2 / 3])
    assert (result["n_documents"], result["n_resamples"], result["unit"]) == (2, 4, "document")


def test_a_resample_weighs_whole_documents():
    """F1 of a resample equals scikit-learn's F1 on the drawn documents' sentences, repeated."""
    rng = np.random.default_rng(1)
    groups = [f"d{i // 4}" for i in range(40)]
    y_true = list(rng.choice(LABELS, size=40))
    y_pred = [t if rng.random() < 0.7 else rng.choice(LABELS) for t in y_true]
    documents, counts = document_counts(y_true, y_pred, groups, LABELS)
    weights = resample_documents(len(documents), 5, seed=3)
    f1 = resampled_f1(counts, weights)
    for row, draw in zip(f1, weights):
        index = [i for d, n in zip(documents, draw) for i, g in enumerate(groups) if g == d for _ in range(int(n))]
        expected = f1_score([y_true[i] for i in index], [y_pred[i] for i in index], labels=LABELS, average=None,
                            zero_division=0)
        assert row == pytest.approx(expected)
    assert (weights.sum(axis=1) == len(documents)).all()


def test_same_seed_same_interval():
    first = document_bootstrap(Y_TRUE, Y_PRED, GROUPS, LABELS, seed=4, n_resamples=200)
    assert first == document_bootstrap(Y_TRUE, Y_PRED, GROUPS, LABELS, seed=4, n_resamples=200)
    assert first["macro_f1"][0] <= 7 / 12 <= first["macro_f1"][1]


def test_paired_bootstrap_gives_a_verdict():
    perfect = list(Y_TRUE)
    weights = np.array(ALL_DRAWS)
    better = paired_bootstrap(Y_TRUE, perfect, Y_PRED, GROUPS, LABELS, weights=weights)
    # A = 1 on every resample; A - B over the draws: 1/3, 5/12, 5/12, 2/3
    assert better["macro_f1"]["difference"] == pytest.approx(1 - 7 / 12)
    assert better["macro_f1"]["interval"] == pytest.approx([1 / 3 + 0.075 / 12, 5 / 12 + 0.925 / 4])
    assert better["macro_f1"]["verdict"] == "A better"
    assert better["per_label_f1"]["threat"]["verdict"] == "A better"

    assert paired_bootstrap(Y_TRUE, Y_PRED, perfect, GROUPS, LABELS, weights=weights)["macro_f1"]["verdict"] == "B better"
    same = paired_bootstrap(Y_TRUE, Y_PRED, Y_PRED, GROUPS, LABELS, n_resamples=50)
    assert same["macro_f1"]["interval"] == [0.0, 0.0]
    assert same["macro_f1"]["verdict"] == "no clear difference"
