"""Options several commands share, defined once: --model/--trust, --precision, and -o/--force/--format.

Each function gives a parent parser (`ArgumentParser(parents=[...])`), so every command that
takes an option spells it, defaults it and explains it the same way. The overwrite rule that
goes with `-o` is `pipeline.common.files.check_output`: an existing file is replaced only with
`--force`.
"""

from __future__ import annotations

import argparse
from typing import Sequence


def at_least_one(text: str) -> int:
    """argparse type of counts (sentences, jobs, bytes, resamples): a whole number of at least 1."""
    from pipeline.common.errors import quote

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {quote(text)}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def label_set(text: str) -> list[str]:
    """argparse type of --labels: comma-separated labels, at least two, none twice."""
    from pipeline.common.labels import label_set_problem

    labels = [label.strip() for label in text.split(",") if label.strip()]
    problem = label_set_problem(labels)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return labels


SEED_RANGE = f"a whole number from 0 to {2**32 - 1}"  # the seeds numpy's generators and scikit-learn take


def is_seed(value) -> bool:
    """Whether `value` is a seed in SEED_RANGE (a bool is not): --seed, config seed, a splitter's random_state."""
    return type(value) is int and 0 <= value < 2**32


def seed_number(text: str) -> int:
    """argparse type of --seed: a whole number in SEED_RANGE."""
    from pipeline.common.errors import quote

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {quote(text)}") from None
    if not is_seed(value):
        raise argparse.ArgumentTypeError(f"must be {SEED_RANGE}, got {value}")
    return value


TRUST_HELP = ("load the model's model.joblib even if this machine does not trust it "
              "(a pickle runs code; see python -m pipeline.trust)")


def model_options() -> argparse.ArgumentParser:
    """--model DIR (default: models/latest) and --trust."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--model", default=None, metavar="DIR", help="model folder (default: models/latest)")
    parent.add_argument("--trust", action="store_true", help=TRUST_HELP)
    return parent


def precision_options() -> argparse.ArgumentParser:
    """--precision: how a fine-tuned encoder scores (pipeline.artifacts.loading.load_model)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--precision", choices=("fp32", "bf16"), default=None,
                        help="a fine-tuned encoder scores in this precision (default: the model's "
                        "scoring_precision); bf16 is 2-3x faster on CPUs with AVX-512 BF16 or AMX, "
                        "many times slower elsewhere")
    return parent


def _stdout_for_dash(value: str) -> str | None:
    return None if value == "-" else value


def output_options(formats: Sequence[str] | None = None, format_help: str = "output format",
                   output_help: str = "write here instead of stdout") -> argparse.ArgumentParser:
    """-o/--output FILE (`-o -`: stdout, as `-` is stdin for inputs), --force (replace an existing FILE),
    and --format when `formats` are given."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-o", "--output", default=None, metavar="FILE", type=_stdout_for_dash,
                        help=f"{output_help} (- for stdout)")
    parent.add_argument("--force", action="store_true", help="replace the -o file if it exists")
    if formats:
        parent.add_argument("--format", choices=list(formats), default=None, help=format_help)
    return parent
