"""Which featurizer classifies best, and what it costs: every features option against a raw
scikit-learn TF-IDF + logistic regression baseline run in the same process.

    python bench/features.py                      # all options, both data sets
    python bench/features.py --features word_char_tfidf,word_char_tfidf_context --quick

Data: NewsDiscourse (paths.newsdiscourse_dir; trained on train.jsonl, scored on
validation.jsonl) and the project's default data (seed + written, 5-fold cross-validation
grouped by document). Every option uses model=logreg from configs/, the same as
`python -m pipeline.train features=NAME`.

Columns: macro-F1 and per-label F1; fit seconds (NewsDiscourse: one fit on train; default
data: the whole cross-validation), with every sentence's embedding already in the cache
(paths.cache_dir; the script encodes the missing ones first and says how long that took);
scoring sentences/s of the fitted model on up to --score-sample validation sentences with
the cache off, i.e. the speed on text never seen before. Embedding options need the extra
(pip install -e '.[embeddings]') and are left out without it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE_FEATURES = ["word_tfidf", "char_tfidf", "word_char_tfidf", "word_char_tfidf_context"]
EMBEDDING_FEATURES = ["minilm", "word_char_minilm", "minilm_context", "word_char_minilm_context"]
BASELINE = "raw sklearn baseline"


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    import pipeline.common.config  # noqa: F401  (registers the resolvers)

    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides)


def baseline_estimator(seed: int):
    """TF-IDF word (1,2)-grams + balanced logistic regression, built without project code."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000, random_state=seed),
    )


def subsample(corpus, max_docs: int):
    """The sentences of the first `max_docs` documents (for --quick)."""
    from pipeline.data.corpus import Corpus

    keep_docs = list(dict.fromkeys(corpus.groups))[:max_docs]
    keep = set(keep_docs)
    rows = [i for i, g in enumerate(corpus.groups) if g in keep]
    pick = lambda values: [values[i] for i in rows]  # noqa: E731
    return Corpus(pick(corpus.texts), pick(corpus.labels), pick(corpus.groups), corpus.files,
                  pick(corpus.positions), pick(corpus.doc_lengths))


def without_cache(estimator):
    """The same fitted model with every embedding cache switched off (for honest speed).

    Walks the fitted objects: a ColumnTransformer's fitted parts (transformers_) are
    copies that set_params on the pipeline would not reach.
    """
    seen = set()

    def walk(obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if hasattr(obj, "cache_dir") and hasattr(obj, "encoder"):
            obj.cache_dir = None
        children = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else (
            vars(obj).values() if hasattr(obj, "get_params") else ())
        for child in children:
            walk(child)

    walk(estimator)
    return estimator


def fill_cache(texts: list[str], cache_dir: str) -> None:
    """Encode every sentence once up front, so fit times below are the same warm-cache fits."""
    from pipeline.features.embeddings import (
        CACHE_FILE,
        EmbeddingCache,
        SentenceEmbeddings,
        encoder_id,
    )

    unique = list(dict.fromkeys(texts))
    cache = EmbeddingCache(Path(cache_dir).expanduser() / CACHE_FILE, encoder_id("all-MiniLM-L6-v2"))
    new = len(unique) - len(cache.get_many(unique))
    started = time.perf_counter()
    SentenceEmbeddings(cache_dir=cache_dir).fit_transform(unique)
    seconds = time.perf_counter() - started
    rate = f" ({new / seconds:.0f} sentences/s)" if new else ""
    print(f"embedding cache {cache.path}: encoded {new} new of {len(unique)} sentences in {seconds:.1f} s{rate}")


def scoring_rate(estimator, inputs, kind: str) -> float:
    """Sentences per second of predict_proba on `inputs`, after one warm-up sentence."""
    import copy

    model = without_cache(copy.deepcopy(estimator))
    warm = inputs[:1] if kind == "text" else inputs.iloc[:1]
    model.predict_proba(warm)
    started = time.perf_counter()
    model.predict_proba(inputs)
    return len(inputs) / (time.perf_counter() - started)


def run_holdout(name: str, estimator, kind: str, train, test, labels, sample: int) -> dict:
    from pipeline.evaluation.metrics import compute_metrics

    started = time.perf_counter()
    estimator.fit(train.inputs(kind), train.labels)
    fit_seconds = time.perf_counter() - started
    predicted = list(estimator.predict(test.inputs(kind)))
    metrics = compute_metrics(test.labels, predicted, labels, test.groups)
    rows = list(range(min(sample, len(test))))
    rate = scoring_rate(estimator, test.inputs(kind, rows), kind)
    return row(name, metrics, fit_seconds, rate)


def run_cv(name: str, estimator, corpus, splitter, labels) -> dict:
    from pipeline.training.crossval import cross_validate

    started = time.perf_counter()
    metrics, _ = cross_validate(estimator, corpus, splitter, labels)
    result = row(name, metrics, time.perf_counter() - started, None)
    result["protocol"] = metrics["protocol"]
    return result


def row(name: str, metrics: dict, fit_seconds: float, rate: float | None) -> dict:
    return {
        "name": name,
        "macro_f1": metrics["macro_f1"],
        "f1": {label: v["f1"] for label, v in metrics["per_label"].items()},
        "fit_seconds": fit_seconds,
        "rate": rate,
    }


def print_table(title: str, rows: list[dict], labels: list[str]) -> None:
    base = next((r for r in rows if r["name"] == BASELINE), None)
    print(f"\n### {title}\n")
    head = ["features", "macro-F1"] + [f"F1 {label}" for label in labels] + ["fit s", "fit ×base"]
    with_rate = any(r["rate"] for r in rows)
    if with_rate:
        head += ["sentences/s", "speed ×base"]
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for r in sorted(rows, key=lambda r: -r["macro_f1"]):
        cells = [r["name"], f"{r['macro_f1']:.3f}"] + [f"{r['f1'].get(label, 0):.3f}" for label in labels]
        cells += [f"{r['fit_seconds']:.1f}", f"{r['fit_seconds'] / base['fit_seconds']:.2f}" if base else ""]
        if with_rate:
            cells += [f"{r['rate']:,.0f}" if r["rate"] else "",
                      f"{r['rate'] / base['rate']:.3f}" if r["rate"] and base and base["rate"] else ""]
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", default=None, help="comma-separated options (default: all that install)")
    parser.add_argument("--data", default="newsdiscourse,default", help="newsdiscourse, default, or both")
    parser.add_argument("--quick", action="store_true", help="first 60 training / 20 validation NewsDiscourse articles")
    parser.add_argument("--score-sample", type=int, default=1000, help="validation sentences timed for speed")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    from pipeline.common.errors import PipelineError
    from pipeline.data.records import input_kind
    from pipeline.features.embeddings import check_installed
    from pipeline.training.setup import build_run

    names = args.features.split(",") if args.features else BASE_FEATURES + EMBEDDING_FEATURES
    try:
        check_installed("all-MiniLM-L6-v2")
    except PipelineError as exc:
        dropped = [n for n in names if "minilm" in n]
        names = [n for n in names if "minilm" not in n]
        if dropped:
            print(f"note: leaving out {', '.join(dropped)}: {exc}", file=sys.stderr)

    for data_name in args.data.split(","):
        cfg = compose([f"data={data_name}", f"seed={args.seed}"])
        run = build_run(cfg)
        data = run.data
        try:
            train = data.load_train()
            test = data.load_test()
        except PipelineError as exc:
            print(f"note: skipping data={data_name}: {exc}", file=sys.stderr)
            continue
        if args.quick and test is not None:
            train, test = subsample(train, 60), subsample(test, 20)
        splitter = run.splitter
        labels = list(data.labels)
        if any("minilm" in n for n in names):
            fill_cache(train.texts + (test.texts if test is not None else []), cfg.paths.cache_dir)
        rows = []
        jobs = [(BASELINE, None)] + [(n, compose([f"data={data_name}", f"features={n}", f"seed={args.seed}"]))
                                     for n in names]
        for name, job_cfg in jobs:
            estimator = (baseline_estimator(args.seed) if job_cfg is None
                         else build_run(job_cfg).estimator)
            kind = input_kind(estimator)
            print(f"{data_name}: {name} ...", file=sys.stderr, flush=True)
            if test is not None:
                rows.append(run_holdout(name, estimator, kind, train, test, labels, args.score_sample))
            else:
                rows.append(run_cv(name, estimator, train, splitter, labels))
        if test is not None:
            title = (f"data={data_name}: trained on {len(train)} sentences ({train.n_documents} articles), "
                     f"scored on {len(test)} ({test.n_documents} articles)")
        else:
            title = (f"data={data_name}: {len(train)} sentences, {train.n_documents} articles, "
                     f"{rows[0]['protocol']}")
        print_table(title, rows, labels)


if __name__ == "__main__":
    main()
