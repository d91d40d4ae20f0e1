"""Scoring stage: label every sentence of new articles with a saved model.

    python -m pipeline.score [--model DIR] [FILE|DIR|-]... [--text "..."] [--format jsonl|csv|parquet|table|html]
    python -m pipeline.score big.parquet -o scores.parquet --jobs 2 [--resume]
    python -m pipeline.score big.parquet -o scores.parquet --engine dask [--scheduler tcp://HOST:8786]

Plain-text files are articles, split into sentences here; `.jsonl` files hold one sentence
per line in a `text` field (with optional `doc_id` and `sentence_index`); `.csv` and `.parquet`
files hold sentences in a `text` column. Inputs are read lazily and scored in batches, and
results are written as they come, so memory stays flat whatever the input size. Imports neither
Hydra, `datasets`, matplotlib nor (for --text) pyarrow or dask, so one sentence scores fast.
"""

from __future__ import annotations

import sys

from pipeline.common.cli import at_least_one, model_options, output_options, precision_options
from pipeline.common.errors import ArgumentParser, reports_errors
from pipeline.scoring.run import ENGINES
from pipeline.scoring.writers import FORMATS


def parse_args(argv: list[str] | None):
    parser = ArgumentParser(
        prog="python -m pipeline.score",
        description="Label each sentence of new text with a saved model: doc_id, sentence_index, "
        "text, label and a score per label.",
        parents=[model_options(), precision_options(), output_options(
            FORMATS, output_help="write here (complete files only: renamed into place when done)",
            format_help="output format (default: from the -o suffix; table on a terminal, jsonl otherwise); "
            "html is one self-contained page of highlighted articles")],
    )
    parser.add_argument("inputs", nargs="*", metavar="FILE|DIR|-",
                        help="articles (.txt), sentences (.jsonl/.csv/.parquet), folders of them, or - for stdin")
    parser.add_argument("--text", action="append", default=[], help="score this text (repeatable)")
    parser.add_argument("--batch-size", type=at_least_one, default=2000,
                        help="sentences scored at once (and per task with --jobs or dask)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run writing the same -o file (it has not appeared yet)")
    parser.add_argument("--jobs", type=at_least_one, default=1,
                        help="processes scoring at once (local engine), or LocalCluster workers (dask)")
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="local processes, or a Dask cluster (needs the [dask] extra)")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler address; without it a LocalCluster of 2 workers is started")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for the --resume command an interruption prints
    if args.scheduler and args.engine != "dask":
        parser.error("--scheduler needs --engine dask")
    return args


@reports_errors
def main(argv: list[str] | None = None, lean: bool = False) -> None:
    """The command; `lean` (set by `python -m pipeline.score`) skips importing pandas when it can."""
    from pipeline.scoring.run import score

    score(parse_args(argv), lean=lean)


if __name__ == "__main__":
    main(lean=True)
