"""Pick the unlabeled sentences worth labeling next: those the model is least sure of.

    python -m pipeline.suggest --model DIR FILE|DIR|- ... [-n 50] [--exclude LABELED] [-o FILE]

Inputs are articles (.txt, split here), sentence files (.jsonl with a `text` field, where
records that already carry a label are skipped; .csv or .parquet with a `text` column),
folders of them, or - for an article on stdin. Sentences come out smallest margin first (top score minus second score),
as JSONL records with an empty `label`, ready to be labeled and checked with pipeline.validate.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.annotation.suggestions import (
    FORMATS,
    _write,
    iter_unlabeled,
    labeled_keys,
    suggest,
)
from pipeline.common.cli import at_least_one, model_options, output_options
from pipeline.common.errors import ArgumentParser, PipelineError, reports_errors


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m pipeline.suggest",
        description="List the unlabeled sentences the model is least sure of (smallest margin between "
        "its two top scores), to label next.",
        parents=[model_options(), output_options(
            FORMATS, output_help="write JSONL here instead of stdout",
            format_help="output format (default: table on a terminal, jsonl otherwise)")],
    )
    parser.add_argument("inputs", nargs="+", metavar="FILE|DIR|-",
                        help="articles (.txt), sentences (.jsonl/.csv), folders of them, or - for stdin")
    parser.add_argument("-n", "--top", type=at_least_one, default=50, help="how many sentences (default: 50)")
    parser.add_argument("--exclude", action="append", default=[], metavar="FILE|DIR",
                        help="labeled .jsonl files or folders whose sentences are left out (repeatable)")
    parser.add_argument("--batch-size", type=at_least_one, default=2000, help="sentences scored at once")
    return parser.parse_args(argv)


@reports_errors
def main(argv: list[str] | None = None) -> None:
    from pipeline.artifacts.loading import default_model_dir, load_model
    from pipeline.common.files import Output

    args = parse_args(argv)
    output = Output(args.output, args.force, [*args.inputs, *args.exclude])
    fmt = args.format or ("jsonl" if args.output or not sys.stdout.isatty() else "table")
    exclude = labeled_keys(args.exclude) if args.exclude else set()
    model = load_model(args.model or default_model_dir(), trust=args.trust)
    records, counts = suggest(model, iter_unlabeled(args.inputs), args.top, exclude, args.batch_size)
    if not records:
        raise PipelineError(
            "no unlabeled sentences in the input (labeled records, repeats and --exclude sentences are skipped)"
        )
    blank = f", {counts['n_skipped_blank']} blank" if counts["n_skipped_blank"] else ""
    print(
        f"scored {counts['n_scored']} of {counts['n_sentences']} unlabeled sentences "
        f"({counts['n_skipped_known']} already labeled in --exclude, {counts['n_skipped_repeats']} repeats{blank} "
        f"skipped); {len(records)} with the smallest margin listed",
        file=sys.stderr,
    )
    with output.open() as stream:
        _write(records, fmt, stream)


if __name__ == "__main__":
    main()
