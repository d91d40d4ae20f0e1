"""Leaderboard of a sweep: one row per run, best first, as leaderboard.md and leaderboard.csv.

    python -m pipeline.leaderboard runs/train-multirun/2026-01-31_12-00-00_ab12cd
    python -m pipeline.leaderboard RUN_DIR RUN_DIR ... [--out DIR]
    python -m pipeline.leaderboard runs --by real_news_dev.macro_f1

A Hydra callback (configs/hydra/default.yaml) writes it at the end of every multirun. Each run
folder (found at any depth below PATH) contributes its metrics.json and .hydra/overrides.yaml;
its model_dir.txt leads to the model card, which has the fit time. Runs scored on the real-news
dev set show those figures first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.artifacts.names import METRICS_FILE
from pipeline.common.errors import ArgumentParser, PipelineError, reports_errors
from pipeline.evaluation.leaderboard import (
    build_leaderboard,
    render_markdown,
    write_leaderboard,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m pipeline.leaderboard",
        description="Rank the runs of a sweep folder (or the given run folders) and print the leaderboard.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a sweep folder, run folders, or folders holding them (runs/)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write leaderboard.md/.csv here (default: into PATH when it is one sweep folder)")
    parser.add_argument("--by", default=None, metavar="METRIC",
                        help="rank by this metrics.json key or dotted path, e.g. real_news_dev.macro_f1 or "
                        "real_news_dev.per_label.threat.f1 (default: the runs' sweep_metric, or the dev set's "
                        "macro-F1 when they name different ones or were evaluated on different data)")
    parser.add_argument("--no-write", action="store_true", help="only print")
    return parser.parse_args(argv)


@reports_errors
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    board = build_leaderboard(args.paths, args.by)
    out = args.out
    sweep = Path(args.paths[0])
    if (out is None and len(args.paths) == 1 and not (sweep / METRICS_FILE).is_file()
            and all(Path(row["run_dir"]).parent == sweep for row in board["rows"])):  # one sweep folder
        out = args.paths[0]
    if out is not None and not args.no_write:
        if not Path(out).is_dir():
            raise PipelineError(f"--out: {out}: {'not a folder' if Path(out).exists() else 'folder does not exist'}")
        write_leaderboard(board, out)
    sys.stdout.write(render_markdown(board))


if __name__ == "__main__":
    main()
