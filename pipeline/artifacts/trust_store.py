"""Which model files may run as code on this machine: the local trust store.

A model.joblib file is a pickle, and loading a pickle runs whatever code it names. Models
trained here are recorded (sha256 and folder) in a trust store that lives outside every model
folder, so copying a folder in cannot make it trusted. Any other model loads from model.skops,
which only builds checked types (pipeline.artifacts.loading).

The store is $RHETORIC_TRUST_STORE if set, else $XDG_DATA_HOME/rhetoric-pipeline/trusted.json
(~/.local/share/rhetoric-pipeline/trusted.json).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Iterator

from pipeline.common.errors import PipelineError

STORE_ENV = "RHETORIC_TRUST_STORE"


def store_path() -> Path:
    """Where the trust store lives (see the module docstring)."""
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "rhetoric-pipeline" / "trusted.json"


def trusted_models(store: Path | None = None) -> dict[str, dict]:
    """sha256 of each trusted model.joblib -> where it was and how it came to be trusted."""
    store = store or store_path()
    try:
        raw = store.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise PipelineError(f"trust store {store}: cannot read: {exc.strerror}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
        models = data["models"]
        if not isinstance(models, dict) or not all(isinstance(entry, dict) for entry in models.values()):
            raise TypeError
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise PipelineError(
            f"trust store {store}: not a trust store file; fix or delete it (set {STORE_ENV} to use another)"
        ) from None
    return models


def is_trusted(sha256: str) -> bool:
    return sha256 in trusted_models()


def record(sha256: str, folder: Path, how: str) -> None:
    """Trust the model file with this sha256 from now on (`how`: trained or vouched)."""
    with _updating() as models:
        models[sha256] = _entry(folder, how)


def forget(sha256: str | None, folder: Path | None = None) -> bool:
    """Stop trusting the model file with this sha256, and any recorded at `folder`; whether one was."""
    path = str(Path(folder).resolve()) if folder is not None else None
    with _updating() as models:
        gone = [sha for sha, entry in models.items() if sha == sha256 or (path and entry.get("path") == path)]
        for sha in gone:
            del models[sha]
    return bool(gone)


# A save trusts its model before the folder becomes visible, and takes the trust back if the save
# fails. Runs with the same config and seed save byte-identical models (one sha256) at the same
# time, so an entry lists the saves still in flight ("saving", each by its hidden folder's name) and
# says whether one of them finished ("kept"): a failed save removes the entry only when it was the
# last one in flight and none kept it. An entry without these keys is settled; no save takes it back.
# A save killed outright leaves its name in the list, so its entry stays (the bytes were made here).

def claim(sha256: str, folder: Path, save: str) -> None:
    """The save named `save` (its hidden folder) writes this model file: trust it from now on."""
    with _updating() as models:
        entry = models.get(sha256)
        if entry is None:
            models[sha256] = dict(_entry(folder, "trained"), saving=[save], kept=False)
        elif "saving" in entry:
            entry["saving"].append(save)


def settle(sha256: str, folder: Path, save: str) -> None:
    """The save finished, its model in `folder`: the entry names it and stays, whatever other saves do."""
    with _updating() as models:
        entry = models.setdefault(sha256, {})
        entry.update(_entry(folder, "trained"))
        if save in entry.get("saving", ()):
            entry["kept"] = True
            _done(entry, save)


def release(sha256: str, save: str) -> None:
    """The save failed: take the trust back unless the same bytes are trusted otherwise.

    A no-op for a save that never claimed the entry, so it is safe wherever a claim may have been
    cut short."""
    with _updating() as models:
        entry = models.get(sha256)
        if entry is None or save not in entry.get("saving", ()):
            return
        if len(entry["saving"]) == 1 and not entry["kept"]:
            del models[sha256]
        else:
            _done(entry, save)


def _done(entry: dict, save: str) -> None:
    entry["saving"].remove(save)
    if not entry["saving"]:
        del entry["saving"], entry["kept"]


def _entry(folder: Path, how: str) -> dict:
    return {"path": str(Path(folder).resolve()), "how": how, "added": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


@contextlib.contextmanager
def _updating() -> Iterator[dict]:
    """Read, change and write the store under a lock, so parallel runs lose no entry."""
    from pipeline.common import atomic

    store = store_path()
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        lock = open(store.with_name(store.name + ".lock"), "a")
    except OSError as exc:
        raise PipelineError(f"trust store {store}: cannot write: {exc.strerror}") from None
    with lock:
        _lock(lock)
        models = trusted_models(store)
        yield models
        atomic.write_text(store, json.dumps({"version": 1, "models": models}, indent=2, sort_keys=True) + "\n")


def _lock(handle) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; writes stay atomic
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


def describe(folder: Path, card: dict) -> str:
    """What a user vouches for: the card's name, origin, data and versions, on a few lines."""
    data = card.get("training_data") or {}
    versions = card.get("versions") or {}
    lines = [
        f"model      {folder}",
        f"name       {card.get('name')}  created {card.get('created')}",
        f"labels     {', '.join(map(str, card.get('labels') or []))}",
        f"trained on {data.get('n_sentences')} sentences from {', '.join(map(str, data.get('files') or []))}",
        "versions   " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"sha256     {card.get('sha256')}",
    ]
    return "\n".join(lines)
