"""Find sentences that are probably mislabeled, for a second look.

    python -m pipeline.audit [group=option] [key=value] ... [-n 30] [--format table|jsonl] [-o FILE]
    python -m pipeline.audit data=default model=logreg -n 30

Composes configs/train.yaml with the overrides, like `pipeline.train`, then predicts every
sentence with a model that never saw its document (the config's cross-validation, grouped by
document). The sentences whose given label gets the lowest out-of-fold probability come first.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.annotation.audit import FORMATS, _format_for, _write, audit
from pipeline.common.cli import at_least_one, output_options
from pipeline.common.errors import ArgumentParser, counted, reports_errors


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m pipeline.audit",
        description="List the labeled sentences most likely mislabeled: lowest out-of-fold probability "
        "of their given label, with folds grouped by document as in training.",
        parents=[output_options(FORMATS, format_help="output format (default: table on a terminal or -o *.txt, "
                                "jsonl otherwise)")],
    )
    parser.add_argument("overrides", nargs="*", metavar="OVERRIDE",
                        help="Hydra overrides of configs/train.yaml, e.g. data=default model=logreg data.path=FILE")
    parser.add_argument("-n", "--top", type=at_least_one, default=30, help="how many sentences to list (default: 30)")
    return parser.parse_intermixed_args(argv)


@reports_errors
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from pipeline.common.config import compose_config
    from pipeline.common.files import Output
    from pipeline.models.scores import score_method
    from pipeline.training.setup import build_run

    output = Output(args.output, args.force)
    fmt = args.format or _format_for(args.output)
    run = build_run(compose_config("train", args.overrides))
    rows, summary = audit(estimator=run.estimator, data=run.data, splitter=run.splitter, seed=run.seed)
    print(
        f"{summary['protocol']}: {counted(summary['n_sentences'], 'sentence')} in "
        f"{counted(summary['n_documents'], 'document')}; "
        f"out-of-fold prediction differs from the given label for {summary['n_disagreeing']} "
        f"(accuracy {summary['accuracy']:.3f})"
        + ("" if score_method(run.estimator) == "predict_proba" else
           "; p(label) is a softmax of the model's decision scores, not a probability"),
        file=sys.stderr,
    )
    with output.open() as stream:
        _write(rows[: args.top], fmt, stream)


if __name__ == "__main__":
    main()
