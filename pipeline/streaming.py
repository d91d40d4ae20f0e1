"""A linear classifier trained batch by batch with `partial_fit`, for corpora too large for a batch solver.

`model=sgd_streaming` names `BatchedSGDClassifier`; with `features=hashing` (a HashingVectorizer,
which learns nothing) no vocabulary is built or stored, so memory grows with the hashed
sentences only, never with a vocabulary or a solver's copies of the data. It is an ordinary
scikit-learn estimator: the train stage cross-validates, evaluates and saves it like any other.

Why an estimator and not a separate streaming train path: it keeps one train stage (grouped
cross-validation, holdout, reports, model card, scoring) for every model. The cost: the stage
still reads the corpus into lists through `datasets`, and the pipeline hashes it in one go, so
the sentences and their sparse hashed rows must fit in memory (no vocabulary, no solver copies);
text larger than memory would need a data source that yields file batches into `partial_fit`.
"""

from __future__ import annotations

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if


def _has_probabilities(estimator) -> bool:
    return estimator.loss in ("log_loss", "modified_huber")


class BatchedSGDClassifier(ClassifierMixin, BaseEstimator):
    """SGD on a logistic (or other SGD) loss, fitted by `partial_fit` over shuffled batches of rows.

    `class_weight="balanced"` is computed once from all labels (`partial_fit` cannot do it).
    Fitted state: `classifier_` (the SGDClassifier), `classes_`, `n_features_in_`.
    """

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
        import numpy as np
        from sklearn.utils import check_random_state
        from sklearn.utils.validation import check_X_y

        X, y = check_X_y(X, y, accept_sparse="csr")
        if self.batch_size < 1 or self.n_epochs < 1:
            raise ValueError("batch_size and n_epochs must be at least 1")
        self.classes_ = np.unique(y)
        self.classifier_ = self._new_classifier(y)
        rng = check_random_state(self.random_state)
        n = X.shape[0]
        for _ in range(self.n_epochs):
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            for start in range(0, n, self.batch_size):
                rows = order[start:start + self.batch_size]
                self.classifier_.partial_fit(X[rows], y[rows], classes=self.classes_)
        self.n_features_in_ = X.shape[1]
        return self

    def partial_fit(self, X, y, classes=None):
        """One more batch; the first call needs `classes` (all labels there will ever be)."""
        import numpy as np

        if not hasattr(self, "classifier_"):
            if classes is None:
                raise ValueError("the first partial_fit call needs classes=")
            self.classes_ = np.asarray(classes)
            self.classifier_ = self._new_classifier(None)
            self.n_features_in_ = X.shape[1]
        self.classifier_.partial_fit(X, y, classes=self.classes_)
        return self

    def predict(self, X):
        return self.classifier_.predict(X)

    @available_if(_has_probabilities)  # as on SGDClassifier: only for probabilistic losses
    def predict_proba(self, X):
        return self.classifier_.predict_proba(X)

    def decision_function(self, X):
        return self.classifier_.decision_function(X)

    def _new_classifier(self, y):
        from sklearn.linear_model import SGDClassifier
        from sklearn.utils.class_weight import compute_class_weight

        weights = self.class_weight
        if weights == "balanced":
            if y is None:
                raise ValueError("class_weight='balanced' needs fit(), which sees every label")
            weights = dict(zip(self.classes_, compute_class_weight("balanced", classes=self.classes_, y=y)))
        return SGDClassifier(loss=self.loss, alpha=self.alpha, penalty=self.penalty, class_weight=weights,
                             shuffle=self.shuffle, random_state=self.random_state)
