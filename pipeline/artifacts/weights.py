"""Network weights beside the model file: written as data files, checked and attached when loaded.

An estimator part that holds a neural network (pipeline.models.finetune) keeps it out of
model.joblib and model.skops (its __getstate__ drops it) and instead writes it into the model
folder with `save_weights(folder, name)`: safetensors, JSON and ONNX files, which load as data
and never run code. The card lists every such file with its sha256 under "weights"; loading
refuses a folder whose files are missing, changed or of any other kind (a pickle, a path outside
the folder), then hands each part its files through `load_weights(read, name)`.

Parts are found in a fixed order (pipeline steps, then attributes by name), so the n-th holder
is called "encoder" (the first), "encoder-1", ... both when saving and when loading.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.artifacts.names import CARD_FILE
from pipeline.common.errors import PipelineError

CARD_KEY = "weights"
# Formats that hold only data: tensors (safetensors), graphs of operators (ONNX), settings (JSON).
DATA_SUFFIXES = (".safetensors", ".onnx", ".json")
WALKED_MODULES = ("sklearn", "pipeline")


def holders(estimator) -> list:
    """The parts of `estimator` that keep their network in weight files, in a fixed order."""
    found: list = []
    _collect(estimator, found, set())
    return found


def holder_names(estimator) -> list[tuple[str, object]]:
    return [("encoder" if i == 0 else f"encoder-{i}", part) for i, part in enumerate(holders(estimator))]


def _collect(obj, found: list, seen: set) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if type(obj) in (list, tuple):
        for item in obj:
            _collect(item, found, seen)
    elif type(obj) is dict:
        for key in sorted(obj, key=str):
            _collect(obj[key], found, seen)
    elif type(obj).__module__.split(".")[0] in WALKED_MODULES and isinstance(getattr(obj, "__dict__", None), dict):
        if callable(getattr(obj, "save_weights", None)) and callable(getattr(obj, "load_weights", None)):
            if getattr(obj, "classes_", None) is not None:  # fitted (an unfitted template holds nothing)
                found.append(obj)
            return
        for name in sorted(obj.__dict__):
            if not name.startswith("_"):
                _collect(obj.__dict__[name], found, seen)


def save_weights(estimator, folder: Path) -> dict:
    """Write every holder's files into `folder`; {holder name: {file: sha256}} for the card ({} if none)."""
    listed = {}
    for name, part in holder_names(estimator):
        try:
            files = part.save_weights(folder, name)
        except ValueError as exc:
            raise PipelineError(f"cannot save the weights of {type(part).__name__}: {exc}") from None
        listed[name] = {file: sha256_file(folder / file) for file in files}
    return listed


def weights_bytes(folder: Path, listed: dict) -> int:
    return sum((folder / file).stat().st_size for files in listed.values() for file in files)


def attach_weights(estimator, folder: Path, card: dict) -> None:
    """Give every holder of a loaded estimator its files, each checked against the card first."""
    parts = holder_names(estimator)
    listed = card.get(CARD_KEY) or {}
    if not parts and not listed:
        return
    if not isinstance(listed, dict) or {name for name, _ in parts} != set(listed):
        raise PipelineError(f"{folder / CARD_FILE}: its {CARD_KEY!r} do not match the model's networks; "
                            "refusing to load it")
    for name, part in parts:
        files = listed[name]
        if not isinstance(files, dict):
            raise PipelineError(f"{folder / CARD_FILE}: {CARD_KEY}.{name} is not a list of files")
        for file, expected in files.items():
            check_file_name(folder, file)
            if not isinstance(expected, str) or not (folder / file).is_file():
                raise PipelineError(f"{folder / file}: missing from the model folder (listed in {CARD_FILE})")
        reader = CheckedReader(folder, files)
        try:
            part.load_weights(reader.read, name)
        except PipelineError:
            raise
        except Exception as exc:
            raise PipelineError(f"{folder}: cannot load the weights of {name} ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
        reader.check_the_rest()


def check_file_name(folder: Path, file) -> None:
    """A weight file is a plain name in the folder, in a data format."""
    if (not isinstance(file, str) or not file or "/" in file or "\\" in file or file.startswith(".")
            or not file.endswith(DATA_SUFFIXES)):
        raise PipelineError(f"{folder / CARD_FILE}: refusing weight file {file!r}: only "
                            f"{', '.join(DATA_SUFFIXES)} files inside the model folder load as weights")


class CheckedReader:
    """Reads listed files whole, refusing any whose sha256 differs from the card's."""

    def __init__(self, folder: Path, files: dict):
        self.folder, self.files, self.read_files = Path(folder), dict(files), set()

    def read(self, file: str) -> bytes:
        if file not in self.files:
            raise PipelineError(f"{self.folder / file}: not listed in {CARD_FILE}; refusing to load it")
        data = (self.folder / file).read_bytes()
        if hashlib.sha256(data).hexdigest() != self.files[file]:
            raise PipelineError(f"{self.folder / file}: sha256 does not match {CARD_FILE}; refusing to load it")
        self.read_files.add(file)
        return data

    def check_the_rest(self) -> None:
        """Files the part did not need (torch weights when ONNX scores) are checked all the same."""
        for file, expected in self.files.items():
            if file not in self.read_files and sha256_file(self.folder / file) != expected:
                raise PipelineError(f"{self.folder / file}: sha256 does not match {CARD_FILE}; refusing to load it")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
