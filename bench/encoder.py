"""How fast a fine-tuned encoder scores: torch fp32, ONNX Runtime fp32 and ONNX Runtime int8 (and
torch bf16 on a CPU with bfloat16 instructions) on the same model and the same sentences in one run,
and sentences/s through `python -m pipeline.score`.

    python bench/encoder.py --model models/latest            # a model=minilm_finetune folder
    python bench/encoder.py --train                          # fine-tune one first (timed), then measure it
    python bench/encoder.py --model DIR -n 2000 --repeats 3 --threads 2

Sentences: the first -n of NewsDiscourse validation (paths.newsdiscourse_dir; never copied into
the repository). Every runtime does what predict_proba does: tokenize, sort by length, batches
of 64, softmax. torch fp32 runs the folder's safetensors weights; the fp32 and int8 ONNX graphs
are exported from those same weights into a temporary folder (torch.onnx, then
onnxruntime.quantization.quantize_dynamic), so all three are one model; torch bf16 scores a
bfloat16 copy of the torch network (model.scoring_precision=bf16), measured only where the CPU has
AVX-512 BF16 or AMX (elsewhere it is many times slower). Columns: sentences/s
(median of --repeats interleaved runs), the ratio to torch fp32, the share of labels that agree
with torch fp32 and the largest difference of a probability. The raw scikit-learn row is a
TF-IDF (1,2) + LogisticRegression pipeline fitted on the same sentences, scored the same way:
the speed of the project's default kind of model, for scale.

`pipeline.score` rows are the wall time of a fresh process scoring the sentences from a JSONL
file into a JSONL file with the folder's own runtime (ONNX Runtime on the graph saved with the
model: int8 when it was trained with model.onnx_int8=true), start-up and loading included; where
the CPU has bfloat16 instructions, once more with --precision bf16.

--train runs `python -m pipeline.train experiment=minilm_finetune data.test_path=FILE` first (the
default data, 4 epochs, the int8 graph) and reports its wall time: the cost of one fine-tune.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def newsdiscourse_sentences(n: int) -> list[str]:
    from hydra import compose, initialize_config_dir

    import pipeline.common.config  # noqa: F401  (registers the resolvers)

    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        folder = Path(compose(config_name="train", overrides=["data=newsdiscourse"]).paths.newsdiscourse_dir)
    path = folder / "validation.jsonl"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found (set PIPELINE_SHARED_DIR)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:n]]
    return [row["text"] for row in rows], [row["label"] for row in rows]


def train_once(test_path: str, models_dir: Path) -> tuple[Path, float]:
    """One fine-tune of experiment=minilm_finetune on the default data, timed as a whole command."""
    run_dir = models_dir.parent / "run"
    command = [sys.executable, "-m", "pipeline.train", "experiment=minilm_finetune", f"data.test_path={test_path}",
               f"paths.models_dir={models_dir}", "run_name=bench-finetune", f"hydra.run.dir={run_dir}"]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    return models_dir / "bench-finetune", time.perf_counter() - started


def runtimes(folder: Path, work: Path, threads: int | None):
    """(name -> run function), the tokenizer and the number of labels, all from one model folder."""
    from pipeline.artifacts.loading import load_model
    from pipeline.artifacts.weights import CheckedReader
    from pipeline.models import encoder_runtime as rt
    from pipeline.models.finetune import cpu_has_bf16

    model = load_model(folder)
    clf = model.estimator[-1]
    files = model.card["weights"]["encoder"]
    read = CheckedReader(folder, files).read
    network = rt.network_from_files(read(rt.CONFIG_FILE).decode(), read(rt.WEIGHTS_FILE), len(clf.classes_))
    tokenizer = rt.make_tokenizer(read(rt.TOKENIZER_FILE).decode(), clf.max_length)
    fp32, int8 = work / "encoder.onnx", work / "encoder.int8.onnx"
    rt.export_onnx(network, fp32)
    rt.quantize_int8(fp32, int8)
    runs = {
        "torch fp32": rt.torch_runner(network, threads),
        "ONNX Runtime fp32": rt.onnx_runner(fp32.read_bytes(), threads),
        "ONNX Runtime int8": rt.onnx_runner(int8.read_bytes(), threads),
    }
    if cpu_has_bf16():
        runs["torch bf16"] = rt.torch_runner(network, threads, bf16=True)
    return runs, tokenizer, len(clf.classes_), model


def probabilities(run, tokenizer, texts, n_labels):
    import numpy as np

    from pipeline.models import encoder_runtime as rt

    logits = rt.batched_logits(run, rt.token_ids(tokenizer, texts), n_labels).astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def sklearn_baseline(texts, labels):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    fitted = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                           LogisticRegression(C=10.0, max_iter=2000)).fit(texts, labels)
    return fitted.predict_proba


def score_command(folder: Path, texts: list[str], work: Path, jobs: int, precision: str | None = None) -> float:
    """Wall seconds of `python -m pipeline.score` over the sentences, in a fresh process."""
    source = work / "sentences.jsonl"
    if not source.exists():
        source.write_text("".join(json.dumps({"doc_id": f"d{i // 20}", "sentence_index": i % 20, "text": t}) + "\n"
                                  for i, t in enumerate(texts)), encoding="utf-8")
    target = work / f"scores-{jobs}.jsonl"
    target.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pipeline.score", "--model", str(folder), str(source), "-o", str(target)]
    if jobs > 1:
        command += ["--jobs", str(jobs)]
    if precision:
        command += ["--precision", precision]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a model=minilm_finetune folder")
    parser.add_argument("--train", action="store_true", help="fine-tune one first (timed) and measure it")
    parser.add_argument("--test-path", default=str(ROOT.parent / "shared" / "corpora" / "ptc" / "dev.jsonl"),
                        help="data.test_path of --train (default: ../shared/corpora/ptc/dev.jsonl)")
    parser.add_argument("-n", type=int, default=2000, help="sentences of NewsDiscourse validation (default 2000)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of every runtime (default: theirs)")
    args = parser.parse_args()
    if not args.model and not args.train:
        parser.error("give --model DIR or --train")
    import numpy as np

    texts, labels = newsdiscourse_sentences(args.n)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-encoder-") as scratch:
        work = Path(scratch)
        trained_seconds = None
        if args.train:
            args.model, trained_seconds = train_once(args.test_path, work / "models")
        runs, tokenizer, n_labels, model = runtimes(args.model, work, args.threads)
        for run in runs.values():  # first calls allocate; not timed
            probabilities(run, tokenizer, texts[:64], n_labels)
        baseline = sklearn_baseline(texts, labels)
        seconds = {name: [] for name in [*runs, "raw sklearn TF-IDF + LR"]}
        results = {}
        for _ in range(args.repeats):
            for name, run in runs.items():
                started = time.perf_counter()
                results[name] = probabilities(run, tokenizer, texts, n_labels)
                seconds[name].append(time.perf_counter() - started)
            started = time.perf_counter()
            baseline(texts)
            seconds["raw sklearn TF-IDF + LR"].append(time.perf_counter() - started)
        commands = [(1, None), (2, None)] + ([(1, "bf16")] if "torch bf16" in runs else [])
        command_seconds = {command: [] for command in commands}
        for _ in range(args.repeats):
            for jobs, precision in command_seconds:
                command_seconds[jobs, precision].append(score_command(args.model, texts, work, jobs, precision))
    load_after = os.getloadavg()[0]

    speed = {name: len(texts) / statistics.median(values) for name, values in seconds.items()}
    reference = results["torch fp32"]
    print(f"\n{len(texts)} NewsDiscourse validation sentences, model {args.model} "
          f"({model.card.get('config', {}).get('model', {}).get('max_length')} tokens at most), "
          f"threads {args.threads or 'default'}, median of {args.repeats}; load average "
          f"{load_before:.1f} at the start, {load_after:.1f} at the end\n")
    print("| runtime | sentences/s | × torch fp32 | labels agreeing with torch fp32 | largest probability difference |")
    print("|---|---:|---:|---:|---:|")
    for name in seconds:
        if name in results:
            agree = float((results[name].argmax(axis=1) == reference.argmax(axis=1)).mean())
            diff = float(np.abs(results[name] - reference).max())
            print(f"| {name} | {speed[name]:,.0f} | {speed[name] / speed['torch fp32']:.2f} | {agree:.2%} | {diff:.4f} |")
        else:
            print(f"| {name} | {speed[name]:,.0f} | {speed[name] / speed['torch fp32']:.2f} | – | – |")
    runtime = model.estimator[-1].runtime
    saved = ", ".join(f for f in model.card["weights"]["encoder"] if f.endswith(".onnx")) or "no ONNX graph"
    for (jobs, precision), values in command_seconds.items():
        wall = statistics.median(values)
        how = f"{runtime}, {saved}" if precision is None else f"torch {precision}"
        print(f"| `pipeline.score`{' --jobs 2' if jobs > 1 else ''}{f' --precision {precision}' if precision else ''} "
              f"({how}) | {len(texts) / wall:,.0f} | {len(texts) / wall / speed['torch fp32']:.2f} | – | – |")
    if trained_seconds is not None:
        print(f"\nfine-tuning (python -m pipeline.train experiment=minilm_finetune data.test_path=...): "
              f"{trained_seconds:.0f} s wall, the whole command")


if __name__ == "__main__":
    main()
