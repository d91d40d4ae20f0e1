"""Scale benchmarks of the pipeline against raw scikit-learn on the same model and data, in one run.

    nice python bench/scale.py --size 100000        # word TF-IDF and the default model, a while
    nice python bench/scale.py --features word_tfidf                 # the word TF-IDF model alone
    nice python bench/scale.py --size 200000 --baseline-tree ../wt-speed-base  # also earlier code
    nice python bench/scale.py --size 100000 --only training --train-repeats 3

For each model (`--features`, default: word_tfidf and the default word_char_tfidf_context)
it trains on --train-size synthetic sentences and prints a table of ratios, then a table of
sentences/s per component of the model (word, char, context, classifier). Every figure of
the first table is the wall time (or peak RSS) of a fresh process, so start-up, model loading
and reading the data count on both sides. The raw side is a bare script: joblib.load, pyarrow
read, then the model alone (fit the estimator the config describes; or predict_proba in
batches of --batch-size, whole articles for a context model). With --baseline-tree, a git
worktree of earlier code (`git worktree add ../wt-speed-base COMMIT`), the default model is
also trained (pipeline.train and the bare fit) and scored by that code in the same run, on
the same data and machine, and the tables show both. Files go under --dir (default
/tmp/rhetoric-bench), never into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
DEFAULT_FEATURES = "word_char_tfidf_context"

# The estimator the config describes, fitted by a bare script (no Hydra app, datasets, reports).
RAW_TRAIN = """
import sys, joblib, pyarrow.parquet as pq
from hydra import compose, initialize_config_dir
import pipeline.common.config  # the config resolvers
from pipeline.training.setup import build_estimator
from pipeline.data.records import RECORDS, input_kind, sentence_frame
features, train, test, out, configs = sys.argv[1:6]
with initialize_config_dir(config_dir=configs, version_base="1.3"):
    cfg = compose("train", [f"features={features}", "model=logreg"])
model = build_estimator(cfg.features, cfg.model)
records = input_kind(model) == RECORDS
def inputs(path):
    d = pq.read_table(path, columns=["text", "label", "doc_id", "sentence_index"]).to_pydict()
    if not records:
        return d["text"], d["label"]
    length = {}
    for doc, index in zip(d["doc_id"], d["sentence_index"]):
        length[doc] = max(length.get(doc, 0), index + 1)
    frame = sentence_frame(d["text"], d["doc_id"], d["sentence_index"], [length[doc] for doc in d["doc_id"]])
    return frame, d["label"]
X, y = inputs(train)
import time
started = time.perf_counter()
model.fit(X, y)
fit = time.perf_counter() - started
model.predict(inputs(test)[0])
joblib.dump(model, out)
print(fit)
"""

# predict_proba of the saved model in batches (a context model: whole articles per batch).
RAW_SCORE = """
import sys, joblib, pyarrow.parquet as pq
model_file, data, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = joblib.load(model_file)
records = hasattr(model, "steps") and type(model.steps[0][1]).__name__ == "ColumnTransformer"
table = pq.read_table(data, columns=["text", "doc_id", "sentence_index"] if records else ["text"])
texts = table.column("text").to_pylist()
if not records:
    for start in range(0, len(texts), batch):
        model.predict_proba(texts[start:start + batch])
    sys.exit()
import pandas as pd
docs, index = table.column("doc_id").to_pylist(), table.column("sentence_index").to_pylist()
start = 0
while start < len(texts):
    stop = min(start + batch, len(texts))
    while stop < len(texts) and docs[stop] == docs[stop - 1]:
        stop += 1
    frame = pd.DataFrame({"text": pd.Series(texts[start:stop], dtype=object),
                          "doc_id": pd.Series(docs[start:stop], dtype=object), "sentence_index": index[start:stop]})
    frame["n_sentences"] = frame.groupby("doc_id")["sentence_index"].transform("max") + 1
    frame["paragraph"] = -1
    model.predict_proba(frame)
    start = stop
"""

RAW_LOAD = "import joblib, sys; joblib.load(sys.argv[1])"

# Sentences/s of each part of a saved model on the first sentences of a corpus, in batches of
# whole articles; each part is timed in model order (word, char, context), as predict_proba
# runs them: the context part finds the word part's tokens of the same batch.
COMPONENTS = """
import json, sys, time, joblib, pyarrow.parquet as pq, pandas as pd
model_file, data, batch, count, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
model = joblib.load(model_file)
import gc; gc.freeze()
features, clf = model.steps[0][1], model.steps[-1][1]
from sklearn.compose import ColumnTransformer
records = isinstance(features, ColumnTransformer)  # a context model (ContextFeatures in this code)
table = pq.read_table(data, columns=["text", "doc_id", "sentence_index"]).slice(0, count)
texts, docs, index = (table.column(c).to_pylist() for c in ("text", "doc_id", "sentence_index"))
batches, start = [], 0
while start < len(texts):
    stop = min(start + batch, len(texts))
    while records and stop < len(texts) and docs[stop] == docs[stop - 1]:
        stop += 1
    if records:
        frame = pd.DataFrame({"text": pd.Series(texts[start:stop], dtype=object),
                              "doc_id": pd.Series(docs[start:stop], dtype=object), "sentence_index": index[start:stop]})
        frame["n_sentences"] = frame.groupby("doc_id")["sentence_index"].transform("max") + 1
        frame["paragraph"] = -1
        batches.append((frame, texts[start:stop]))
    else:
        batches.append((texts[start:stop], texts[start:stop]))
    start = stop
parts = []
if records:
    text = features.named_transformers_["text"]
    parts += [(name, part, 1) for name, part in getattr(text, "transformer_list", [("text", text)])]
    parts.append(("context", features.named_transformers_["context"], 0))
else:
    parts.append(("word", features, 1))
inputs = [features.transform(model_input) for model_input, _ in batches]
best = {}
for _ in range(repeats):
    spent = dict.fromkeys([name for name, _, _ in parts], 0.0)
    for model_input, batch_texts in batches:
        for name, part, on_text in parts:
            started = time.perf_counter()
            part.transform(batch_texts if on_text else model_input)
            spent[name] += time.perf_counter() - started
    for name, seconds in spent.items():
        best[name] = min(best.get(name, 1e9), seconds)
    started = time.perf_counter()
    for X in inputs:
        clf.predict_proba(X)
    best["classifier"] = min(best.get("classifier", 1e9), time.perf_counter() - started)
    started = time.perf_counter()
    for model_input, _ in batches:
        model.predict_proba(model_input)
    best["whole model"] = min(best.get("whole model", 1e9), time.perf_counter() - started)
print(json.dumps({name: len(texts) / seconds for name, seconds in best.items()}))
"""


def run(args: list[str], label: str, cwd: Path = ROOT, capture: bool = False) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and (with `capture`) stdout of one command in a fresh process.

    `cwd` is the tree whose `pipeline` the command runs (it goes first on PYTHONPATH).
    """
    import tempfile

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")])))
    with tempfile.TemporaryFile() as errors, tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(list(map(str, args)), cwd=cwd, env=env,
                                   stdout=output if capture else subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{label} failed: {errors.read().decode()[-2000:]}")
        output.seek(0)
        text = output.read().decode()
    print(f"  {label}: {wall:.2f} s, peak {usage.ru_maxrss / 1024:.0f} MB", file=sys.stderr, flush=True)
    return wall, usage.ru_maxrss / 1024, text


def python(*args) -> list[str]:
    return [sys.executable, *map(str, args)]


def write_corpora(size: int, train_size: int, seed: int, row_group_size: int, corpus, small, train, test) -> None:
    """The scoring corpus, its first tenth, and a labeled train/test pair (run in a child process)."""
    import pyarrow.parquet as pq
    from make_corpus import make_corpus

    table = make_corpus(size, seed).select(["text", "doc_id", "sentence_index"])
    pq.write_table(table, corpus, row_group_size=row_group_size)
    pq.write_table(table.slice(0, size // 10), small, row_group_size=row_group_size)
    labeled = make_corpus(train_size + train_size // 4, seed + 1)
    pq.write_table(labeled.slice(0, train_size), train)
    pq.write_table(labeled.slice(train_size), test)  # doc ids of the test part start after the train part


class Bench:
    """The files of one run and how to train and score in a tree (this one or a baseline)."""

    def __init__(self, args, work: Path):
        self.args, self.work = args, work
        self.corpus, self.small = work / "score.parquet", work / "score-tenth.parquet"
        self.train, self.test = work / "train.parquet", work / "test.parquet"
        self.models = work / "models"

    def train_pair(self, features: str, tree: Path, name: str) -> tuple[float, float, float, Path]:
        """(pipeline.train wall, bare script wall, its estimator.fit alone, model folder) of
        `features`, fitted by `tree`'s code."""
        run_name = f"bench-{os.getpid()}-{name}"
        raw_wall, _, printed = run(python("-c", RAW_TRAIN, features, self.train, self.test,
                                          self.work / f"raw-{name}.joblib", tree / "configs"),
                                   f"{name}: raw fit + predict test + dump", cwd=tree, capture=True)
        estimator_fit = float(printed.split()[-1])
        for old in (self.models / run_name, self.work / "runs" / run_name):
            _remove(old)
        wall = run(python("-m", "pipeline.train", f"features={features}", "model=logreg", f"data.path={self.train}",
                          f"data.test_path={self.test}", f"paths.models_dir={self.models}", f"run_name={run_name}",
                          f"hydra.run.dir={self.work / 'runs' / run_name}"), f"{name}: pipeline.train", cwd=tree)[0]
        return wall, raw_wall, estimator_fit, self.models / run_name

    def score_command(self, model: Path, out: str, *extra) -> list[str]:
        return [*python("-m", "pipeline.score", "--model", model, "--batch-size", self.args.batch_size),
                self.corpus, "-o", self.work / out, *extra]

    def components(self, model: Path, tree: Path, name: str) -> dict[str, float]:
        output = run(python("-c", COMPONENTS, model / "model.joblib", self.corpus, self.args.batch_size,
                            self.args.component_sentences, 3), f"{name}: components", cwd=tree, capture=True)[2]
        return json.loads(output.strip().splitlines()[-1])


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)


def bench_model(bench: Bench, features: str, baseline: Path | None, load_before: float) -> None:
    args = bench.args
    with_baseline = baseline is not None and features == DEFAULT_FEATURES
    print(f"training ({features} + LogisticRegression, holdout test file)", file=sys.stderr)
    fits: dict[str, list[tuple[float, float, float]]] = {"this": [], "baseline": []}
    for repeat in range(args.train_repeats):  # interleaved, so both see the same machine load
        *times, model = bench.train_pair(features, ROOT, f"{features}-{repeat}")
        fits["this"].append(times)
        if with_baseline:
            *times, old_model = bench.train_pair(features, baseline, f"{features}-baseline-{repeat}")
            fits["baseline"].append(times)
    fit, raw_fit, estimator_fit = (statistics.median(f[i] for f in fits["this"]) for i in (0, 1, 2))
    median = ", median" if args.train_repeats > 1 else ""
    training_row = (f"training {args.train_size:,} sentences vs raw fit (s{median})", fit, raw_fit, fit / raw_fit,
                    "<= 1.15")
    heading = f"`{features}`, model trained on {args.train_size:,} sentences"
    if args.only == "training":
        print_table([training_row], heading, load_before)
        return

    print(f"scoring {args.size} sentences", file=sys.stderr)
    score = python("-m", "pipeline.score", "--model", model, "--batch-size", args.batch_size)
    commands = {
        "raw": (python("-c", RAW_SCORE, model / "model.joblib", bench.corpus, args.batch_size), ROOT),
        "one": (bench.score_command(model, "out1.parquet"), ROOT),
        "two": (bench.score_command(model, "out2.parquet", "--jobs", 2), ROOT),
    }
    if not args.skip_dask:
        commands["dask"] = (bench.score_command(model, "outd.parquet", "--engine", "dask"), ROOT)
    if with_baseline:
        commands["baseline"] = (bench.score_command(old_model, "outb.parquet"), baseline)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, float] = {}
    for _ in range(args.scoring_repeats):  # interleaved, so every command sees the same machine load
        for name, (command, tree) in commands.items():
            for out in bench.work.glob("out*.parquet"):
                out.unlink()
            wall, peaks[name], _ = run(command, f"score: {name}", cwd=tree)
            walls[name].append(wall)
    raw, one, two = (statistics.median(walls[name]) for name in ("raw", "one", "two"))
    _, tenth_rss, _ = run([*score, bench.small, "-o", bench.work / "out-tenth.parquet"], "score --jobs 1, a tenth")

    print("one sentence", file=sys.stderr)
    text = [*score, "--text", "We will burn the bridge at dawn."]
    load = [sys.executable, "-c", RAW_LOAD, model / "model.joblib"]
    text_walls, load_walls = [], []
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        text_walls.append(run(text, "score --text")[0])
        load_walls.append(run(load, "python -c joblib.load")[0])

    n = args.size
    rows = [
        ("scoring, 1 process (sentences/s)", n / one, n / raw, raw / one, ">= 0.9"),
        ("scoring, --jobs 2 (sentences/s)", n / two, n / raw, raw / two, ">= 1.7"),
    ]
    if "dask" in walls:
        dask = statistics.median(walls["dask"])
        rows.append(("scoring, Dask LocalCluster 2 workers (sentences/s)", n / dask, n / raw, raw / dask, ">= 1.5"))
    rows += [
        (f"peak memory scoring {n:,} vs {n // 10:,} (MB)", peaks["one"], tenth_rss, peaks["one"] / tenth_rss,
         "<= 1.2"),
        ("one sentence `score --text` vs bare model load (s, median)", statistics.median(text_walls),
         statistics.median(load_walls), statistics.median(text_walls) / statistics.median(load_walls), "<= 1.2"),
        training_row,
    ]
    if with_baseline:
        old = statistics.median(walls["baseline"])
        old_fit, old_raw_fit, old_estimator_fit = (statistics.median(f[i] for f in fits["baseline"])
                                                   for i in (0, 1, 2))
        rows += [
            ("scoring, 1 process, vs the baseline code's (sentences/s)", n / one, n / old, old / one, ">= 4"),
            (f"fit (`estimator.fit` in the raw script) vs the baseline code's (s{median}; × faster)", estimator_fit,
             old_estimator_fit, old_estimator_fit / estimator_fit, ">= 2"),
            (f"raw script (imports, read, fit, predict test, dump) vs the baseline code's (s{median}; × faster)", raw_fit,
             old_raw_fit, old_raw_fit / raw_fit, ""),
            (f"pipeline.train vs the baseline code's (s{median}; × faster)", fit, old_fit, old_fit / fit, ""),
        ]
    print_table(rows, f"{heading}; {n:,} sentences scored; raw scoring peak {peaks['raw']:.0f} MB", load_before)

    print("components", file=sys.stderr)
    parts = {"this code": bench.components(model, ROOT, features)}
    if with_baseline:
        parts["baseline code"] = bench.components(old_model, baseline, f"{features} baseline")
    print_components(parts, f"`{features}`: sentences/s of each part, first {args.component_sentences:,} sentences "
                            f"in batches of {args.batch_size:,} (best of 3)")


def main(argv: list[str] | None = None) -> None:
    import multiprocessing
    import resource

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="sentences to score")
    parser.add_argument("--train-size", type=int, default=100_000, help="sentences to train on")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--features", nargs="+", default=["word_tfidf", DEFAULT_FEATURES],
                        help="feature configs to benchmark, each with the logreg model")
    parser.add_argument("--baseline-tree", type=Path,
                        help="a checkout of earlier code: the default model is also trained and scored with it")
    parser.add_argument("--component-sentences", type=int, default=20_000,
                        help="sentences for the per-component table")
    parser.add_argument("--repeats", type=int, default=5, help="runs of the one-sentence timing")
    parser.add_argument("--scoring-repeats", type=int, default=1,
                        help="interleaved runs of each scoring command (the table shows the median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/rhetoric-bench"))
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--only", choices=["training"], help="run only this row of the table")
    parser.add_argument("--train-repeats", type=int, default=1,
                        help="pairs of training runs (raw, pipeline), interleaved; the table shows medians")
    args = parser.parse_args(argv)
    if args.baseline_tree is not None and not (args.baseline_tree / "pipeline").is_dir():
        parser.error(f"--baseline-tree: no pipeline package in {args.baseline_tree}")
    load_before = os.getloadavg()[0]
    work = args.dir / f"size-{args.size}-train-{args.train_size}"
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, work)

    print("corpus", file=sys.stderr)
    if not bench.corpus.exists():
        # Built in a fresh child: a child's peak RSS starts at its parent's at the moment it is
        # started, so this process must stay small for the memory row to measure anything.
        maker = multiprocessing.get_context("spawn").Process(
            target=write_corpora,
            args=(args.size, args.train_size, args.seed, args.batch_size * 5, bench.corpus, bench.small,
                  bench.train, bench.test))
        maker.start()
        maker.join()
        if maker.exitcode != 0:
            raise SystemExit("building the corpus failed")
    print(f"  this process: peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          "(no child's peak can be measured below it)", file=sys.stderr)
    for features in args.features:
        bench_model(bench, features, args.baseline_tree.resolve() if args.baseline_tree else None, load_before)


def print_table(rows, heading: str, load_before: float) -> None:
    print(f"\n{heading}; load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} now (2 cores)\n")
    print("| measure | pipeline | baseline | ratio | aim |")
    print("|---|---:|---:|---:|---|")
    for name, ours, base, ratio, aim in rows:
        print(f"| {name} | {ours:,.1f} | {base:,.1f} | {ratio:.2f}× | {aim} |", flush=True)


def print_components(parts: dict[str, dict[str, float]], heading: str) -> None:
    names = list(dict.fromkeys(name for rates in parts.values() for name in rates))
    columns = list(parts)
    print(f"\n{heading}\n")
    print("| part | " + " | ".join(columns) + (" | ratio |" if len(columns) == 2 else " |"))
    print("|---|" + "---:|" * (len(columns) + (len(columns) == 2)))
    for name in names:
        rates = [parts[c].get(name) for c in columns]
        cells = [f"{r:,.0f}" if r else "" for r in rates]
        if len(columns) == 2:
            cells.append(f"{rates[0] / rates[1]:.2f}×" if all(rates) else "")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
