"""A linear classifier trained batch by batch with `partial_fit`, and a pipeline that feeds it
text batch by batch, for corpora larger than memory.

`model=sgd_streaming` names `BatchedSGDClassifier`. With features that learn nothing
(`features=hashing`, a HashingVectorizer), `pipeline.training.setup.build_estimator` puts both in a
`StreamingPipeline`: its `fit` takes the shuffled batches of `BatchedSGDClassifier`, reads
only those sentences, hashes them and calls `partial_fit`; `predict`, `predict_proba` and
`decision_function` go batch by batch too. With text kept in Arrow files
(`pipeline.lazy_corpus.ArrowTexts`, which the train stage uses for such a pipeline) no
more than one batch of sentences and its hashed rows is in memory at a time: no vocabulary,
no solver copies, no list of every sentence. It is still an ordinary scikit-learn Pipeline,
so the one train stage cross-validates by document, evaluates, reports and saves it, and
`pipeline.score` scores it, like any other model.

The fitted model equals the one of the in-memory pipeline (hash every sentence, then
`BatchedSGDClassifier.fit`): both draw the same batches, and hashing is row by row.
What still grows with the corpus: labels, document ids, out-of-fold predictions and scores
(a few bytes to a few tens of bytes per sentence), and the page cache of the Arrow files.
"""

from __future__ import annotations

from numbers import Integral

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import available_if

from pipeline.common.sklearn_rules import Interval


def _has_probabilities(estimator) -> bool:
    return estimator.loss in ("log_loss", "modified_huber")


class BatchedSGDClassifier(ClassifierMixin, BaseEstimator):
    """SGD on a logistic (or other SGD) loss, fitted by `partial_fit` over shuffled batches of rows.

    `class_weight="balanced"` is computed once from all labels (`partial_fit` cannot do it).
    Fitted state: `classifier_` (the SGDClassifier), `classes_`, `n_features_in_`.
    """

    _parameter_constraints: dict = {
        # the SGDClassifier's own rules for what is passed on to it
        **{name: SGDClassifier._parameter_constraints[name]
           for name in ("loss", "alpha", "penalty", "class_weight", "shuffle", "random_state")},
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_epochs": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, loss="log_loss", alpha=1e-4, penalty="l2", class_weight=None,
                 batch_size=10_000, n_epochs=5, shuffle=True, random_state=None):
        self.loss = loss
        self.alpha = alpha
        self.penalty = penalty
        self.class_weight = class_weight
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.shuffle = shuffle
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.utils.validation import validate_data

        self._validate_params()
        X, y = validate_data(self, X, y, accept_sparse="csr")
        return self.fit_batches(lambda rows: X[rows], y)

    def fit_batches(self, rows_of, y):
        """Fit on all rows of `y`, `rows_of(row_indices)` giving the feature rows of each batch.

        Every epoch visits every row once, in batches of `batch_size` (in a fresh random
        order when `shuffle`); the order depends only on the number of rows and `random_state`.
        """
        import numpy as np
        from sklearn.utils import check_random_state
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import column_or_1d

        self._validate_params()
        y = column_or_1d(np.asarray(y), warn=True)
        check_classification_targets(y)
        n = len(y)
        if n == 0:
            raise ValueError("no rows to fit (0 samples)")
        self.classes_ = np.unique(y)
        self.classifier_ = self._new_classifier(y)
        rng = check_random_state(self.random_state)
        for _ in range(self.n_epochs):
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            for start in range(0, n, self.batch_size):
                rows = order[start:start + self.batch_size]
                self.classifier_.partial_fit(rows_of(rows), y[rows], classes=self.classes_)
        self.n_features_in_ = self.classifier_.n_features_in_
        return self

    def partial_fit(self, X, y, classes=None):
        """One more batch; the first call needs `classes` (all labels there will ever be)."""
        import numpy as np
        from sklearn.utils.validation import validate_data

        first = not hasattr(self, "classifier_")
        if first:
            self._validate_params()
            if classes is None:
                raise ValueError("the first partial_fit call needs classes=")
        X, y = validate_data(self, X, y, accept_sparse="csr", reset=first)
        if first:
            self.classes_ = np.asarray(classes)
            self.classifier_ = self._new_classifier(None)
        self.classifier_.partial_fit(X, y, classes=self.classes_)
        return self

    def predict(self, X):
        X = self._checked(X)
        return self.classifier_.predict(X)

    @available_if(_has_probabilities)  # as on SGDClassifier: only for probabilistic losses
    def predict_proba(self, X):
        X = self._checked(X)
        return self.classifier_.predict_proba(X)

    def decision_function(self, X):
        X = self._checked(X)
        return self.classifier_.decision_function(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # hashed text comes as sparse rows
        return tags

    def _checked(self, X):
        """X after the checks every fitted scikit-learn estimator makes before predicting."""
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self, "classifier_")
        return validate_data(self, X, accept_sparse="csr", reset=False)

    def _new_classifier(self, y):
        from sklearn.utils.class_weight import compute_class_weight

        weights = self.class_weight
        if weights == "balanced":
            if y is None:
                raise ValueError("class_weight='balanced' needs fit(), which sees every label")
            weights = dict(zip(self.classes_, compute_class_weight("balanced", classes=self.classes_, y=y)))
        return SGDClassifier(loss=self.loss, alpha=self.alpha, penalty=self.penalty, class_weight=weights,
                             shuffle=self.shuffle, random_state=self.random_state)


def can_stream(transformers, classifier) -> bool:
    """True when the transformers learn nothing (scikit-learn tag requires_fit=False) and the
    classifier fits batch by batch: then no step needs all sentences at once."""
    from sklearn.utils import get_tags

    return isinstance(classifier, BatchedSGDClassifier) and all(
        t == "passthrough" or not get_tags(t).requires_fit for t in transformers
    )


def _final_has(method: str):
    return lambda pipeline: hasattr(pipeline._final_estimator, method)


class StreamingPipeline(Pipeline):
    """A Pipeline of transformers that learn nothing and a `BatchedSGDClassifier`, which fits
    and predicts batch by batch, reading only the sentences of each batch from `X`.

    `X` is any sequence of sentences: a list, or an `ArrowTexts` whose sentences stay on disk.
    The batches are the classifier's `batch_size`.
    """

    def fit(self, X, y=None, **params):
        if params:
            raise TypeError(f"StreamingPipeline.fit takes no fit parameters, got {sorted(params)}")
        if not can_stream([t for _, t in self.steps[:-1]], self._final_estimator):
            raise ValueError("StreamingPipeline needs transformers that learn nothing and a BatchedSGDClassifier")
        X = _indexable(X)
        if y is None or n_rows(X) != len(y):
            raise ValueError(f"{n_rows(X)} sentences but {'no' if y is None else len(y)} labels")
        first = take(X, range(min(n_rows(X), self._final_estimator.batch_size)))
        for _, transformer in self.steps[:-1]:
            if transformer != "passthrough":
                transformer.fit(first)  # they learn nothing, so one batch checks their settings
        self._final_estimator.fit_batches(lambda rows: self._features(take(X, rows)), y)
        return self

    def predict(self, X, **params):
        import numpy as np

        return np.concatenate([self._final_estimator.predict(self._features(b)) for b in self._batches(X)])

    @available_if(_final_has("predict_proba"))
    def predict_proba(self, X, **params):
        import numpy as np

        return np.concatenate([self._final_estimator.predict_proba(self._features(b)) for b in self._batches(X)])

    @available_if(_final_has("decision_function"))
    def decision_function(self, X, **params):
        import numpy as np

        return np.concatenate([self._final_estimator.decision_function(self._features(b)) for b in self._batches(X)])

    def _features(self, texts):
        for _, transformer in self.steps[:-1]:
            if transformer != "passthrough":
                texts = transformer.transform(texts)
        return texts

    def _batches(self, X):
        """Consecutive batches of X as lists; one empty batch for an empty X, so shapes stay right."""
        size = self._final_estimator.batch_size
        X = _indexable(X)
        n = n_rows(X)
        if hasattr(X, "iter_batches"):
            yield from X.iter_batches(size)
        else:
            for start in range(0, n, size):
                yield X[start:start + size] if isinstance(X, list) else take(X, range(start, min(n, start + size)))
        if n == 0:
            yield []


def _indexable(X):
    """X with rows that can be picked: sparse matrices as CSR (COO, DIA and LIL cannot)."""
    from scipy import sparse

    return X.tocsr() if sparse.issparse(X) else X


def n_rows(X) -> int:
    """How many sentences (or rows) X holds: sparse matrices have no len()."""
    return X.shape[0] if hasattr(X, "shape") else len(X)


def take(X, rows):
    """The sentences at positions `rows` of X, in that order: a list, or rows of an array or matrix."""
    if hasattr(X, "iter_batches"):  # ArrowTexts: sentences left on disk
        return X.rows(rows)
    if hasattr(X, "iloc"):
        return list(X.iloc[rows])
    if hasattr(X, "shape"):  # numpy arrays and sparse matrices keep their kind
        import numpy as np

        return X[np.asarray(rows, dtype=np.intp)]
    return [X[i] for i in rows]
