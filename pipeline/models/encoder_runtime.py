"""Running an encoder with a linear head: tokens, length-sorted batches, torch or ONNX Runtime.

The network is a BERT-style encoder (all-MiniLM-L6-v2, or all-mpnet-base-v2), mean pooling over
the real tokens and one linear layer giving a logit per label. It runs in torch while it is
trained, and from a saved model folder through ONNX Runtime when `onnxruntime` is installed (the
graph exported by torch.onnx at save time), else in torch from the safetensors weights. Every file read
here is data: JSON, safetensors and ONNX graphs; nothing is unpickled.

Tokens come from the `tokenizers` library reading tokenizer.json, so scoring through ONNX
Runtime imports neither torch nor transformers.
"""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache
from typing import Callable, Sequence

# Files of the network in a model folder (the estimator knows which of them it saved).
WEIGHTS_FILE = "encoder.safetensors"
CONFIG_FILE = "encoder.config.json"
TOKENIZER_FILE = "encoder.tokenizer.json"
ONNX_FILE = "encoder.onnx"
ONNX_INT8_FILE = "encoder.int8.onnx"
SCORING_BATCH = 64  # sentences per forward pass when scoring (sorted by length, so padding is small)
ONNX_INPUTS = ("input_ids", "attention_mask")


def offline() -> None:
    """No hub look-ups, ever: every file the encoder needs is local."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def make_tokenizer(json_text: str, max_length: int):
    """A fast tokenizer from the text of tokenizer.json, cutting at `max_length` tokens, never padding."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(json_text)
    tokenizer.no_padding()
    tokenizer.enable_truncation(int(max_length))
    return tokenizer


@lru_cache(maxsize=8)
def separator(json_text: str) -> str:
    """The separator token of a tokenizer.json ("[SEP]" for BERT, "</s>" for MPNet): the token its
    post-processor puts after a single sentence. Cached: a context model asks on every batch."""
    import json

    processor = json.loads(json_text).get("post_processor") or {}
    if "sep" in processor:
        return processor["sep"][0]
    specials = [part["SpecialToken"]["id"] for part in processor.get("single", []) if "SpecialToken" in part]
    if not specials:
        raise ValueError("tokenizer.json: no separator token after a single sentence")
    return specials[-1]


def token_ids(tokenizer, texts: Sequence[str]) -> list:
    """One int64 array of token ids per text ([CLS] ... [SEP], cut at the tokenizer's length); a
    (text, second text) pair gives [CLS] text [SEP] second [SEP], cut from the longer part."""
    import numpy as np

    texts = [_without_surrogates(text) for text in texts]
    return [np.asarray(encoding.ids, dtype=np.int64) for encoding in tokenizer.encode_batch_fast(texts)]


def _without_surrogates(text):
    """A text, or each of a (text, second text) pair, with its lone surrogates as U+FFFD."""
    from pipeline.common.textio import without_surrogates

    if isinstance(text, tuple):
        return tuple(without_surrogates(part) for part in text)
    return without_surrogates(text)


def padded(rows: Sequence) -> tuple:
    """input_ids and attention_mask of a batch, padded to its longest row."""
    import numpy as np

    width = max(len(row) for row in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def batched_logits(run: Callable, ids: Sequence, n_labels: int, batch_size: int = SCORING_BATCH):
    """`run(input_ids, attention_mask)` over batches of similar length; logits in input order."""
    import numpy as np

    out = np.zeros((len(ids), n_labels), dtype=np.float32)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        out[rows] = run(*padded([ids[i] for i in rows]))
    return out


@lru_cache(maxsize=None)
def network_class():
    """The torch module (defined on first use: torch is imported only here)."""
    import torch

    class EncoderClassifier(torch.nn.Module):
        """Encoder -> mean of the token vectors under the attention mask -> linear layer."""

        def __init__(self, encoder, n_labels: int):
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(encoder.config.hidden_size, n_labels)

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return self.head((hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9))

    return EncoderClassifier


def _quiet_transformers():
    offline()
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def packaged_files(encoder: str):
    """The installed encoder's folder and the text of its tokenizer.json."""
    from pipeline.features.embeddings import check_installed
    from pipeline.features.encoder_weights import encoder_folder, install_hint

    check_installed(encoder)
    path = encoder_folder(encoder)
    if not (path / "tokenizer.json").is_file() or not (path / "config.json").is_file():
        raise ValueError(f"encoder {encoder}: no model files in {path}; reinstall: {install_hint(encoder)}")
    return path, (path / "tokenizer.json").read_text(encoding="utf-8")


# The encoder families a network may be built from, by the model_type of its config: a saved
# config naming any other is refused (a config never chooses code).
ARCHITECTURES = {"bert": ("BertModel", "BertConfig"), "mpnet": ("MPNetModel", "MPNetConfig")}


def base_network(path, n_labels: int):
    """The pretrained encoder from its folder, with a new head of `n_labels` outputs."""
    import json
    from pathlib import Path

    transformers = _quiet_transformers()
    model_type = json.loads((Path(path) / "config.json").read_text(encoding="utf-8")).get("model_type")
    model, _ = _architecture(model_type, Path(path) / "config.json")
    encoder = getattr(transformers, model).from_pretrained(
        str(path), add_pooling_layer=False, local_files_only=True, use_safetensors=True)  # weights as data
    return network_class()(encoder, n_labels)


def network_from_files(config_json: str, weights: bytes, n_labels: int):
    """A saved network: an encoder config (JSON text) and safetensors bytes, both plain data."""
    import json

    from safetensors.torch import load

    transformers = _quiet_transformers()
    settings = json.loads(config_json)
    model, config = _architecture(settings.get("model_type") if isinstance(settings, dict) else None, CONFIG_FILE)
    settings.pop("auto_map", None)  # never code named by a config
    encoder = getattr(transformers, model)(getattr(transformers, config).from_dict(settings), add_pooling_layer=False)
    network = network_class()(encoder, n_labels)
    network.load_state_dict(load(weights), strict=True)
    return network.eval()


def _architecture(model_type, where) -> tuple[str, str]:
    if not isinstance(model_type, str) or model_type not in ARCHITECTURES:
        raise ValueError(f"{where}: not the config of a BERT or MPNet encoder")
    return ARCHITECTURES[model_type]


def encoder_config_json(network) -> str:
    return network.encoder.config.to_json_string(use_diff=False)


def save_safetensors(network, path) -> None:
    from pathlib import Path

    from safetensors.torch import save

    tensors = {name: tensor.detach().contiguous() for name, tensor in network.state_dict().items()}
    # Written by us, so the file gets the usual permissions (save_file makes it owner-only).
    Path(path).write_bytes(save(tensors, metadata={"format": "pt"}))


def torch_runner(network, threads: int | None = None, bf16: bool = False) -> Callable:
    """run(input_ids, attention_mask) -> logits, in torch without gradients. bf16: on a bfloat16
    copy of the network (the float32 weights stay as they are, for saving)."""
    import copy

    import torch

    network.eval()
    if bf16:  # with the worker's thread count: a forked worker must not enter the parent's thread pool
        with torch_threads(threads):
            network = copy.deepcopy(network).to(torch.bfloat16).eval()

    def run(ids, mask):
        with torch.inference_mode(), torch_threads(threads):
            return network(torch.from_numpy(ids), torch.from_numpy(mask)).float().numpy()

    return run


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """torch's CPU threads set to `threads` for the block (None: unchanged)."""
    import torch

    if not threads:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def onnxruntime_available() -> bool:
    from importlib.util import find_spec

    return find_spec("onnxruntime") is not None


def onnx_runner(model_bytes: bytes, threads: int | None = None) -> Callable:
    """run(input_ids, attention_mask) -> logits through an ONNX Runtime session on the CPU."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning: on cores shared with other work (or with sibling
    # --jobs workers) spinning took the CPU the work needed (int8: 28 against 49 sentences/s).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = int(threads)
    session = onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])

    def run(ids, mask):
        return session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]

    return run


def export_onnx(network, path) -> None:
    """The network as an ONNX graph (torch's dynamo exporter), any batch size and length."""
    import io
    import logging
    import warnings

    import torch

    network.eval()
    example = (torch.ones((2, 7), dtype=torch.long), torch.ones((2, 7), dtype=torch.long))
    batch, length = torch.export.Dim("batch"), torch.export.Dim("sequence")
    shapes = {"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}}
    sink = io.StringIO()  # the exporter narrates each stage on stdout
    # torch.onnx warns about torchvision operators this network never uses; onnxscript's optimizer
    # and onnx_ir's passes log each rewrite at INFO (a hundred lines in a training run's log)
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(network, example, dynamo=True, input_names=list(ONNX_INPUTS),
                                        output_names=["logits"], dynamic_shapes=shapes, verbose=False)
            program.save(str(path), external_data=False)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def quantize_int8(source, target) -> None:
    """Dynamic int8 quantization of the matrix products (weights per output channel)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # it advises pre-processing on the root logger, every time
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.disable(logging.NOTSET)
