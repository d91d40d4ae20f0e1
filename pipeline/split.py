"""Labeling template: split articles into sentences, one JSONL record each with an empty label.

    python -m pipeline.split ARTICLE.txt|DIR|- [-o FILE] [--origin O --genre G --topic T]

Each record is {"doc_id", "sentence_index", "text", "label": ""}; doc_id is the file's stem
("stdin" for -). Fill in the labels, then check the file with `python -m pipeline.validate`.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.annotation.templates import article_files, read_articles, template_records
from pipeline.common.cli import output_options
from pipeline.common.errors import ArgumentParser, PipelineError, counted, reports_errors
from pipeline.common.jsonl import json_line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m pipeline.split",
        description="Split articles into sentences and write a JSONL labeling template "
        "(doc_id, sentence_index, text, empty label).",
        parents=[output_options(output_help="write the template here instead of stdout")],
    )
    parser.add_argument("inputs", nargs="+", metavar="FILE|DIR|-",
                        help="article text files, folders of them, or - for stdin (doc_id: the file stem)")
    for field in ("origin", "genre", "topic"):
        parser.add_argument(f"--{field}", default=None, help=f"add this {field} to every record")
    return parser.parse_args(argv)


@reports_errors
def main(argv: list[str] | None = None) -> None:
    from pipeline.common.files import Output

    args = parse_args(argv)
    files = [str(path) for path in article_files(args.inputs)]  # a folder's articles are inputs too
    output = Output(args.output, args.force, files)
    extra = {f: getattr(args, f) for f in ("origin", "genre", "topic") if getattr(args, f) is not None}
    articles = read_articles(files)
    records = template_records(articles, extra)
    if not records:
        raise PipelineError("no sentences in the input; nothing written")
    with output.open() as stream:
        stream.write("".join(map(json_line, records)))
    if args.output:
        print(f"wrote {counted(len(records), 'sentence')} from {counted(len(articles), 'article')} to {args.output}",
              file=sys.stderr)


if __name__ == "__main__":
    main()
