"""Scale benchmarks of the pipeline against raw scikit-learn on the same model and data, in one run.

    nice python bench/scale.py --size 100000        # a few minutes
    nice python bench/scale.py                      # 1M sentences to score (train on 100k)
    nice python bench/scale.py --size 100000 --only training --train-repeats 3

Every figure is the wall time (or peak RSS) of a fresh process, so start-up, model loading and
reading the data count on both sides. The raw side is a bare script: joblib.load, pyarrow read,
then scikit-learn alone (fit; or transform + predict_proba in batches of --batch-size). Files go
under --dir (default /tmp/rhetoric-bench), never into the repository.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

RAW_TRAIN = """
import sys, joblib, pyarrow.parquet as pq
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
train, test, out = sys.argv[1:4]
t = pq.read_table(train, columns=["text", "label"]).to_pydict()
s = pq.read_table(test, columns=["text", "label"]).to_pydict()
model = Pipeline([
    ("features", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), lowercase=True, sublinear_tf=True, min_df=1)),
    ("clf", LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000, random_state=42)),
]).fit(t["text"], t["label"])
model.predict(s["text"])
joblib.dump(model, out)
"""

RAW_SCORE = """
import sys, joblib, pyarrow.parquet as pq
model_file, data, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = joblib.load(model_file)
texts = pq.read_table(data, columns=["text"]).column("text").to_pylist()
for start in range(0, len(texts), batch):
    model.predict_proba(texts[start:start + batch])
"""

RAW_LOAD = "import joblib, sys; joblib.load(sys.argv[1])"


def run(args: list[str], label: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command in a fresh process (and its children)."""
    import tempfile

    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(list(map(str, args)), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{label} failed: {errors.read().decode()[-2000:]}")
    print(f"  {label}: {wall:.2f} s, peak {usage.ru_maxrss / 1024:.0f} MB", file=sys.stderr, flush=True)
    return wall, usage.ru_maxrss / 1024


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


def main(argv: list[str] | None = None) -> None:
    import multiprocessing
    import resource

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="sentences to score")
    parser.add_argument("--train-size", type=int, default=100_000, help="sentences to train on")
    parser.add_argument("--batch-size", type=int, default=10_000)
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
    load_before = os.getloadavg()[0]
    work = args.dir / f"size-{args.size}"
    work.mkdir(parents=True, exist_ok=True)

    print("corpus", file=sys.stderr)
    corpus = work / "score.parquet"
    small = work / "score-tenth.parquet"
    train, test = work / "train.parquet", work / "test.parquet"
    if not corpus.exists():
        # Built in a fresh child: a child's peak RSS starts at its parent's at the moment it is
        # started, so this process must stay small for the memory row to measure anything.
        maker = multiprocessing.get_context("spawn").Process(
            target=write_corpora,
            args=(args.size, args.train_size, args.seed, args.batch_size * 5, corpus, small, train, test))
        maker.start()
        maker.join()
        if maker.exitcode != 0:
            raise SystemExit("building the corpus failed")
    print(f"  this process: peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB "
          "(no child's peak can be measured below it)", file=sys.stderr)

    print("training (TF-IDF word 1-2 + LogisticRegression, holdout test file)", file=sys.stderr)
    models = work / "models"
    raw_fits, fits = [], []
    for repeat in range(args.train_repeats):  # interleaved, so both see the same machine load
        run_name = f"bench-{os.getpid()}" + (f"-{repeat}" if repeat else "")
        raw_fits.append(run(python("-c", RAW_TRAIN, train, test, work / "raw.joblib"),
                            "raw fit + predict test + dump")[0])
        fits.append(run(python("-m", "pipeline.train", "features=word_tfidf", "model=logreg", f"data.path={train}",
                               f"data.test_path={test}", f"paths.models_dir={models}", f"run_name={run_name}",
                               f"hydra.run.dir={work / 'runs' / run_name}"), "pipeline.train")[0])
    raw_fit, fit = statistics.median(raw_fits), statistics.median(fits)
    training_row = (f"training {args.train_size:,} sentences vs raw fit (s{', median' if len(fits) > 1 else ''})",
                    fit, raw_fit, fit / raw_fit, "<= 1.15")
    if args.only == "training":
        print_table([training_row], f"model trained on {args.train_size:,} sentences", load_before)
        return
    model = models / f"bench-{os.getpid()}"

    print(f"scoring {args.size} sentences", file=sys.stderr)
    score = python("-m", "pipeline.score", "--model", model, "--batch-size", args.batch_size)
    commands = {
        "raw": python("-c", RAW_SCORE, model / "model.joblib", corpus, args.batch_size),
        "one": [*score, corpus, "-o", work / "out1.parquet"],
        "two": [*score, corpus, "-o", work / "out2.parquet", "--jobs", 2],
    }
    if not args.skip_dask:
        commands["dask"] = [*score, corpus, "-o", work / "outd.parquet", "--engine", "dask"]
    walls: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, float] = {}
    for _ in range(args.scoring_repeats):  # interleaved, so every command sees the same machine load
        for name, command in commands.items():
            for out in work.glob("out*.parquet"):
                out.unlink()
            wall, peaks[name] = run(command, f"score: {name}")
            walls[name].append(wall)
    raw, one, two = (statistics.median(walls[name]) for name in ("raw", "one", "two"))
    dask = statistics.median(walls["dask"]) if "dask" in walls else None
    raw_rss, one_rss = peaks["raw"], peaks["one"]
    _, tenth_rss = run([*score, small, "-o", work / "out-tenth.parquet"], "score --jobs 1, a tenth")

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
    if dask is not None:
        rows.append(("scoring, Dask LocalCluster 2 workers (sentences/s)", n / dask, n / raw, raw / dask, ">= 1.5"))
    rows += [
        (f"peak memory scoring {n:,} vs {n // 10:,} (MB)", one_rss, tenth_rss, one_rss / tenth_rss, "<= 1.2"),
        ("one sentence `score --text` vs bare model load (s, median)", statistics.median(text_walls),
         statistics.median(load_walls), statistics.median(text_walls) / statistics.median(load_walls), "<= 1.2"),
        training_row,
    ]
    print_table(rows, f"{n:,} sentences scored, model trained on {args.train_size:,}; "
                f"raw scoring peak {raw_rss:.0f} MB", load_before)


def print_table(rows, heading: str, load_before: float) -> None:
    print(f"\n{heading}; load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (2 cores)\n")
    print("| measure | pipeline | baseline | ratio | aim |")
    print("|---|---:|---:|---:|---|")
    for name, ours, base, ratio, aim in rows:
        print(f"| {name} | {ours:,.1f} | {base:,.1f} | {ratio:.2f}× | {aim} |")


if __name__ == "__main__":
    main()
