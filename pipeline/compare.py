"""Compare two runs on the same evaluation sentences with a paired bootstrap over documents.

    python -m pipeline.compare RUN_A RUN_B [--data FILE]

RUN_A and RUN_B are run folders (runs/train/...) or model folders (models/NAME). Without
--data, their saved evaluation predictions are compared (out-of-fold predictions of training
runs on the same data, or evaluations of the same file); with --data, both models score FILE.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.errors import ArgumentParser, PipelineError, reports_errors
from pipeline.uncertainty import CONFIDENCE, N_RESAMPLES


def compare(a, b, *, n_resamples: int = N_RESAMPLES, seed: int = 0, confidence: float = CONFIDENCE) -> dict:
    """Paired bootstrap of A - B for two `Predictions` of the same sentences."""
    from pipeline.predictions import fingerprint
    from pipeline.uncertainty import paired_bootstrap

    if a.labels != b.labels:
        raise PipelineError(f"the runs have different labels: {a.labels} vs {b.labels}")
    if fingerprint(a) != fingerprint(b):
        raise PipelineError(
            "the runs were evaluated on different sentences; give --data FILE to score both models on one file"
        )
    return paired_bootstrap(a.y_true, a.y_pred, b.y_pred, a.groups, a.labels,
                            n_resamples=n_resamples, seed=seed, confidence=confidence)


def run_predictions(path: Path):
    """The saved evaluation predictions of a run folder, or of the run that trained a model folder."""
    from pipeline.predictions import PREDICTIONS_FILE, read_predictions

    if (path / PREDICTIONS_FILE).is_file():
        return read_predictions(path / PREDICTIONS_FILE)
    card = _card(path)
    if card is not None and card.get("run_dir") and (Path(card["run_dir"]) / PREDICTIONS_FILE).is_file():
        return read_predictions(Path(card["run_dir"]) / PREDICTIONS_FILE)
    raise PipelineError(f"{path}: no {PREDICTIONS_FILE} here or in the run that trained it")


def model_folder(path: Path) -> Path:
    """A model folder, or the model a run folder saved (model_dir.txt) or evaluated (metrics.json)."""
    if (path / "model.json").is_file():
        return path
    pointer = path / "model_dir.txt"
    if pointer.is_file():
        return Path(pointer.read_text(encoding="utf-8").strip())
    metrics = path / "metrics.json"
    if metrics.is_file():
        model = json.loads(metrics.read_text(encoding="utf-8")).get("model", {}).get("path")
        if model:
            return Path(model)
    raise PipelineError(f"{path}: neither a model folder (model.json) nor a run folder that names its model")


def predictions_on_file(model_dir: Path, data_file: str, trust: bool = False):
    """A saved model's scores for every sentence of a labeled file (text, label, doc_id columns)."""
    from pipeline.data import DataSource
    from pipeline.metrics import Predictions
    from pipeline.model import load_model
    from pipeline.predictions import label_scores
    from pipeline.train import one_blas_thread

    model = load_model(model_dir, trust=trust)
    corpus = DataSource(data_file, labels=model.labels).load(data_file, "--data")
    labels = [label for label in _card_labels(model) if label in model.labels]
    with one_blas_thread():
        inputs = corpus.inputs(model.input_kind)  # sentence records for context models
        predicted = list(model.estimator.predict(inputs))
        scores = label_scores(model.estimator, inputs, labels)
    return Predictions(corpus.texts, corpus.groups, corpus.labels, predicted, scores, labels,
                       model.card.get("score_method") == "predict_proba")


def render(result: dict, name_a: str, name_b: str) -> str:
    conf = f"{result['confidence']:.0%}"
    lines = [
        f"A: {name_a}",
        f"B: {name_b}",
        f"{result['n_sentences']} sentences in {result['n_documents']} documents; {conf} intervals of A - B from "
        f"{result['n_resamples']} paired bootstrap resamples of documents.",
        "",
        f"| | A | B | A - B | {conf} interval | verdict |",
        "|---|---:|---:|---:|---:|---|",
    ]
    rows = [("macro F1", result["macro_f1"])] + [(f"{label} F1", row) for label, row in result["per_label_f1"].items()]
    for name, row in rows:
        low, high = row["interval"]
        lines.append(f"| {name} | {row['a']:.3f} | {row['b']:.3f} | {row['difference']:+.3f} | "
                     f"[{low:+.3f}, {high:+.3f}] | {row['verdict']} |")
    lines += ["", f"Verdict on macro F1: {result['macro_f1']['verdict']}"]
    return "\n".join(lines) + "\n"


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
    parser.add_argument("--trust", action="store_true",
                        help="with --data, load model.joblib files this machine does not trust (see python -m pipeline.trust)")
    parser.add_argument("--resamples", type=int, default=N_RESAMPLES, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.resamples < 1:
        parser.error("--resamples must be at least 1")
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
    result = compare(a, b, n_resamples=args.resamples, seed=args.seed)
    if args.json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        sys.stdout.write(render(result, args.run_a, args.run_b))


def _card(path: Path) -> dict | None:
    card = path / "model.json"
    if not card.is_file():
        return None
    try:
        return json.loads(card.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{card}: not a valid model card ({exc})") from None


def _card_labels(model) -> list[str]:
    """The model's labels in the order of its training config (the report order)."""
    configured = model.card.get("config", {}).get("data", {}).get("labels")
    return list(configured) if configured else list(model.labels)


if __name__ == "__main__":
    main()
