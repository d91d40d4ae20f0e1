"""Loading a model folder, trusting only what this machine trusts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.artifacts.folder import check_model_folder, checked_card, sha256_file, unchecked_card
from pipeline.artifacts.model import Model
from pipeline.artifacts.names import CARD_FILE, LATEST, MODEL_FILE, MODEL_POINTER_FILE, MODELS_FOLDER, SKOPS_FILE
from pipeline.artifacts.weights import attach_weights, holders
from pipeline.common.errors import PipelineError, warn

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = Path(MODELS_FOLDER) / LATEST


def default_model_dir() -> Path:
    """The model a command loads without --model: models/latest here (even one naming a folder since
    moved: it is the one meant), else the project's."""
    if DEFAULT_MODEL.exists() or DEFAULT_MODEL.is_symlink():
        return DEFAULT_MODEL
    return PROJECT_ROOT / DEFAULT_MODEL


def load_model(path: str | Path = "models/latest", *, trust: bool = False, scoring_precision: str | None = None
               ) -> Model:
    """Load a model folder (or `models/latest`), trusting only what this machine trusts.

    model.joblib must match the sha256 in model.json. It is unpickled (fast, but a pickle runs
    code) only if its sha256 is in the trust store (models trained here, or vouched for with
    `python -m pipeline.trust DIR`) or `trust` is true. Otherwise the model loads from
    model.skops, which builds only trusted types; without model.skops it is refused.

    A model with a neural network (model=minilm_finetune) then gets its network from the data
    files the card lists (safetensors, ONNX, JSON), each checked against its sha256 first
    (pipeline.artifacts.weights); neither path unpickles weights. `scoring_precision` ("fp32" or
    "bf16") overrides the setting the model was saved with for its fine-tuned encoders.
    """
    from pipeline.artifacts.trust_store import is_trusted, store_path

    folder = Path(path)
    check_model_folder(folder)
    joblib_file, skops_file = folder / MODEL_FILE, folder / SKOPS_FILE
    if not joblib_file.is_file() and not skops_file.is_file():
        pointer = folder / MODEL_POINTER_FILE
        if pointer.is_file():  # a training run's folder: say which model it saved
            raise PipelineError(f"{folder} is a run folder; the model it saved is "
                                f"{pointer.read_text(encoding='utf-8').strip()}")
        raise PipelineError(f"{folder}: no {MODEL_FILE} or {SKOPS_FILE} in the model folder")
    if joblib_file.is_file():
        card, sha256 = checked_card(folder)
        if trust or is_trusted(sha256):
            estimator = _with_version_check(folder, card, lambda: _load_joblib(joblib_file))
            _set_scoring_precision(estimator, folder, scoring_precision)
            attach_weights(estimator, folder, card)
            return Model(_available(estimator, folder), card, folder.resolve(), loaded_with="joblib")
    else:
        card = unchecked_card(folder)
    if not skops_file.is_file():
        raise PipelineError(
            f"{joblib_file}: not trusted on this machine (its sha256 is not in {store_path()}) "
            f"and there is no {SKOPS_FILE} to load safely; if you trust it, run "
            f"`python -m pipeline.trust {folder}` (or allow it once: score or serve --trust, evaluate trust_model=true)"
        )
    expected = card.get("skops_sha256")
    if expected and sha256_file(skops_file) != expected:
        raise PipelineError(f"{skops_file}: sha256 does not match {CARD_FILE}; refusing to load it")
    estimator = _with_version_check(folder, card, lambda: _load_skops(skops_file))
    _set_scoring_precision(estimator, folder, scoring_precision)
    attach_weights(estimator, folder, card)  # data files only, each checked against the card
    return Model(_available(estimator, folder), card, folder.resolve(), loaded_with="skops")


@dataclass(frozen=True)
class LoadOptions:
    """How scoring workers load the model folder they are given (pipeline.scoring)."""

    trust: bool = False
    scoring_precision: str | None = None

    def load(self, path: str | Path) -> Model:
        return load_model(path, trust=self.trust, scoring_precision=self.scoring_precision)


def _set_scoring_precision(estimator, folder: Path, precision: str | None) -> None:
    """Set before the weights are attached, so a bf16 encoder never reads its ONNX graph."""
    if precision is None:
        return
    if precision not in ("fp32", "bf16"):
        raise PipelineError(f"scoring precision {precision!r}: choose fp32 or bf16")
    encoders = [part for part in holders(estimator) if hasattr(part, "scoring_precision")]
    if not encoders and precision != "fp32":
        raise no_encoder_for(folder, precision)
    for part in encoders:
        part.scoring_precision = precision


def no_encoder_for(folder: Path, precision: str) -> PipelineError:
    """The error for a scoring precision asked of a model without a fine-tuned encoder."""
    return PipelineError(f"{folder}: scoring precision {precision} is for fine-tuned encoders "
                         "(model=minilm_finetune), and this model has none")


def _available(estimator, folder: Path):
    """The estimator, once the parts that need more than the base install say they can run here
    (a sentence encoder: its package; the embedding cache) — so scoring fails before it starts."""
    parts = estimator.get_params(deep=True).values() if hasattr(estimator, "get_params") else ()
    for part in parts:
        if callable(getattr(part, "check_available", None)) and not isinstance(part, type):
            try:
                part.check_available()
            except (ImportError, OSError) as exc:
                raise PipelineError(f"{folder}: {exc}") from None
    return estimator


def _load_joblib(file: Path):
    import joblib

    try:
        return joblib.load(file)
    except Exception as exc:
        raise PipelineError(f"{file}: cannot load ({type(exc).__name__}: {exc})") from None


def _load_skops(file: Path):
    """Load model.skops, refusing any type that is not on the trusted list."""
    from pipeline.artifacts.skops_state import expand, skops_io

    sio = skops_io()
    try:
        found = sio.get_untrusted_types(file=file)
    except Exception as exc:
        raise PipelineError(f"{file}: not a readable skops file ({type(exc).__name__}: {exc})") from None
    refused = [name for name in found if not trusted_type(name)]
    if refused:
        raise PipelineError(f"{file}: refusing to load types that are not trusted: {', '.join(refused)}")
    try:
        return expand(sio.load(file, trusted=found))
    except Exception as exc:
        raise PipelineError(f"{file}: cannot load ({type(exc).__name__}: {exc})") from None


TRUSTED_MODULES = ("sklearn", "pipeline")
# Project classes that hold plain arrays only and check them when loaded.
# Plain data holders: the project's vocabulary arrays, and scikit-learn's Bunch (a dict with
# attribute access, which holds a VotingClassifier's fitted members).
TRUSTED_STATE_TYPES = ("pipeline.artifacts.skops_state.ArrayVocabulary", "sklearn.utils._bunch.Bunch")
# Project functions a saved estimator may name as a parameter: pure text transforms.
TRUSTED_FUNCTIONS = ("pipeline.features.typography.plain_lowercase",)


def trusted_type(name: str) -> bool:
    """Beyond skops' own vetted list (scikit-learn estimators, numpy and scipy data types): any
    scikit-learn or project class that is an estimator, since estimators only store their state.

    Also the data holders in TRUSTED_STATE_TYPES and the text functions in TRUSTED_FUNCTIONS
    (the character n-grams' preprocessor). Other functions and other classes
    (numpy.memmap writes files, for instance) stay refused. A fine-tuned encoder
    (pipeline.models.finetune) is such an estimator: its state is settings and labels, and its
    network is attached afterwards from data files (pipeline.artifacts.weights), never from here.
    """
    import importlib
    import re

    from pipeline.common.legacy import current_name

    if current_name(name) in TRUSTED_STATE_TYPES:  # the old module names of models saved earlier
        return True
    if name in TRUSTED_FUNCTIONS:
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
