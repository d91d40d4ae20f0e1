"""Hydra plumbing: the config folder, resolvers, composing and instantiating configs, one-line errors.

The one module that uses Hydra's private parts (`hydra._internal`: the basic sweeper's job split, the
config loader's override step, the command-line parser), to check a sweep's jobs and flags as Hydra
will read them; hydra-core is pinned to 1.3.x for them.
"""

from __future__ import annotations

import argparse
import os
import secrets
import warnings
from pathlib import Path
from typing import Any, Callable

from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from pipeline.artifacts.names import HYDRA_FILES, HYDRA_FOLDER, MULTIRUN_FILE
from pipeline.common.errors import EXIT_BAD_INPUT, DiskFull, PipelineError, is_disk_full, note_kept, stopping_signals

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# One id per invocation, inherited by launcher worker processes through the environment,
# so a multirun's jobs agree on their sweep folder.
RUN_ID_ENV = "PIPELINE_RUN_ID"
# The run or sweep folder this invocation made (it was absent when Hydra started), inherited by
# launcher worker processes too: only a folder of this run is removed after bad input stopped it.
NEW_FOLDER_ENV = "PIPELINE_NEW_RUN_FOLDER"


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
    import logging
    import re

    from hydra.errors import InstantiationException
    from hydra.utils import instantiate as hydra_instantiate

    hydra_log = logging.getLogger("hydra.utils")  # logs a `path` get_method cannot import, over three lines
    disabled, hydra_log.disabled = hydra_log.disabled, True
    try:
        obj = hydra_instantiate(cfg, _convert_="all")
    except InstantiationException as exc:
        if isinstance(exc.__cause__, PipelineError):
            raise exc.__cause__ from None
        found = re.search(r"^full_key: (\S+)$", str(exc), re.MULTILINE)  # the nested object that failed
        where = found.group(1) if found else key
        if where != key and not where.startswith(key + "."):  # a config made apart from the composed one
            where = f"{key}.{where}"
        cause = exc.__cause__ or exc
        message = _first_line(cause)
        if message.endswith(":"):  # Hydra's import errors go on over the next lines
            message = " ".join(str(cause).split())
        raise PipelineError(f"config {where}: {message}") from None
    except Exception as exc:  # interpolation errors and the like
        raise PipelineError(f"config {key}: {_first_line(exc)}") from None
    finally:
        hydra_log.disabled = disabled
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


def preflight(config_name: str, argv: list[str], check_job: JobCheck | None = None) -> None:
    """Compose the config with the command line's overrides before Hydra runs the job.

    Hydra reports a typo over several lines; this turns it into one line and exit code 2.
    Hydra's own flags are left to Hydra, a flag it does not know is one line here (Hydra
    printed its usage). A `hydra.run.dir` that holds a finished run
    is refused before Hydra writes its config there. With `check_job`, a sweep (-m) of Hydra's basic
    sweeper is checked job by job first (check_sweep).
    """
    if any(arg.startswith("-") for arg in argv):
        args = check_flags(config_name, argv)
        # -m alone: --cfg, --info, --help and the rest run no job, and -cp/-cn/-cd compose another config
        others = ("help", "hydra_help", "version", "cfg", "info", "shell_completion", "run", "experimental_rerun",
                  "config_path", "config_name", "config_dir")
        if check_job is not None and args.multirun and not any(getattr(args, name, None) for name in others):
            check_sweep(config_name, args.overrides, check_job)
        return
    check_run_folder(config_name, argv)
    check_dev_path(argv)
    compose_config(config_name, argv)
    if check_job is not None:  # a config's hydra.mode: MULTIRUN (an experiment's sweep) sweeps without -m
        check_sweep(config_name, argv, check_job, multirun=False)


# What a job checks before it reads data (train's prepare_job): its config without the hydra node, the
# config groups' choices, the job number; raises PipelineError.
JobCheck = Callable[[DictConfig, dict, str], Any]


def check_sweep(config_name: str, overrides: list[str], check_job: JobCheck, multirun: bool = True) -> None:
    """Every job of a basic-sweeper sweep composed and checked as its run would be before reading data, so
    a bad value in any job (model.C=1,-5) is refused before the first job trains, with nothing written.

    The jobs are those Hydra makes: the config composed for a multirun, its task overrides and
    hydra.sweeper.params parsed by Hydra's override parser and split by BasicSweeper, each job's config
    composed by the config loader as the launcher does. Other sweepers (Optuna) choose their jobs as they
    go: left to Hydra, each job checking itself. Without `multirun` (-m) it is a sweep only if the
    config sets hydra.mode: MULTIRUN, as Hydra decides.
    """
    from hydra import initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.utils import filter_overrides
    from hydra.types import RunMode
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=str(CONFIG_DIR), job_name=config_name, version_base="1.3"):
        hydra = GlobalHydra.instance().hydra
        if not multirun and hydra.get_mode(config_name, overrides) != RunMode.MULTIRUN:
            return  # one run, as Hydra decides it
        try:
            sweep = hydra.compose_config(config_name, overrides, run_mode=RunMode.MULTIRUN)
            if OmegaConf.select(sweep, "hydra.sweeper._target_") != f"{BasicSweeper.__module__}.BasicSweeper":
                return
            params = [f"{key}={value}" for key, value in (sweep.hydra.sweeper.get("params") or {}).items()]
            task = OmegaConf.to_container(sweep.hydra.overrides.task, resolve=False)
            parsed = OverridesParser.create(config_loader=hydra.config_loader).parse_overrides(params + task)
            jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
        except Exception as exc:  # a sweep Hydra cannot read: its own message, as Hydra would stop on it
            raise PipelineError(f"config: {hydra_message(exc)}") from None
        composed: dict[tuple, DictConfig] = {}  # by the job's config group choices
        for num, job in enumerate(jobs):
            try:
                try:
                    cfg = _sweep_job_config(hydra.config_loader, sweep, job, composed)
                except Exception as exc:
                    raise PipelineError(f"config: {hydra_message(exc)}") from None
                with open_dict(cfg):  # as the launcher and run_job set them
                    cfg.hydra.job.num = cfg.hydra.job.id = num
                    cfg.hydra.runtime.output_dir = str(Path(str(cfg.hydra.sweep.dir), str(cfg.hydra.sweep.subdir)))
                HydraConfig.instance().set_config(cfg)
                choices = OmegaConf.to_container(cfg.hydra.runtime.choices)
                with open_dict(cfg):
                    del cfg["hydra"]
                check_job(cfg, choices, str(num))
            except PipelineError as exc:
                raise PipelineError(f"{str(exc).rstrip('.')}; in sweep job {num} of {len(jobs)} "
                                    f"({' '.join(filter_overrides(job))}), so no job was run") from None
            except Exception:  # not bad input: the job meets it and reports it as it would have
                return


def _sweep_job_config(loader, sweep: DictConfig, job: list[str], composed: dict) -> DictConfig:
    """A job's config as the launcher's load_sweep_config composes it, its value overrides applied to a copy of
    the config composed once for its config group choices (a job of their own each took a tenth of a second).
    Hydra splits the overrides (Overrides) and applies the values after composing, as here."""
    import copy

    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.defaults_list import Overrides
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create(config_loader=loader).parse_overrides(list(job))
    values = Overrides(loader.repository, parsed).config_overrides
    groups = [override.input_line for override in parsed if override not in values]
    if tuple(groups) not in composed:
        composed[tuple(groups)] = loader.load_sweep_config(sweep, groups)
    cfg = copy.deepcopy(composed[tuple(groups)])
    ConfigLoaderImpl._apply_overrides_to_config(values, cfg)
    return cfg


def check_flags(config_name: str, argv: list[str]) -> argparse.Namespace:
    """Hydra's own flags (--help, -m, --cfg job, ...) are left to Hydra; a flag it does not know, or one it
    cannot read, is one error line, where Hydra printed its whole usage. Returns the parsed command line."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()  # the parser Hydra reads the command line with
    see = f"see python -m pipeline.{config_name} --help"

    def error(message: str):
        raise PipelineError(f"{message} ({see})")

    parser.error = error
    args, unknown = parser.parse_known_args(argv)
    flags = [arg for arg in unknown if arg.startswith("-")]
    if flags:
        example = {"train": "model.C=0.5", "evaluate": "model_dir=models/latest"}.get(config_name, "key=value")
        raise PipelineError(f"unknown option{'s' if len(flags) > 1 else ''} {', '.join(flags)}: settings are given "
                            f"as key=value, without dashes (e.g. {example}); python -m pipeline.{config_name} --help "
                            "lists them")
    if unknown:  # Hydra reads the settings as one run of words: a flag between them cuts the rest off
        raise PipelineError(f"settings cut off by a flag: {' '.join(unknown)}; give all key=value settings in one run, "
                            f"before or after the flags ({see})")
    given = {"--run": args.run, "--multirun": args.multirun, "--cfg": args.cfg, "--info": args.info is not None,
             "--shell-completion": args.shell_completion}
    commands = [flag for flag, on in given.items() if on]
    if len(commands) > 1 and not (args.help or args.hydra_help):  # Hydra's ValueError, a traceback
        error(f"only one of --run, --multirun, --cfg, --info and --shell-completion can be given, got "
              f"{' and '.join(commands)}")
    return args


def check_dev_path(argv: list[str]) -> None:
    """A `data.dev_path=FILE` given on the command line must exist: the configured default is skipped
    when absent (a machine without ../shared), a path the user typed is not."""
    for arg in argv:
        if arg.startswith("data.dev_path="):
            value = arg.split("=", 1)[1].strip("'\"")
            if value and value != "null" and "${" not in value and not Path(value).is_file():
                what = "a folder, not a file" if Path(value).is_dir() else "file not found"
                raise PipelineError(f"data.dev_path: {what}: {value}")


def check_run_folder(config_name: str, argv: list[str]) -> None:
    """An explicit `hydra.run.dir=DIR` must not hold a finished run (a training run that saved its
    model, an evaluation that wrote its metrics): its files would be replaced. A training run that
    stopped before saving (a full disk, say) may be run again there."""
    from pipeline.artifacts.names import METRICS_FILE, MODEL_POINTER_FILE

    for arg in argv:
        if arg.startswith("hydra.run.dir="):
            folder = Path(arg.split("=", 1)[1])
            finished = folder / (MODEL_POINTER_FILE if config_name == "train" else METRICS_FILE)
            if finished.exists():
                raise PipelineError(f"hydra.run.dir: {folder} holds a finished run ({finished.name}); "
                                    "give a new folder, or remove that run first")


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


class RunFolders(Callback):
    """Hydra callback recording the run or sweep folder this process started, so a command that
    stops outside a job (a signal, a full disk while Hydra writes .hydra/) can name it."""

    run: Path | None = None
    sweep: Path | None = None
    models: Path | None = None  # paths.models_dir of a sweep, where its jobs save models
    log: str = ""  # the file name of a job's log (train.log)

    def on_run_start(self, config, **kwargs: Any) -> None:
        RunFolders.run = Path(str(config.hydra.run.dir))
        _note_if_new(RunFolders.run)

    def on_multirun_start(self, config, **kwargs: Any) -> None:
        RunFolders.sweep = RunFolders.run = Path(str(config.hydra.sweep.dir))
        RunFolders.log = f"{config.hydra.job.name}.log"
        _note_if_new(RunFolders.sweep)
        try:
            models_dir = OmegaConf.select(config, "paths.models_dir", default=None)
        except Exception:  # a bad value is reported by the jobs themselves
            models_dir = None
        RunFolders.models = Path(str(models_dir)) if models_dir else None


def _note_if_new(folder: Path) -> None:
    """Called before Hydra creates `folder`: remember it as this invocation's when it is not there yet."""
    if folder.exists():
        os.environ.pop(NEW_FOLDER_ENV, None)
    else:
        os.environ[NEW_FOLDER_ENV] = str(folder.resolve())


def remove_refused_run(hydra_cfg) -> None:
    """After bad input stopped a job: remove its run folder when this invocation made it and it
    holds only what Hydra wrote for the job (.hydra/ and the job's log), so no empty run is left
    among the runs a user compares. A folder that was there before, or that holds anything else
    (the files of an evaluation that ran), stays."""
    import shutil

    folder = Path(hydra_cfg.runtime.output_dir).resolve()
    new = os.environ.get(NEW_FOLDER_ENV)
    if new and folder.is_relative_to(new) and _holds_only_hydra_files(folder, f"{hydra_cfg.job.name}.log"):
        shutil.rmtree(folder, ignore_errors=True)


def _remove_refused_sweep() -> None:
    """Once bad input stopped a sweep this invocation made: the folders of its jobs that hold only what Hydra
    wrote (hydra/launcher=joblib stops the jobs running beside a refused one, often before they wrote
    anything), then the sweep's folder when no job's run folder is left in it (only Hydra's multirun.yaml),
    so a refused first job leaves no sweep behind."""
    import multiprocessing
    import shutil

    sweep = RunFolders.sweep
    if sweep is None or os.environ.get(NEW_FOLDER_ENV) != str(sweep.resolve()):
        return
    if any(child.is_alive() for child in multiprocessing.active_children()):
        return  # a launcher worker may still make its job's folder
    try:
        for job in sweep.iterdir():
            if job.is_dir() and _holds_only_hydra_files(job, RunFolders.log):
                shutil.rmtree(job, ignore_errors=True)
        if {entry.name for entry in sweep.iterdir()} <= {MULTIRUN_FILE}:
            shutil.rmtree(sweep, ignore_errors=True)
    except OSError:  # gone, or not readable: left as it is
        pass


def _holds_only_hydra_files(folder: Path, log_name: str) -> bool:
    """Whether `folder` holds nothing but what Hydra writes for a job: .hydra/ (config.yaml, hydra.yaml,
    overrides.yaml) and the job's log."""
    try:
        for entry in folder.iterdir():
            if entry.name == log_name and entry.is_file():
                continue
            if entry.name != HYDRA_FOLDER or not entry.is_dir() or {f.name for f in entry.iterdir()} - HYDRA_FILES:
                return False
    except OSError:  # not there, or not readable: nothing to judge by
        return False
    return True


def run_hydra_app(main: Callable[[], Any], kept_outside_a_job: Callable[[], str]) -> None:
    """Run a `@hydra.main` function with faults handled from the start (wrap it in reports_errors).

    SIGTERM and Ctrl-C outside a job (Hydra starting, or a launcher waiting for its jobs) end
    with the line `kept_outside_a_job()` gives; jobs running in launcher processes
    (hydra/launcher=joblib) get SIGTERM too and clean up before their launcher stops them. A full
    disk while Hydra writes .hydra/ is one line naming the folder, not Hydra's stack trace.
    """
    import logging

    # Hydra prints its own errors as a stack trace; raised instead, they reach reports_errors
    # (a job's own errors never reach Hydra: its reports_errors turned them into an exit code).
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    logging.raiseExceptions = False  # a log line a full disk cannot take prints no traceback
    # When a signal stops launcher workers, multiprocessing's resource tracker removes the
    # semaphores they held and warns about each; it cleans up, so the warning is only noise.
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"),
                                                          "ignore:resource_tracker:UserWarning"]))
    try:
        with stopping_signals(before_raising=_stop_job_processes) as delivered:
            try:
                main()
            except Exception as exc:
                if not delivered.signum:
                    raise
                # The signal landed inside Hydra or OmegaConf composing the next job's config, whose
                # cleanup then failed with an error of its own: the run was still stopped by it.
                raise delivered.as_exception() from exc
            finally:
                if delivered.signum:  # inside the block: a second signal cannot cut this short
                    _remove_stopped_jobs_temporaries()
    except KeyboardInterrupt as exc:
        if not hasattr(exc, "kept"):
            note_kept(exc, kept_outside_a_job())
        raise
    except SystemExit as exc:  # a job's one error line is printed: bad input, or a full disk
        if exc.code == EXIT_BAD_INPUT:
            _remove_refused_sweep()
        raise
    except HydraException as exc:  # overrides the preflight leaves to Hydra (a sweep's, --cfg): one line too
        raise PipelineError(f"config: {hydra_message(exc)}") from None
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFull(exc.filename or RunFolders.run or "the run folder", exc) from None
        if _in_run_folder(exc.filename):  # Hydra making it where it cannot: read-only, no permission, a file
            raise PipelineError(f"{exc.filename}: cannot write the run folder: {exc.strerror}") from None
        raise


def _in_run_folder(path) -> bool:
    """Whether `path` is this invocation's run or sweep folder, one of its parents, or inside it."""
    if RunFolders.run is None or not path:
        return False
    folder, path = Path(os.path.abspath(RunFolders.run)), Path(os.path.abspath(path))
    return path == folder or path in folder.parents or folder in path.parents


_stopped_workers: list = []  # the launcher workers `_stop_job_processes` stopped


def _remove_stopped_jobs_temporaries(wait_seconds: float = 10.0) -> None:
    """loky kills a pool's other workers outright once one has exited (or the wait ran out), so a
    job still cleaning up can be cut short in an atomic write or a model save and leave a hidden
    temporary in its run folder or the models folder; once the workers have ended, remove them."""
    from pipeline.common.atomic import remove_temporaries_of

    for child in _stopped_workers:
        child.join(wait_seconds)
    ended = {child.pid for child in _stopped_workers if not child.is_alive()}
    if RunFolders.sweep or RunFolders.run:
        remove_temporaries_of(RunFolders.sweep or RunFolders.run, ended)
    if ended and RunFolders.models is not None and RunFolders.models.is_dir():
        # The models folder's own cleanup, which the next save would run: dead processes' saves.
        from pipeline.artifacts.folder import remove_dead_temporaries

        remove_dead_temporaries(RunFolders.models)


def _stop_job_processes(signum: int, wait_seconds: float = 20.0) -> None:
    """Send this process's launcher workers SIGTERM and give them time to clean up: a job stops
    as a terminated command does (and ends its process), an idle worker just ends. Always
    SIGTERM: an idle worker given Ctrl-C prints a traceback."""
    import multiprocessing
    import signal
    import time

    children = multiprocessing.active_children()
    _stopped_workers.extend(children)
    for child in children:
        try:
            os.kill(child.pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + wait_seconds
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
