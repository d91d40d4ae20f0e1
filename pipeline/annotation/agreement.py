"""Agreement between two annotators: Cohen's kappa overall and per label, and every disagreement.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Sequence

from pipeline.common.errors import PipelineError, counted, quote, warn
from pipeline.common.labels import LABELS

MATCHING = ("auto", "key", "text")


def read_annotations(path: str | Path, labels: Sequence[str] | None = None):
    """The records of one annotator's file (labels from `labels`, any when None); the first problem
    stops with one line."""
    from pipeline.annotation.validation import read_records

    file = Path(path)
    if file.is_dir():
        raise PipelineError(f"{file}: a folder, not one annotator's file")
    if not file.is_file():
        raise PipelineError(f"{file}: file not found")
    errors: list[str] = []
    notes: list[str] = []
    records = read_records(file, labels, errors, allow_unlabeled=True, required=("text", "label"), notes=notes)
    if errors:
        more = f" (and {len(errors) - 1} more; see python -m pipeline.validate)" if len(errors) > 1 else ""
        raise PipelineError(errors[0] + more)
    for note in notes:
        warn(note)
    if not records:
        raise PipelineError(f"{file}: no sentences")
    return records


def match(a: Sequence, b: Sequence, by: str = "auto") -> tuple[list[tuple], str]:
    """Pairs (record of A, record of B) for the sentences both labeled, and how they were matched."""
    from pipeline.annotation.validation import sentence_key

    if by not in MATCHING:
        raise PipelineError(f"--by: expected one of {', '.join(MATCHING)}, got {quote(by)}")
    keyed = all(r.doc_id is not None and r.sentence_index is not None for r in (*a, *b))
    if by == "key" and not keyed:
        missing = next(r for r in (*a, *b) if r.doc_id is None or r.sentence_index is None)
        raise PipelineError(f"{missing.where}: no doc_id/sentence_index to match by key (use --by text)")
    if by == "text" or not keyed:
        # The k-th occurrence of a sentence in A pairs with its k-th occurrence in B.
        def keys(records):
            seen: dict[str, int] = defaultdict(int)
            out = []
            for r in records:
                text = sentence_key(r.text)
                out.append((text, seen[text]))
                seen[text] += 1
            return out

        key_a, key_b = keys(a), keys(b)
        method = "text"
    else:
        key_a = [(r.doc_id, r.sentence_index) for r in a]
        key_b = [(r.doc_id, r.sentence_index) for r in b]
        for records, keys_ in ((a, key_a), (b, key_b)):
            first: dict = {}
            for r, key in zip(records, keys_):
                if key in first:
                    raise PipelineError(
                        f"{r.where}: doc_id {quote(r.doc_id)} sentence_index {r.sentence_index} repeats "
                        f"{first[key].where}"
                    )
                first[key] = r
        method = "doc_id and sentence_index"
    index_b = dict(zip(key_b, b))
    pairs = [(ra, index_b[key]) for ra, key in zip(a, key_a) if key in index_b]
    if method != "text":
        for ra, rb in pairs:
            if sentence_key(ra.text) != sentence_key(rb.text):
                raise PipelineError(
                    f"{ra.where} and {rb.where}: doc_id {quote(ra.doc_id)} sentence_index {ra.sentence_index} "
                    "holds different sentences; were both split the same way? (--by text matches on text)"
                )
    return pairs, method


def agreement(a: Sequence, b: Sequence, by: str = "auto") -> dict:
    """Kappa overall and per label, confusion matrix and disagreements of two annotators."""
    import warnings

    import numpy as np
    from sklearn.metrics import cohen_kappa_score, confusion_matrix

    pairs, method = match(a, b, by)
    labeled = [(ra, rb) for ra, rb in pairs if ra.label and rb.label]
    result = {
        "matched_by": method,
        "n_a": len(a),
        "n_b": len(b),
        "n_matched": len(pairs),
        "n_only_a": len(a) - len(pairs),
        "n_only_b": len(b) - len(pairs),
        "n_unlabeled_skipped": len(pairs) - len(labeled),
        "n_compared": len(labeled),
    }
    if not labeled:
        raise PipelineError("no sentence is labeled in both files; nothing to compare")
    y_a = [ra.label for ra, _ in labeled]
    y_b = [rb.label for _, rb in labeled]
    used = set(y_a) | set(y_b)
    labels = [label for label in LABELS if label in used] + sorted(used - set(LABELS))

    def kappa(x, y, label_set):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = cohen_kappa_score(x, y, labels=label_set)
        return None if np.isnan(value) else float(value)

    result["observed_agreement"] = float(np.mean([x == y for x, y in zip(y_a, y_b)]))
    result["kappa"] = kappa(y_a, y_b, labels)
    result["per_label"] = {
        label: {
            "kappa": kappa([x == label for x in y_a], [y == label for y in y_b], [True, False]),
            "n_a": y_a.count(label),
            "n_b": y_b.count(label),
            "n_both": sum(x == y == label for x, y in zip(y_a, y_b)),
        }
        for label in labels
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one label in all: a 1x1 matrix is the right answer
        matrix = confusion_matrix(y_a, y_b, labels=labels).tolist()
    result["confusion_matrix"] = {"labels": labels, "matrix": matrix}
    result["disagreements"] = [
        {
            "doc_id": ra.doc_id,
            "sentence_index": ra.sentence_index,
            "text": ra.text,
            "label_a": ra.label,
            "label_b": rb.label,
            "where_a": ra.where,
            "where_b": rb.where,
        }
        for ra, rb in labeled
        if ra.label != rb.label
    ]
    return result


def render(result: dict, name_a: str = "A", name_b: str = "B") -> str:
    from pipeline.annotation.validation import text_table

    def fmt(value):
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        f"A: {name_a} ({result['n_a']} sentences)",
        f"B: {name_b} ({result['n_b']} sentences)",
        f"matched by {result['matched_by']}: {result['n_matched']} sentences "
        f"({result['n_only_a']} only in A, {result['n_only_b']} only in B, "
        f"{result['n_unlabeled_skipped']} unlabeled in either skipped)",
        "",
        f"compared: {result['n_compared']} sentences; observed agreement {fmt(result['observed_agreement'])}; "
        f"Cohen's kappa {fmt(result['kappa'])}",
        "",
    ]
    rows = [
        [label, fmt(row["kappa"]), str(row["n_a"]), str(row["n_b"]), str(row["n_both"])]
        for label, row in result["per_label"].items()
    ]
    lines += text_table(["label (vs rest)", "kappa", "A", "B", "both"], rows) + [""]
    cm = result["confusion_matrix"]
    lines.append("confusion matrix (rows: A, columns: B)")
    lines += text_table(["A \\ B", *cm["labels"]], [[l, *map(str, r)] for l, r in zip(cm["labels"], cm["matrix"])])
    lines += ["", counted(len(result["disagreements"]), "disagreement")]
    for d in result["disagreements"]:
        place = f"{d['doc_id']}#{d['sentence_index']}" if d["doc_id"] is not None else d["where_a"]
        lines.append(f"  {place}  A={d['label_a']}  B={d['label_b']}  {d['text']}")
    return "\n".join(lines) + "\n"
