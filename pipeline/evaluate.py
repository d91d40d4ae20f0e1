"""Evaluation stage: a saved model on any labeled file.

    python -m pipeline.evaluate model_dir=models/latest data.path=FILE
"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from pipeline.common.config import new_invocation, preflight, remove_refused_run, run_hydra_app
from pipeline.common.errors import DiskFull, PipelineError, note_kept, quote, reports_errors
from pipeline.evaluation.saved_model import evaluate


@hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate")
@reports_errors
def main(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig

    from pipeline.artifacts.loading import default_model_dir
    from pipeline.data.source import data_source

    out_dir = HydraConfig.get().runtime.output_dir
    try:
        if not isinstance(cfg.trust_model, bool):
            raise PipelineError(f"config trust_model: must be true or false, got {quote(cfg.trust_model)}")
        metrics = evaluate(
            model_dir=cfg.model_dir or default_model_dir(),
            data=data_source(cfg),
            out_dir=out_dir,
            trust_model=cfg.trust_model,
        )
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM
        note_kept(exc, f"the evaluation files already in {out_dir} are complete")
        raise
    except PipelineError as exc:  # bad input: no empty run folder left (a full disk's line names its files)
        if not isinstance(exc, DiskFull):
            remove_refused_run(HydraConfig.get())
        raise
    return metrics["macro_f1"]


if __name__ == "__main__":
    new_invocation()
    reports_errors(preflight)("evaluate", sys.argv[1:])
    reports_errors(run_hydra_app)(main, lambda: "no evaluation file was half-written")
