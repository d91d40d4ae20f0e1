"""Training stage: cross-validate by document, refit on all data, save the model.

    python -m pipeline.train [group=option] [key=value] ...
    python -m pipeline.train model=linear_svc model.C=0.5 features=char_tfidf seed=7
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from pipeline.common.config import new_invocation, preflight
from pipeline.common.errors import reports_errors
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
    run = build_run(cfg, tracking=True)
    metrics = train(
        estimator=run.estimator, data=run.data, splitter=run.splitter, models_dir=cfg.paths.models_dir,
        run_dir=hydra_cfg.runtime.output_dir, run_name=name, config=run.config, seed=run.seed,
        unique_name=not cfg.run_name, save_skops=cfg.get("save_skops", True),
    )
    if run.tracker is not None:
        run.tracker.log_run(run_name=name, config=run.config, metrics=metrics, run_dir=hydra_cfg.runtime.output_dir)
    return ranking_score(metrics, cfg.get("sweep_metric"))

if __name__ == "__main__":
    new_invocation()
    reports_errors(preflight)("train", sys.argv[1:])
    main()
