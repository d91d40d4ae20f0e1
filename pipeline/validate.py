"""Check labeled sentence files before training on them.

    python -m pipeline.validate FILE.jsonl|DIR ... [--labels a,b,c] [--allow-unlabeled] [--by FIELD]

Reports, each on its own line naming file and line: lines that are not JSON objects, missing
or mistyped fields (text, label, doc_id, sentence_index), unknown or missing labels, empty
sentences, repeated (doc_id, sentence_index) keys, duplicate sentences, the same sentence with
conflicting labels, and sentences or documents shared between files (leakage). Then prints
counts per label and per origin. Any problem makes the exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.annotation.validation import MIN_WORDS, render, validate
from pipeline.common.cli import label_set
from pipeline.common.errors import ArgumentParser, PipelineError, counted, reports_errors
from pipeline.common.labels import LABELS


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m pipeline.validate",
        description="Check labeled sentence files (JSONL): schema, labels, empty, duplicate and "
        "conflicting sentences, leakage between files; print counts per label and origin.",
    )
    parser.add_argument("inputs", nargs="+", metavar="FILE|DIR", help=".jsonl files or folders of them")
    parser.add_argument("--labels", default=",".join(LABELS), type=label_set,
                        help="comma-separated label set (default: %(default)s)")
    parser.add_argument("--allow-unlabeled", action="store_true",
                        help="accept empty labels (a template being filled in); they are counted")
    parser.add_argument("--min-words", type=int, default=MIN_WORDS,
                        help="repeats of shorter sentences are notes, not duplicates or leakage (default: %(default)s)")
    parser.add_argument("--by", action="append", default=None, metavar="FIELD",
                        help="count sentences per value of this field (repeatable; default: origin)")
    args = parser.parse_args(argv)
    if args.min_words < 0:
        parser.error(f"argument --min-words: must be at least 0, got {args.min_words}")
    return args


@reports_errors
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = validate(args.inputs, args.labels, args.allow_unlabeled, args.min_words)
    for message in report.label_notes + report.notes + report.index_notes:
        print(f"note: {message}", file=sys.stderr)
    for name in args.by or ():  # not in report.notes, which the summary counts as allowed repeats
        if report.records and not any(name in r.fields for r in report.records):
            print(f"note: --by {name}: no sentence has a field {name!r}, so its table is all (none)", file=sys.stderr)
    for message in report.errors:
        print(message, file=sys.stderr)
    sys.stdout.write(render(report, args.by or ["origin"]))
    if not report.ok:
        files = {message.split(": line ")[0] for message in report.errors}
        raise PipelineError(
            f"validation failed: {counted(len(report.errors), 'problem')} in {counted(len(files), 'file')}")


if __name__ == "__main__":
    main()
