"""The commands: `python -m pipeline` lists them; `python -m pipeline CMD ...` (or `rhetoric CMD ...`) runs one.

Each command is also `python -m pipeline.CMD ...`; `--help` on any of them tells its options.
"""

from __future__ import annotations

import runpy
import sys

# name -> what it does, in the order of the work: train, look at runs, score, label more data
COMMANDS = {
    "train": "train a model (Hydra overrides, -m for sweeps): cross-validate by document, refit, save",
    "evaluate": "evaluate a saved model on a labeled file",
    "leaderboard": "rank runs or a sweep's jobs by their metrics",
    "compare": "paired bootstrap of two runs or models: which is better, with an interval",
    "score": "label every sentence of articles or sentence files with a saved model",
    "serve": "an HTTP service and paste page around a saved model",
    "pretrain": "adapt the encoder to news on unlabeled articles, for model.base_weights",
    "silver": "label the unlabeled real articles with a saved model, for data=real_silver",
    "trust": "vouch for a model folder received from elsewhere (or list and remove trusted ones)",
    "split": "articles to a labeling template, one sentence a line",
    "suggest": "the unlabeled sentences a model is least sure of, to label next",
    "validate": "check labeled files: schema, labels, duplicates, leakage, counts",
    "agreement": "Cohen's kappa between two annotators' labels",
    "audit": "labeled sentences most likely mislabeled, by out-of-fold probability",
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m pipeline COMMAND [ARGS...]   (or: rhetoric COMMAND, python -m pipeline.COMMAND)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, text in COMMANDS.items()]
    lines += ["", "`python -m pipeline COMMAND --help` (or `help COMMAND`) tells a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["help"] and len(argv) > 1:
        argv = [argv[1], "--help"]  # `help COMMAND` is that command's own help
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        from pipeline.common.errors import quote

        print(f"error: unknown command {quote(name)} (commands: {', '.join(COMMANDS)})", file=sys.stderr)
        raise SystemExit(2)
    sys.argv = [f"pipeline.{name}", *rest]  # Hydra commands read their overrides from sys.argv
    runpy.run_module(f"pipeline.{name}", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
