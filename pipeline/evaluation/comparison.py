"""Two runs or models compared: paired bootstrap over documents of the difference in macro-F1 and each label's F1.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.artifacts.names import CARD_FILE, METRICS_FILE, MODEL_POINTER_FILE, REAL_NEWS_DEV
from pipeline.common.errors import PipelineError, counted
from pipeline.evaluation.metrics import real_news_figures
from pipeline.evaluation.uncertainty import CONFIDENCE, N_RESAMPLES


class DifferentSentences(PipelineError):
    """The two runs were evaluated on different sentences."""

    what = "the runs were evaluated on different sentences"


def compare(a, b, *, n_resamples: int = N_RESAMPLES, seed: int = 0, confidence: float = CONFIDENCE) -> dict:
    """Paired bootstrap of A - B for two `Predictions` of the same sentences."""
    from pipeline.artifacts.predictions_file import fingerprint
    from pipeline.evaluation.uncertainty import paired_bootstrap

    if a.labels != b.labels:
        raise PipelineError(f"the runs have different labels: {a.labels} vs {b.labels}")
    if fingerprint(a) != fingerprint(b):
        raise DifferentSentences(f"{DifferentSentences.what}; give --data FILE to score both models on one file")
    return paired_bootstrap(a.y_true, a.y_pred, b.y_pred, a.groups, a.labels,
                            n_resamples=n_resamples, seed=seed, confidence=confidence)


def run_predictions(path: Path):
    """The saved evaluation predictions of a run folder, or of the run that trained a model folder."""
    from pipeline.artifacts.names import PREDICTIONS_FILE
    from pipeline.artifacts.predictions_file import read_predictions

    if (path / PREDICTIONS_FILE).is_file():
        return read_predictions(path / PREDICTIONS_FILE)
    card = _card(path)
    if card is not None and card.get("run_dir") and (Path(card["run_dir"]) / PREDICTIONS_FILE).is_file():
        return read_predictions(Path(card["run_dir"]) / PREDICTIONS_FILE)
    raise PipelineError(f"{path}: no {PREDICTIONS_FILE} here or in the run that trained it")


def model_folder(path: Path) -> Path:
    """A model folder, or the model a run folder saved (model_dir.txt) or evaluated (metrics.json)."""
    if (path / CARD_FILE).is_file():
        return path
    pointer = path / MODEL_POINTER_FILE
    if pointer.is_file():
        return Path(pointer.read_text(encoding="utf-8").strip())
    metrics = path / METRICS_FILE
    if metrics.is_file():
        model = json.loads(metrics.read_text(encoding="utf-8")).get("model", {}).get("path")
        if model:
            return Path(model)
    raise PipelineError(f"{path}: neither a model folder (model.json) nor a run folder that names its model")


def predictions_on_file(model_dir: Path, data_file: str, trust: bool = False):
    """A saved model's scores for every sentence of a labeled file (text, label, doc_id columns)."""
    from pipeline.artifacts.loading import load_model
    from pipeline.data.source import DataSource
    from pipeline.evaluation.metrics import Predictions
    from pipeline.models.scores import label_scores
    from pipeline.training.crossval import one_blas_thread

    model = load_model(model_dir, trust=trust)
    corpus = DataSource(data_file, labels=model.labels).load(data_file, "--data")
    labels = [label for label in _card_labels(model) if label in model.labels]
    with one_blas_thread():
        inputs = corpus.inputs(model.input_kind)  # sentence records for context models
        predicted = list(model.estimator.predict(inputs))
        scores = label_scores(model.estimator, inputs, labels)
    return Predictions(corpus.texts, corpus.groups, corpus.labels, predicted, scores, labels,
                       model.card.get("score_method") == "predict_proba")


def dev_file_of(paths: list[Path], own: tuple = ()) -> tuple[str | None, str]:
    """The real-news dev file both runs' models were scored on when trained (their model cards say),
    when it is still there; else None and why not ("" when neither was scored on one, or when `own`,
    the runs' own evaluation predictions, are of a dev file a card names: they are the dev comparison)."""
    files, scored = set(), []
    for path in paths:
        try:
            card = _card(model_folder(path)) or {}
        except PipelineError:  # a run folder that names no model: its predictions are all there is
            return None, f"{path} names no model to score it"
        dev = real_news_figures(card.get("metrics", {}))
        scored.append(dev is not None)
        if dev is not None:
            files.add(Path(dev["data"]).resolve())
    if not any(scored) or any(_all_of_file(own, file) for file in files):
        return None, ""
    if not all(scored):
        return None, f"{paths[scored.index(False)]} was not scored on it when trained"
    if len(files) > 1:
        return None, f"the runs were scored on different files ({', '.join(sorted(map(str, files)))})"
    file = files.pop()
    return (str(file), "") if file.is_file() else (None, f"{file} is not there any more")


def _all_of_file(predictions: tuple, file: Path) -> bool:
    """Whether every one of `predictions` is of the sentences of the labeled `file`, in its order."""
    from pipeline.common.labels import LABELS
    from pipeline.data.source import DataSource

    if not predictions or not file.is_file():
        return False
    try:  # read as training reads the dev file, whatever labels the runs have
        labels = dict.fromkeys([*LABELS, *predictions[0].labels])
        corpus = DataSource(path=str(file), labels=list(labels)).load(str(file), "data.dev_path")
    except PipelineError:  # a file that is not one of labeled sentences any more: not theirs
        return False
    return all((p.texts, p.groups, p.y_true) == (corpus.texts, corpus.groups, corpus.labels) for p in predictions)


def render(result: dict, name_a: str, name_b: str) -> str:
    """The comparison as tables; with real-news dev figures (result["real_news_dev"]) those come first."""
    lines = [f"A: {name_a}", f"B: {name_b}"]
    dev = result.get(REAL_NEWS_DEV)
    if dev is not None:
        lines += ["", f"## Real news: {dev['data']} (never trained on)", "", *_table(dev),
                  "", "## Their own evaluation", ""]
    own = _table(result) if "macro_f1" in result else [f"Not compared: {result['own_evaluation']}."]
    return "\n".join([*lines, *own]) + "\n"


def _table(result: dict) -> list[str]:
    conf = f"{result['confidence']:.0%}"
    lines = [
        f"{counted(result['n_sentences'], 'sentence')} in {counted(result['n_documents'], 'document')}; "
        f"{conf} intervals of A - B from "
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
    return [*lines, "", f"Verdict on macro F1: {result['macro_f1']['verdict']}"]


def _card(path: Path) -> dict | None:
    card = path / CARD_FILE
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
