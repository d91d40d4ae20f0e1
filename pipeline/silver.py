"""Silver labels: a saved model labels the real articles nobody labeled, in standoff form.

    python -m pipeline.silver [--model DIR] [--member NAME] [-o FOLDER] [--min-confidence P]
                              [--precision bf16] [--force]

Takes every PTC article (articles/, openwebtext/) and NewsDiscourse article under
../shared/corpora that no labels file of data/ptc or data/newsdiscourse covers, leaving out the
real-news dev set's articles and every page that repeats one of their sentences, and labels each
sentence with the model (best so far: the encoder of experiment=finetune_real_vote, `--member
encoder --min-confidence 0.8`; data/README.md, "Silver labels"). FOLDER (default data/silver) gets
ptc.jsonl and newsdiscourse.jsonl, standoff labels as in data/README.md with each label's score,
and teacher.json (the model, its dev figures, the counts). `data=real_silver` trains on them
beside the labels people made, so a fast model learns from what a slow one reads in real news.
FOLDER appears whole when the run ends, or not at all; an existing one is replaced only with --force.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.common.cli import at_least_one, model_options, precision_options
from pipeline.common.errors import ArgumentParser, PipelineError, reports_errors, warn
from pipeline.common.jsonl import json_line

DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    from pipeline.annotation.validation import default_corpus_dir

    parser = ArgumentParser(
        prog="python -m pipeline.silver",
        description="Label the unlabeled PTC and NewsDiscourse articles with a saved model, as standoff "
        "labels that data=real_silver trains on.",
        parents=[model_options(), precision_options()],
    )
    parser.add_argument("-o", "--output", default=str(DATA_DIR / "silver"), metavar="FOLDER",
                        help="the folder to write (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace the folder if it exists")
    parser.add_argument("--member", default=None, metavar="NAME",
                        help="label with one member of a voting model (model=minilm_tfidf_vote: encoder or "
                        "tfidf_context) instead of the vote")
    parser.add_argument("--min-confidence", type=float, default=0.0, metavar="P",
                        help="keep only sentences whose top score is at least P (default: %(default)s, all)")
    parser.add_argument("--ptc-dir", default=str(default_corpus_dir("ptc")), metavar="DIR",
                        help="the PTC folder: articles/, openwebtext/, dev.jsonl (default: %(default)s)")
    parser.add_argument("--newsdiscourse-dir", default=str(default_corpus_dir("newsdiscourse")), metavar="DIR",
                        help="the NewsDiscourse folder: train.jsonl, validation.jsonl (default: %(default)s)")
    parser.add_argument("--dev", default=None, metavar="FILE",
                        help="the real-news dev set, whose articles and their copies are left out "
                        "(default: dev.jsonl in --ptc-dir)")
    parser.add_argument("--labeled", nargs="+", metavar="PATH",
                        default=[str(DATA_DIR / name) for name in ("ptc/labels.jsonl", "newsdiscourse/labels.jsonl",
                                                                   "seed_sentences.jsonl", "written")],
                        help="labeled data (.jsonl files or folders): the real articles it covers are left out, "
                        "and no sentence it holds is labeled again (default: the project's data/ files)")
    parser.add_argument("--batch-size", type=at_least_one, default=2000, help="sentences scored at once (default: %(default)s)")
    args = parser.parse_args(argv)
    if not 0 <= args.min_confidence <= 1:
        parser.error(f"argument --min-confidence: must be between 0 and 1, got {args.min_confidence}")
    return args


@reports_errors
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out = Path(args.output)
    if out.exists() and not out.is_dir():  # --force replaces a folder of silver labels, never another file
        raise PipelineError(f"-o {out}: is a file, not a folder; name a folder")
    if out.exists() and not args.force:
        raise PipelineError(f"-o {out}: already exists; add --force to replace it")
    ptc_dir, nd_dir = Path(args.ptc_dir), Path(args.newsdiscourse_dir)
    if not ptc_dir.is_dir() and not nd_dir.is_dir():
        raise PipelineError(f"--ptc-dir {ptc_dir}: not found, nor --newsdiscourse-dir {nd_dir}: silver labels "
                            "need the corpora (data/README.md, 'Getting the corpora'; PIPELINE_SHARED_DIR moves ../shared)")
    dev = Path(args.dev) if args.dev else ptc_dir / "dev.jsonl"
    if ptc_dir.is_dir() and not dev.is_file():
        raise PipelineError(f"--dev {dev}: not found; silver labels leave out the dev articles and every page "
                            "that repeats them, so name the dev set")
    from pipeline.common.files import find_files

    labeled_files = find_files(args.labeled, {".jsonl"}, what="labeled .jsonl files", key="--labeled")

    from pipeline.artifacts.folder import read_card
    from pipeline.artifacts.loading import default_model_dir, load_model
    from pipeline.data.unlabeled import labeled_documents, unlabeled_sentences

    model_dir = Path(args.model or default_model_dir())
    model = load_model(model_dir, trust=args.trust, scoring_precision=args.precision)
    if args.member:
        only_member(model, args.member, model_dir)
    documents, texts = labeled_documents(labeled_files)
    pool, copies = unlabeled_sentences(ptc_dir if ptc_dir.is_dir() else None, nd_dir if nd_dir.is_dir() else None,
                                       documents, dev, texts)
    if not pool:
        raise PipelineError(f"--ptc-dir {ptc_dir}, --newsdiscourse-dir {nd_dir}: no unlabeled articles left")
    print(f"labeling {sum(s.keep for s in pool)} sentences of {len({(s.format, s.doc_id) for s in pool})} unlabeled articles "
          f"with {model_dir} ({copies} pages that repeat a dev sentence left out)", file=sys.stderr)
    dev_figures = _dev_figures(model, dev)
    rows = silver_rows(model, pool, args.batch_size, args.min_confidence)
    card = read_card(model_dir)
    teacher = {
        "model": str(model_dir), "model_name": card.get("name"), "model_sha256": card.get("sha256"),
        "member": args.member,
        "real_news_dev": dev_figures, "min_confidence": args.min_confidence,
        "left_out_as_dev_copies": copies,
        "sentences": {fmt: _counts([row for row in rows if row[0] == fmt]) for fmt in ("ptc", "newsdiscourse")},
    }
    if not rows:  # the folder is still written: data=real_silver trains without silver sentences
        warn(f"--min-confidence {args.min_confidence}: no sentence reached it, so {out} adds no sentences "
             "to data=real_silver")
    _write_folder(out, rows, teacher, args.force)
    print(f"wrote {len(rows)} silver labels to {out}", file=sys.stderr)


def only_member(model, member: str, model_dir: Path) -> None:
    """Make a loaded voting model score with `member` alone (its weight 1, the others' 0)."""
    estimator = model.estimator
    vote = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    names = [name for name, _ in getattr(vote, "estimators", [])] if hasattr(vote, "voting") else []
    if member not in names:
        raise PipelineError(f"--member {member}: {model_dir} is not a voting model with that member"
                            + (f" (its members: {', '.join(names)})" if names else ""))
    vote.set_params(weights=[1.0 if name == member else 0.0 for name in names])


def silver_rows(model, pool, batch_size: int, min_confidence: float) -> list[tuple[str, dict]]:
    """(format, standoff record with label and score) for each pool sentence the model is sure enough of."""
    import numpy as np

    from pipeline.scoring.batching import batches

    labels = model.labels
    items = ((f"{s.format}:{s.doc_id}", s.sentence_index, s.text) for s in pool)
    rows, done = [], 0
    for batch in batches(items, batch_size, whole_documents=True):  # context models read whole articles
        probabilities = np.asarray(model.predict_items(batch))
        for sentence, scores in zip(pool[done:done + len(batch)], probabilities):
            best = int(scores.argmax())
            if sentence.keep and scores[best] >= min_confidence:
                rows.append((sentence.format, {**sentence.standoff(), "label": labels[best],
                                               "score": round(float(scores[best]), 4)}))
        done += len(batch)
    return rows


def _dev_figures(model, dev: Path) -> dict | None:
    """The labeling model's (or member's) macro-F1 and per-label F1 on the real-news dev set."""
    if not dev.is_file():
        return None
    from pipeline.data.source import DataSource
    from pipeline.training.crossval import real_news_dev

    corpus = DataSource(path=str(dev), labels=model.labels).load(str(dev), "--dev")
    try:
        figures = real_news_dev(model.estimator, corpus, model.labels, 42, dev)
    except ValueError as exc:  # a dev file too small to measure (one label)
        return {"data": str(dev), "skipped": str(exc).splitlines()[0]}
    if "skipped" in figures:
        return figures
    return {"data": str(dev), "macro_f1": round(figures["macro_f1"], 4),
            "f1": {label: round(m["f1"], 4) for label, m in figures["per_label"].items()}}


def _counts(rows) -> dict:
    from collections import Counter

    return dict(sorted(Counter(row["label"] for _, row in rows).items()))


def _write_folder(out: Path, rows, teacher: dict, force: bool) -> None:
    """ptc.jsonl, newsdiscourse.jsonl and teacher.json, published as one folder."""
    from pipeline.common.atomic import publishing_folder

    with publishing_folder(out, replace=force) as tmp:
        for fmt in ("ptc", "newsdiscourse"):
            with open(tmp / f"{fmt}.jsonl", "w", encoding="utf-8") as handle:
                handle.writelines(json_line(row) for kind, row in rows if kind == fmt)
        (tmp / "teacher.json").write_text(json.dumps(teacher, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
