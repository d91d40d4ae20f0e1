"""The real articles nobody labeled: PTC and NewsDiscourse sentences outside every labels file and
outside the real-news dev set, in standoff form (pipeline.data.standoff), for silver labels.

An article is left out when a labels file covers it, when it is a dev article, or when it repeats
a dev sentence of six words or more that is not page clutter (a line on six or more pages of the
corpus): sites republish each other's stories, and such a page is the dev story itself. Within the
articles kept, a sentence that labeled data already holds, or that its article already said, is
scored with its article (context models read its neighbours) but not labeled (`keep` false).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pipeline.common.errors import PipelineError

PTC_FOLDERS = ("articles", "openwebtext")
NEWSDISCOURSE_FILES = ("train.jsonl", "validation.jsonl")
CLUTTER_PAGES = 6  # a line on this many pages is a widget (poll form, sign-up box), not a story


@dataclass(frozen=True)
class PoolSentence:
    format: str  # "ptc" or "newsdiscourse": which standoff form locates it
    doc_id: str
    sentence_index: int
    text: str
    folder: str = ""  # ptc: the corpus folder of the article file
    start: int = 0  # ptc: character offsets in the article file
    end: int = 0
    keep: bool = True  # false: scored with its article, not labeled (already labeled, or a repeat)

    def standoff(self) -> dict:
        """Its standoff record (pipeline.data.standoff), without a label."""
        from pipeline.data.standoff import text_hash

        if self.format == "ptc":
            return {"doc_id": self.doc_id, "folder": self.folder, "sentence_index": self.sentence_index,
                    "start": self.start, "end": self.end, "sha256": text_hash(self.text)}
        return {"doc_id": self.doc_id, "sentence_index": self.sentence_index, "sha256": text_hash(self.text)}


def labeled_documents(files: list[Path]) -> tuple[set[str], set[str]]:
    """The doc_ids that labels files cover (standoff labels or labeled sentences), and the
    `sentence_key`s of the labeled sentences whose text they hold."""
    from pipeline.annotation.validation import sentence_key
    from pipeline.common.jsonl import read_json_lines

    documents, texts = set(), set()
    for file in files:
        for _, record in read_json_lines(file):
            documents.add(str(record.get("doc_id")))
            if isinstance(record.get("text"), str):
                texts.add(sentence_key(record["text"]))
    return documents, texts


def unlabeled_sentences(ptc_dir: Path | None, newsdiscourse_dir: Path | None, labeled: set[str],
                        dev: Path | None, labeled_texts: set[str] = frozenset()) -> tuple[list[PoolSentence], int]:
    """The sentences of every article of the two corpora (either may be None) that is not in
    `labeled`, not a dev article and not a copy of one; and how many PTC articles were left out
    as copies. A sentence whose `sentence_key` is in `labeled_texts`, or that its article said
    before, is not to be labeled (`keep` false)."""
    from pipeline.annotation.validation import sentence_key
    from pipeline.common.jsonl import read_json_lines
    from pipeline.data.sentences import split_article

    dev_ids, dev_keys = dev_sentences(dev, ptc_dir)
    pool: list[PoolSentence] = []
    copies = 0
    for folder in PTC_FOLDERS if ptc_dir else ():
        for page in sorted((ptc_dir / folder).glob("*.txt")):
            if page.stem in labeled or page.stem in dev_ids:
                continue
            sentences = split_article(_article_text(page))
            if any(sentence_key(s.text) in dev_keys for s in sentences):
                copies += 1
                continue
            pool += _marked(labeled_texts, (PoolSentence("ptc", page.stem, s.index, s.text, folder, s.start, s.end)
                                             for s in sentences))
    by_doc: dict[str, list[PoolSentence]] = {}
    for name in NEWSDISCOURSE_FILES if newsdiscourse_dir else ():
        path = newsdiscourse_dir / name
        if not path.is_file():
            continue
        for number, record in read_json_lines(path):
            doc, index, text = record.get("doc_id"), record.get("sentence_index"), record.get("text")
            if doc is None or isinstance(index, bool) or not isinstance(index, int) or not isinstance(text, str):
                raise PipelineError(f"{path}: line {number}: not a NewsDiscourse sentence: 'doc_id', "
                                    "'sentence_index' (a whole number) and 'text' (a string)")
            if str(doc) not in labeled and str(doc) not in dev_ids:
                by_doc.setdefault(str(doc), []).append(PoolSentence("newsdiscourse", str(doc), index, text))
    for sentences in by_doc.values():
        pool += _marked(labeled_texts, sorted(sentences, key=lambda s: s.sentence_index))
    return pool, copies


def dev_sentences(dev: Path | None, ptc_dir: Path | None) -> tuple[set[str], dict[str, str]]:
    """The dev set's doc_ids, and the `sentence_key`s of its sentences of six words or more that
    are not clutter (lines on CLUTTER_PAGES or more pages of `ptc_dir`), each with its doc_id:
    a page repeating one is a copy of a dev story."""
    from pipeline.annotation.validation import sentence_key
    from pipeline.common.jsonl import read_json_lines

    if dev is None or not dev.is_file():
        return set(), {}
    records = [record for _, record in read_json_lines(dev)]
    pages: Counter = Counter()
    for folder in PTC_FOLDERS if ptc_dir else ():
        for page in (ptc_dir / folder).glob("*.txt"):
            pages.update({sentence_key(line) for line in _article_text(page).splitlines()})
    keys = {sentence_key(str(r.get("text", ""))): str(r.get("doc_id")) for r in records
            if len(str(r.get("text", "")).split()) >= 6}
    dev_ids = {str(r.get("doc_id")) for r in records}
    return dev_ids, {key: doc for key, doc in keys.items() if pages[key] < CLUTTER_PAGES}


def _article_text(page: Path) -> str:
    """A PTC article as its standoff labels are read back (strict UTF-8), or an error naming the file."""
    try:
        return page.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{page}: not UTF-8 (byte 0x{exc.object[exc.start]:02x} at byte {exc.start + 1}); "
                            "silver labels need the corpus as its standoff labels read it") from None
    except OSError as exc:
        raise PipelineError(f"{page}: cannot read: {exc.strerror or exc}") from None


def _marked(labeled_texts: set[str], sentences) -> list[PoolSentence]:
    """An article's sentences, those already labeled elsewhere or said before in it not to be kept."""
    from dataclasses import replace

    from pipeline.annotation.validation import sentence_key

    seen, marked = set(labeled_texts), []
    for sentence in sentences:
        key = sentence_key(sentence.text)
        marked.append(sentence if key not in seen else replace(sentence, keep=False))
        seen.add(key)
    return marked
