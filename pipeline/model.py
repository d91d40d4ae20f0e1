"""A saved model: one fitted scikit-learn Pipeline (model.joblib, model.skops) and its card (model.json).

Kept light on purpose: scoring imports this module, never Hydra or `datasets`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterable, Sequence

from pipeline.errors import PipelineError, warn

MODEL_FILE = "model.joblib"
SKOPS_FILE = "model.skops"
CARD_FILE = "model.json"
LATEST = "latest"


class Model:
    """A loaded model that scores sentences and articles.

    Its input kind (card "input") is "text" (a list of sentences) or "records" (sentences
    with their place in the article, for context features); the methods below build it.
    """

    def __init__(self, estimator, card: dict, path: Path | None = None, loaded_with: str | None = None):
        self.estimator = estimator
        self.card = card
        self.path = path
        self.loaded_with = loaded_with  # "joblib" (trusted) or "skops" (checked types)
        self.labels = [str(label) for label in estimator.classes_]
        self.input_kind = card.get("input") or _inspect_input_kind(estimator)

    def predict_proba(self, sentences):
        """Scores per sentence and label (columns in `self.labels` order), rows summing to 1.

        `sentences`: a list of str (bare sentences, without their article), or for a context
        model a DataFrame of sentence records (pipeline.context.sentence_frame). A sentence is
        scored on its first MAX_SENTENCE_CHARS characters (pipeline.textio).
        """
        from pipeline.context import as_input
        from pipeline.textio import MAX_SENTENCE_CHARS

        if hasattr(sentences, "columns"):
            sentences = sentences.assign(text=[t[:MAX_SENTENCE_CHARS] for t in sentences["text"]])
        else:
            sentences = [text[:MAX_SENTENCE_CHARS] for text in sentences]
        return predict_scores(self.estimator, as_input(self.input_kind, sentences))

    def predict_sentences(self, sentences: Sequence[str], doc_id: str = "text") -> list[dict]:
        """One record per sentence of one article, in order: doc_id, sentence_index, text, label, scores."""
        return self.records([(doc_id, i, s) for i, s in enumerate(sentences)])

    def score_text(self, text: str, doc_id: str = "text") -> list[dict]:
        """Split an article into sentences (with their paragraphs) and score each one."""
        from pipeline.context import article_items

        return self.records(article_items(doc_id, text))

    def records(self, items: Iterable[tuple]) -> list[dict]:
        """Score items (doc_id, sentence_index, text[, {"n_sentences": .., "paragraph": ..}])."""
        items = list(items)
        if not items:
            return []
        return build_records(items, self.predict_items(items), self.labels)

    def predict_items(self, items: Sequence[tuple]):
        """predict_proba for items (doc_id, sentence_index, text[, extras]): context models
        get their positions, text models the texts."""
        from pipeline.context import RECORDS, frame_from_items

        items = list(items)
        if self.input_kind == RECORDS:
            return self.predict_proba(frame_from_items(items))
        return self.predict_proba([item[2] for item in items])


def build_records(items: Sequence[tuple], probabilities, labels: Sequence[str]) -> list[dict]:
    """One dict per sentence: doc_id, sentence_index, text, label, scores rounded to 6 places."""
    import numpy as np

    probabilities = np.asarray(probabilities)
    best = probabilities.argmax(axis=1).tolist()
    rounded = probabilities.round(6).tolist()
    return [
        {
            "doc_id": doc_id,
            "sentence_index": index,
            "text": text,
            "label": labels[top],
            "scores": dict(zip(labels, row)),
        }
        for (doc_id, index, text, *_), top, row in zip(items, best, rounded)
    ]


def _inspect_input_kind(estimator) -> str:
    """For cards written before the card recorded it."""
    from pipeline.context import input_kind

    return input_kind(estimator)


def predict_scores(estimator, texts):
    """predict_proba where the model has it, else a softmax of the decision function."""
    import numpy as np

    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(texts)
    decision = np.asarray(estimator.decision_function(texts), dtype=float)
    if decision.ndim == 1:  # binary: one margin for the positive class
        decision = np.column_stack([-decision, decision])
    decision -= decision.max(axis=1, keepdims=True)
    exp = np.exp(decision)
    return exp / exp.sum(axis=1, keepdims=True)


def score_method(estimator) -> str:
    return "predict_proba" if hasattr(estimator, "predict_proba") else "softmax(decision_function)"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(
    estimator, card: dict, models_dir: str | Path, name: str, *, unique: bool = False, skops: bool = True,
    skops_writer=None,
) -> Path:
    """Write models/<name>/ through a temporary folder, then point models/latest at it.

    Every file is flushed to disk inside a hidden `.tmp-*` folder that one rename turns into
    models/<name>, so a run killed at any moment leaves earlier models and `latest` intact
    (the next save removes the dead run's temporary folder). An existing folder is never
    replaced: `unique` picks a free name by adding a random suffix, otherwise it is an error.
    The model's sha256 goes into the local trust store (pipeline.trust) so it loads fast here;
    `skops` also writes model.skops, which other machines can load without trusting code; a
    `skops_writer` (pipeline.skops_writer.SkopsWriter) that was given the model writes it instead
    (and model.joblib too, when it was given a name for it).
    """
    import joblib

    from pipeline import atomic, trust

    models = Path(models_dir)
    check_run_name(name)
    models.mkdir(parents=True, exist_ok=True)
    if (models / name).exists() and not unique:
        raise PipelineError(f"model folder already exists: {models / name} (choose another run_name)")
    remove_dead_temporaries(models)
    tmp = models / f"{_TMP_PREFIX}{_owner_tag()}-{secrets.token_hex(3)}-{name}"
    tmp.mkdir()
    try:
        written = skops_writer.result() if skops and skops_writer is not None and skops_writer.submitted else None
        if written is not None and "joblib" in written:  # the writer dumped the same model
            os.replace(written["joblib"]["path"], tmp / MODEL_FILE)
            card = dict(card, sha256=written["joblib"]["sha256"])
        else:
            joblib.dump(estimator, tmp / MODEL_FILE)
            card = dict(card, sha256=sha256_file(tmp / MODEL_FILE))
        sizes = dict(card.get("sizes", {}), model_bytes=(tmp / MODEL_FILE).stat().st_size)
        if written is not None:
            os.replace(written["path"], tmp / SKOPS_FILE)
            card["skops_sha256"], sizes["skops_bytes"] = written["sha256"], written["bytes"]
        elif skops:
            import zipfile

            import skops.io

            from pipeline.skops_state import compact

            # Vocabularies go in as arrays (pipeline.skops_state), not one JSON node per term.
            skops.io.dump(compact(estimator), tmp / SKOPS_FILE, compression=zipfile.ZIP_DEFLATED, compresslevel=1)
            card["skops_sha256"] = sha256_file(tmp / SKOPS_FILE)
            sizes["skops_bytes"] = (tmp / SKOPS_FILE).stat().st_size
        card["sizes"] = sizes
        final = _rename_into_place(tmp, models, name, card, unique)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    trust.record(card["sha256"], final, "trained")
    link_tmp = models / f"{_TMP_PREFIX}{_owner_tag()}-{secrets.token_hex(3)}-{LATEST}"
    os.symlink(final.name, link_tmp)
    try:
        os.replace(link_tmp, models / LATEST)
    except OSError as exc:
        os.unlink(link_tmp)
        raise PipelineError(f"{models / LATEST}: cannot point it at {final.name}: {exc.strerror}") from None
    atomic.sync_folder(models)
    return final


def check_run_name(name: str) -> None:
    """A run name is one plain folder name: not `latest`, not hidden, no path separators."""
    if not name or name == LATEST or name.startswith(".") or "/" in name or os.sep in name:
        raise PipelineError(f"config run_name: {name!r} cannot name a model folder")


def _rename_into_place(tmp: Path, models: Path, name: str, card: dict, unique: bool) -> Path:
    """Write the card naming the model, sync, and rename; a folder that appeared meanwhile is kept."""
    from pipeline import atomic

    base = name
    while True:
        final = models / name
        card_text = json.dumps(dict(card, name=name), indent=2, default=str) + "\n"
        with open(tmp / CARD_FILE, "w", encoding="utf-8") as handle:
            handle.write(card_text)
        for file in tmp.iterdir():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
        atomic.sync_folder(tmp)
        try:
            # Never replaces a model: renaming onto a non-empty folder fails.
            os.rename(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise
            if not unique:
                raise PipelineError(f"model folder already exists: {final} (choose another run_name)") from None
            name = f"{base}-{secrets.token_hex(2)}"
            continue
        atomic.sync_folder(models)
        return final


_TMP_PREFIX = ".tmp-"


def scratch_path(models_dir: str | Path, what: str) -> Path:
    """A hidden temporary name in models_dir, removed by a later save if this process dies first."""
    models = Path(models_dir)
    models.mkdir(parents=True, exist_ok=True)
    return models / f"{_TMP_PREFIX}{_owner_tag()}-{secrets.token_hex(3)}-{what}"


def _owner_tag() -> str:
    """pid@host of this process, so a later save can tell a dead run's leftovers from a live one's."""
    import re
    import socket

    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"
    return f"{os.getpid()}@{host}"


def remove_dead_temporaries(models: Path) -> None:
    """Delete `.tmp-*` leftovers of saves on this host whose process no longer runs."""
    import re

    _, host = _owner_tag().split("@")
    for entry in models.glob(f"{_TMP_PREFIX}*"):
        found = re.match(rf"{re.escape(_TMP_PREFIX)}(\d+)@([A-Za-z0-9]+)-", entry.name)
        if not found or found.group(2) != host or _process_alive(int(found.group(1))):
            continue
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def checked_card(folder: Path) -> tuple[dict, str]:
    """The card of a model folder and the sha256 of its model.joblib, which must match the card's."""
    if not folder.is_dir():
        raise PipelineError(f"model folder not found: {folder}")
    model_file, card_file = folder / MODEL_FILE, folder / CARD_FILE
    if not model_file.is_file():
        raise PipelineError(f"{folder}: no {MODEL_FILE} in the model folder")
    card = _read_card_file(folder)
    expected = card.get("sha256")
    if not expected:
        raise PipelineError(f"{card_file}: the card has no sha256 of {MODEL_FILE}")
    actual = sha256_file(model_file)
    if actual != expected:
        raise PipelineError(f"{model_file}: sha256 does not match {CARD_FILE}; refusing to load it")
    return card, actual


def card_input_kind(path: str | Path) -> str:
    """The card's "input" without checking the model file ("text" if unreadable: load_model reports)."""
    try:
        card = json.loads((Path(path) / CARD_FILE).read_text(encoding="utf-8"))
        return str(card.get("input") or "text")
    except (OSError, ValueError, AttributeError):
        return "text"


def read_card(path: str | Path) -> dict:
    """Check a model folder (files present, sha256 matching the card) and return its card."""
    return checked_card(Path(path))[0]


def _read_card_file(folder: Path) -> dict:
    card_file = folder / CARD_FILE
    if not card_file.is_file():
        raise PipelineError(f"{folder}: no {CARD_FILE} in the model folder")
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{card_file}: not a valid model card ({exc})") from None
    except OSError as exc:
        raise PipelineError(f"{card_file}: cannot read: {exc.strerror}") from None
    if not isinstance(card, dict):
        raise PipelineError(f"{card_file}: not a valid model card (expected a JSON object)")
    return card


def load_model(path: str | Path = "models/latest", *, trust: bool = False) -> Model:
    """Load a model folder (or `models/latest`), trusting only what this machine trusts.

    model.joblib must match the sha256 in model.json. It is unpickled (fast, but a pickle runs
    code) only if its sha256 is in the trust store (models trained here, or vouched for with
    `python -m pipeline.trust DIR`) or `trust` is true. Otherwise the model loads from
    model.skops, which builds only trusted types; without model.skops it is refused.
    """
    from pipeline import trust as trust_store

    folder = Path(path)
    if folder.is_file():
        raise PipelineError(f"{folder} is a file, not a model folder")
    if not folder.is_dir():
        raise PipelineError(f"model folder not found: {folder}")
    joblib_file, skops_file = folder / MODEL_FILE, folder / SKOPS_FILE
    if not joblib_file.is_file() and not skops_file.is_file():
        raise PipelineError(f"{folder}: no {MODEL_FILE} or {SKOPS_FILE} in the model folder")
    if joblib_file.is_file():
        card, sha256 = checked_card(folder)
        if trust or trust_store.is_trusted(sha256):
            estimator = _with_version_check(folder, card, lambda: _load_joblib(joblib_file))
            return Model(estimator, card, folder.resolve(), loaded_with="joblib")
    else:
        card = _read_card_file(folder)
    if not skops_file.is_file():
        raise PipelineError(
            f"{joblib_file}: not trusted on this machine (its sha256 is not in {trust_store.store_path()}) "
            f"and there is no {SKOPS_FILE} to load safely; if you trust it, run "
            f"`python -m pipeline.trust {folder}` (or allow it once: score --trust, evaluate trust_model=true)"
        )
    expected = card.get("skops_sha256")
    if expected and sha256_file(skops_file) != expected:
        raise PipelineError(f"{skops_file}: sha256 does not match {CARD_FILE}; refusing to load it")
    estimator = _with_version_check(folder, card, lambda: _load_skops(skops_file))
    return Model(estimator, card, folder.resolve(), loaded_with="skops")


def _load_joblib(file: Path):
    import joblib

    try:
        return joblib.load(file)
    except Exception as exc:
        raise PipelineError(f"{file}: cannot load ({type(exc).__name__}: {exc})") from None


def _load_skops(file: Path):
    """Load model.skops, refusing any type that is not on the trusted list."""
    import skops.io

    try:
        found = skops.io.get_untrusted_types(file=file)
    except Exception as exc:
        raise PipelineError(f"{file}: not a readable skops file ({type(exc).__name__}: {exc})") from None
    refused = [name for name in found if not trusted_type(name)]
    if refused:
        raise PipelineError(f"{file}: refusing to load types that are not trusted: {', '.join(refused)}")
    from pipeline.skops_state import expand

    try:
        return expand(skops.io.load(file, trusted=found))
    except Exception as exc:
        raise PipelineError(f"{file}: cannot load ({type(exc).__name__}: {exc})") from None


TRUSTED_MODULES = ("sklearn", "pipeline")
# Project classes that hold plain arrays only and check them when loaded.
TRUSTED_STATE_TYPES = ("pipeline.skops_state.ArrayVocabulary",)


def trusted_type(name: str) -> bool:
    """Beyond skops' own vetted list (scikit-learn estimators, numpy and scipy data types): any
    scikit-learn or project class that is an estimator, since estimators only store their state.

    Also the project's array holders in TRUSTED_STATE_TYPES. Functions and other classes
    (numpy.memmap writes files, for instance) stay refused.
    """
    import importlib
    import re

    if name in TRUSTED_STATE_TYPES:
        return True

    if not re.fullmatch(r"[A-Za-z_][\w.]*\.[A-Za-z_]\w*", name) or name.split(".")[0] not in TRUSTED_MODULES:
        return False
    module_name, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    from sklearn.base import BaseEstimator

    return isinstance(obj, type) and issubclass(obj, BaseEstimator)


def _with_version_check(folder: Path, card: dict, load):
    """Load, replacing scikit-learn's per-estimator version warnings with one naming both versions."""
    import warnings

    from sklearn import __version__ as running
    from sklearn.exceptions import InconsistentVersionWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        estimator = load()
    saved = (card.get("versions") or {}).get("scikit-learn")
    for item in caught:
        if issubclass(item.category, InconsistentVersionWarning):
            saved = saved or item.message.original_sklearn_version
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    if saved and saved != running:
        warn(f"{folder}: saved with scikit-learn {saved}, running scikit-learn {running}; its scores may differ")
    return estimator
