"""Training stage: cross-validate by document, refit on all data, save the model.

    python -m pipeline.train [group=option] [key=value] ...
    python -m pipeline.train model=linear_svc model.C=0.5 features=char_tfidf seed=7
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from pipeline.artifacts.names import LATEST
from pipeline.common.config import new_invocation, preflight, remove_refused_run, run_hydra_app
from pipeline.common.errors import DiskFull, PipelineError, note_kept, quote, reports_errors
from pipeline.training.run import check_before_loading, train
from pipeline.training.setup import RunParts, build_run, run_name


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
@reports_errors
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the metric `sweep_metric` names, which sweepers maximise."""
    from hydra.core.hydra_config import HydraConfig

    from pipeline.evaluation.leaderboard import ranking_score

    hydra_cfg = HydraConfig.get()
    job_num = str(hydra_cfg.job.num) if hydra_cfg.mode.name == "MULTIRUN" else ""
    run_dir = hydra_cfg.runtime.output_dir
    metrics = None
    try:
        name, run = prepare_job(cfg, hydra_cfg.runtime.choices, job_num)
        metrics = train(
            estimator=run.estimator, data=run.data, splitter=run.splitter, models_dir=cfg.paths.models_dir,
            run_dir=run_dir, run_name=name, config=run.config, seed=run.seed,
            unique_name=not cfg.run_name, save_skops=cfg.get("save_skops", True),
        )
        if run.tracker is not None:
            run.tracker.log_run(run_name=name, config=run.config, metrics=metrics, run_dir=run_dir)
        return ranking_score(metrics, cfg.get("sweep_metric"))
    except PipelineError as exc:
        if not isinstance(exc, DiskFull):  # bad input: no empty run folder left (a full disk's line names its files)
            remove_refused_run(hydra_cfg)
        if job_num:  # Hydra ends the sweep at a failed job: say so, and what the jobs before it kept
            kept = _sweep_kept(hydra_cfg.sweep.dir)
            exc.args = (f"{str(exc).rstrip('.')}; sweep job {job_num} failed, so the sweep stopped: {kept}",)
        raise
    except KeyboardInterrupt as exc:  # train() says what it kept; before it nothing was saved, after it all
        kept = getattr(exc, "kept", None) or (
            f"the run finished: its model is saved and {Path(run_dir) / 'model_dir.txt'} names it" if metrics
            else f"no model was saved ({Path(cfg.paths.models_dir) / LATEST} is unchanged); stopped before training")
        note_kept(exc, f"sweep job {job_num}: {kept}; {_sweep_kept(hydra_cfg.sweep.dir)}" if job_num else kept)
        raise


def prepare_job(cfg: DictConfig, choices: dict, job_num: str = "") -> tuple[str, RunParts]:
    """A job's model name and run objects, with every check made before any data is read: each job runs
    them, and the preflight runs them on every job of a sweep before the first one trains."""
    from pipeline.evaluation.leaderboard import check_sweep_metric

    if not isinstance(cfg.get("save_skops", True), bool):
        raise PipelineError(f"config save_skops: must be true or false, got {quote(cfg.save_skops)}")
    check_sweep_metric(cfg.get("sweep_metric"), cfg.data.get("dev_path"), list(cfg.data.labels))
    name = run_name(cfg, choices, job_num)
    run = build_run(cfg, tracking=True)
    check_before_loading(run.estimator, cfg.paths.models_dir, name, unique_name=not cfg.run_name)
    return name, run


def _sweep_kept(sweep_dir) -> str:
    return ("the sweep's finished jobs keep their run folders and models, and a stopped job saved its whole "
            f"model or none; no leaderboard was written (python -m pipeline.leaderboard {sweep_dir} makes one)")


def _outside_a_job() -> str:
    from pipeline.common.config import RunFolders

    if RunFolders.sweep is not None:
        return _sweep_kept(RunFolders.sweep)
    models = next((arg.split("=", 1)[1] for arg in sys.argv[1:] if arg.startswith("paths.models_dir=")), "models")
    return f"no model was half-written ({Path(models) / LATEST} names the last complete save)"


if __name__ == "__main__":
    new_invocation()
    reports_errors(preflight)("train", sys.argv[1:], check_job=prepare_job)
    reports_errors(run_hydra_app)(main, _outside_a_job)
