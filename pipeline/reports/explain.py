"""Why a linear model gave a sentence its label: coefficient × feature value per word or n-gram.

Works on the fitted Pipeline([("features", ...), ("clf", ...)]) that a model folder holds,
FeatureUnion features included. Classifiers with `coef_` (logistic regression, linear SVM,
SGD) are explained by their coefficients for the label; naive Bayes by its per-label log
weights, centred across labels (a shift shared by every label changes no score).
Other classifiers have no explanation: `LinearExplainer.of` returns None for them.

Classifiers without per-feature weights that say so (`explanation = "occlusion"`, the fine-tuned
encoder of pipeline.models.finetune) are explained by token occlusion instead: each word is cut
out of the sentence in turn, and the words whose removal lowers the label's probability most are
listed. `explainer_for` picks the one that fits; each says what it shows (`description`).
"""

from __future__ import annotations

from typing import Sequence

TOP_TERMS = 5


def explainer_for(estimator):
    """The explainer of a fitted model: coefficients for linear models, token occlusion for models
    that ask for it, else None."""
    return LinearExplainer.of(estimator) or OcclusionExplainer.of(estimator)


class LinearExplainer:
    """Per-sentence and per-label feature contributions of a fitted linear text pipeline."""

    method = "weights"
    description = "the words that pushed it to its label"

    def __init__(self, features, weights, labels: Sequence[str]):
        self.features = features
        self.weights = weights  # dense (n_labels, n_features)
        self.labels = [str(label) for label in labels]
        self._names: list[tuple[str | None, str]] | None = None

    @classmethod
    def of(cls, estimator) -> LinearExplainer | None:
        """The explainer of a fitted Pipeline with "features" and "clf" steps, or None."""
        steps = getattr(estimator, "named_steps", None)
        if not steps or "features" not in steps or "clf" not in steps:
            return None
        clf = steps["clf"]
        weights = label_weights(clf)
        if weights is None:
            return None
        return cls(steps["features"], weights, clf.classes_)

    def explain(self, texts: Sequence[str], labels: Sequence[str], top: int = TOP_TERMS) -> list[list[dict]]:
        """For each text, up to `top` features that pushed it towards its label, strongest first.

        Each entry: {"term": word or n-gram, "source": FeatureUnion part or None,
        "weight": coefficient × feature value}. Only positive contributions are listed.
        """
        import numpy as np
        import scipy.sparse as sp

        if not len(texts):
            return []
        from pipeline.data.records import as_input, input_kind

        # Context features see these as bare sentences: their position adds nothing here.
        matrix = sp.csr_matrix(self.features.transform(as_input(input_kind(self.features), list(texts))))
        index = {label: i for i, label in enumerate(self.labels)}
        rows_label = np.array([index[str(label)] for label in labels])
        row_of_value = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        contributions = matrix.data * self.weights[rows_label[row_of_value], matrix.indices]
        names = self.feature_names()
        out = []
        for row in range(matrix.shape[0]):
            start, end = matrix.indptr[row], matrix.indptr[row + 1]
            values = contributions[start:end]
            order = np.argsort(-values, kind="stable")[:top]
            out.append(
                [self._entry(names, int(matrix.indices[start + i]), float(values[i])) for i in order if values[i] > 0]
            )
        return out

    def explain_records(self, records: list[dict], top: int = TOP_TERMS) -> list[dict]:
        """Score records (as from Model.records) with an "explanation" list added to each."""
        explanations = self.explain([r["text"] for r in records], [r["label"] for r in records], top)
        return [dict(record, explanation=why) for record, why in zip(records, explanations)]

    def top_features(self, n: int = 10) -> dict[str, list[dict]]:
        """The `n` features with the largest weight for each label."""
        import numpy as np

        best = [np.argsort(-row, kind="stable")[:n] for row in self.weights]
        # Names of these columns only: naming every column sorts a whole vocabulary (0.9 s at 360k terms).
        names = self._names or column_names(self.features, self.weights.shape[1], {int(j) for b in best for j in b})
        out = {}
        for k, label in enumerate(self.labels):
            row = self.weights[k]
            out[label] = [self._entry(names, int(j), float(row[j])) for j in best[k] if row[j] > 0]
        return out

    def feature_names(self) -> list[tuple[str | None, str]]:
        """(source, term) for every feature column, built once (a vocabulary can be large)."""
        if self._names is None:
            self._names = feature_names(self.features, self.weights.shape[1])
        return self._names

    @staticmethod
    def _entry(names, column: int, weight: float) -> dict:
        source, term = names[column]
        return {"term": term, "source": source, "weight": round(weight, 6)}


def label_weights(clf):
    """A dense (n_labels, n_features) weight matrix of a linear classifier, or None."""
    import numpy as np
    import scipy.sparse as sp

    classes = getattr(clf, "classes_", None)
    if classes is None:
        return None
    if hasattr(clf, "coef_"):
        coef = clf.coef_
        weights = np.asarray(coef.toarray() if sp.issparse(coef) else coef, dtype=float)
        if weights.shape[0] == 1 and len(classes) == 2:
            # Binary: one row for the second class; the first class's decision is its negative.
            weights = np.vstack([-weights[0], weights[0]])
    elif hasattr(clf, "feature_log_prob_"):
        weights = np.asarray(clf.feature_log_prob_, dtype=float)
        weights = weights - weights.mean(axis=0, keepdims=True)
    else:
        return None
    return weights if weights.ndim == 2 and weights.shape[0] == len(classes) else None


def _parts(features, source: str | None = None) -> list:
    """(name, transformer) of each step whose columns the features put side by side, in column order:
    the parts of a FeatureUnion or of a fitted ColumnTransformer (the context models' text and
    context), nested ones opened, each named by its innermost part (word, char, context)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import FeatureUnion

    if isinstance(features, FeatureUnion):
        children = [(name, t) for name, t in features.transformer_list if t not in ("drop", None)]
    elif isinstance(features, ColumnTransformer) and hasattr(features, "transformers_"):
        children = [(name, t) for name, t, _ in features.transformers_ if t not in ("drop", None)]
    else:
        return [(source, features)]
    return [part for name, child in children for part in _parts(child, name)]


def column_names(features, n_features: int, columns) -> dict[int, tuple[str | None, str]]:
    """`feature_names` of the given columns only, as {column: (source, term)}.

    A vectorizer's terms are looked up in its vocabulary rather than sorted in full.
    """
    from sklearn.feature_extraction.text import CountVectorizer

    wanted = set(columns)
    found: dict[int, str] = {}
    sources: dict[int, str | None] = {}
    offset = 0
    for source, transformer in _parts(features):
        vocabulary = getattr(transformer, "vocabulary_", None)
        if isinstance(transformer, CountVectorizer) and isinstance(vocabulary, dict):
            size = len(vocabulary)
            local = {j - offset for j in wanted if offset <= j < offset + size}
            terms = {column: term for term, column in vocabulary.items() if column in local} if local else {}
        else:
            try:
                every = transformer.get_feature_names_out()
            except (AttributeError, ValueError, TypeError):
                return {j: (None, f"#{j}") for j in wanted}
            size = len(every)
            terms = {j - offset: every[j - offset] for j in wanted if offset <= j < offset + size}
        char_grams = str(getattr(transformer, "analyzer", "")).startswith("char")
        for column, term in terms.items():
            found[offset + column] = str(term).replace(" ", "\u2423") if char_grams else str(term)
            sources[offset + column] = source
        offset += size
    if offset != n_features or len(found) != len(wanted):
        return {j: (None, f"#{j}") for j in wanted}
    return {j: (sources[j], found[j]) for j in wanted}


def feature_names(features, n_features: int) -> list[tuple[str | None, str]]:
    """(FeatureUnion part or None, readable term) per column; "#j" where a step has no names."""
    parts = _parts(features)
    names: list[tuple[str | None, str]] = []
    for source, transformer in parts:
        try:
            terms = transformer.get_feature_names_out()
        except (AttributeError, ValueError, TypeError):
            return [(None, f"#{j}") for j in range(n_features)]
        char_grams = str(getattr(transformer, "analyzer", "")).startswith("char")
        # Spaces at the edge of a character n-gram are invisible; show them.
        names += [(source, str(t).replace(" ", "\u2423") if char_grams else str(t)) for t in terms]
    if len(names) != n_features:
        return [(None, f"#{j}") for j in range(n_features)]
    return names


OCCLUDED_WORDS = 40  # words tried per sentence: each one is another pass of the model
_WORD = r"\w[\w'\u2019-]*"


class OcclusionExplainer:
    """Words whose removal lowers a sentence's probability of its label most (token occlusion).

    For models without per-feature weights: every word (up to OCCLUDED_WORDS a sentence) is cut
    out in turn and the shortened sentence scored again; a word's weight is the drop in the
    label's probability. It costs one more pass of the model per word.
    """

    method = "occlusion"
    description = "the words whose removal lowers its label's probability most (token occlusion)"

    def __init__(self, estimator, labels: Sequence[str]):
        self.estimator = estimator
        self.labels = [str(label) for label in labels]

    @classmethod
    def of(cls, estimator) -> OcclusionExplainer | None:
        last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        if getattr(last, "explanation", None) != "occlusion" or getattr(estimator, "classes_", None) is None:
            return None
        return cls(estimator, estimator.classes_)

    def explain(self, texts: Sequence[str], labels: Sequence[str], top: int = TOP_TERMS) -> list[list[dict]]:
        """For each text, up to `top` words whose removal lowered its label's probability, largest drop first."""
        import re

        from pipeline.data.records import as_input, input_kind
        from pipeline.models.scores import predict_scores

        if not len(texts):
            return []
        variants, spans = [], []
        for text in texts:
            words = [(m.start(), m.end()) for m in re.finditer(_WORD, text)][:OCCLUDED_WORDS]
            spans.append(words)
            variants.append(text)
            variants += [re.sub(r"\s{2,}", " ", text[:start] + text[end:]).strip() for start, end in words]
        scores = predict_scores(self.estimator, as_input(input_kind(self.estimator), variants))
        column = {label: k for k, label in enumerate(self.labels)}
        out, row = [], 0
        for text, label, words in zip(texts, labels, spans):
            k = column[str(label)]
            drops = scores[row, k] - scores[row + 1 : row + 1 + len(words), k]
            row += 1 + len(words)
            best: dict[str, float] = {}
            for (start, end), drop in zip(words, drops.tolist()):
                if drop > best.get(text[start:end], 0.0):
                    best[text[start:end]] = drop
            ranked = sorted(best.items(), key=lambda item: -item[1])[:top]
            out.append([{"term": word, "source": None, "weight": round(drop, 6)} for word, drop in ranked])
        return out

    def explain_records(self, records: list[dict], top: int = TOP_TERMS) -> list[dict]:
        """Score records (as from Model.records) with an "explanation" list added to each."""
        explanations = self.explain([r["text"] for r in records], [r["label"] for r in records], top)
        return [dict(record, explanation=why) for record, why in zip(records, explanations)]
