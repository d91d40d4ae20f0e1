"""Label quality on real news first: every feature and model option on the PTC dev set, in one run.

    python bench/quality.py [--data default,real] [--options NAME,...] [--cv] [--seed-articles]
                            [--setfit STEPS] [--vote A,B] [OVERRIDE ...]

For each training data option (`data=default`: seed + written; `data=real`: + the standoff PTC
and NewsDiscourse labels) and each option, one model is fitted on all training sentences and
scored on the real-news development set (`paths.ptc_dev`: 751 sentences of 18 PTC articles
labeled by the guide, never trained on): macro-F1 and each label's F1 with 95% intervals from a
bootstrap over whole articles. A raw scikit-learn TF-IDF + LogisticRegression baseline (library
defaults) is fitted on the same data in the same run. With `--seed-articles` the same options are
also fitted without the two seed articles and scored on them (55 real sentences: a second, tiny
real-text check of threat F1). With `--cv` each option also gets grouped cross-validation on its
training data, scored twice: on the sentences of the real articles people labeled (the standoff
sets without a teacher.json beside them: 334 articles with `data=real`, a larger real-text check
than the dev set, printed with it) and on everything (mostly the project's own text: optimistic,
printed last).
`--setfit STEPS` adds SetFit (bench/setfit_vs_finetune.py); `--vote A,B` (repeatable) adds the
equal-weight soft vote of two options' dev probabilities, which is what `model=minilm_tfidf_vote`
computes when A is the fine-tuned encoder and B the default (both fits are deterministic for a seed).

Options are Hydra overrides of configs/train.yaml joined by spaces, named by the `--options` list
(default: every base-install feature option, and the embedding ones when the extra is installed).
Prints Markdown tables; `--json FILE` also writes every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

BASELINE = "raw baseline (TF-IDF + LR)"
BASE_OPTIONS = {
    "default (word_char_tfidf_context + logreg)": [],
    "word_tfidf": ["features=word_tfidf"],
    "char_tfidf": ["features=char_tfidf"],
    "word_char_tfidf": ["features=word_char_tfidf"],
    "word_char_tfidf_context + linear_svc": ["model=linear_svc"],
    "word_char_tfidf_context + sgd": ["model=sgd"],
    "word_char_tfidf_context + complement_nb": ["model=complement_nb"],
}
EMBEDDING_OPTIONS = {
    "minilm (frozen)": ["features=minilm"],
    "minilm_context (frozen)": ["features=minilm_context"],
    "word_char_minilm": ["features=word_char_minilm"],
    "word_char_minilm_context": ["features=word_char_minilm_context"],
}


SETFIT = object()  # the option fitted by setfit_classifier, not by Hydra overrides


def setfit_classifier(max_steps: int, seed: int):
    """bench/setfit_vs_finetune.py's SetFit classifier (batches of 16 pairs, 64 tokens)."""
    import os

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from setfit_vs_finetune import SetFitClassifier, require_setfit

    require_setfit()
    return SetFitClassifier(max_steps, batch_size=16, max_length=64, seed=seed)


def baseline(seed: int):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", TfidfVectorizer()), ("clf", LogisticRegression(max_iter=1000, random_state=seed))])


def without_documents(corpus, documents: set[str]):
    """The corpus minus the sentences of `documents` (positions kept)."""
    from pipeline.data.corpus import Corpus

    keep = [i for i, g in enumerate(corpus.groups) if g not in documents]
    return Corpus([corpus.texts[i] for i in keep], [corpus.labels[i] for i in keep], [corpus.groups[i] for i in keep],
                  list(corpus.files), [corpus.positions[i] for i in keep], [corpus.doc_lengths[i] for i in keep])


def only_documents(corpus, documents: set[str]):
    return without_documents(corpus, set(corpus.groups) - documents)


def fit_and_predict(estimator, train, test, labels):
    """Fit on `train`; the predictions (with scores) on `test`."""
    from pipeline.training.crossval import fit, one_blas_thread, predict_corpus

    with one_blas_thread():
        return predict_corpus(fit(estimator, train), test, labels)


def evaluate_on(estimator, train, test, labels, seed: int) -> dict:
    """Fit on `train`, describe the predictions on `test` (document-bootstrap intervals included)."""
    from pipeline.evaluation.metrics import describe_predictions

    return describe_predictions(fit_and_predict(estimator, train, test, labels), seed=seed)


def soft_vote(first, second):
    """The equal-weight average of two options' probabilities on the same sentences: what
    VotingClassifier(voting="soft") computes from the same two fitted models (model=minilm_tfidf_vote)."""
    import dataclasses

    import numpy as np

    scores = (np.asarray(first.scores) + np.asarray(second.scores)) / 2
    return dataclasses.replace(first, y_pred=[first.labels[i] for i in scores.argmax(axis=1)], scores=scores)


def made_by_a_model(entry) -> bool:
    """A silver standoff set: its labels folder holds the teacher.json of pipeline.silver."""
    return (Path(entry.labels).parent / "teacher.json").exists()


def people_labeled(run, corpus) -> list[int]:
    """Positions of the sentences read from standoff labels people made (every standoff set of the
    data option but the silver ones)."""
    files = {str(entry.labels) for entry in run.data.standoff or [] if not made_by_a_model(entry)}
    return [i for i, place in enumerate(corpus.places) if place.rsplit(": line ", 1)[0] in files]


def subset(predictions, index: list[int]):
    """The predictions of the sentences at `index`."""
    import dataclasses

    import numpy as np

    pick = lambda values: [values[i] for i in index]  # noqa: E731
    return dataclasses.replace(predictions, texts=pick(predictions.texts), groups=pick(predictions.groups),
                               y_true=pick(predictions.y_true), y_pred=pick(predictions.y_pred),
                               scores=np.asarray(predictions.scores)[index])


def cell(metrics: dict, label: str | None = None) -> str:
    if label is None:
        value, (low, high) = metrics["macro_f1"], metrics["bootstrap"]["macro_f1"]
    else:
        value, (low, high) = metrics["per_label"][label]["f1"], metrics["bootstrap"]["per_label_f1"][label]
    return f"{value:.3f} [{low:.2f}, {high:.2f}]"


def table(title: str, results: dict, labels: list[str], note: str) -> str:
    lines = [f"### {title}", "", note, "",
             "| option | macro-F1 [95% CI] | " + " | ".join(f"{label} F1" for label in labels) + " | fit+score s |",
             "|---|---:|" + "---:|" * len(labels) + "---:|"]
    ranked = sorted(results.items(), key=lambda item: -item[1]["metrics"]["macro_f1"])
    for name, row in ranked:
        m = row["metrics"]
        lines.append(f"| {name} | {cell(m)} | " + " | ".join(cell(m, label) for label in labels)
                     + f" | {row['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from pipeline.common.config import compose_config
    from pipeline.common.errors import PipelineError
    from pipeline.evaluation.metrics import describe_predictions
    from pipeline.features.embeddings import check_installed
    from pipeline.training.crossval import cross_validate, one_blas_thread
    from pipeline.training.setup import build_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides applied to every option")
    parser.add_argument("--data", default="default,real", help="training data options (default: %(default)s)")
    parser.add_argument("--options", default=None,
                        help="comma-separated option names (see the script), or 'NAME=override override' items")
    parser.add_argument("--cv", action="store_true", help="also grouped cross-validation on the training data")
    parser.add_argument("--seed-articles", action="store_true",
                        help="also fit without the two seed articles and score them (55 real sentences)")
    parser.add_argument("--setfit", type=int, default=None, metavar="STEPS",
                        help="also SetFit (bench/setfit_vs_finetune.py) trained on STEPS batches of pairs")
    parser.add_argument("--vote", action="append", default=[], metavar="A,B",
                        help="also the equal-weight soft vote of two options' dev probabilities (repeatable)")
    parser.add_argument("--json", default=None, help="write every figure to this JSON file")
    args = parser.parse_intermixed_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    options = dict(BASE_OPTIONS)
    try:
        check_installed("all-MiniLM-L6-v2")
        options.update(EMBEDDING_OPTIONS)
    except PipelineError as exc:
        print(f"note: leaving out the embedding options: {exc}", file=sys.stderr)
    if args.options:
        chosen = {}
        for item in args.options.split(","):
            name, _, overrides = item.partition("=")
            chosen[name] = overrides.split() if overrides else options[name]
        options = chosen
    if args.setfit:
        options[f"SetFit ({args.setfit} pair batches)"] = SETFIT
    votes = [pair.split(",") for pair in args.vote]
    for pair, vote in zip(args.vote, votes):
        if len(vote) != 2 or not set(vote) <= set(options):
            sys.exit(f"error: --vote {pair!r}: name two of the options, comma-separated: {', '.join(options)}")

    report = {}
    for data_name in args.data.split(","):
        cfg = compose_config("train", [f"data={data_name}", *args.overrides])
        run = build_run(cfg)
        labels = list(run.data.labels)
        try:
            train = run.data.load_train()
        except PipelineError as exc:
            print(f"note: skipping data={data_name}: {exc}", file=sys.stderr)
            continue
        dev = run.data.load_dev()
        if dev is None:
            sys.exit(f"error: no real-news dev set at {run.data.dev_path} (paths.ptc_dev): "
                     "it comes with the PTC corpus in ../shared/corpora/ptc/")
        seed_docs = {g for g, place in zip(train.groups, train.places) if "seed_sentences" in place}
        results, predictions = {"dev": {}, "seed": {}, "cv": {}, "real_cv": {}}, {}
        real_index = people_labeled(run, train)
        silver = any(made_by_a_model(entry) for entry in run.data.standoff or [])
        print(f"data={data_name}: {len(train)} training sentences in {train.n_documents} documents; "
              f"dev {len(dev)} sentences in {dev.n_documents} articles", file=sys.stderr)
        for name, overrides in [(BASELINE, None), *options.items()]:
            def make():
                if overrides is None:
                    return baseline(run.seed)
                if overrides is SETFIT:
                    return setfit_classifier(args.setfit, run.seed)
                return build_run(compose_config("train", [f"data={data_name}", *args.overrides, *overrides])).estimator

            started = time.perf_counter()
            predictions[name] = fit_and_predict(make(), train, dev, labels)
            results["dev"][name] = {"metrics": describe_predictions(predictions[name], seed=run.seed),
                                    "seconds": time.perf_counter() - started}
            line = f"  {name}: dev macro-F1 {results['dev'][name]['metrics']['macro_f1']:.3f}"
            if args.seed_articles and seed_docs:
                started = time.perf_counter()
                results["seed"][name] = {"metrics": evaluate_on(make(), without_documents(train, seed_docs),
                                                                only_documents(train, seed_docs), labels, run.seed),
                                         "seconds": time.perf_counter() - started}
                line += f", seed threat F1 {results['seed'][name]['metrics']['per_label']['threat']['f1']:.3f}"
            if args.cv:
                started = time.perf_counter()
                with one_blas_thread():
                    metrics, folded = cross_validate(make(), train, run.splitter, labels, run.seed)
                results["cv"][name] = {"metrics": metrics, "seconds": time.perf_counter() - started}
                line += f", grouped CV {metrics['macro_f1']:.3f}"
                if real_index:
                    real = describe_predictions(subset(folded, real_index), seed=run.seed)
                    results["real_cv"][name] = {"metrics": real, "seconds": results["cv"][name]["seconds"]}
                    line += f" ({real['macro_f1']:.3f} on the real articles people labeled)"
            print(line + f" ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        for vote in votes:
            voted = soft_vote(predictions[vote[0]], predictions[vote[1]])
            results["dev"][f"soft vote: {vote[0]} + {vote[1]}"] = {
                "metrics": describe_predictions(voted, seed=run.seed),
                "seconds": sum(results["dev"][name]["seconds"] for name in vote)}
        results["silver"] = silver
        report[data_name] = results

    print("## Real news: the PTC development set (751 sentences, 18 articles, never trained on)\n")
    for data_name, results in report.items():
        print(table(f"data={data_name}", results["dev"], labels,
                    "Fitted on all training sentences, scored on the dev set; intervals: bootstrap over articles."))
    for data_name, results in report.items():
        if results["real_cv"]:
            some = next(iter(results["real_cv"].values()))["metrics"]
            teacher = " Silver labels came from a model that learned from these articles: optimistic." \
                if results["silver"] else ""
            print(table(f"Grouped cross-validation on data={data_name}, scored on the real articles people labeled",
                        results["real_cv"], labels,
                        f"{some['n_sentences']} sentences of {some['n_documents']} articles, out of fold (5 folds by "
                        f"document over all the training data).{teacher}"))
    for data_name, results in report.items():
        if results["seed"]:
            print(table(f"Seed articles, data={data_name} without them", results["seed"], labels,
                        "55 real sentences of 2 articles (17 threats): rough, but real text."))
    for data_name, results in report.items():
        if results["cv"]:
            print(table(f"Grouped cross-validation on data={data_name} (the project's own text)", results["cv"],
                        labels, "5 folds by document; pooled out-of-fold predictions."))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1, default=str)


if __name__ == "__main__":
    main()
