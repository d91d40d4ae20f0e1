import json
import random

import pytest
from conftest import run_cli, write_jsonl

from pipeline.annotation.agreement import agreement, read_annotations
from pipeline.common.errors import PipelineError

T, R, E = "threat", "reporting", "editorial_framing"
LABELS_A = [T, T, T, T, R, R, R, E, E, E]
LABELS_B = [T, T, T, R, R, R, E, E, E, T]


def annotator(tmp_path, name, labels, keyed=True, order=None):
    records = [
        {"text": f"Sentence number {i}.", "label": label, **({"doc_id": "doc", "sentence_index": i} if keyed else {})}
        for i, label in enumerate(labels)
    ]
    if order is not None:
        records = [records[i] for i in order]
    return read_annotations(write_jsonl(tmp_path / f"{name}.jsonl", records))


def test_kappa_matches_a_hand_computed_case(tmp_path):
    order = list(range(10))
    random.Random(0).shuffle(order)  # B's file lists the sentences in another order
    result = agreement(annotator(tmp_path, "a", LABELS_A), annotator(tmp_path, "b", LABELS_B, order=order))
    assert result["matched_by"] == "doc_id and sentence_index"
    # p_o = 7/10; both annotators: threat .4, reporting .3, editorial .3, so p_e = .16 + .09 + .09 = .34;
    # kappa = (.7 - .34) / (1 - .34) = 6/11.
    assert result["observed_agreement"] == pytest.approx(0.7)
    assert result["kappa"] == pytest.approx(6 / 11)
    # threat vs rest: 3 both, 1 A only, 1 B only, 5 neither: p_o = .8, p_e = .4*.4 + .6*.6 = .52 -> 7/12.
    # reporting (and editorial) vs rest: 2 both, 1 + 1 one-sided, 6 neither: p_o = .8, p_e = .58 -> 11/21.
    per_label = result["per_label"]
    assert per_label[T]["kappa"] == pytest.approx(7 / 12)
    assert per_label[R]["kappa"] == pytest.approx(11 / 21)
    assert per_label[E]["kappa"] == pytest.approx(11 / 21)
    assert (per_label[T]["n_a"], per_label[T]["n_b"], per_label[T]["n_both"]) == (4, 4, 3)
    assert result["confusion_matrix"] == {"labels": [T, R, E], "matrix": [[3, 1, 0], [0, 2, 1], [1, 0, 2]]}
    assert [(d["sentence_index"], d["label_a"], d["label_b"]) for d in result["disagreements"]] == [
        (3, T, R), (6, R, E), (9, E, T)
    ]


def test_files_without_ids_match_by_text(tmp_path):
    result = agreement(annotator(tmp_path, "a", LABELS_A, keyed=False),
                       annotator(tmp_path, "b", LABELS_B, keyed=False, order=list(range(9, -1, -1))))
    assert result["matched_by"] == "text"
    assert result["kappa"] == pytest.approx(6 / 11)


def test_unmatched_and_unlabeled_sentences_are_counted_not_compared(tmp_path):
    a = annotator(tmp_path, "a", LABELS_A)
    b = annotator(tmp_path, "b", LABELS_B[:8] + [""])  # B skipped one and left one unlabeled
    result = agreement(a, b)
    assert (result["n_matched"], result["n_only_a"], result["n_only_b"]) == (9, 1, 0)
    assert (result["n_unlabeled_skipped"], result["n_compared"]) == (1, 8)


def test_one_label_everywhere_gives_undefined_kappa_not_a_crash(tmp_path):
    result = agreement(annotator(tmp_path, "a", [T, T, T]), annotator(tmp_path, "b", [T, T, T]))
    assert result["observed_agreement"] == 1.0
    assert result["kappa"] is None


def test_same_key_with_different_text_is_refused(tmp_path):
    a = annotator(tmp_path, "a", LABELS_A)
    other = {"text": "Something else.", "label": T, "doc_id": "doc", "sentence_index": 0}
    path = write_jsonl(tmp_path / "b.jsonl", [other])
    with pytest.raises(PipelineError, match=r"line 1 and .*b.jsonl: line 1: doc_id 'doc' sentence_index 0 holds"):
        agreement(a, read_annotations(path))


def test_cli_prints_kappa_matrix_and_disagreements(tmp_path):
    annotator(tmp_path, "a", LABELS_A)
    annotator(tmp_path, "b", LABELS_B)
    result = run_cli("agreement", tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    assert result.returncode == 0, result.stderr
    assert "observed agreement 0.700; Cohen's kappa 0.545" in result.stdout
    assert "3 disagreements" in result.stdout
    assert "doc#9  A=editorial_framing  B=threat  Sentence number 9." in result.stdout
    as_json = run_cli("agreement", tmp_path / "a.jsonl", tmp_path / "b.jsonl", "--format", "json")
    assert json.loads(as_json.stdout)["kappa"] == pytest.approx(6 / 11)


@pytest.mark.parametrize("content, message", [
    (None, "b.jsonl: file not found"),
    ("folder", "b.jsonl: a folder, not one annotator's file"),
    ('{"text": "x", "label": "threat"}\n{"text": \n', "b.jsonl: line 2: not valid JSON"),
    ('{"text": "x"}\n', "b.jsonl: line 1: missing field 'label'"),
    ('{"text": "Unrelated.", "label": "threat", "doc_id": "zz", "sentence_index": 0}\n',
     "no sentence is labeled in both files"),
    # a typo was counted as a label of its own, and as disagreements
    ('{"text": "Sentence number 0.", "label": "treat", "doc_id": "doc", "sentence_index": 0}\n',
     "b.jsonl: line 1: unknown label 'treat'"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, content, message):
    annotator(tmp_path, "a", LABELS_A)
    if content == "folder":
        (tmp_path / "b.jsonl").mkdir()
    elif content is not None:
        (tmp_path / "b.jsonl").write_text(content, encoding="utf-8")
    result = run_cli("agreement", tmp_path / "a.jsonl", tmp_path / "b.jsonl")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr


def test_another_label_set_is_given_with_labels(tmp_path):
    for name in "ab":
        write_jsonl(tmp_path / f"{name}.jsonl", [{"text": f"S {i}.", "label": label} for i, label in enumerate("xyxy")])
    assert run_cli("agreement", tmp_path / "a.jsonl", tmp_path / "b.jsonl").returncode == 2
    result = run_cli("agreement", tmp_path / "a.jsonl", tmp_path / "b.jsonl", "--labels", "x,y")
    assert result.returncode == 0 and "Cohen's kappa 1.000" in result.stdout, result.stderr


def test_a_label_with_stray_spaces_or_capitals_is_read_as_training_reads_it_with_a_warning(tmp_path):
    annotator(tmp_path, "a", LABELS_A)
    annotator(tmp_path, "b", [" Threat ", *LABELS_B[1:3], "Reporting", *LABELS_B[4:]])
    result = run_cli("agreement", tmp_path / "a.jsonl", tmp_path / "b.jsonl", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["kappa"] == pytest.approx(6 / 11)  # as with LABELS_B written plainly
    assert result.stderr == (f"warning: {tmp_path / 'b.jsonl'}: line 1: label ' Threat ' read as 'threat' "
                             "(and 1 more in this file)\n")
