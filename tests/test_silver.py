"""Silver labels: a saved model labels the unlabeled real articles, in standoff form, never a dev story."""

import json

import pytest
from conftest import run_cli, write_jsonl

from pipeline.common.errors import PipelineError
from pipeline.data.sentences import split_article
from pipeline.data.standoff import StandoffSet, text_hash

DEV_STORY = "Rebels said on Monday that they would storm the northern port within a week."


def tiny_corpora(tmp_path):
    """PTC: article1 labeled, article2 and openwebtext article4 unlabeled, article3 republishes a dev
    sentence, article9 is the dev article itself. NewsDiscourse: d1 labeled, d2 not."""
    ptc = tmp_path / "ptc"
    (ptc / "articles").mkdir(parents=True, exist_ok=True)
    (ptc / "openwebtext").mkdir(exist_ok=True)
    pages = {
        "articles/article1.txt": "Troops Mass At Border\n\nThe army moved tanks north. Talks failed in 2019.\n",
        "articles/article2.txt": "Minister Warns Of Storm\n\nA storm will hit the coast. It is a disgrace.\n",
        "articles/article3.txt": f"Port Siege\n\n{DEV_STORY} Residents fled.\n",
        "articles/article9.txt": f"Port Under Threat\n\n{DEV_STORY}\n",
        "openwebtext/article4.txt": "We will burn your village unless you pay.\nPolice said so.\nPolice said so.\n",
    }
    for name, text in pages.items():
        (ptc / name).write_text(text, encoding="utf-8")
    write_jsonl(ptc / "dev.jsonl", [{"doc_id": "article9", "sentence_index": 0, "text": DEV_STORY, "label": "threat"},
                                    {"doc_id": "article9", "sentence_index": 1, "text": "Residents fled on foot.",
                                     "label": "reporting"}])
    nd = tmp_path / "nd"
    nd.mkdir(exist_ok=True)
    write_jsonl(nd / "train.jsonl", [
        {"doc_id": "d1", "sentence_index": 0, "text": "Shares fell on Friday.", "label": "reporting"},
        {"doc_id": "d2", "sentence_index": 0, "text": "The bank cut its rates on Tuesday.", "label": "reporting"},
        {"doc_id": "d2", "sentence_index": 2, "text": "Rates were cut twice in 2015.", "label": "background_fact"},
    ])
    first = split_article(pages["articles/article1.txt"])[0]
    ptc_labels = write_jsonl(tmp_path / "ptc_labels.jsonl", [
        {"doc_id": "article1", "folder": "articles", "sentence_index": 0, "start": first.start, "end": first.end,
         "sha256": text_hash(first.text), "label": "reporting"}])
    nd_labels = write_jsonl(tmp_path / "nd_labels.jsonl", [
        {"doc_id": "d1", "sentence_index": 0, "sha256": text_hash("Shares fell on Friday."), "label": "reporting"}])
    written = write_jsonl(tmp_path / "written.jsonl", [
        {"doc_id": "w1", "sentence_index": 0, "text": "A storm will hit the  coast.", "label": "reporting"}])
    return ptc, nd, [ptc_labels, nd_labels, written]


def silver(tmp_path, model, out, *extra):
    ptc, nd, labeled = tiny_corpora(tmp_path)
    return run_cli("silver", "--model", model, "-o", out, "--ptc-dir", ptc, "--newsdiscourse-dir", nd,
                   "--labeled", *labeled, *extra)


def test_silver_labels_cover_only_unlabeled_articles_and_rebuild_from_the_corpus(tmp_path, trained_model):
    out = tmp_path / "silver"
    result = silver(tmp_path, trained_model, out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["newsdiscourse.jsonl", "ptc.jsonl", "teacher.json"]
    ptc_rows = [json.loads(line) for line in (out / "ptc.jsonl").read_text(encoding="utf-8").splitlines()]
    # Not the labeled article1, not the dev article9, not article3 that repeats its sentence; not
    # article2's sentence that labeled data holds (spacing aside); article4's repeated line once.
    assert [(r["doc_id"], r["sentence_index"]) for r in ptc_rows] == [
        ("article2", 0), ("article2", 2), ("article4", 0), ("article4", 1)]
    rebuilt = StandoffSet(str(out / "ptc.jsonl"), str(tmp_path / "ptc"), "ptc").read()
    assert [r.text for r in rebuilt][-2:] == ["We will burn your village unless you pay.", "Police said so."]
    nd_rebuilt = StandoffSet(str(out / "newsdiscourse.jsonl"), str(tmp_path / "nd"), "newsdiscourse").read()
    assert [(r.doc_id, r.sentence_index) for r in nd_rebuilt] == [("d2", 0), ("d2", 2)]
    labels = {"threat", "reporting", "editorial_framing", "background_fact"}
    assert {r.label for r in rebuilt + nd_rebuilt} <= labels
    assert all(0.25 <= r["score"] <= 1 for r in ptc_rows)
    teacher = json.loads((out / "teacher.json").read_text(encoding="utf-8"))
    assert teacher["model_sha256"] == json.loads((trained_model / "model.json").read_text())["sha256"]
    assert teacher["left_out_as_dev_copies"] == 1
    assert 0 <= teacher["real_news_dev"]["macro_f1"] <= 1 and set(teacher["real_news_dev"]["f1"]) <= labels
    assert sum(teacher["sentences"]["ptc"].values()) == 4


def test_an_existing_folder_is_kept_without_force_and_min_confidence_filters(tmp_path, trained_model):
    out = tmp_path / "silver"
    assert silver(tmp_path, trained_model, out).returncode == 0
    before = (out / "ptc.jsonl").read_bytes()
    again = silver(tmp_path, trained_model, out, "--min-confidence", "0.99")
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "--force" in again.stderr
    assert (out / "ptc.jsonl").read_bytes() == before
    forced = silver(tmp_path, trained_model, out, "--min-confidence", "0.99", "--force")
    assert forced.returncode == 0, forced.stderr
    kept = [json.loads(line) for line in (out / "ptc.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(kept) < 4 and all(r["score"] >= 0.99 for r in kept)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_confidence_no_sentence_reaches_is_said(tmp_path, trained_model):
    # It wrote an empty folder, exit 0, and said only "wrote 0 silver labels".
    result = silver(tmp_path, trained_model, tmp_path / "silver", "--min-confidence", "1")
    assert result.returncode == 0, result.stderr
    assert "warning: --min-confidence 1.0: no sentence reached it" in result.stderr
    assert (tmp_path / "silver" / "ptc.jsonl").read_text(encoding="utf-8") == ""


def test_force_never_replaces_a_file_with_the_folder(tmp_path, trained_model):
    out = tmp_path / "notes.jsonl"
    out.write_text("kept\n", encoding="utf-8")
    result = silver(tmp_path, trained_model, out, "--force")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: -o {out}: is a file, not a folder; name a folder"]
    assert out.read_text(encoding="utf-8") == "kept\n" and not list(tmp_path.glob(".*"))


def test_silver_labels_of_one_corpus_alone_train_beside_the_others(tmp_path, trained_model):
    from pipeline.common.errors import PipelineWarning
    from pipeline.data.source import DataSource

    ptc, nd, labeled = tiny_corpora(tmp_path)
    out = tmp_path / "silver"
    result = run_cli("silver", "--model", trained_model, "-o", out, "--ptc-dir", tmp_path / "no-ptc",
                     "--newsdiscourse-dir", nd, "--labeled", *labeled)
    assert result.returncode == 0, result.stderr
    assert (out / "ptc.jsonl").read_text(encoding="utf-8") == ""
    # data=real_silver reads both files: the empty one adds nothing and says so.
    standoff = [{"labels": str(out / "ptc.jsonl"), "corpus": str(ptc), "format": "ptc"},
                {"labels": str(out / "newsdiscourse.jsonl"), "corpus": str(nd), "format": "newsdiscourse"}]
    with pytest.warns(PipelineWarning, match="ptc.jsonl: no standoff labels, so no sentences from it"):
        corpus = DataSource(path=str(labeled[2]), standoff=standoff).load_train()
    assert corpus.groups == ["w1", "d2", "d2"]


def test_silver_without_the_corpora_is_one_line(tmp_path, trained_model):
    result = run_cli("silver", "--model", trained_model, "-o", tmp_path / "silver",
                     "--ptc-dir", tmp_path / "no-ptc", "--newsdiscourse-dir", tmp_path / "no-nd")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--ptc-dir" in result.stderr and "Getting the corpora" in result.stderr
    assert not (tmp_path / "silver").exists()


def test_silver_refuses_to_run_without_the_dev_set_it_must_leave_out(tmp_path, trained_model):
    out = tmp_path / "silver"
    result = silver(tmp_path, trained_model, out, "--dev", tmp_path / "missing.jsonl")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "missing.jsonl" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("file, content, problem", [
    ("nd/train.jsonl", b"not json\n", "line 1: not valid JSON"),
    ("nd/train.jsonl", b'{"text": "Shares fell on Friday."}\n', "line 1: not a NewsDiscourse sentence"),
    ("nd/train.jsonl", b'{"doc_id": "d3", "sentence_index": 0, "text": "caf\xe9"}\n', "line 1: not UTF-8"),
    ("ptc/articles/article2.txt", b"The caf\xe9 was closed on Monday.\n", "not UTF-8 (byte 0xe9 at byte 8)"),
])
def test_a_corpus_file_silver_cannot_read_is_one_line_naming_it(tmp_path, trained_model, file, content, problem):
    ptc, nd, labeled = tiny_corpora(tmp_path)
    (tmp_path / file).write_bytes(content)
    out = tmp_path / "silver"
    result = run_cli("silver", "--model", trained_model, "-o", out, "--ptc-dir", ptc, "--newsdiscourse-dir", nd,
                     "--labeled", *labeled)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {tmp_path / file}: {problem}")
    assert not out.exists()


def test_a_corpus_line_that_is_not_utf8_is_a_hash_mismatch_when_training_rebuilds_the_labels(tmp_path):
    tiny_corpora(tmp_path)
    with open(tmp_path / "nd" / "train.jsonl", "ab") as handle:
        handle.write(b'{"doc_id": "d3", "sentence_index": 0, "text": "caf\xe9"}\n')
    bank = text_hash("The bank cut its rates on Tuesday.")
    labels = write_jsonl(tmp_path / "labels.jsonl", [
        {"doc_id": "d2", "sentence_index": 0, "sha256": bank, "label": "reporting"},
        {"doc_id": "d3", "sentence_index": 0, "sha256": text_hash("caf\u00e9"), "label": "reporting"}])
    with pytest.raises(PipelineError, match=r"labels.jsonl: line 2: d3 sentence 0 does not match"):
        StandoffSet(str(labels), str(tmp_path / "nd"), "newsdiscourse").read()


def test_member_of_a_model_that_does_not_vote_is_one_line(tmp_path, trained_model):
    result = silver(tmp_path, trained_model, tmp_path / "silver", "--member", "encoder")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--member encoder" in result.stderr and "not a voting model" in result.stderr
    assert not (tmp_path / "silver").exists()


def test_precision_bf16_of_a_model_without_an_encoder_is_one_line(tmp_path, trained_model):
    result = silver(tmp_path, trained_model, tmp_path / "silver", "--precision", "bf16")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "scoring precision bf16 is for fine-tuned encoders" in result.stderr
    assert not (tmp_path / "silver").exists()


def test_member_scores_with_that_member_alone():
    from types import SimpleNamespace

    import numpy as np
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import VotingClassifier
    from sklearn.linear_model import LogisticRegression

    from pipeline.silver import only_member

    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array(["a", "a", "b", "b"])
    vote = VotingClassifier([("prior", DummyClassifier()), ("linear", LogisticRegression())], voting="soft").fit(X, y)
    only_member(SimpleNamespace(estimator=vote), "linear", "m")
    assert np.allclose(vote.predict_proba(X), vote.named_estimators_["linear"].predict_proba(X))


def test_a_full_disk_keeps_the_earlier_silver_labels(tmp_path, trained_model):
    from faults import SmallDisks, fill, hidden_leftovers

    disks = SmallDisks(tmp_path)
    try:
        disk = disks(4096)
        out = disk / "silver"
        assert silver(tmp_path, trained_model, out).returncode == 0
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        fill(disk, leave_bytes=1024)
        result = silver(tmp_path, trained_model, out, "--force")
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 2 and len(errors) == 1
        assert errors[0].startswith(f"error: {out}: disk full") and "is unchanged" in errors[0]
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
        assert hidden_leftovers(disk) == []
    finally:
        disks.unmount_all()
