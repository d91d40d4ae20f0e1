"""Agreement between two annotators who labeled the same sentences.

    python -m pipeline.agreement A.jsonl B.jsonl [--by auto|key|text] [--format text|json]

Sentences are matched by (doc_id, sentence_index) when both files carry them, else by text.
Prints Cohen's kappa overall and per label (that label against the rest), the confusion
matrix (rows: A, columns: B) and every disagreement.
"""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.annotation.agreement import MATCHING, agreement, read_annotations, render
from pipeline.common.cli import label_set
from pipeline.common.errors import ArgumentParser, reports_errors
from pipeline.common.labels import LABELS


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m pipeline.agreement",
        description="Cohen's kappa between two annotators' JSONL files, per label, with the "
        "confusion matrix and the list of disagreements.",
    )
    parser.add_argument("file_a", metavar="A.jsonl", help="first annotator's labels")
    parser.add_argument("file_b", metavar="B.jsonl", help="second annotator's labels")
    parser.add_argument("--by", choices=MATCHING, default="auto",
                        help="match sentences by doc_id+sentence_index (key), by text, or key when "
                        "both files have it (auto, default)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument("--labels", default=",".join(LABELS), type=label_set,
                        help="comma-separated label set; another label is an error naming its line "
                        "(default: %(default)s)")
    return parser.parse_args(argv)


@reports_errors
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = agreement(read_annotations(args.file_a, args.labels), read_annotations(args.file_b, args.labels),
                       args.by)
    if args.format == "json":
        sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render(result, args.file_a, args.file_b))
    if result["n_only_a"] or result["n_only_b"]:
        print(
            f"warning: {result['n_only_a']} sentences only in A and {result['n_only_b']} only in B were not compared",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
