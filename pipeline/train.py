"""Training stage: cross-validate by document, refit on all data, save the model.

    python -m pipeline.train [group=option] [key=value] ...
    python -m pipeline.train model=linear_svc model.C=0.5 features=char_tfidf seed=7
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from pipeline.common.config import new_invocation, preflight
from pipeline.common.errors import note_kept, reports_errors
from pipeline.training.run import train
from pipeline.training.setup import build_run, run_name


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
@reports_errors
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the metric `sweep_metric` names, which sweepers maximise."""
    from hydra.core.hydra_config import HydraConfig

    from pipeline.evaluation.leaderboard import ranking_score

    hydra_cfg = HydraConfig.get()
    job_num = str(hydra_cfg.job.num) if hydra_cfg.mode.name == "MULTIRUN" else ""
    name = run_name(cfg, hydra_cfg.runtime.choices, job_num)
    try:
        run = build_run(cfg, tracking=True)
        metrics = train(
            estimator=run.estimator, data=run.data, splitter=run.splitter, models_dir=cfg.paths.models_dir,
            run_dir=hydra_cfg.runtime.output_dir, run_name=name, config=run.config, seed=run.seed,
            unique_name=not cfg.run_name, save_skops=cfg.get("save_skops", True),
        )
    except KeyboardInterrupt as exc:  # train() says what it kept; before it, nothing was written
        kept = getattr(exc, "kept", None) or "stopped before training; no model was saved"
        note_kept(exc, f"sweep job {job_num}: {kept}; {_sweep_kept(hydra_cfg.sweep.dir)}" if job_num else kept)
        raise
    if run.tracker is not None:
        run.tracker.log_run(run_name=name, config=run.config, metrics=metrics, run_dir=hydra_cfg.runtime.output_dir)
    return ranking_score(metrics, cfg.get("sweep_metric"))


def _sweep_kept(sweep_dir) -> str:
    return ("the sweep's finished jobs keep their run folders and models, and a stopped job saved its whole "
            f"model or none; no leaderboard was written (python -m pipeline.leaderboard {sweep_dir} makes one)")


@reports_errors
def run_hydra_app() -> None:
    """`main` as Hydra runs it, with SIGTERM and Ctrl-C handled from the start: a signal outside a
    job (Hydra starting, or a launcher waiting for its jobs) still ends with one line. Jobs running
    in launcher processes (hydra/launcher=joblib) get the signal too and clean up before their
    launcher stops them; they leave the one line to this process."""
    import logging
    import os

    from pipeline.common.errors import DiskFull, is_disk_full, stopping_signals

    logging.raiseExceptions = False  # a log line a full disk cannot take prints no traceback

    # Hydra prints its own errors as a stack trace; raised instead, a full disk while Hydra
    # writes .hydra/ becomes one line here (the job's own errors never reach Hydra).
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        with stopping_signals(before_raising=_stop_job_processes):
            main()
    except KeyboardInterrupt as exc:
        if not hasattr(exc, "kept"):
            note_kept(exc, _outside_a_job())
        raise
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFull(exc.filename or _run_folder(), exc) from None
        raise


def _run_folder() -> str:
    from pipeline.evaluation.leaderboard import LeaderboardCallback

    return str(LeaderboardCallback.running_folder or "the run folder")


def _stop_job_processes(signum: int, wait_seconds: float = 20.0) -> None:
    """Send this process's launcher workers SIGTERM and give them time to clean up: a job
    stops as a terminated command does, an idle worker just ends (Ctrl-C would print its traceback)."""
    import multiprocessing
    import os
    import signal
    import time

    children = multiprocessing.active_children()
    for child in children:
        try:
            os.kill(child.pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + wait_seconds
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))


def _outside_a_job() -> str:
    from pipeline.evaluation.leaderboard import LeaderboardCallback

    if LeaderboardCallback.running_sweep is not None:
        return _sweep_kept(LeaderboardCallback.running_sweep)
    return "no model was half-written (models/latest names the last complete save)"


if __name__ == "__main__":
    new_invocation()
    reports_errors(preflight)("train", sys.argv[1:])
    run_hydra_app()
