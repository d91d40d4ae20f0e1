"""The one place where a composed config becomes the objects of a run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from pipeline.common.cli import SEED_RANGE, is_seed
from pipeline.common.config import RUN_ID_ENV, _first_line, instantiate, to_container
from pipeline.common.errors import PipelineError, quote
from pipeline.common.files import name_problem


@dataclass
class RunParts:
    """What a composed train config describes, as objects (the config's groups in parentheses)."""

    estimator: Any  # features + model (+ calibration): the whole inference path
    data: Any  # a DataSource (data)
    splitter: Any  # cross-validation by document (split)
    seed: int  # feeds every random choice
    config: dict  # the resolved config, for the model card
    tracker: Any = None  # an experiment tracker (tracking), if asked for


def build_run(cfg: DictConfig, *, tracking: bool = False) -> RunParts:
    """The objects of a run: train, audit, the tests and the benches all build them here.

    With `tracking` the tracker is built first, so a missing MLflow stops before any work.
    """
    seed = cfg.seed
    if not is_seed(seed):
        raise PipelineError(f"config seed: must be {SEED_RANGE}, got {quote(seed)}")
    from pipeline.data.source import data_source

    tracker = instantiate(cfg.tracking, "tracking") if tracking and cfg.get("tracking") else None
    for name, folder in (cfg.get("paths") or {}).items():
        if not isinstance(folder, str) and not (name == "cache_dir" and folder is None):  # null: no cache
            raise PipelineError(f"config paths.{name}: expected a folder path, got {quote(folder)}")
        if problem := name_problem(Path(folder or ".").expanduser()):
            raise PipelineError(f"config paths.{name}: {problem}: {folder}")
    check_folds_config(cfg.split, "split")
    return RunParts(
        estimator=build_estimator(cfg.features, cfg.model, cfg.get("calibration")),
        data=data_source(cfg),
        splitter=instantiate(cfg.split, "split"),
        seed=seed,
        config=to_container(cfg),
        tracker=tracker,
    )


def check_folds_config(cfg: Any, key: str) -> None:
    """`n_splits`, `shuffle` and `random_state` of a splitter's config, named by their key: scikit-learn
    checks random_state only when it draws the folds (a traceback), and the others name no key."""
    if not isinstance(cfg, DictConfig):
        return
    n_splits, shuffle, random_state = (cfg.get(name) for name in ("n_splits", "shuffle", "random_state"))
    if "n_splits" in cfg and (type(n_splits) is not int or n_splits < 2):
        raise PipelineError(f"config {key}.n_splits: must be a whole number of at least 2, got {quote(n_splits)}")
    if "shuffle" in cfg and type(shuffle) is not bool:
        raise PipelineError(f"config {key}.shuffle: must be true or false, got {quote(shuffle)}")
    if random_state is not None and not is_seed(random_state):
        raise PipelineError(f"config {key}.random_state: must be null or {SEED_RANGE}, got {quote(random_state)}")


def run_name(cfg: DictConfig, choices: dict, job_num: str = "") -> str:
    """models/<name>: `run_name` (with the job number in a multirun), else time, features, model,
    the invocation's id and the job number, so runs never collide."""
    if cfg.run_name:
        # Every job of a multirun gets its own folder: run_name-0, run_name-1, ...
        return "-".join(part for part in (str(cfg.run_name), job_num) if part)
    parts = (time.strftime("%Y%m%d-%H%M%S"), str(choices.get("features")), str(choices.get("model")),
             os.environ[RUN_ID_ENV], job_num)
    return "-".join(part for part in parts if part)


def build_estimator(features_cfg: DictConfig, model_cfg: DictConfig, calibration_cfg: DictConfig | None = None):
    """The whole inference path: Pipeline([("features", ...), ("clf", ...)]).

    A StreamingPipeline (pipeline.models.streaming) when the features learn nothing and the
    classifier fits batch by batch (features=hashing model=sgd_streaming). With a calibration
    config the classifier step is wrapped in it (CalibratedClassifierCV).
    """
    from sklearn.pipeline import Pipeline

    from pipeline.models.streaming import StreamingPipeline, can_stream

    features, clf = instantiate(features_cfg, "features"), instantiate(model_cfg, "model")
    # Features that learn nothing + a partial_fit classifier: fitted and scored batch by batch.
    kind = StreamingPipeline if can_stream([features], clf) and not calibration_cfg else Pipeline
    estimator = kind([("features", features), ("clf", clf)])
    if calibration_cfg:
        from pipeline.models.calibration import with_calibration

        check_folds_config(calibration_cfg.get("cv"), "calibration.cv")

        parts = [clf, *clf.get_params(deep=True).values()]
        if any(callable(getattr(part, "save_weights", None)) for part in parts):  # weights saved beside the pickle
            raise PipelineError("config calibration: not available with a fine-tuned encoder (model=minilm_finetune "
                                "or minilm_tfidf_vote); drop calibration")
        estimator = with_calibration(estimator, instantiate(calibration_cfg, "calibration"))
    return estimator


def check_params(estimator) -> None:
    """Validate every parameter before fitting, naming the config key of a bad value."""
    import math
    import re

    from pipeline.common.sklearn_rules import InvalidParameterError

    params = estimator.get_params(deep=True)
    calibrated = "clf__estimator" in params
    check_reads_sentences(estimator)
    for path, obj in params.items():  # first: scikit-learn's checks take true for 1 or name no number
        owner, _, name = path.rpartition("__")
        if isinstance(obj, bool) and takes_numbers_not_bools(params.get(owner, estimator), name):
            raise PipelineError(f"config {config_key(path, calibrated)}: expected a number, got {quote(obj)}")
    for path, obj in params.items():
        if path.endswith("transformer_weights") and isinstance(obj, dict):  # context_weight (with_context)
            for name, weight in obj.items():
                if type(weight) not in (int, float) or not 0 <= weight < math.inf:
                    key = config_key(path, calibrated).removesuffix("transformer_weights") + f"{name}_weight"
                    raise PipelineError(f"config {key}: must be a finite number of at least 0, got {quote(weight)}")
        elif path.endswith("ngram_range") and isinstance(obj, tuple):
            low, high = (obj + (None, None))[:2]
            if len(obj) != 2 or not all(type(n) is int for n in obj) or not 1 <= low <= high:
                raise PipelineError(
                    f"config {config_key(path, calibrated)}: must be [min, max] with 1 <= min <= max, got {list(obj)}"
                )
        elif hasattr(obj, "_parameter_constraints") and not isinstance(obj, type):
            try:
                obj._validate_params()
            except InvalidParameterError as exc:
                found = re.search(r"The '(\w+)' parameter", str(exc))
                key = config_key(path + ("__" + found.group(1) if found else ""), calibrated)
                raise PipelineError(f"config {key}: {_first_line(exc)}") from None
        if callable(getattr(obj, "check_available", None)) and not isinstance(obj, type):  # its values checked
            try:
                obj.check_available()  # an encoder to install, a cache folder to write
            except (ImportError, OSError) as exc:
                raise PipelineError(f"config {config_key(path, calibrated)}: {_first_line(exc)}") from None


def takes_numbers_not_bools(owner, name: str) -> bool:
    """Whether parameter `name` of `owner` takes numbers but no true/false: scikit-learn's checks
    read a bool as the number 1 or 0 there (a bool is an int), so model.C=true trained with C=1."""
    import numpy as np
    from pipeline.common.sklearn_rules import Interval, make_constraint

    rules = getattr(owner, "_parameter_constraints", {}).get(name)
    if not isinstance(rules, list):  # no rules, or "no_validation"
        return False
    rules = [make_constraint(rule) for rule in rules]
    if any(rule.is_satisfied_by(np.True_) for rule in rules):  # "boolean", verbose: numpy's bool is no int
        return False
    return any(isinstance(rule, Interval) or rule.is_satisfied_by(True) or rule.is_satisfied_by(False)
               for rule in rules)


def pruning_error(estimator, exc: ValueError, trained_on: str) -> PipelineError | None:
    """scikit-learn's ValueError of a vectorizer whose min_df and max_df keep no term of the sentences it
    was fitted on (`trained_on`: "28 training sentences"), as one error naming those keys (its own names
    none); None for any other error."""
    from pipeline.features.tfidf import PRUNING_ERRORS

    if not str(exc).startswith(PRUNING_ERRORS):
        return None
    params = estimator.get_params(deep=True)
    fitting, trace = [], exc.__traceback__  # the objects whose methods raised it, outermost first
    while trace is not None:
        fitting.append(trace.tb_frame.f_locals.get("self"))
        trace = trace.tb_next
    for obj in reversed(fitting):  # a clone of a configured object (a fold's, a union's), or a part of one
        for path, part in params.items():
            if type(part) is not type(obj) or not hasattr(part, "get_params") or isinstance(part, type):
                continue
            names = [name for name in part.get_params(deep=False) if name.endswith(("min_df", "max_df"))]
            if names and _same_params(part, obj):
                names.sort(key=lambda name: name.endswith("max_df"))  # min_df first
                return _pruning_error(part, {name: config_key(f"{path}__{name}", "clf__estimator" in params)
                                             for name in names}, trained_on)
    return None


def _pruning_error(part, keys: dict, trained_on: str) -> PipelineError:
    bounds = " and ".join(f"at {'least' if name.endswith('min_df') else 'most'} {name}" for name in keys)
    advice = " or ".join(f"{'lower' if name.endswith('min_df') else 'raise'} {key}" for name, key in keys.items())
    if len(keys) == 2:  # min_df and max_df: each a count or a share
        advice += " (a whole number counts sentences, a fraction is a share of them)"
    settings = ", ".join(f"{key}={getattr(part, name)}" for name, key in keys.items())
    return PipelineError(f"config {settings}: no term is left on {trained_on} (a term must be in {bounds} of them); "
                         f"{advice}")


def _same_params(part, obj) -> bool:
    try:
        return bool(part.get_params(deep=False) == obj.get_params(deep=False))
    except Exception:  # a value that does not compare (an array)
        return False


def check_reads_sentences(estimator) -> None:
    """A classifier that reads the sentences itself (model=minilm_finetune) must get them as they are."""
    steps = dict(getattr(estimator, "steps", []))
    clf = steps.get("clf")
    clf = getattr(clf, "estimator", None) or clf  # inside calibration
    members = [clf, *(member for _, member in getattr(clf, "estimators", None) or ())]  # a vote's too
    clf = next((member for member in members if getattr(member, "reads_sentences", False)), None)
    if clf is None or "features" not in steps:
        return
    features = steps["features"]
    passes = features in (None, "passthrough") or (type(features).__name__ == "FunctionTransformer"
                                                   and features.func is None)
    if not passes:
        raise PipelineError(
            f"config features: {type(clf).__name__} reads the sentences itself; use features=sentences "
            f"(not {type(features).__name__})"
        )


def config_key(param_path: str, calibrated: bool = False) -> str:
    """features__word__ngram_range -> features.word.ngram_range; clf__C -> model.C.

    Calibrated: clf__estimator__C -> model.C, clf__method -> calibration.method. The vote's TF-IDF side
    (model=minilm_tfidf_vote): clf__tfidf_context__clf__C -> model.tfidf_model.C, and its features
    (clf__tfidf_context__features__...) -> model.tfidf_features....
    """
    head, *rest = param_path.split("__")
    if head == "clf" and calibrated:
        return ".".join(["model", *rest[1:]] if rest[:1] == ["estimator"] else ["calibration", *rest])
    if head == "clf" and rest[:1] == ["tfidf_context"] and rest[1:2] in (["clf"], ["features"]):
        rest = [{"clf": "tfidf_model", "features": "tfidf_features"}[rest[1]], *rest[2:]]
    return ".".join([{"clf": "model"}.get(head, head), *rest])
