"""Compare two runs on the same evaluation sentences with a paired bootstrap over documents.

    python -m pipeline.compare RUN_A RUN_B [--data FILE]

RUN_A and RUN_B are run folders (runs/train/...) or model folders (models/NAME). Without
--data, their saved evaluation predictions are compared (out-of-fold predictions of training
runs on the same data, or evaluations of the same file), after both models score the real-news
dev set they were scored on when trained, when it is still there and their evaluations are not of
it already (--no-dev skips it); runs trained on different data are then compared on that set
alone. With --data, both models score FILE.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.artifacts.names import REAL_NEWS_DEV
from pipeline.artifacts.predictions_file import fingerprint
from pipeline.common.cli import TRUST_HELP, at_least_one, seed_number
from pipeline.common.errors import ArgumentParser, PipelineError, reports_errors, warn
from pipeline.evaluation.comparison import (
    DifferentSentences,
    compare,
    dev_file_of,
    model_folder,
    predictions_on_file,
    render,
    run_predictions,
)
from pipeline.evaluation.uncertainty import N_RESAMPLES


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m pipeline.compare",
        description="Is run A better than run B? A paired bootstrap over documents of the difference in "
        "macro-F1 and in each label's F1.",
    )
    parser.add_argument("run_a", metavar="RUN_A", help="run folder or model folder")
    parser.add_argument("run_b", metavar="RUN_B", help="run folder or model folder")
    parser.add_argument("--data", default=None, metavar="FILE",
                        help="score both models on this labeled file (text, label, doc_id) instead of "
                        "comparing their saved evaluation predictions")
    parser.add_argument("--no-dev", action="store_true",
                        help="skip the real-news dev set (compared first, without --data, when both models "
                        "were scored on it when trained and the file is still there)")
    parser.add_argument("--trust", action="store_true", help=f"with --data or the dev set: {TRUST_HELP}")
    parser.add_argument("--resamples", type=at_least_one, default=N_RESAMPLES, help="bootstrap resamples")
    parser.add_argument("--seed", type=seed_number, default=0, help="seed of the resampling")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    return args


@reports_errors
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    paths = [Path(args.run_a), Path(args.run_b)]
    for path in paths:
        if not path.is_dir():
            raise PipelineError(f"{path}: not a folder")
    if args.data:
        a, b = (predictions_on_file(model_folder(p), args.data, args.trust) for p in paths)
    else:
        a, b = (run_predictions(p) for p in paths)
    dev_file, why_not = (None, "") if args.data or args.no_dev else dev_file_of(paths, (a, b))
    try:
        result = compare(a, b, n_resamples=args.resamples, seed=args.seed)
    except DifferentSentences:  # trained on different data: the dev set can still compare them
        if not dev_file:
            raise
        result = {"own_evaluation": DifferentSentences.what}
    if why_not:  # said once the comparison stands (a refusal is one line)
        warn(f"not compared on the real-news dev set: {why_not} (--data FILE scores both models on one file)")
    if dev_file:  # real news first (render puts it on top), unless the runs were tested on it already
        try:
            dev_a, dev_b = (predictions_on_file(model_folder(p), dev_file, args.trust) for p in paths)
        except PipelineError as exc:  # a model this machine does not trust, say: the rest still holds
            if "own_evaluation" in result:
                raise
            warn(f"not compared on the real-news dev set: {exc}")
        else:
            if fingerprint(dev_a) != fingerprint(a):
                result[REAL_NEWS_DEV] = {"data": dev_file,
                                         **compare(dev_a, dev_b, n_resamples=args.resamples, seed=args.seed)}
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        sys.stdout.write(render(result, args.run_a, args.run_b))


if __name__ == "__main__":
    main()
