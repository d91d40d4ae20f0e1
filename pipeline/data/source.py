"""Where labeled sentences live and how to read them (configs/data/*.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pipeline.common.errors import PATH_CHARS, PipelineError, cut, quote, warn
from pipeline.common.files import check_paths, data_files
from pipeline.common.labels import LABELS, label_named, label_set_problem
from pipeline.data.corpus import Corpus, check_conflicting_labels, check_repeated_positions, document_positions
from pipeline.data.table import check_group, check_text, column_values, read_index, read_table, row_documents


@dataclass
class DataSource:
    """Where labeled sentences live and how to read them (configs/data/*.yaml)."""

    path: str | list[str]
    test_path: str | list[str] | None = None
    text_column: str = "text"
    label_column: str = "label"
    group_column: str | None = "doc_id"
    index_column: str | None = None
    labels: Sequence[str] = LABELS
    label_map: dict[str, str] | None = None
    # "error": one sentence labeled twice in one document stops loading; "warn" reports it and
    # keeps both (for corpora you cannot fix, such as NewsDiscourse).
    conflicting_labels: str = "error"
    # Labels kept apart from corpora that are never committed: [{labels, corpus, format}]
    # (pipeline.data.standoff); their sentences join the training data.
    standoff: Sequence[dict] | None = None
    # The real-news yardstick: a labeled file every trained model is also scored on (never trained on);
    # skipped with a note when the file is absent.
    dev_path: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.labels, str):
            raise PipelineError(f"config data.labels: expected a list of labels, got {quote(self.labels)}")
        self.labels = list(self.labels)
        problem = label_set_problem(self.labels)
        if problem:
            raise PipelineError(f"config data.labels: {problem}")
        if self.label_map is not None and not isinstance(self.label_map, dict):
            raise PipelineError(
                f"config data.label_map: expected {{their_name: our_label}}, got {quote(self.label_map)}"
            )
        for theirs, ours in (self.label_map or {}).items():
            if ours not in self.labels:
                raise PipelineError(f"config data.label_map: {quote(theirs)} maps to {quote(ours)}, which is not in "
                                    f"data.labels ({', '.join(map(str, self.labels))})")
        if self.conflicting_labels not in ("error", "warn"):
            raise PipelineError(
                f"config data.conflicting_labels: must be error or warn, got {quote(self.conflicting_labels)}"
            )
        if self.dev_path is not None and not isinstance(self.dev_path, (str, Path)):
            raise PipelineError(f"config data.dev_path: expected the path of one file, got {quote(self.dev_path)}")
        from pipeline.data.standoff import StandoffSet

        sets = []
        for number, entry in enumerate(self.standoff or []):
            if not isinstance(entry, dict) or set(entry) != {"labels", "corpus", "format"}:
                raise PipelineError(f"config data.standoff[{number}]: expected the keys labels, corpus and format")
            sets.append(StandoffSet(**{k: str(v) for k, v in entry.items()}))
        self.standoff = sets

    def load_train(self, lazy: bool = False) -> Corpus:
        if lazy and self.standoff:
            raise PipelineError("config data.standoff: standoff labels train in memory; out-of-core training "
                                "(experiment=out_of_core) reads data.path files only")
        return self.load(self.path, "data.path", lazy=lazy, standoff=self.standoff)

    def load_dev(self) -> Corpus | None:
        """The real-news yardstick (data.dev_path), or None when not configured or not present."""
        if not self.dev_path or not Path(self.dev_path).is_file():
            return None
        # Read as the guide labels it, whatever columns and labels the training data uses: a model
        # trained on other labels is then reported as not comparable rather than stopping the run.
        guide = DataSource(path=self.dev_path, labels=list(dict.fromkeys([*LABELS, *self.labels])))
        return guide.load(self.dev_path, "data.dev_path")

    def load_test(self, lazy: bool = False) -> Corpus | None:
        return None if self.test_path is None else self.load(self.test_path, "data.test_path", lazy=lazy)

    def load(self, paths: str | list[str], key: str = "data.path", lazy: bool = False, standoff=()) -> Corpus:
        """The labeled sentences of `paths` (then of the `standoff` sets); `lazy` leaves the texts on
        disk (pipeline.data.lazy)."""
        files = data_files(paths, key)
        if lazy:
            from pipeline.data.lazy import load_lazy

            return load_lazy(self, files, key)
        corpus = Corpus([], [], [], [str(f) for f in files])
        places: list[str] = []
        indices: list[int | None] = []
        keys: list[tuple | None] = []  # (doc id, index, column names) of rows with both, for check_repeated_positions
        for file in files:
            texts, labels, groups, where = self._read_file(file)
            corpus.texts += texts
            corpus.labels += labels
            corpus.groups += groups
            places += where
            indices += self._index
            # Without a group column every row is its own document (table.row_documents: no key).
            keys += [None if i is None or not self.group_column else (g, i, self.group_column, self.index_column)
                     for g, i in zip(groups, self._index)]
        for entry in standoff:
            for record in entry.read():
                where = f"{entry.labels}: line {record.line}"
                corpus.texts.append(record.text)
                corpus.labels.append(self._label(record.label, where))
                corpus.groups.append(record.doc_id)
                places.append(where)
                indices.append(record.sentence_index)
                keys.append((record.doc_id, record.sentence_index, "doc_id", "sentence_index"))
            corpus.files.append(entry.labels)
        if not corpus.texts:
            raise PipelineError(f"{key}: no sentences in {', '.join(corpus.files)}")
        check_conflicting_labels(corpus, places, fatal=self.conflicting_labels == "error")
        check_repeated_positions(corpus.texts, keys, places)
        corpus.positions, corpus.doc_lengths = document_positions(corpus.groups, indices)
        corpus.places = places
        return corpus

    @property
    def columns(self) -> list[str]:
        """The columns read from each data file (text, label, and the group and index columns if set)."""
        return [c for c in (self.text_column, self.label_column, self.group_column, self.index_column) if c]

    def _read_file(self, file: Path) -> tuple[list[str], list[str], list[str], list[str]]:
        """Texts, labels, groups and where each row is ("FILE: line N" or "FILE: row N")."""
        table, lines = read_table(file, self.columns)
        needed = [self.text_column, self.label_column] + ([self.group_column] if self.group_column else [])
        missing = [c for c in needed if c not in table.column_names]
        if missing:
            columns = cut(", ".join(table.column_names), PATH_CHARS)
            raise PipelineError(f"{file}: missing column {quote(missing[0])} (columns: {columns})")
        texts = column_values(table, self.text_column)
        raw_labels = column_values(table, self.label_column)
        places = [f"{file}: line {n}" for n in lines] if lines else [f"{file}: row {r}" for r in range(1, len(texts) + 1)]
        # Without a group column every sentence is its own document.
        raw_groups = column_values(table, self.group_column) if self.group_column else None
        groups = [str(g) for g in raw_groups] if raw_groups else row_documents(file, len(texts))
        labels = []
        normalised: list[tuple[str, object, str]] = []
        for where, text, raw in zip(places, texts, raw_labels):
            check_text(text, where, self.text_column)
            label = self._label(raw, where)
            if isinstance(raw, str) and label != raw and label != (self.label_map or {}).get(raw):
                normalised.append((where, raw, label))
            labels.append(label)
        for where, group in zip(places, raw_groups or ()):
            check_group(group, where, self.group_column)
        if normalised:
            where, raw, label = normalised[0]
            more = f" (and {len(normalised) - 1} more in this file)" if len(normalised) > 1 else ""
            warn(f"{where}: label {quote(raw)} read as {quote(label)}{more}")
        self._index = read_index(table, self.index_column, places)  # positions, read by load() beside the 4 lists
        return texts, labels, groups, places

    def _label(self, label, where: str) -> str:
        """The label of one row; stray spaces and capitals are forgiven (the caller warns)."""
        if label is None:
            raise PipelineError(f"{where}: missing label in column {quote(self.label_column)}")
        if self.label_map and isinstance(label, (str, int, float, bool)) and label in self.label_map:
            label = self.label_map[label]
        if label in self.labels:
            return label
        if isinstance(label, str) and not label.strip():  # a labeling template not yet filled in
            raise PipelineError(f"{where}: missing label (empty) in column {quote(self.label_column)}")
        if isinstance(label, str):
            by_map = {str(k).strip().casefold(): v for k, v in (self.label_map or {}).items()}
            found = label_named(label, self.labels) or by_map.get(label.strip().casefold())
            if found in self.labels:
                return found
        raise PipelineError(f"{where}: unknown label {quote(label)} (expected one of: {', '.join(self.labels)})")


def data_source(cfg) -> DataSource:
    """The DataSource of a composed config (`cfg.data`), checked against the corpus folders of
    `cfg.paths`: a data file inside a corpus folder that is missing (NewsDiscourse, PTC, never
    committed) says which corpus, and which key points at it, instead of a bare file not found."""
    from pipeline.common.config import instantiate
    from pipeline.data.standoff import CONFIG_KEY, WHERE_TO_GET

    data = instantiate(cfg.data, "data")
    paths = cfg.get("paths") or {}
    for key, value in (("data.path", data.path), ("data.test_path", data.test_path)):
        for name in [] if value is None and key == "data.test_path" else check_paths(value, key):
            for corpus, config_key in CONFIG_KEY.items():
                folder = paths.get(config_key.split(".", 1)[1])
                if name and folder and Path(name).is_relative_to(folder) and not Path(folder).is_dir():
                    raise PipelineError(f"{key}: {cut(name, PATH_CHARS)} not found: no folder "
                                        f"{cut(folder, PATH_CHARS)} for {WHERE_TO_GET[corpus]}; "
                                        f"set {config_key} to the folder holding it")
    return data
