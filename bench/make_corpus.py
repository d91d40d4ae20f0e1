"""A synthetic corpus of news-like sentences, reproducible from a seed, for benchmarks.

    python bench/make_corpus.py --size 1000000 --seed 0 --out /tmp/rhetoric-bench/corpus.parquet

Each sentence comes from a template of one of the four labels, filled with invented names,
places, numbers and dates, so the vocabulary keeps growing with the corpus like real news.
Columns: text, label, doc_id (20 sentences per document), sentence_index. The text is
synthetic: it measures speed and memory, never model quality.
"""

from __future__ import annotations

import argparse
from pathlib import Path

TEMPLATES = {
    "threat": [
        "{group} vowed to {attack} {place} unless {person} {yields} by {day}.",
        "\"We will {attack} every {target} in {place},\" {person} warned.",
        "{group} threatened to {attack} the {target} of {place} within {number} days.",
        "{person} said {group} would {attack} {place} if the {target} stayed open.",
    ],
    "reporting": [
        "{person} told reporters on {day} that {number} people had left {place}.",
        "According to {group}, the {target} in {place} reopened on {day}.",
        "Officials in {place} said {number} {target}s were inspected last {month}.",
        "{person}, a spokesman for {group}, confirmed the meeting in {place}.",
    ],
    "editorial_framing": [
        "The {adjective} decision by {person} is a betrayal of {place}.",
        "Once again {group} has shown its {adjective} contempt for {place}.",
        "This {adjective} gamble over the {target} will haunt {place} for years.",
        "{person} offers nothing but {adjective} slogans to the people of {place}.",
    ],
    "background_fact": [
        "{place} has been governed by {group} since {year}.",
        "The {target} in {place} was built in {year} and holds {number} people.",
        "{person} served as governor of {place} from {year} until {month}.",
        "{place} lies {number} kilometres north of the {target} at {place2}.",
    ],
}
WORDS = {
    "attack": ["strike", "destroy", "burn", "seize", "bomb", "punish", "crush", "blockade"],
    "yields": ["resigns", "withdraws", "pays", "surrenders", "apologises", "steps aside"],
    "target": ["bridge", "port", "pipeline", "ministry", "airport", "refinery", "border post", "dam"],
    "adjective": ["reckless", "cynical", "shameful", "cowardly", "arrogant", "hollow", "naive"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "month": ["January", "March", "May", "July", "September", "November", "December"],
}
SYLLABLES = ["ka", "ri", "mo", "tan", "vel", "or", "su", "den", "ba", "lis", "gar", "no", "ish", "pe", "zu",
             "ha", "mir", "el", "tok", "sa", "vin", "du", "ra", "kel", "om", "bri", "ath", "ne", "yo", "fa"]


def make_corpus(size: int, seed: int = 0):
    """`size` labeled sentences as an Arrow table; the same size and seed give the same table."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    names = _names(rng, 40_000)
    labels = list(TEMPLATES)
    label_of = rng.integers(0, len(labels), size)
    template_of = rng.integers(0, 4, size)
    picks = {key: rng.integers(0, len(values), size) for key, values in WORDS.items()}
    people, places, places2, groups = (rng.integers(0, len(names), size) for _ in range(4))
    numbers = rng.integers(2, 5000, size)
    years = rng.integers(1950, 2025, size)
    texts = [
        _capitalise(TEMPLATES[labels[label_of[i]]][template_of[i]].format(
            person=f"{names[people[i]].title()} {names[(people[i] * 7 + 3) % len(names)].title()}",
            place=names[places[i]].title(), place2=names[places2[i]].title(),
            group=f"the {names[groups[i]].title()} Front", number=numbers[i], year=years[i],
            **{key: WORDS[key][picks[key][i]] for key in WORDS},
        ))
        for i in range(size)
    ]
    return pa.table({
        "text": texts,
        "label": [labels[j] for j in label_of],
        "doc_id": [f"doc{i // 20:07d}" for i in range(size)],
        "sentence_index": [i % 20 for i in range(size)],
    })


def _capitalise(text: str) -> str:
    return text[0].upper() + text[1:]


def _names(rng, count: int) -> list[str]:
    names = set()
    while len(names) < count:
        parts = rng.integers(0, len(SYLLABLES), rng.integers(2, 5))  # 30**2 + 30**3 + 30**4 possible
        names.add("".join(SYLLABLES[p] for p in parts))
    return sorted(names)


def main(argv: list[str] | None = None) -> None:
    import pyarrow.parquet as pq

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/rhetoric-bench/corpus.parquet"))
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(make_corpus(args.size, args.seed), args.out, row_group_size=100_000)
    print(f"{args.size} sentences in {args.out}")


if __name__ == "__main__":
    main()
