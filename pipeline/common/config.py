"""Hydra plumbing: the config folder, resolvers, composing and instantiating configs, one-line errors.
"""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from pipeline.common.errors import PipelineError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# One id per invocation, inherited by launcher worker processes through the environment,
# so a multirun's jobs agree on their sweep folder.
RUN_ID_ENV = "PIPELINE_RUN_ID"


os.environ.setdefault(RUN_ID_ENV, f"{os.getpid():x}{secrets.token_hex(2)}")


def new_invocation() -> None:
    """A fresh run id for a command started from the shell (its `__main__`), never an inherited one.

    A process that imported this module (a test session, a notebook) has the variable set; the
    commands it starts must still not share its id, or two sweeps started in one second would
    share a folder. Launcher workers import the module without running `__main__`, so they keep
    their command's id.
    """
    os.environ[RUN_ID_ENV] = f"{os.getpid():x}{secrets.token_hex(2)}"


# configs/hydra/launcher/joblib.yaml sets n_jobs on top of the plugin's schema of the same name, which
# Hydra 1.3 still merges but warns about on every job.
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/joblib' is validated against ConfigStore schema")


for _name, _fn in {
    "project_root": lambda: str(PROJECT_ROOT),
    "run_id": lambda: os.environ[RUN_ID_ENV],
}.items():
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _fn)


def instantiate(cfg: DictConfig, key: str) -> Any:
    """Build the object described by `cfg` (a `_target_` config) found at `key`."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    try:
        obj = hydra_instantiate(cfg, _convert_="all")
    except InstantiationException as exc:
        if isinstance(exc.__cause__, PipelineError):
            raise exc.__cause__ from None
        raise PipelineError(f"config {key}: {_first_line(exc.__cause__ or exc)}") from None
    except Exception as exc:  # interpolation errors and the like
        raise PipelineError(f"config {key}: {_first_line(exc)}") from None
    _lists_to_tuples(obj)
    return obj


def to_container(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def _lists_to_tuples(obj: Any) -> None:
    """YAML has no tuples; scikit-learn wants ngram_range as one."""
    if not hasattr(obj, "get_params"):
        return
    fixes = {
        name: tuple(value)
        for name, value in obj.get_params(deep=True).items()
        if name.endswith("ngram_range") and isinstance(value, list)
    }
    if fixes:
        obj.set_params(**fixes)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


CONFIG_DIR = PROJECT_ROOT / "configs"


def preflight(config_name: str, argv: list[str]) -> None:
    """Compose the config with the command line's overrides before Hydra runs the job.

    Hydra reports a typo over several lines; this turns it into one line and exit code 2.
    Multirun and Hydra's own flags are left to Hydra.
    """
    if any(arg.startswith("-") for arg in argv):
        return
    compose_config(config_name, argv)


def compose_config(config_name: str, overrides: list[str]) -> DictConfig:
    """A config composed like the Hydra entry points would, for commands that are not Hydra apps.

    `hydra.*` overrides are dropped; a bad override is one PipelineError line.
    """
    overrides = [a for a in overrides if not a.lstrip("+~").startswith(("hydra.", "hydra/", "hydra="))]
    from hydra import compose, initialize_config_dir

    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=overrides)
            OmegaConf.to_container(cfg, resolve=True)
    except Exception as exc:
        message = hydra_message(exc)
        if "Could not find 'hydra/sweeper/optuna'" in message:
            message += " (Optuna searches need: pip install 'rhetoric-pipeline[sweeps]')"
        raise PipelineError(f"config: {message}") from None
    return cfg


def hydra_message(exc: BaseException) -> str:
    """Hydra's multi-line error as one line: the problem, its cause, the options to choose from."""
    text = str(exc).split("Config search path:")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip() and "hydra.cc/docs" not in line]
    if exc.__cause__ is not None:
        lines.append(str(exc.__cause__).splitlines()[0])
    message = " ".join(lines).replace("Available options in", "available options in")
    return message or type(exc).__name__
