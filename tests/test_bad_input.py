"""Bad input across the commands, as a table: what each case prints, its exit code, what it leaves.

Every refused case prints exactly one `error: ...` line naming the file, line or key, exits
with 2, shows no traceback, and leaves every file under the test folder as it was (train and
evaluate leave no run folder either). Cases that are read fine say so in the table.

Decisions for data files (README "Bad input"): a UTF-8 byte order mark and Windows line ends
are read as usual; labels with stray spaces or capitals are read as the label they spell, with
one warning per file naming the first such line; one sentence with two labels is an error
within a document and a warning across documents (a short sentence such as "Snow said." can
fairly differ between articles). Articles to score are read forgivingly: undecodable bytes
are replaced and NUL bytes read as spaces, each with a warning; a binary file is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

LABELS = ["threat", "reporting"]
# Tiny training data: 4 documents, 2 labels, so a training case fits in a few seconds.
GOOD_ROWS = [
    {"text": f"{text} {n}.", "label": label, "doc_id": f"doc{n % 4}"}
    for n, (text, label) in enumerate(
        [("We will burn your city", "threat"), ("The vote was held on Sunday", "reporting")] * 4
    )
]
TRAIN_ARGS = ["features=word_tfidf", "save_skops=false", "data.labels=[threat,reporting]"]


def jsonl(rows, newline="\n") -> bytes:
    return "".join(json.dumps(r) + newline for r in rows).encode("utf-8")


def good_with(*lines: str) -> bytes:
    """The good rows, then the given raw JSON lines."""
    return jsonl(GOOD_ROWS) + "".join(line + "\n" for line in lines).encode("utf-8")


@dataclass
class Case:
    id: str
    command: str  # train, evaluate, score, trust
    args: Callable[[Path, Path], list[str]]  # (tmp folder, trained model) -> arguments
    files: dict[str, bytes | None] = field(default_factory=dict)  # None: a folder
    expect: str = ""  # in the error line, or in a warning line when code is 0
    code: int = 2
    stdin: bytes | None = None
    root_skip: bool = False  # unreadable files cannot be made for root
    model_edit: Callable[[Path], None] | None = None  # changes the copied model folder
    lines: int = 1  # validate prints each problem on its own line, then one error line


def files(*names: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, model: [a.format(tmp=tmp) for a in names]


def data(name: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, model: [f"data.path={tmp / name}", *TRAIN_ARGS]


def score(*extra: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, model: ["--model", str(tmp / "model"), *[a.format(tmp=tmp) for a in extra]]


def evaluate(*extra: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, model: [f"model_dir={tmp / 'model'}", f"data.path={tmp / 'data.jsonl'}",
                               "data.labels=[threat,reporting]", *[a.format(tmp=tmp) for a in extra]]


def truncate(folder: Path) -> None:
    data = (folder / "model.joblib").read_bytes()
    (folder / "model.joblib").write_bytes(data[: len(data) // 2])


def corrupt(folder: Path) -> None:
    data = bytearray((folder / "model.joblib").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.joblib").write_bytes(bytes(data))


def drop(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def untrusted(folder: Path) -> None:
    """A model copied in from elsewhere: its joblib is unknown here and it has no model.skops."""
    (folder / "model.skops").unlink()
    card = json.loads((folder / "model.json").read_text())
    data = (folder / "model.joblib").read_bytes() + b"\n"  # a pickle ignores trailing bytes
    (folder / "model.joblib").write_bytes(data)
    card["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "model.json").write_text(json.dumps(card))


# Complete labeled records, as pipeline.validate wants them.
RECORDS = [dict(row, sentence_index=n // 4) for n, row in enumerate(GOOD_ROWS)]  # 0, 1 in each document
TEN_MB = 10_000_000
BINARY = bytes(range(256)) * 64
CASES = [
    # ---- train: labeled data files -------------------------------------------------------
    Case("train-empty-file", "train", data("d.jsonl"), {"d.jsonl": b""}, "d.jsonl: empty file"),
    Case("train-bom", "train", data("d.jsonl"), {"d.jsonl": b"\xef\xbb\xbf" + jsonl(GOOD_ROWS)}, code=0),
    Case("train-crlf", "train", data("d.jsonl"), {"d.jsonl": jsonl(GOOD_ROWS, "\r\n")}, code=0),
    Case("train-invalid-utf8", "train", data("d.jsonl"),
         {"d.jsonl": jsonl(GOOD_ROWS) + b'{"text": "caf\xe9", "label": "threat", "doc_id": "x"}\n'},
         "d.jsonl: line 9: not UTF-8 (byte 0xe9 at column 14)"),
    Case("train-nul-bytes", "train", data("d.jsonl"),
         {"d.jsonl": jsonl(GOOD_ROWS) + b'{"text": "a\x00b", "label": "threat", "doc_id": "x"}\n'},
         "d.jsonl: line 9: NUL byte at column 12"),
    Case("train-lone-surrogate", "train", data("d.jsonl"),  # Arrow's parse error counted rows from 0
         {"d.jsonl": good_with('{"text": "a \\ud800 b", "label": "threat", "doc_id": "x"}')},
         "d.jsonl: line 9: a lone surrogate escape"),
    Case("train-binary-file", "train", data("d.jsonl"), {"d.jsonl": BINARY}, "d.jsonl: looks like a binary file"),
    Case("train-10mb-line", "train", data("d.jsonl"),
         {"d.jsonl": good_with(json.dumps({"text": "word " * (TEN_MB // 5), "label": "threat", "doc_id": "x"}))},
         "d.jsonl: line 9: text of 10,000,000 characters"),
    Case("train-json-nested-too-deeply", "train", data("d.jsonl"),  # json's RecursionError was a traceback
         {"d.jsonl": good_with('{"text": ' + "[" * 100_000 + "]" * 100_000 + "}")},
         "d.jsonl: line 9: not valid JSON (nested too deeply)"),
    Case("train-sentence-index-past-int64", "train",  # the context features' OverflowError was a traceback
         lambda tmp, m: [f"data.path={tmp / 'd.jsonl'}", "save_skops=false", "data.labels=[threat,reporting]"],
         {"d.jsonl": jsonl(RECORDS[:-1] + [dict(RECORDS[-1], sentence_index=10**25)])},
         "d.jsonl: line 8: 'sentence_index' is out of range, got 1e+25"),
    Case("train-json-array", "train", data("d.jsonl"), {"d.jsonl": json.dumps(GOOD_ROWS).encode()},
         "d.jsonl: line 1: expected one JSON object per line, got list"),
    Case("train-two-sentences-at-one-place", "train", data("d.jsonl"),  # trained, both read at one position
         {"d.jsonl": jsonl(RECORDS) + b'{"text": "x", "label": "threat", "doc_id": "doc0", "sentence_index": 1}\n'},
         "d.jsonl: line 9: doc_id 'doc0' sentence_index 1 repeats "),
    Case("train-numeric-label", "train", data("d.jsonl"),
         {"d.jsonl": good_with('{"text": "x", "label": 3, "doc_id": "x"}')}, "d.jsonl: line 9: unknown label 3"),
    Case("train-null-label", "train", data("d.jsonl"),
         {"d.jsonl": good_with('{"text": "x", "label": null, "doc_id": "x"}')}, "d.jsonl: line 9: missing label"),
    Case("train-empty-label", "train", data("d.jsonl"),  # a labeling template not yet filled in
         {"d.jsonl": good_with('{"text": "x", "label": "", "doc_id": "x"}')}, "d.jsonl: line 9: missing label (empty)"),
    Case("train-label-spaces-case", "train", data("d.jsonl"),
         {"d.jsonl": good_with('{"text": "They said so.", "label": " Reporting ", "doc_id": "x"}')},
         "d.jsonl: line 9: label ' Reporting ' read as 'reporting'", code=0),
    Case("train-null-text", "train", data("d.jsonl"),
         {"d.jsonl": good_with('{"text": null, "label": "threat", "doc_id": "x"}')}, "d.jsonl: line 9: missing text"),
    Case("train-two-labels-one-document", "train", data("d.jsonl"),
         {"d.jsonl": good_with('{"text": "We will burn your city 0.", "label": "reporting", "doc_id": "doc0"}')},
         "d.jsonl: line 9: the same sentence is labeled 'reporting' here and 'threat' at"),
    Case("train-two-labels-two-documents", "train", data("d.jsonl"),
         {"d.jsonl": good_with('{"text": "We will burn your city 0.", "label": "reporting", "doc_id": "doc9"}')},
         "1 sentence carries different labels in different documents", code=0),
    Case("train-unreadable-file", "train", data("d.jsonl"), {"d.jsonl": jsonl(GOOD_ROWS)},
         "d.jsonl: cannot read: Permission denied", root_skip=True),
    Case("train-folder-for-file", "train", data("d.jsonl"), {"d.jsonl": None},
         "data.path: no .jsonl, .csv or .parquet files in folder"),
    Case("train-missing-file", "train", data("none.jsonl"), {}, "data.path: file not found"),
    Case("train-path-a-number", "train", lambda tmp, m: ["data.path=123"], {},  # was pathlib's TypeError traceback
         "data.path: expected a path or a list of paths, got 123"),
    Case("train-test-path-true", "train", lambda tmp, m: ["data.test_path=true"], {},
         "data.test_path: expected a path or a list of paths, got True"),
    Case("train-unsupported-type", "train", data("d.xml"), {"d.xml": b"<a/>"}, "d.xml: unsupported file type '.xml'"),
    Case("train-csv-missing-column", "train", data("d.csv"), {"d.csv": b"sentence,label,doc_id\nx,threat,a\n"},
         "d.csv: missing column 'text'"),
    Case("train-csv-invalid-utf8", "train", data("d.csv"),
         {"d.csv": b"text,label,doc_id\nWe will come.,threat,a\ncaf\xe9,reporting,b\n"},
         "d.csv: line 3: not UTF-8 (byte 0xe9"),
    Case("train-csv-header-only", "train", data("d.csv"), {"d.csv": b"text,label,doc_id\n"},
         "d.csv: no rows below the header line"),
    Case("train-csv-ragged-row", "train", data("d.csv"),
         {"d.csv": b"text,label,doc_id\nWe will come.,threat,a\nIt rained.,reporting,b,extra,more\n"},
         "d.csv: cannot read as csv: Error tokenizing data. C error: Expected 3 fields in line 3, saw 5"),
    Case("train-parquet-truncated", "train", data("d.parquet"), {"d.parquet": b"PAR1" + b"\0" * 64},
         "d.parquet: cannot read as parquet:"),
    Case("train-out-of-core-mixed-types", "train",  # datasets reads the column as JSON text
         lambda tmp, m: [*data("d.jsonl")(tmp, m), "experiment=out_of_core"],
         {"d.jsonl": good_with('{"text": 7, "label": "threat", "doc_id": "x"}')},
         "d.jsonl: line 9: text in column 'text' is int 7, not a string"),
    Case("train-mixed-types-past-a-blank-line", "train", data("d.jsonl"),  # named no line: a blank line stops datasets
         {"d.jsonl": b"\n" + good_with('{"text": 7, "label": "threat", "doc_id": "x"}')},
         "d.jsonl: line 10: field 'text' holds a number here (7) and a string on line 2"),
    # ---- train: configuration --------------------------------------------------------------
    Case("train-config-key-typo", "train", lambda tmp, m: ["model.Cx=1"], {}, "Key 'Cx' is not in struct"),
    Case("train-config-group-typo", "train", lambda tmp, m: ["modle=logreg"], {}, "Could not override 'modle'"),
    Case("train-config-unknown-option", "train", lambda tmp, m: ["model=forest"], {}, "Could not find 'model/forest'"),
    Case("train-C-negative", "train", lambda tmp, m: ["model.C=-1"], {}, "config model.C: The 'C' parameter"),
    Case("train-C-true", "train", lambda tmp, m: ["model.C=true"], {},  # trained with C=1
         "config model.C: expected a number, got True"),
    Case("train-sweep-metric-a-number", "train", lambda tmp, m: ["sweep_metric=5"], {},  # was an AttributeError
         "config sweep_metric: 5 is not a figure of metrics.json"),
    Case("train-cache-dir-a-number", "train", lambda tmp, m: ["features=minilm", "features.cache_dir=5"], {},
         "config features.cache_dir: The 'cache_dir' parameter of SentenceEmbeddings must be"),  # was a TypeError
    Case("train-preprocessor-not-importable", "train",  # Hydra logged the import error over three lines first
         lambda tmp, m: ["features.text.char.preprocessor.path=pipeline.nothere"], {},
         "config features.text.char.preprocessor: Error loading 'pipeline.nothere': ModuleNotFoundError"),
    Case("train-batch-size-zero", "train", lambda tmp, m: ["experiment=out_of_core", "model.batch_size=0"], {},
         "config model.batch_size: The 'batch_size' parameter of BatchedSGDClassifier must be an int in the range"),
    Case("train-neighbour-min-df-zero", "train", lambda tmp, m: ["features.context.neighbour_min_df=0"], {},
         "config features.context.neighbour_min_df: The 'neighbour_min_df' parameter of FastDiscourseFeatures must be an int"),
    Case("train-ngram-range-reversed", "train", lambda tmp, m: ["features=char_tfidf", "features.ngram_range=[3,1]"],
         {}, "config features.ngram_range: must be [min, max] with 1 <= min <= max, got [3, 1]"),
    Case("train-min-df-above-the-sentences", "train", lambda tmp, m: [*data("d.jsonl")(tmp, m), "features.min_df=100"],
         {"d.jsonl": jsonl(GOOD_ROWS)},  # was 'training failed: max_df corresponds to < documents than min_df'
         "config features.min_df=100, features.max_df=1.0: no term is left on 6 training sentences of a "
         "cross-validation fold (a term must be in at least min_df and at most max_df of them); lower features.min_df "
         "or raise features.max_df (a whole number counts sentences, a fraction is a share of them)"),
    Case("train-max-df-below-min-df", "train",
         lambda tmp, m: [*data("d.jsonl")(tmp, m), "features.min_df=2", "+features.max_df=1"],
         {"d.jsonl": jsonl(GOOD_ROWS)}, "config features.min_df=2, features.max_df=1: no term is left on"),
    Case("train-min-df-a-share-no-term-reaches", "train",  # was 'training failed: After pruning, no terms remain'
         lambda tmp, m: [*data("d.jsonl")(tmp, m), "features.min_df=0.99"],
         {"d.jsonl": jsonl(GOOD_ROWS)}, "config features.min_df=0.99, features.max_df=1.0: no term is left on"),
    Case("train-min-df-with-calibration", "train",  # was blamed on calibration
         lambda tmp, m: [*data("d.jsonl")(tmp, m), "calibration=sigmoid", "features.min_df=100"],
         {"d.jsonl": jsonl(GOOD_ROWS)}, "config features.min_df=100, features.max_df=1.0: no term is left on"),
    Case("train-neighbour-min-df-above-the-sentences", "train",
         lambda tmp, m: ["data=seed", "features.context.neighbour_min_df=1000"], {},
         "config features.context.neighbour_min_df=1000: no term is left on"),
    Case("train-save-skops-typo", "train", lambda tmp, m: ["save_skops=flase"], {},
         "config save_skops: must be true or false, got 'flase'"),
    Case("train-data-name-too-long", "train", data("d" * 300 + ".jsonl"), {}, "data.path: File name too long: "),
    Case("train-run-name-latest", "train", lambda tmp, m: ["run_name=latest"], {}, "config run_name: 'latest'"),
    Case("train-run-name-too-long", "train", lambda tmp, m: ["run_name=" + "x" * 300], {},
         "bytes long; a model folder name takes at most 180"),  # was OSError 'File name too long'
    Case("train-latest-is-a-folder", "train", data("d.jsonl"),  # was refused after training, the model discarded
         {"d.jsonl": jsonl(GOOD_ROWS), "models/latest/model.json": b"{}"},
         "models/latest is not a link to the last model but a folder (a copy or zip that followed links makes one)"),
    Case("train-run-name-taken", "train", lambda tmp, m: ["run_name=taken", *TRAIN_ARGS],
         {"models/taken/model.json": b"{}"}, "model folder already exists:"),
    # ---- evaluate ------------------------------------------------------------------------------
    Case("evaluate-missing-model", "evaluate", lambda tmp, m: [f"model_dir={tmp / 'none'}"], {},
         "model folder not found:"),
    Case("evaluate-truncated-model", "evaluate", evaluate(), {"data.jsonl": jsonl(GOOD_ROWS)},
         "model.joblib: sha256 does not match model.json", model_edit=truncate),
    Case("evaluate-corrupted-model", "evaluate", evaluate(), {"data.jsonl": jsonl(GOOD_ROWS)},
         "model.joblib: sha256 does not match model.json", model_edit=corrupt),
    Case("evaluate-missing-card", "evaluate", evaluate(), {"data.jsonl": jsonl(GOOD_ROWS)},
         "no model.json in the model folder", model_edit=drop("model.json")),
    Case("evaluate-untrusted-model", "evaluate", evaluate(), {"data.jsonl": jsonl(GOOD_ROWS)},
         "model.joblib: not trusted on this machine", model_edit=untrusted),
    Case("evaluate-trust-model-typo", "evaluate", evaluate("trust_model=flase"), {"data.jsonl": jsonl(GOOD_ROWS)},
         "config trust_model: must be true or false, got 'flase'"),
    Case("evaluate-invalid-utf8", "evaluate", evaluate(),
         {"data.jsonl": jsonl(GOOD_ROWS) + b'{"text": "caf\xe9", "label": "threat", "doc_id": "x"}\n'},
         "data.jsonl: line 9: not UTF-8"),
    Case("evaluate-config-typo", "evaluate", evaluate("model_dri=x"), {"data.jsonl": jsonl(GOOD_ROWS)},
         "Could not override 'model_dri'"),
    # ---- score -----------------------------------------------------------------------------------
    Case("score-empty-file", "score", score("{tmp}/a.txt"), {"a.txt": b""}, "a.txt: no sentences (the file is empty or blank)",
         code=0),
    Case("score-bom", "score", score("{tmp}/a.txt"), {"a.txt": "\ufeffWe will come. It rained.".encode()}, code=0),
    Case("score-crlf", "score", score("{tmp}/a.txt"), {"a.txt": b"We will come.\r\nIt rained.\r\n"}, code=0),
    Case("score-invalid-utf8", "score", score("{tmp}/a.txt"), {"a.txt": b"Le ministre a menac\xe9 la ville."},
         "a.txt: bytes that are not UTF-8 were replaced", code=0),
    Case("score-nul-bytes", "score", score("{tmp}/a.txt"), {"a.txt": b"We will\x00 come."},
         "a.txt: NUL bytes were read as spaces", code=0),
    Case("score-binary-file", "score", score("{tmp}/a.txt", "-o", "{tmp}/out.jsonl", "--force"),  # kept though forced
         {"a.txt": BINARY, "out.jsonl": b"kept\n"}, "a.txt: looks like a binary file"),
    Case("score-10mb-line", "score", score("{tmp}/a.txt", "-o", "{tmp}/out.jsonl"), {"a.txt": b"x" * TEN_MB},
         "a.txt: sentence 0: sentence of 10,000,000 characters; scored on its first 10,000", code=0),
    Case("score-json-array", "score", score("{tmp}/s.jsonl"), {"s.jsonl": b'[{"text": "a"}, {"text": "b"}]'},
         "s.jsonl: line 1: expected one JSON object per line, got list; the file holds a JSON array"),
    Case("score-jsonl-invalid-utf8", "score", score("{tmp}/s.jsonl"),
         {"s.jsonl": b'{"text": "Le ministre a menac\xe9 la ville."}\n'},
         "s.jsonl: bytes that are not UTF-8 were replaced", code=0),
    Case("score-jsonl-lone-surrogate", "score", score("{tmp}/s.jsonl", "-o", "{tmp}/out.csv"),
         {"s.jsonl": b'{"text": "We will come. \\ud83d"}\n'}, "s.jsonl: lone surrogates", code=0),
    Case("score-jsonl-number-over-4300-digits", "score", score("{tmp}/s.jsonl", "--jobs", "2"),  # a ValueError
         {"s.jsonl": b'{"text": "a"}\n{"text": "b", "doc_id": ' + b"9" * 5000 + b"}\n"},
         "s.jsonl: line 2: not valid JSON (a number of over 4,300 digits)"),
    Case("score-null-text", "score", score("{tmp}/s.jsonl"), {"s.jsonl": b'{"text": "a"}\n{"text": null}\n'},
         "s.jsonl: line 2: expected an object with a 'text' string"),
    Case("score-csv-invalid-utf8", "score", score("{tmp}/s.csv", "-o", "{tmp}/o.jsonl"),  # was replaced unsaid
         {"s.csv": b"text\nLe ministre a menac\xe9 la ville.\n"}, "s.csv: bytes that are not UTF-8 were replaced",
         code=0),
    Case("score-csv-nul-bytes", "score", score("{tmp}/s.csv", "-o", "{tmp}/o.jsonl"),  # was scored as NUL, unsaid
         {"s.csv": b"text\nWe will\x00 come.\n"}, "s.csv: NUL bytes were read as spaces", code=0),
    Case("score-csv-bad-index", "score", score("{tmp}/s.csv"), {"s.csv": b"text,sentence_index\nHello.,one\n"},
         "s.csv: row 1: sentence_index is not a whole number: 'one'"),
    Case("score-csv-200k-field", "score", score("{tmp}/s.csv", "-o", "{tmp}/out.jsonl"),  # was csv's _csv.Error
         {"s.csv": b"text\n" + b"x" * 200_000 + b"\n"},
         "s.csv: sentence 0: sentence of 200,000 characters; scored on its first 10,000", code=0),
    Case("score-unreadable-file", "score", score("{tmp}/a.txt"), {"a.txt": b"We will come."},
         "a.txt: cannot read: Permission denied", root_skip=True),
    Case("score-missing-input", "score", score("{tmp}/none.txt"), {}, "none.txt: file not found"),
    Case("score-output-in-missing-folder", "score", score("--text", "Hello.", "-o", "{tmp}/no/out.jsonl"), {},
         "--output: folder does not exist:"),
    Case("score-output-exists", "score", score("--text", "Hello.", "-o", "{tmp}/out.jsonl"), {"out.jsonl": b"kept\n"},
         "out.jsonl already exists (pass --force to replace it)"),
    Case("score-output-is-its-input", "score", score("{tmp}/s.jsonl", "-o", "{tmp}/s.jsonl", "--force"),
         {"s.jsonl": b'{"text": "We will come."}\n'}, "s.jsonl is also an input, which it would replace"),
    Case("suggest-output-is-its-exclude", "suggest", score("{tmp}/a.txt", "--exclude", "{tmp}/l.jsonl", "-o",
         "{tmp}/l.jsonl", "--force"), {"a.txt": b"We will come.", "l.jsonl": jsonl(RECORDS)},
         "l.jsonl is also an input, which it would replace"),
    Case("score-output-is-folder", "score", score("--text", "Hello.", "-o", "{tmp}/out"), {"out": None},
         "out is a folder, not a file"),
    Case("score-unknown-format", "score", score("--text", "Hello.", "--format", "xml"), {},
         "argument --format: invalid choice: 'xml'"),
    Case("score-batch-size-zero", "score", score("--text", "Hello.", "--batch-size", "0"), {},
         "argument --batch-size: must be at least 1, got 0"),
    Case("score-truncated-model", "score", score("--text", "Hello."), {},
         "model.joblib: sha256 does not match model.json", model_edit=truncate),
    Case("score-missing-card", "score", score("--text", "Hello."), {}, "no model.json in the model folder",
         model_edit=drop("model.json")),
    Case("score-model-is-a-file", "score", lambda tmp, m: ["--model", str(tmp / "f"), "--text", "Hi."],
         {"f": b"x"}, "is a file, not a model folder"),
    Case("score-untrusted-model", "score", score("--text", "Hello."), {}, "not trusted on this machine",
         model_edit=untrusted),
    Case("score-stdin-invalid-utf8", "score", score("-"), {}, "stdin: bytes that are not UTF-8 were replaced",
         code=0, stdin=b"Le ministre a menac\xe9 la ville."),
    Case("score-text-invalid-utf8", "score", score("--text", "menac\udce9 la ville.", "-o", "{tmp}/o.csv"), {},
         "--text: bytes that are not UTF-8 were replaced", code=0),  # \udce9: the byte 0xe9 in argv
    Case("score-file-name-invalid-utf8", "score", score("{tmp}/caf\udce9.txt", "-o", "{tmp}/o.csv"),
         {"caf\udce9.txt": b"We will come."}, code=0),  # its doc_id (the stem) is written as caf\ufffd
    # a name longer than a file name can be (255 bytes): each was an OSError 'File name too long' traceback
    Case("score-model-name-too-long", "score", lambda tmp, m: ["--model", str(tmp / ("m" * 300)), "--text", "Hi."],
         {}, "File name too long"),
    Case("score-input-name-too-long", "score", score("{tmp}/" + "a" * 300 + ".txt"), {}, "File name too long"),
    Case("score-output-name-too-long", "score", score("--text", "Hi.", "-o", "{tmp}/" + "o" * 300 + ".jsonl"), {},
         "File name too long"),
    Case("evaluate-model-name-too-long", "evaluate", lambda tmp, m: [f"model_dir={tmp / ('m' * 300)}"], {},
         "model folder "),
    Case("compare-name-too-long", "compare", lambda tmp, m: [str(tmp / ("r" * 300)), str(tmp / "model")], {},
         "File name too long"),
    Case("leaderboard-name-too-long", "leaderboard", lambda tmp, m: [str(tmp / ("r" * 300))], {},
         "File name too long"),
    # ---- data commands: validate, split, agreement, suggest, audit ------------------------------
    Case("validate-empty-file", "validate", files("{tmp}/d.jsonl"), {"d.jsonl": b""},
         "d.jsonl: empty file, no sentences", lines=2),
    Case("validate-bom-crlf", "validate", files("{tmp}/d.jsonl"),
         {"d.jsonl": b"\xef\xbb\xbf" + jsonl(RECORDS, "\r\n")}, code=0),
    Case("validate-invalid-utf8", "validate", files("{tmp}/d.jsonl"),
         {"d.jsonl": jsonl(RECORDS) + b'{"text": "caf\xe9", "label": "threat", "doc_id": "x", "sentence_index": 0}\n'},
         "d.jsonl: line 9: not UTF-8 (byte 0xe9 at column 14)", lines=2),
    Case("validate-binary-file", "validate", files("{tmp}/d.jsonl"), {"d.jsonl": BINARY},
         "d.jsonl: looks like a binary file"),
    Case("validate-json-array", "validate", files("{tmp}/d.jsonl"), {"d.jsonl": json.dumps(RECORDS).encode()},
         "d.jsonl: line 1: expected one JSON object per line, got list; the file holds a JSON array", lines=2),
    Case("validate-json-nested-too-deeply", "validate", files("{tmp}/d.jsonl"),  # its first line, read twice
         {"d.jsonl": ("{\"text\": " + "[" * 100_000 + "]" * 100_000 + "}\n").encode()},
         "d.jsonl: line 1: not valid JSON (nested too deeply)", lines=2),
    Case("validate-sentence-index-past-int64", "validate", files("{tmp}/d.jsonl"),  # which training refuses
         {"d.jsonl": jsonl(RECORDS[:-1] + [dict(RECORDS[-1], sentence_index=2**63)])},
         "d.jsonl: line 8: 'sentence_index' is out of range, got 9223372036854775808", lines=2),
    Case("validate-label-spaces-case", "validate", files("{tmp}/d.jsonl"),  # read as training reads it
         {"d.jsonl": jsonl(RECORDS[:-1] + [dict(RECORDS[-1], label=" Reporting ")])},
         "d.jsonl: line 8: label ' Reporting ' read as 'reporting'", code=0),
    Case("split-binary-article", "split", files("{tmp}/a.txt"), {"a.txt": BINARY}, "a.txt: looks like a binary file"),
    Case("split-stdin-binary", "split", files("-"), {}, "stdin: looks like a binary file", stdin=BINARY),  # was split
    Case("split-stdin-invalid-utf8", "split", files("-"), {}, "stdin: bytes that are not UTF-8 were replaced", code=0,
         stdin=b"Le ministre a menac\xe9 la ville."),  # stdin is read as score reads it
    Case("split-output-exists", "split", files("{tmp}/a.txt", "-o", "{tmp}/t.jsonl"),
         {"a.txt": b"We will come.", "t.jsonl": b"kept\n"}, "t.jsonl already exists (pass --force"),
    Case("split-output-is-its-input", "split", files("{tmp}/a.txt", "-o", "{tmp}/a.txt", "--force"),  # replaced it
         {"a.txt": b"We will come."}, "a.txt is also an input, which it would replace"),
    Case("split-output-in-its-input-folder", "split", files("{tmp}", "-o", "{tmp}/a.txt", "--force"),  # replaced it
         {"a.txt": b"We will come."}, "a.txt is also an input, which it would replace"),
    Case("split-output-in-missing-folder", "split", files("{tmp}/a.txt", "-o", "{tmp}/no/t.jsonl"),
         {"a.txt": b"We will come."}, "--output: folder does not exist:"),
    Case("agreement-json-array", "agreement", files("{tmp}/a.jsonl", "{tmp}/b.jsonl"),
         {"a.jsonl": json.dumps(RECORDS).encode(), "b.jsonl": jsonl(RECORDS)}, "a.jsonl: line 1: expected one JSON object"),
    Case("agreement-empty-file", "agreement", files("{tmp}/a.jsonl", "{tmp}/b.jsonl"),
         {"a.jsonl": b"", "b.jsonl": jsonl(RECORDS)}, "a.jsonl: empty file"),
    Case("suggest-unknown-format", "suggest", files("{tmp}/a.txt", "--format", "xml"), {"a.txt": b"Hi."},
         "argument --format: invalid choice: 'xml'"),
    Case("agreement-invalid-utf8", "agreement", files("{tmp}/a.jsonl", "{tmp}/b.jsonl"),
         {"a.jsonl": jsonl(RECORDS) + b'{"text": "caf\xe9", "label": "threat"}\n', "b.jsonl": jsonl(RECORDS)},
         "a.jsonl: line 9: not UTF-8 (byte 0xe9 at column 14)"),
    Case("suggest-untrusted-model", "suggest", score("{tmp}/a.txt"), {"a.txt": b"We will come."},
         "not trusted on this machine", model_edit=untrusted),
    Case("audit-config-typo", "audit", lambda tmp, m: ["model.Cx=1"], {}, "Key 'Cx' is not in struct"),
    Case("audit-invalid-utf8", "audit", data("d.jsonl"),
         {"d.jsonl": jsonl(GOOD_ROWS) + b'{"text": "caf\xe9", "label": "threat", "doc_id": "x"}\n'},
         "d.jsonl: line 9: not UTF-8"),
    # ---- trust -----------------------------------------------------------------------------------
    Case("trust-corrupted-model", "trust", lambda tmp, m: [str(tmp / "model")], {},
         "model.joblib: sha256 does not match model.json", model_edit=corrupt),
    Case("trust-no-folder-given", "trust", lambda tmp, m: [], {}, "give model folders to trust, or --list"),
]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root and a hash of its bytes."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in root.rglob("*") if path.is_file()}


def make_files(tmp: Path, files: dict[str, bytes | None]) -> None:
    for name, content in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: Case, tmp_path: Path, trained_model: Path):
    if case.root_skip and os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading a file")
    make_files(tmp_path, case.files)
    shutil.copytree(trained_model, tmp_path / "model")
    if case.model_edit:
        case.model_edit(tmp_path / "model")
    if case.root_skip:
        for name in case.files:
            (tmp_path / name).chmod(0)
    args = case.args(tmp_path, trained_model)
    if case.command in {"train", "evaluate"}:
        args += [f"hydra.run.dir={tmp_path / 'run'}", f"paths.models_dir={tmp_path / 'models'}"]
    before = snapshot(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", f"pipeline.{case.command}", *args],
        cwd=ROOT, input=case.stdin or b"", capture_output=True, timeout=300,
    )
    stderr = result.stderr.decode("utf-8", errors="replace")
    assert result.returncode == case.code, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    if case.code == 2:
        assert len(lines) == case.lines and lines[-1].startswith("error: "), stderr
        assert case.expect in lines[0], stderr
        assert snapshot(tmp_path) == before, "a refused command wrote or changed files"
        assert not (tmp_path / "run").exists(), "a refused run left its run folder"
    else:
        assert all(line.startswith(("warning: ", "note: ")) for line in lines), stderr  # validate's notes
        if case.expect:
            assert any(case.expect in line for line in lines), stderr
        else:
            assert not lines, stderr


def test_the_table_has_at_least_thirty_cases():
    assert len(CASES) >= 30
    assert {c.command for c in CASES} >= {"train", "evaluate", "score", "validate", "split", "agreement",
                                          "suggest", "audit"}


def test_read_fine_cases_give_clean_sentences(tmp_path, trained_model):
    """BOM and CRLF vanish from what is scored; a 10 MB line comes back whole in the output."""
    from pipeline.scoring.inputs import iter_items

    (tmp_path / "bom.txt").write_bytes("\ufeffWe will come.\r\nIt rained.\r\n".encode())
    texts = [text for _, _, text in iter_items([str(tmp_path / "bom.txt")], [])]
    assert texts == ["We will come.", "It rained."]


LONG = "x" * 5000


@pytest.mark.parametrize("command, args, files, expect", [
    ("train", lambda tmp: [f"data.path={tmp / 'd.jsonl'}", *TRAIN_ARGS],
     {"d.jsonl": good_with(json.dumps({"text": "x", "label": LONG, "doc_id": "x"}))}, "line 9: unknown label 'xxx"),
    ("validate", lambda tmp: [str(tmp / "d.jsonl")],
     {"d.jsonl": jsonl(RECORDS[:-1] + [dict(RECORDS[-1], label=LONG)])}, "validation failed: 1 problem in 1 file"),
    ("agreement", lambda tmp: [str(tmp / "a.jsonl"), str(tmp / "b.jsonl"), "--by", LONG], {},
     "argument --by: invalid choice: 'xxx"),
    ("train", lambda tmp: [f"model.{LONG}=1"], {}, "error: config: "),
    ("score", lambda tmp: ["--text", "Hi.", "--model", str(tmp / LONG[:200] / LONG[:200])], {},
     "model folder not found:"),
])
def test_a_5000_character_value_is_quoted_cut_to_a_readable_length(tmp_path, command, args, files, expect):
    """What a user gave is shown cut (its length said), so the one error line stays readable."""
    make_files(tmp_path, files)
    extra = [f"hydra.run.dir={tmp_path / 'run'}"] if command == "train" else []
    result = subprocess.run([sys.executable, "-m", f"pipeline.{command}", *args(tmp_path), *extra],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and lines[-1].startswith("error: ") and expect in lines[-1], result.stderr
    assert all(len(line) < 600 for line in lines), [len(line) for line in lines]
    assert "…" in result.stderr
