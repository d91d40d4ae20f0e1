"""Domain-adaptive pretraining of the encoder on unlabeled news, for `model.base_weights`.

    python -m pipeline.pretrain OUT_DIR [--from FOLDER_OR_FILE ...] [--exclude FILE] [--sentences N]
        [--max-length N] [--batch-size N] [--learning-rate X] [--head-steps N] [--seed N] [--threads N]

Trains all-MiniLM-L6-v2 further as a masked language model on sentences of unlabeled articles
(`.txt` files, split as the pipeline splits them, and `.jsonl` sentence files; by default the
PTC articles, its openwebtext articles and the NewsDiscourse training articles under
../shared/corpora), leaving out every article of the real-news dev set and its sentences
wherever another site republished them. OUT_DIR gets the adapted encoder as data files
(config.json, model.safetensors, tokenizer.json) and pretrain.json;
then `python -m pipeline.train model=minilm_finetune model.base_weights=OUT_DIR` fine-tunes
from it. OUT_DIR must not exist: it appears whole when the run ends, or not at all. Needs the
embeddings extra; see docs/models.md for the cost and the dev-set figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.common.cli import at_least_one, seed_number
from pipeline.common.errors import ArgumentParser, PipelineError, quote, reports_errors


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from pipeline.annotation.validation import default_corpus_dir

    corpora = default_corpus_dir("ptc").parent  # $PIPELINE_SHARED_DIR/corpora or ../shared/corpora
    parser = ArgumentParser(
        prog="python -m pipeline.pretrain",
        description="Masked-language-model pretraining of all-MiniLM-L6-v2 on unlabeled news, "
        "saved as a folder for model.base_weights.",
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="the folder to create (must not exist)")
    parser.add_argument("--from", dest="sources", nargs="+", default=None, metavar="PATH",
                        help="folders of .txt articles and .jsonl sentence files (default: the PTC "
                        "articles and openwebtext folders and NewsDiscourse train.jsonl under "
                        f"{corpora})")
    parser.add_argument("--exclude", default=None, metavar="FILE",
                        help="a labeled file whose articles (doc_id), and its sentences wherever they "
                        "appear, are left out (default: the real-news dev set, skipped when absent; an "
                        "empty file leaves nothing out)")
    parser.add_argument("--sentences", type=at_least_one, default=12800,
                        help="sentences drawn at random to train on (default: %(default)s)")
    parser.add_argument("--max-length", type=at_least_one, default=64, help="tokens per sentence (default: %(default)s)")
    parser.add_argument("--batch-size", type=at_least_one, default=32, help="(default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=5e-5, help="(default: %(default)s)")
    parser.add_argument("--head-steps", type=at_least_one, default=120,
                        help="batches that train the new head alone first (default: %(default)s)")
    parser.add_argument("--seed", type=seed_number, default=0, help="(default: %(default)s)")
    parser.add_argument("--threads", type=at_least_one, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.exclude is None:
        args.exclude = str(corpora / "ptc" / "dev.jsonl")
    elif not Path(args.exclude).is_file():  # typed, so meant: a typo would let the dev articles in
        parser.error(f"argument --exclude: file not found: {args.exclude} (an empty file leaves nothing out)")
    if args.sources is None:
        args.sources = [str(corpora / "ptc" / "articles"), str(corpora / "ptc" / "openwebtext"),
                        str(corpora / "newsdiscourse" / "train.jsonl")]
    if args.max_length > 512:  # all-MiniLM-L6-v2 has 512 positions
        parser.error(f"argument --max-length: must be at most 512, got {args.max_length}")
    if not 0 < args.learning_rate < 1:
        parser.error(f"argument --learning-rate: must be between 0 and 1, got {args.learning_rate}")
    return args


def _excluded(file: Path) -> tuple[set[str], frozenset[str]]:
    """The dev set's article ids and its sentences (as `sentence_key`s)."""
    from pipeline.annotation.validation import sentence_key
    from pipeline.common.jsonl import read_json_lines

    if not file.is_file():
        return set(), frozenset()
    records = [record for _, record in read_json_lines(file)]
    return {str(r.get("doc_id")) for r in records}, frozenset(sentence_key(str(r.get("text", ""))) for r in records)


@reports_errors
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = Path(args.out_dir)
    if out.exists():
        raise PipelineError(f"{out}: already exists; pretraining never replaces a folder (name a new one)")
    from pipeline.common.files import find_files
    from pipeline.features.embeddings import check_installed

    try:
        check_installed("all-MiniLM-L6-v2")
    except ImportError as exc:
        raise PipelineError(str(exc).splitlines()[0]) from None
    for source in args.sources:
        if not Path(source).exists():
            raise PipelineError(f"--from {source}: no such file or folder (the corpora live in ../shared/corpora; "
                                "PIPELINE_SHARED_DIR moves ../shared)")
    files = find_files(args.sources, {".txt", ".jsonl"}, what="unlabeled articles", key="--from")
    try:  # before reading the articles, which can take minutes
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(f"{out}: cannot create its folder {out.parent} ({exc.strerror or exc})") from None
    from pipeline.models.pretrain import BASE_FILES, CARD, adapt, unlabeled_sentences

    excluded, excluded_texts = _excluded(Path(args.exclude))
    sentences, available = unlabeled_sentences(files, excluded, args.sentences, args.seed,
                                               exclude_texts=excluded_texts)
    if len(sentences) // args.batch_size <= args.head_steps:
        raise PipelineError(f"--from: {len(sentences)} sentences of 6+ words make too few batches of "
                            f"{args.batch_size} for --head-steps {args.head_steps}")
    print(f"pretraining on {len(sentences)} of {available} sentences from {len(files)} files "
          f"(the {len(excluded)} dev articles and their sentences anywhere else left out); writing {out}",
          file=sys.stderr)
    from pipeline.common.atomic import publishing_folder

    with publishing_folder(out) as tmp:
        from tqdm import tqdm

        with tqdm(total=len(sentences) // args.batch_size, desc="pretraining", unit="batch",
                  disable=not sys.stderr.isatty()) as bar:
            def progress(step: int, steps: int, loss: float) -> None:
                bar.update(step - bar.n)
                bar.set_postfix(loss=f"{loss:.3f}")

            card = adapt(sentences, tmp, max_length=args.max_length, batch_size=args.batch_size,
                         learning_rate=args.learning_rate, head_steps=args.head_steps, seed=args.seed,
                         threads=args.threads, progress=progress)
        from pipeline.artifacts.weights import sha256_file

        card["sources"] = [str(s) for s in args.sources]
        card["excluded_articles"] = len(excluded)
        card["sha256"] = {name: sha256_file(tmp / name) for name in BASE_FILES}
        (tmp / CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(f"saved the adapted encoder to {out} (final loss {card['history'][-1]['loss']}); fine-tune from it with "
          f"model.base_weights={quote(str(out))}")


if __name__ == "__main__":
    main()
