"""A model folder: written whole through a temporary folder, its card checked when read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
from pathlib import Path

from pipeline.artifacts.names import CARD_FILE, LATEST, MODEL_FILE, SKOPS_FILE
from pipeline.artifacts.weights import CARD_KEY, save_weights, sha256_file, weights_bytes
from pipeline.common.errors import PipelineError, is_disk_full, quote
from pipeline.common.files import name_problem




def save_model(
    estimator, card: dict, models_dir: str | Path, name: str, *, unique: bool = False, skops: bool = True,
    skops_writer=None,
) -> Path:
    """Write models/<name>/ through a temporary folder, then point models/latest at it.

    Every file is flushed to disk inside a hidden `.tmp-*` folder that one rename turns into
    models/<name>, so a run killed at any moment leaves earlier models and `latest` intact
    (the next save removes the dead run's temporary folder). A save that fails or is
    interrupted (a full disk, Ctrl-C, SIGTERM) before `latest` names the new folder takes the
    folder back out of sight and removes it: all or nothing. An existing folder is never
    replaced: `unique` picks a free name by adding a random suffix, otherwise it is an error.
    The model's sha256 goes into the local trust store (pipeline.trust) so it loads fast here;
    `skops` also writes model.skops, which other machines can load without trusting code; a
    `skops_writer` (pipeline.skops_writer.SkopsWriter) that was given the model writes it instead
    (and model.joblib too, when it was given a name for it).
    """
    models = Path(models_dir)
    check_run_name(name)
    try:
        models.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _not_saved(models, models, exc) from None
    if (models / name).exists() and not unique:
        raise PipelineError(f"model folder already exists: {models / name} (choose another run_name)")
    remove_dead_temporaries(models)
    tmp = models / f"{_TMP_PREFIX}{_owner_tag()}-{secrets.token_hex(3)}-{name}"
    try:
        return _write_and_publish(estimator, card, models, name, tmp, unique, skops, skops_writer)
    except OSError as exc:
        raise _not_saved(models / name, models, exc) from None


def _not_saved(path: Path, models: Path, exc: OSError) -> PipelineError:
    from pipeline.common.errors import DiskFull

    if is_disk_full(exc):
        return DiskFull(path, exc, advice=f"the model was not saved and {models / LATEST} is unchanged; "
                        "free some space and train again")
    return PipelineError(f"{path}: cannot save the model: {exc.strerror or exc}")


def _write_and_publish(estimator, card, models: Path, name: str, tmp: Path, unique: bool, skops: bool,
                       skops_writer) -> Path:
    import joblib

    from pipeline.artifacts.trust_store import claim, release, settle
    from pipeline.common import atomic

    try:  # made in here: a signal landing just after the mkdir still removes the folder
        tmp.mkdir()
        written = skops_writer.result() if skops and skops_writer is not None and skops_writer.submitted else None
        if written is not None and "joblib" in written:  # the writer dumped the same model
            os.replace(written["joblib"]["path"], tmp / MODEL_FILE)
            card = dict(card, sha256=written["joblib"]["sha256"])
        else:
            joblib.dump(estimator, tmp / MODEL_FILE)
            card = dict(card, sha256=sha256_file(tmp / MODEL_FILE))
        sizes = dict(card.get("sizes", {}), model_bytes=(tmp / MODEL_FILE).stat().st_size)
        if written is not None:
            os.replace(written["path"], tmp / SKOPS_FILE)
            card["skops_sha256"], sizes["skops_bytes"] = written["sha256"], written["bytes"]
        elif skops:
            import zipfile

            from pipeline.artifacts.skops_state import compact, skops_io

            # Vocabularies go in as arrays (pipeline.artifacts.skops_state), not one JSON node per term.
            skops_io().dump(compact(estimator), tmp / SKOPS_FILE, compression=zipfile.ZIP_DEFLATED, compresslevel=1)
            card["skops_sha256"] = sha256_file(tmp / SKOPS_FILE)
            sizes["skops_bytes"] = (tmp / SKOPS_FILE).stat().st_size
        listed = save_weights(estimator, tmp)  # networks as data files (pipeline.artifacts.weights)
        if listed:
            card[CARD_KEY] = listed
            sizes["weights_bytes"] = weights_bytes(tmp, listed)
        card["sizes"] = sizes
        # Trusted before it is visible: a process killed outright just after the rename (a pool
        # ending its other workers) leaves a model this machine loads, not one it refuses.
        claim(card["sha256"], models / name, tmp.name)
        final = _rename_into_place(tmp, models, name, card, unique)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if "sha256" in card:  # a no-op unless this save claimed the trust (pipeline.artifacts.trust_store)
            with contextlib.suppress(Exception):
                release(card["sha256"], tmp.name)
        raise
    link_tmp = models / f"{_TMP_PREFIX}{_owner_tag()}-{secrets.token_hex(3)}-{LATEST}"
    try:
        os.symlink(final.name, link_tmp)
        os.replace(link_tmp, models / LATEST)
        settle(card["sha256"], final, tmp.name)  # names the folder it went to (another may have had the name)
    except BaseException as exc:
        link_tmp.unlink(missing_ok=True)
        if (models / LATEST).resolve() != final.resolve():  # not published yet: take it back
            _unpublish(final, tmp)
            with contextlib.suppress(Exception):
                release(card["sha256"], tmp.name)
        if isinstance(exc, OSError) and not is_disk_full(exc):
            raise PipelineError(f"{models / LATEST}: cannot point it at {final.name}: {exc.strerror}") from None
        raise
    atomic.sync_folder(models)
    return final


def _unpublish(final: Path, hidden: Path) -> None:
    """Move a model folder back out of sight, then delete it (a reader never sees it half-gone)."""
    try:
        os.rename(final, hidden)
    except OSError:
        return
    shutil.rmtree(hidden, ignore_errors=True)


# A file name takes 255 bytes; the save's hidden folder (.tmp-PID@HOST-RANDOM-NAME) adds up to 61.
MAX_NAME_BYTES = 180


def check_run_name(name: str) -> None:
    """A run name is one plain folder name: not `latest`, not hidden, no path separators, not too long."""
    if not name or name == LATEST or name.startswith(".") or "/" in name or os.sep in name:
        raise PipelineError(f"config run_name: {quote(name)} cannot name a model folder")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise PipelineError(f"config run_name: {quote(name)} is {len(name.encode('utf-8', 'surrogateescape'))} "
                            f"bytes long; a model folder name takes at most {MAX_NAME_BYTES}")


def _rename_into_place(tmp: Path, models: Path, name: str, card: dict, unique: bool) -> Path:
    """Write the card naming the model, sync, and rename; a folder that appeared meanwhile is kept."""
    from pipeline.common import atomic

    base = name
    while True:
        final = models / name
        card_text = json.dumps(dict(card, name=name), indent=2, default=str) + "\n"
        with open(tmp / CARD_FILE, "w", encoding="utf-8") as handle:
            handle.write(card_text)
        atomic.flush_folder(tmp)
        try:
            # Never replaces a model: renaming onto a non-empty folder fails.
            os.rename(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise
            if not unique:
                raise PipelineError(f"model folder already exists: {final} (choose another run_name)") from None
            name = f"{base}-{secrets.token_hex(2)}"
            continue
        atomic.sync_folder(models)
        return final


_TMP_PREFIX = ".tmp-"


def scratch_path(models_dir: str | Path, what: str) -> Path:
    """A hidden temporary name in models_dir, removed by a later save if this process dies first."""
    models = Path(models_dir)
    models.mkdir(parents=True, exist_ok=True)
    return models / f"{_TMP_PREFIX}{_owner_tag()}-{secrets.token_hex(3)}-{what}"


def _owner_tag() -> str:
    """pid@host of this process, so a later save can tell a dead run's leftovers from a live one's."""
    import re
    import socket

    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"
    return f"{os.getpid()}@{host}"


def remove_dead_temporaries(models: Path) -> None:
    """Delete `.tmp-*` leftovers of saves on this host whose process no longer runs."""
    import re

    _, host = _owner_tag().split("@")
    for entry in models.glob(f"{_TMP_PREFIX}*"):
        found = re.match(rf"{re.escape(_TMP_PREFIX)}(\d+)@([A-Za-z0-9]+)-", entry.name)
        if not found or found.group(2) != host or _process_alive(int(found.group(1))):
            continue
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(entry, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_model_folder(folder: Path) -> None:
    """A model folder given by the user exists and is a folder (loading and trust both ask)."""
    if problem := name_problem(folder):
        raise PipelineError(f"model folder {folder}: {problem}")
    if folder.is_file():
        raise PipelineError(f"{folder} is a file, not a model folder")
    if not folder.is_dir() and folder.is_symlink():  # models/latest after its model was moved or deleted
        raise PipelineError(f"model folder not found: {folder} names {os.readlink(folder)}, which is not there")
    if not folder.is_dir():
        raise PipelineError(f"model folder not found: {folder}")


def checked_card(folder: Path) -> tuple[dict, str]:
    """The card of a model folder and the sha256 of its model.joblib, which must match the card's."""
    check_model_folder(folder)
    model_file, card_file = folder / MODEL_FILE, folder / CARD_FILE
    if not model_file.is_file():
        raise PipelineError(f"{folder}: no {MODEL_FILE} in the model folder")
    card = unchecked_card(folder)
    expected = card.get("sha256")
    if not expected:
        raise PipelineError(f"{card_file}: the card has no sha256 of {MODEL_FILE}")
    actual = sha256_file(model_file)
    if actual != expected:
        raise PipelineError(f"{model_file}: sha256 does not match {CARD_FILE}; refusing to load it")
    return card, actual


def card_input_kind(path: str | Path) -> str:
    """The card's "input" without checking the model file ("text" if unreadable: load_model reports)."""
    try:
        card = json.loads((Path(path) / CARD_FILE).read_text(encoding="utf-8"))
        return str(card.get("input") or "text")
    except (OSError, ValueError, AttributeError):
        return "text"


def read_card(path: str | Path) -> dict:
    """Check a model folder (files present, sha256 matching the card) and return its card."""
    return checked_card(Path(path))[0]


def unchecked_card(folder: Path) -> dict:
    """The card of a model folder as a dict, read without checking model.joblib against it (loading
    checks that; `trust --remove` needs the card of a model that changed or is damaged)."""
    card_file = folder / CARD_FILE
    if not card_file.is_file():
        raise PipelineError(f"{folder}: no {CARD_FILE} in the model folder")
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{card_file}: not a valid model card ({exc})") from None
    except OSError as exc:
        raise PipelineError(f"{card_file}: cannot read: {exc.strerror}") from None
    if not isinstance(card, dict):
        raise PipelineError(f"{card_file}: not a valid model card (expected a JSON object)")
    return card
