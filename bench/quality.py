"""Label quality of the default config against a raw scikit-learn baseline, on the project's data.

    python bench/quality.py [OVERRIDE ...] [--within-genre]

OVERRIDEs are Hydra overrides of configs/train.yaml (default: none, the training defaults).
Both models see the same folds and splits in one run:

- grouped CV: the config's cross-validation (grouped by document) over seed + written;
- cross-domain: fit on the written corpus (origin=written), test on the real seed articles;
- leave-one-genre-out: for each genre, fit on every other genre and test on it (all of a
  genre's documents are unseen, so this measures transfer to a new genre);
- with --within-genre also grouped CV inside each genre (fit and test on one genre).

Baseline: Pipeline(TfidfVectorizer(), LogisticRegression(max_iter=1000)), library defaults.
Prints markdown tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter


def baseline(seed: int):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", TfidfVectorizer()), ("clf", LogisticRegression(max_iter=1000, random_state=seed))])


def subset(corpus, keep):
    from pipeline.data.corpus import Corpus

    index = [i for i, k in enumerate(keep) if k]
    return Corpus(
        [corpus.texts[i] for i in index], [corpus.labels[i] for i in index], [corpus.groups[i] for i in index],
        list(corpus.files),
    )


def record_fields(data, corpus, name: str) -> list[str]:
    """The `name` field (origin, genre) of each training sentence, in corpus order."""
    from pipeline.annotation.validation import read_records
    from pipeline.common.files import data_files

    errors: list[str] = []
    records = []
    for file in data_files(data.path, "data.path"):
        records += read_records(file, None, errors, required=("text",))
    if errors or [r.text for r in records] != corpus.texts:
        sys.exit(f"error: could not line up the '{name}' field with the training sentences ({errors[:1]})")
    return [str(r.fields.get(name) or "(none)") for r in records]


def config_choices(overrides: list[str]) -> dict:
    """Which option of each config group the overrides select (features=..., model=...)."""
    from hydra import compose, initialize_config_dir

    from pipeline.common.config import CONFIG_DIR

    overrides = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        choices = compose("train", overrides, return_hydra_config=True).hydra.runtime.choices
    return {group: choices.get(group) for group in ("data", "features", "model", "split", "experiment")}


def main(argv: list[str] | None = None) -> None:
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from pipeline.common.config import compose_config
    from pipeline.training.crossval import cross_validate, holdout
    from pipeline.training.setup import build_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of configs/train.yaml")
    parser.add_argument("--within-genre", action="store_true", help="also cross-validate inside each genre")
    args = parser.parse_intermixed_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    cfg = compose_config("train", args.overrides)
    run = build_run(cfg)
    data, splitter = run.data, run.splitter
    labels = list(data.labels)
    corpus = data.load_train()
    origins = record_fields(data, corpus, "origin")
    genres = record_fields(data, corpus, "genre")
    models = {
        "default": lambda: build_run(cfg).estimator,
        "baseline": lambda: baseline(int(cfg.seed)),
    }
    choices = " ".join(f"{group}={name}" for group, name in config_choices(args.overrides).items())
    print(f"# Label quality: default config ({choices}) vs raw TF-IDF + LogisticRegression\n")
    print(f"{len(corpus)} sentences in {corpus.n_documents} documents; origins {dict(Counter(origins))}; "
          f"split {type(splitter).__name__}(n_splits={getattr(splitter, 'n_splits', '?')}), seed {cfg.seed}.\n")

    rows = []  # (protocol, n_sentences, n_documents, {model: metrics})
    seconds = Counter()

    def run(protocol, evaluate, n, docs):
        results = {}
        for name, make in models.items():
            started = time.perf_counter()
            results[name] = evaluate(make())[0]  # metrics first, then predictions and more
            seconds[name] += time.perf_counter() - started
        rows.append((protocol, n, docs, results))
        print(f"  done: {protocol} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        return results

    def mean_row(protocol, per_genre):
        mean = {name: {"macro_f1": sum(r[name]["macro_f1"] for r in per_genre) / len(per_genre)} for name in models}
        rows.append((f"{protocol}, mean over {len(per_genre)} genres", "", "", mean))

    t0 = time.perf_counter()
    cv = run("grouped CV, seed + written", lambda est: cross_validate(est, corpus, splitter, labels),
             len(corpus), corpus.n_documents)
    written = subset(corpus, [o == "written" for o in origins])
    seed = subset(corpus, [o == "seed" for o in origins])
    cross = run("cross-domain: fit written, test seed", lambda est: holdout(est, written, seed, labels),
                len(seed), seed.n_documents)
    per_genre = []
    for genre in sorted(set(genres)):
        test = subset(corpus, [g == genre for g in genres])
        train = subset(corpus, [g != genre for g in genres])
        per_genre.append(run(f"leave-one-genre-out: {genre}", lambda est: holdout(est, train, test, labels),
                             len(test), test.n_documents))
    mean_row("leave-one-genre-out", per_genre)
    if args.within_genre:
        per_genre = []
        for genre in sorted(set(genres)):
            part = subset(corpus, [g == genre for g in genres])
            per_genre.append(run(f"within-genre grouped CV: {genre}",
                                 lambda est: cross_validate(est, part, splitter, labels), len(part), part.n_documents))
        mean_row("within-genre grouped CV", per_genre)

    print("## Macro-F1\n")
    print("| protocol | sentences | documents | default | baseline | default − baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for protocol, n, docs, results in rows:
        d, b = results["default"]["macro_f1"], results["baseline"]["macro_f1"]
        print(f"| {protocol} | {n} | {docs} | {d:.3f} | {b:.3f} | {d - b:+.3f} |")

    print("\n## Per-label F1\n")
    print("| label | grouped CV default | grouped CV baseline | cross-domain default | cross-domain baseline |")
    print("|---|---:|---:|---:|---:|")
    for label in labels:
        cells = [results[name]["per_label"][label]["f1"] for results in (cv, cross) for name in ("default", "baseline")]
        print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")
    print(f"\nFit + predict time over all protocols: default {seconds['default']:.0f} s, "
          f"baseline {seconds['baseline']:.0f} s "
          f"(ratio {seconds['default'] / max(seconds['baseline'], 1e-9):.1f}x).")


if __name__ == "__main__":
    from pipeline.common.errors import reports_errors

    reports_errors(main)()
