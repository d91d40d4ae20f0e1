"""Real news: standoff labels rebuilt from corpora that are never committed, and the dev yardstick."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT, compose, run_cli, train_with, write_jsonl

from pipeline.annotation.validation import sentence_key
from pipeline.common.errors import PipelineError
from pipeline.data.sentences import split_article
from pipeline.data.source import DataSource
from pipeline.data.standoff import text_hash
from pipeline.data.unlabeled import dev_sentences

# The 18 articles of ../shared/corpora/ptc/dev.jsonl (its README lists them): never labeled for training.
DEV_ARTICLES = {f"article{n}" for n in (
    111111111, 699291100, 718595845, 727569885, 729668796, 731927633, 761610997, 763280007, 770156173,
    783774960, 786004130, 795689901, 795693029, 795703371, 832913316, 999000858, 999001290, 999001419)}
PTC_LABELS = ROOT / "data" / "ptc" / "labels.jsonl"
ND_LABELS = ROOT / "data" / "newsdiscourse" / "labels.jsonl"
SILVER = ROOT / "data" / "silver"  # labels a saved model made (python -m pipeline.silver), for data=real_silver
ARTICLE = "Rebels Vow To Take The Port\n\nThe rebels said on Monday they would storm the port. It fell in 2019.\n"


def shared_paths():
    cfg = compose("train", ["data=real"])
    return Path(cfg.paths.ptc_dir), Path(cfg.paths.newsdiscourse_dir), Path(cfg.paths.ptc_dev)


def ptc_corpus(tmp_path: Path) -> tuple[Path, Path]:
    """A PTC-like folder with one article and a standoff labels file for its sentences."""
    corpus = tmp_path / "ptc"
    (corpus / "articles").mkdir(parents=True)
    (corpus / "articles" / "article42.txt").write_text(ARTICLE, encoding="utf-8")
    labels = ["reporting", "threat", "background_fact"]
    rows = [{"doc_id": "article42", "folder": "articles", "sentence_index": s.index, "start": s.start, "end": s.end,
             "sha256": text_hash(s.text), "label": label} for s, label in zip(split_article(ARTICLE), labels)]
    return corpus, write_jsonl(tmp_path / "labels.jsonl", rows)


def source(labels: Path, corpus: Path, fmt: str = "ptc", **kwargs) -> DataSource:
    seed = ROOT / "data" / "seed_sentences.jsonl"
    return DataSource(path=str(seed), index_column="sentence_index",
                      standoff=[{"labels": str(labels), "corpus": str(corpus), "format": fmt}], **kwargs)


def test_standoff_labels_rebuild_their_sentences_from_the_corpus(tmp_path):
    corpus, labels = ptc_corpus(tmp_path)
    loaded = source(labels, corpus).load_train()
    rows = [i for i, g in enumerate(loaded.groups) if g == "article42"]
    assert [loaded.texts[i] for i in rows] == [s.text for s in split_article(ARTICLE)]
    assert [loaded.labels[i] for i in rows] == ["reporting", "threat", "background_fact"]
    assert [loaded.positions[i] for i in rows] == [0, 1, 2]
    assert loaded.places[rows[1]] == f"{labels}: line 2"
    assert str(labels) in loaded.files


def test_newsdiscourse_standoff_labels_name_the_corpus_sentences(tmp_path):
    corpus = tmp_path / "nd"
    corpus.mkdir()
    sentences = ["Floods forced 300 families from their homes.", "Officials warned of more rain."]
    write_jsonl(corpus / "train.jsonl", [{"text": t, "doc_id": "Disaster/X_1", "sentence_index": i + 3, "label": "x"}
                                         for i, t in enumerate(sentences)])
    labels = write_jsonl(tmp_path / "labels.jsonl", [
        {"doc_id": "Disaster/X_1", "sentence_index": 4, "sha256": text_hash(sentences[1]), "label": "reporting"}])
    loaded = source(labels, corpus, "newsdiscourse").load_train()
    assert loaded.texts[-1] == sentences[1] and loaded.labels[-1] == "reporting" and loaded.positions[-1] == 4


def test_a_corpus_that_differs_from_the_labeled_copy_stops_with_the_line(tmp_path):
    corpus, labels = ptc_corpus(tmp_path)
    (corpus / "articles" / "article42.txt").write_text(ARTICLE.replace("storm", "seize"), encoding="utf-8")
    with pytest.raises(PipelineError) as error:
        source(labels, corpus).load_train()
    message = str(error.value)
    assert message.startswith(f"{labels}: line 2: articles/article42.txt characters")
    assert "does not match" in message and str(corpus) in message and "\n" not in message


def test_a_missing_corpus_folder_says_where_it_looked_and_where_to_get_it(tmp_path):
    _, labels = ptc_corpus(tmp_path)
    with pytest.raises(PipelineError) as error:
        source(labels, tmp_path / "nowhere").load_train()
    message = str(error.value)
    assert str(tmp_path / "nowhere") in message and "paths.ptc_dir" in message
    assert "SemEval-2020 Task 11" in message


def test_a_missing_article_is_named(tmp_path):
    corpus, labels = ptc_corpus(tmp_path)
    (corpus / "articles" / "article42.txt").unlink()
    with pytest.raises(PipelineError, match=r"line 1: articles/article42.txt .* is missing"):
        source(labels, corpus).load_train()


@pytest.mark.parametrize("field", ["doc_id", "folder"])
def test_a_nul_escape_in_an_article_name_is_a_missing_article(tmp_path, field):
    """json reads \\u0000 as a NUL character, which no file name holds: it was a ValueError traceback."""
    corpus, labels = ptc_corpus(tmp_path)
    rows = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    write_jsonl(labels, [dict(rows[0], **{field: rows[0][field] + "\x00"})] + rows[1:])
    with pytest.raises(PipelineError, match=r"line 1: .* is missing"):
        source(labels, corpus).load_train()


def test_an_absolute_folder_is_not_read_outside_the_corpus(tmp_path):
    """corpus / "/elsewhere" is "/elsewhere": such a label read its sentence from outside paths.ptc_dir."""
    corpus, labels = ptc_corpus(tmp_path)
    rows = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    write_jsonl(labels, [dict(rows[0], folder=str(corpus / "articles"))] + rows[1:])
    with pytest.raises(PipelineError, match=r"line 1: .* is missing"):
        source(labels, corpus).load_train()


def test_a_sentence_index_past_int64_is_named(tmp_path):
    """As in a labeled file: it was read, then the context features stopped in an OverflowError traceback."""
    corpus, labels = ptc_corpus(tmp_path)
    rows = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    write_jsonl(labels, [dict(rows[0], sentence_index=2**63)] + rows[1:])
    with pytest.raises(PipelineError, match=r"line 1: 'sentence_index' is out of range, got 9223372036854775808"):
        source(labels, corpus).load_train()


def test_the_cli_prints_one_line_for_a_missing_corpus(tmp_path):
    from conftest import run_cli

    result = run_cli("train", "data=real", f"paths.ptc_dir={tmp_path / 'nowhere'}", f"paths.models_dir={tmp_path}",
                     f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "paths.ptc_dir" in result.stderr
    assert not list(tmp_path.glob("*/model.joblib"))


@pytest.mark.parametrize("command, data, key", [("train", "newsdiscourse", "paths.newsdiscourse_dir"),
                                                 ("evaluate", "ptc_dev", "paths.ptc_dir")])
def test_a_corpus_data_file_in_a_missing_folder_names_the_key_that_points_there(tmp_path, command, data, key):
    # data=newsdiscourse and data=ptc_dev read their files from the corpus folders: without them the
    # error says which corpus and which key to set, not only "file not found".
    model = ["model_dir=models/latest"] if command == "evaluate" else []
    result = run_cli(command, f"data={data}", f"{key}={tmp_path / 'nowhere'}", f"paths.models_dir={tmp_path}",
                     f"hydra.run.dir={tmp_path / 'run'}", *model)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"not found: no folder {tmp_path / 'nowhere'}" in result.stderr and f"set {key} to" in result.stderr


def test_no_dev_article_is_labeled_for_training():
    labeled = {json.loads(line)["doc_id"] for line in PTC_LABELS.read_text(encoding="utf-8").splitlines()}
    assert len(labeled) >= 100
    assert not labeled & DEV_ARTICLES
    silver = {json.loads(line)["doc_id"] for line in (SILVER / "ptc.jsonl").read_text(encoding="utf-8").splitlines()}
    assert len(silver) >= 100 and not silver & DEV_ARTICLES and not silver & labeled
    dev = shared_paths()[2]
    if dev.is_file():  # the yardstick itself, when present, agrees with the list above
        assert {json.loads(line)["doc_id"] for line in dev.read_text(encoding="utf-8").splitlines()} == DEV_ARTICLES


def test_no_written_article_is_modeled_on_a_dev_article():
    """Written articles follow the structure of a real one (`modeled_on`); a dev article would leak
    the yardstick's structure, quotes and hard cases into training."""
    models = {json.loads(line).get("modeled_on") for path in (ROOT / "data" / "written").glob("real_shaped_*.jsonl")
              for line in path.read_text(encoding="utf-8").splitlines()}
    assert None not in models and len(models) >= 100
    # ptc:article1, openwebtext:article2, ptc:openwebtext/article3 name pages article1, article2, article3
    pages = {re.sub(r"^.*[:/]", "", name) for name in models}
    assert not pages & DEV_ARTICLES


def dev_story_copies(labels: Path, pages_dir: Path, dev: Path, min_shared: int = 2) -> list[tuple[str, str, int]]:
    """Labeled articles that share `min_shared` or more of one dev article's sentences (six words
    or more, not page clutter: the rule of pipeline.data.unlabeled). Sites republish each other's
    stories: such an article is the dev story itself. One shared sentence is mostly a quote both
    stories carry (seven human-labeled articles share one); silver labels, which nobody reads,
    leave out even those pages (min_shared=1)."""
    _, dev_keys = dev_sentences(dev, shared_paths()[0])
    shared: Counter = Counter()
    articles: dict[str, str] = {}
    for line in labels.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["doc_id"] not in articles:
            page = pages_dir / row["folder"] / f"{row['doc_id']}.txt"
            articles[row["doc_id"]] = page.read_text(encoding="utf-8")
        dev_doc = dev_keys.get(sentence_key(articles[row["doc_id"]][row["start"]:row["end"]]))
        if dev_doc:
            shared[row["doc_id"], dev_doc] += 1
    return [(doc, dev_doc, count) for (doc, dev_doc), count in shared.items() if count >= min_shared]


def test_no_labeled_article_is_a_copy_of_a_dev_story(tmp_path):
    ptc_dir, _, dev = shared_paths()
    if not dev.is_file() or not ptc_dir.is_dir():
        pytest.skip(f"the PTC articles or dev set are not there (looked in {ptc_dir})")
    assert dev_story_copies(PTC_LABELS, ptc_dir, dev) == []
    assert dev_story_copies(SILVER / "ptc.jsonl", ptc_dir, dev, min_shared=1) == []
    # The check finds a copy: a page made of one dev article's first three long sentences.
    dev_rows = [json.loads(line) for line in dev.read_text(encoding="utf-8").splitlines()]
    first = [r for r in dev_rows if r["doc_id"] == dev_rows[0]["doc_id"] and len(r["text"].split()) >= 6][:3]
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "article7.txt").write_text("\n".join(r["text"] for r in first) + "\n", encoding="utf-8")
    starts = [0]
    for r in first[:-1]:
        starts.append(starts[-1] + len(r["text"]) + 1)
    copy = write_jsonl(tmp_path / "labels.jsonl", [
        {"doc_id": "article7", "folder": "articles", "start": start, "end": start + len(r["text"]), "label": r["label"]}
        for start, r in zip(starts, first)])
    assert dev_story_copies(copy, tmp_path, dev) == [("article7", dev_rows[0]["doc_id"], 3)]


def test_standoff_files_hold_no_text():
    for path in (PTC_LABELS, ND_LABELS, SILVER / "ptc.jsonl", SILVER / "newsdiscourse.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            assert "text" not in record and re.fullmatch(r"[0-9a-f]{16}", record["sha256"])


def test_training_refuses_a_dev_article(tmp_path):
    dev = write_jsonl(tmp_path / "dev.jsonl", [
        {"text": "The rebels said they would storm the port.", "label": "threat", "doc_id": "000_5e3df5cfc0837a4b",
         "sentence_index": 0}])
    with pytest.raises(PipelineError, match=r"document of the real-news dev set .* never trained on"):
        train_with(tmp_path, ["data=seed", "features=word_tfidf", f"data.dev_path={dev}"])


def test_a_run_reports_the_dev_set_first_when_present(tmp_path):
    dev = write_jsonl(tmp_path / "dev.jsonl", [
        {"text": t, "label": label, "doc_id": f"d{i // 2}", "sentence_index": i % 2}
        for i, (t, label) in enumerate([("We will burn your city.", "threat"), ("The talks ended.", "reporting"),
                                        ("This is a disgrace.", "editorial_framing"),
                                        ("The dam was built in 1970.", "background_fact")])])
    metrics = train_with(tmp_path, ["data=seed", "features=word_tfidf", f"data.dev_path={dev}"])
    real = metrics["real_news_dev"]
    assert real["real_text"] and real["n_sentences"] == 4 and real["n_documents"] == 2
    assert set(real["bootstrap"]["per_label_f1"]) == {"threat", "reporting", "editorial_framing", "background_fact"}
    report = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert report.index("## Real news (development set)") < report.index("Protocol:")
    card = json.loads((tmp_path / "models" / "run" / "model.json").read_text(encoding="utf-8"))
    assert card["metrics"]["real_news_dev"]["macro_f1"] == real["macro_f1"]
    written = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    assert next(iter(written)) == next(iter(card["metrics"])) == "real_news_dev"  # README: "dev figures first"


def test_an_absent_dev_set_is_skipped_with_a_note(tmp_path):
    metrics = train_with(tmp_path, ["data=seed", "features=word_tfidf", f"data.dev_path={tmp_path / 'no.jsonl'}"])
    assert metrics["real_news_dev"] == {"data": str(tmp_path / "no.jsonl"), "skipped": "file not found"}


def test_a_dev_path_typed_on_the_command_line_must_exist(tmp_path):
    """The configured default is skipped when absent; a typo the user gave was skipped in silence too."""
    result = run_cli("train", "data=seed", f"data.dev_path={tmp_path / 'dev.jsnol'}", f"hydra.run.dir={tmp_path / 'run'}",
                     f"paths.models_dir={tmp_path / 'models'}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: data.dev_path: file not found: {tmp_path / 'dev.jsnol'}"]
    assert not (tmp_path / "models").exists()


def test_a_dev_file_without_some_labels_is_scored_on_the_labels_it_has_or_the_model_predicts(tmp_path):
    dev = write_jsonl(tmp_path / "dev.jsonl", [
        {"text": text, "label": label, "doc_id": f"d{n}", "sentence_index": k} for n in range(3)
        for k, (text, label) in enumerate([(f"They will attack {n}.", "threat"), (f"Officials said {n}.", "reporting")])])
    metrics = train_with(tmp_path, ["data=seed", "features=word_tfidf", "model=complement_nb", f"data.dev_path={dev}"])
    real = metrics["real_news_dev"]
    predicted = {label for label, row in real["per_label"].items() if row["support"] == 0}
    assert {"threat", "reporting"} <= set(real["per_label"]) and predicted  # it predicts a label the file lacks
    assert all(real["per_label"][label]["f1"] == 0 for label in predicted)


def test_a_model_trained_on_fewer_labels_trains_and_says_the_dev_set_is_not_comparable(tmp_path):
    dev = write_jsonl(tmp_path / "dev.jsonl", [
        {"text": "The dam was built in 1970.", "label": "background_fact", "doc_id": "d0", "sentence_index": 0}])
    two = write_jsonl(tmp_path / "two.jsonl", [
        {"text": f"{text} ({n})", "label": label, "doc_id": f"t{n}"} for n in range(6)
        for text, label in [("We will burn your city", "threat"), ("The minister said talks ended", "reporting")]])
    metrics = train_with(tmp_path, ["data=seed", f"data.path={two}", "features=word_tfidf",
                                    "data.labels=[threat,reporting]", f"data.dev_path={dev}"])
    assert "are not the model's" in metrics["real_news_dev"]["skipped"]


@pytest.mark.slow
def test_data_real_loads_the_labeled_real_articles():
    ptc, newsdiscourse, _ = shared_paths()
    if not (ptc / "articles").is_dir() or not (newsdiscourse / "train.jsonl").is_file():
        pytest.skip(f"PTC or NewsDiscourse not found (looked in {ptc} and {newsdiscourse})")
    data = compose("train", ["data=real"]).data
    from pipeline.common.config import instantiate

    corpus = instantiate(data, "data").load_train()
    origins = {"ptc": PTC_LABELS, "newsdiscourse": ND_LABELS}
    counts = {name: sum(1 for _ in path.open(encoding="utf-8")) for name, path in origins.items()}
    assert counts["ptc"] + counts["newsdiscourse"] >= 5000
    assert len(corpus) == counts["ptc"] + counts["newsdiscourse"] + len(instantiate(
        compose("train", ["data=default"]).data, "data").load_train())
    silver = instantiate(compose("train", ["data=real_silver"]).data, "data").load_train()
    assert len(silver) == len(corpus) + sum(1 for name in ("ptc", "newsdiscourse")
                                            for _ in (SILVER / f"{name}.jsonl").open(encoding="utf-8"))


def eight_word_runs(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower().replace("\u2019", "'"))
    return {" ".join(words[i:i + 8]) for i in range(len(words) - 7)}


def test_no_bundled_sentence_shares_eight_words_in_a_row_with_the_shared_corpora():
    corpora = shared_paths()[0].parent
    if not corpora.is_dir():
        pytest.skip(f"no corpora at {corpora}")
    runs: set[str] = set()
    for path in sorted(corpora.rglob("*")):
        # written-starter is the project's own writing, bundled on purpose (data/written/starter_mixed_topics)
        if not path.is_file() or "written-starter" in path.parts or path.suffix not in (".txt", ".jsonl"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = [json.loads(line).get("text", "") for line in text.splitlines() if line.strip()] \
            if path.suffix == ".jsonl" else text.splitlines()
        for line in lines:
            runs |= eight_word_runs(line)
    assert len(runs) > 100_000
    shared = []
    for path in sorted((ROOT / "data").rglob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            text = json.loads(line).get("text")
            if text and eight_word_runs(text) & runs:
                shared.append(f"{path.relative_to(ROOT)}: line {number}")
    assert shared == []


def test_the_overlap_check_finds_a_copied_run():
    assert eight_word_runs("One two three four five six seven eight nine.") & eight_word_runs(
        "x one two three four five six seven eight")
