"""Peak memory of out-of-core training (`experiment=out_of_core`) as the corpus grows, against
a raw scikit-learn HashingVectorizer + SGDClassifier `partial_fit` script on the same files.

    nice python bench/out_of_core.py                          # 100k vs 400k sentences, ≈ 10 min
    nice python bench/out_of_core.py --sizes 50000 200000 --epochs 1

The pipeline side is the whole train stage in a fresh process: grouped 5-fold cross-validation
with out-of-fold predictions, baselines, reports, predictions.jsonl, the refit on all data and
the saved model. The raw side reads the Parquet file in record batches with pyarrow and runs
`partial_fit` over them for the same number of epochs, then predicts every sentence batch by
batch: the least a streaming fit can hold. Flat memory means both columns grow ≈1× from the
smallest to the largest corpus. Files go under --dir (default /tmp/rhetoric-bench), never into
the repository; the `datasets` cache too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

RAW_STREAMING = """
import sys
import numpy as np, pyarrow.parquet as pq
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.utils.class_weight import compute_class_weight
data, batch, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
features = HashingVectorizer(analyzer="word", ngram_range=(1, 2), lowercase=True, n_features=2**20,
                             alternate_sign=False, norm="l2")
file = pq.ParquetFile(data)
labels = file.read(columns=["label"]).column("label").to_numpy(zero_copy_only=False)
classes = np.unique(labels)
weights = dict(zip(classes, compute_class_weight("balanced", classes=classes, y=labels)))
clf = SGDClassifier(loss="log_loss", alpha=1e-4, class_weight=weights, random_state=0)
for _ in range(epochs):
    for part in file.iter_batches(batch_size=batch, columns=["text", "label"]):
        clf.partial_fit(features.transform(part.column("text").to_pylist()),
                        part.column("label").to_numpy(zero_copy_only=False), classes=classes)
predicted = [clf.predict_proba(features.transform(part.column("text").to_pylist())).argmax(axis=1)
             for part in file.iter_batches(batch_size=batch, columns=["text"])]
"""


def main(argv: list[str] | None = None) -> None:
    import pyarrow.parquet as pq
    from make_corpus import make_corpus
    from scale import python, run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000], help="sentences to train on")
    parser.add_argument("--epochs", type=int, default=2, help="model.n_epochs on both sides")
    parser.add_argument("--batch-size", type=int, default=10_000, help="model.batch_size on both sides")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/rhetoric-bench"))
    args = parser.parse_args(argv)
    work = args.dir / "out-of-core"
    work.mkdir(parents=True, exist_ok=True)
    os.environ["HF_DATASETS_CACHE"] = str(work / "hf-cache")  # inherited by the train processes
    load_before = os.getloadavg()[0]

    largest = max(args.sizes)
    rows = []
    for size in sorted(args.sizes):
        data = work / f"train-{size}.parquet"
        if not data.exists():
            # One corpus, cut to each size: the smaller corpora are prefixes of the larger one.
            table = make_corpus(largest, args.seed)
            for each in args.sizes:
                pq.write_table(table.slice(0, each), work / f"train-{each}.parquet", row_group_size=50_000)
        print(f"{size:,} sentences", file=sys.stderr)
        raw, raw_rss = run(python("-c", RAW_STREAMING, data, args.batch_size, args.epochs), "raw partial_fit")
        run_name = f"bench-{size}-{os.getpid()}"
        ours, ours_rss = run(python(
            "-m", "pipeline.train", "experiment=out_of_core", f"data.path={data}",
            f"model.n_epochs={args.epochs}", f"model.batch_size={args.batch_size}",
            f"paths.models_dir={work / 'models'}", f"run_name={run_name}",
            f"hydra.run.dir={work / 'runs' / run_name}",
        ), "pipeline.train experiment=out_of_core")
        rows.append((size, ours, ours_rss, raw, raw_rss))

    small, large = rows[0], rows[-1]
    print(f"\nexperiment=out_of_core, {args.epochs} epochs of batches of {args.batch_size:,}; load average "
          f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (2 cores)\n")
    print("| sentences | pipeline.train peak (MB) | raw partial_fit peak (MB) | pipeline / raw | "
          "pipeline.train wall (s) | raw wall (s) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for size, ours, ours_rss, raw, raw_rss in rows:
        print(f"| {size:,} | {ours_rss:,.0f} | {raw_rss:,.0f} | {ours_rss / raw_rss:.2f}× | {ours:,.1f} | {raw:,.1f} |")
    print(f"\npeak memory growth {small[0]:,} -> {large[0]:,} sentences: pipeline.train "
          f"{large[2] / small[2]:.2f}×, raw {large[4] / small[4]:.2f}× (aim: ≈ 1×)")


if __name__ == "__main__":
    main()
