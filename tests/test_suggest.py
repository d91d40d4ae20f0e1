import json

import numpy as np
import pytest
from conftest import ROOT, SEED_DATA, run_cli, write_jsonl

from pipeline import load_model
from pipeline.annotation.suggestions import iter_unlabeled, suggest
from pipeline.annotation.validation import sentence_key

SENTENCES = [
    "We will burn your city to the ground.",
    "The talks ended on Monday without a deal.",
    "The dam was completed in 1974.",
    "This is a disgraceful surrender dressed up as diplomacy.",
    "Officials said the border stayed open.",
    "Nobody should be surprised if the rebels strike again.",
    "Their patience, the minister warned, is not endless.",
    "Prices rose sharply.",
]


@pytest.mark.parametrize("kind", ["trained_model", "text_model"])
def test_suggestions_are_the_smallest_margins_in_order(request, kind):
    model = load_model(request.getfixturevalue(kind))
    items = [("doc", i, text) for i, text in enumerate(SENTENCES)]
    records, counts = suggest(model, items, n=3, batch_size=3)  # several batches (a context model: one article)
    top2 = np.sort(model.predict_items(items), axis=1)[:, -2:]  # scored together, as one article
    margins = top2[:, 1] - top2[:, 0]
    expected = list(np.argsort(margins, kind="stable")[:3])
    assert [r["sentence_index"] for r in records] == expected
    assert [r["margin"] for r in records] == sorted(r["margin"] for r in records)
    assert np.allclose([r["margin"] for r in records], margins[expected], atol=1e-6)
    assert all(r["label"] == "" and r["predicted"] in model.labels for r in records)
    assert counts["n_scored"] == len(SENTENCES)


def test_labeled_repeated_and_excluded_sentences_are_skipped(tmp_path, trained_model):
    model = load_model(trained_model)
    path = write_jsonl(tmp_path / "pool.jsonl", [
        {"text": SENTENCES[0], "label": "threat"},  # already labeled
        {"text": SENTENCES[1], "label": ""},
        {"text": SENTENCES[1].upper()},  # a repeat
        {"text": SENTENCES[2]},
        {"text": "  "},  # blank: counted as skipped, so the summary's numbers add up
    ])
    items = list(iter_unlabeled([str(path)]))
    assert [text for _, _, text in items] == [SENTENCES[1], SENTENCES[1].upper(), SENTENCES[2], "  "]
    records, counts = suggest(model, items, n=10, exclude={sentence_key(SENTENCES[2])})
    assert [r["text"] for r in records] == [SENTENCES[1]]
    assert (counts["n_skipped_repeats"], counts["n_skipped_known"], counts["n_skipped_blank"]) == (1, 1, 1)
    assert counts["n_sentences"] == 4 and counts["n_scored"] == 1


def test_a_templates_other_fields_are_kept_in_the_suggestions(tmp_path, trained_model):
    """data-format.md: fields such as origin and topic are kept by the labeling commands."""
    path = write_jsonl(tmp_path / "template.jsonl", [
        {"doc_id": "d", "sentence_index": i, "text": text, "label": "", "origin": "written", "topic": "ports"}
        for i, text in enumerate(SENTENCES[:3])
    ])
    records, _ = suggest(load_model(trained_model), iter_unlabeled([str(path)]), n=3)
    assert [(r["origin"], r["topic"]) for r in records] == [("written", "ports")] * 3


def test_unlabeled_sentence_files_are_read_as_forgivingly_as_score_reads_them(tmp_path):
    """Suggest scores text, so it reads it like `score` does: stray bytes are replaced and
    reported, and the --exclude files (labeled data) are read strictly."""
    from pipeline.annotation.suggestions import labeled_keys
    from pipeline.common.errors import PipelineError

    pool = tmp_path / "pool.jsonl"
    pool.write_bytes(b'{"text": "Le ministre a menac\xe9 la ville."}\n{"text": "Done.", "label": "reporting"}\n')
    with pytest.warns(UserWarning, match="pool.jsonl: bytes that are not UTF-8 were replaced"):
        items = list(iter_unlabeled([str(pool)]))
    assert items == [("pool", 0, "Le ministre a menac\ufffd la ville.")]
    with pytest.raises(PipelineError, match=r"--exclude: .*pool\.jsonl: line 1: not UTF-8 \(byte 0xe9 at column 30\)"):
        labeled_keys([str(pool)])


def test_lone_surrogate_escapes_are_replaced_and_reported_and_true_pairs_kept(tmp_path):
    """A `\\ud83d` escape cut from its pair is no text a UTF-8 output can hold (it crashed the writer)."""
    pool = tmp_path / "pool.jsonl"
    pool.write_bytes(b'{"text": "Cut \\ud83d here, whole \\ud83d\\ude00 here."}\n')
    with pytest.warns(UserWarning, match="pool.jsonl: lone surrogates"):
        items = list(iter_unlabeled([str(pool)]))
    assert items == [("pool", 0, "Cut \ufffd here, whole \U0001f600 here.")]


def test_cli_on_raw_articles_gives_a_labeling_template(tmp_path, trained_model):
    out = tmp_path / "next.jsonl"
    result = run_cli("suggest", "--model", trained_model, ROOT / "seeds", "-n", "5", "-o", out)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rank"] for r in records] == [1, 2, 3, 4, 5]
    assert {r["doc_id"] for r in records} <= {p.stem for p in (ROOT / "seeds").glob("*.txt")}
    valid = run_cli("validate", out, "--allow-unlabeled")
    assert valid.returncode == 0, valid.stderr

    excluded = run_cli("suggest", "--model", trained_model, ROOT / "seeds", "--exclude", SEED_DATA)
    assert excluded.returncode == 2
    assert "no unlabeled sentences" in excluded.stderr


def test_bad_input_exits_2_with_one_line(tmp_path, trained_model):
    cases = [
        (["--model", tmp_path / "none", ROOT / "seeds"], f"model folder not found: {tmp_path / 'none'}"),
        (["--model", trained_model, tmp_path / "missing.txt"], "missing.txt: file not found"),
        (["--model", trained_model, SEED_DATA], "no unlabeled sentences"),
    ]
    for args, message in cases:
        result = run_cli("suggest", *args)
        assert result.returncode == 2, args
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
        assert message in result.stderr


def test_excluding_the_data_folder_reads_its_standoff_labels(tmp_path, monkeypatch):
    """`--exclude data/` as docs/data-format.md shows stopped on data/ptc/labels.jsonl: missing field 'text'."""
    from pipeline.annotation.suggestions import labeled_keys
    from pipeline.common.errors import PipelineWarning

    ptc = ROOT / "data" / "ptc" / "labels.jsonl"
    monkeypatch.setenv("PIPELINE_SHARED_DIR", str(tmp_path))  # no corpus there: its sentences cannot be known
    with pytest.warns(PipelineWarning, match=r"--exclude: .*labels\.jsonl: its sentences are not left out"):
        assert labeled_keys([ptc, SEED_DATA]) == labeled_keys([SEED_DATA])
    corpus = ROOT.parent / "shared"
    if not (corpus / "corpora" / "ptc").is_dir():
        pytest.skip(f"no PTC corpus at {corpus}")
    monkeypatch.setenv("PIPELINE_SHARED_DIR", str(corpus))
    assert len(labeled_keys([ptc])) > 1000
