"""Domain-adaptive pretraining: all-MiniLM-L6-v2 trained further as a masked language model on
unlabeled news, before `model=minilm_finetune` fine-tunes it (`model.base_weights`).

The packaged encoder comes without a masked-language-model head, so the head (a dense layer and
LayerNorm before the tied vocabulary projection) starts new: it trains alone for `head_steps`
batches, with the encoder frozen, then everything trains with AdamW, warmup and linear decay.
The vocabulary projection runs only where a token was masked (15% of the tokens, 80% of them
[MASK], 10% a random token, 10% left). The result is a folder like the package's: config.json,
model.safetensors (data only, no pickle) and tokenizer.json, plus pretrain.json.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Sequence

BASE_FILES = ("config.json", "model.safetensors", "tokenizer.json")
CARD = "pretrain.json"
MASK_SHARE = 0.15


def changed_files(folder: Path) -> str | None:
    """What differs in a pretrained folder from its pretrain.json (its files' sha256), or None."""
    from pipeline.artifacts.weights import sha256_file

    try:
        listed = json.loads((folder / CARD).read_text(encoding="utf-8"))["sha256"]
        changed = [name for name in BASE_FILES if sha256_file(folder / name) != listed[name]]
    except (OSError, ValueError, TypeError, KeyError):
        return f"has a {CARD} without the sha256 of {', '.join(BASE_FILES)}"
    return f"has {', '.join(changed)} changed since it was written (sha256 differs from {CARD})" if changed else None


def unlabeled_sentences(files: Sequence[Path], exclude: set[str], limit: int, seed: int,
                        min_words: int = 6, exclude_texts: frozenset[str] = frozenset()) -> tuple[list[str], int]:
    """Up to `limit` sentences of at least `min_words` words, drawn at random (by `seed`), and
    how many were available. `.txt` files are articles (split as the pipeline splits them, the
    file's stem is its id); `.jsonl` files hold sentence records (`text`, `doc_id`). Articles
    whose id is in `exclude` (the dev set's) are left out, and so is every sentence whose
    `sentence_key` is in `exclude_texts` (the dev sentences': sites republish each other's
    stories, so a dev sentence also turns up in other articles)."""
    import numpy as np

    from pipeline.annotation.validation import sentence_key
    from pipeline.common.jsonl import read_json_lines
    from pipeline.common.textio import read_forgiving
    from pipeline.data.sentences import split_article

    sentences: list[str] = []
    for file in files:
        if file.suffix.lower() == ".txt":
            if file.stem in exclude:
                continue
            # Read as articles to score are: stray bytes are repaired and said, a binary file is an error.
            sentences += [s.text for s in split_article(read_forgiving(file))]
        else:
            sentences += [str(r.get("text", "")) for _, r in read_json_lines(file)
                          if str(r.get("doc_id", "")) not in exclude]
    sentences = [s for s in sentences if len(s.split()) >= min_words and sentence_key(s) not in exclude_texts]
    order = np.random.RandomState(seed).permutation(len(sentences))[:limit]
    return [sentences[i] for i in order], len(sentences)


def adapt(sentences: Sequence[str], folder: Path, *, max_length: int = 64, batch_size: int = 32,
          learning_rate: float = 5e-5, head_steps: int = 120, seed: int = 0, threads: int | None = None,
          progress: Callable[[int, int, float], None] | None = None) -> dict:
    """Train the packaged encoder as a masked language model on `sentences`; write it to `folder`."""
    import numpy as np

    from pipeline.models import encoder_runtime as rt

    base, tokenizer_json = rt.packaged_files("all-MiniLM-L6-v2")
    vocab = json.loads(tokenizer_json)["model"]["vocab"]
    special = np.array([vocab[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")])
    mask_id = vocab["[MASK]"]
    ids = rt.token_ids(rt.make_tokenizer(tokenizer_json, max_length), sentences)
    transformers = rt._quiet_transformers()
    import torch

    rng = np.random.RandomState(seed)
    steps = len(ids) // batch_size
    if steps <= head_steps:
        raise ValueError(f"{len(ids)} sentences make {steps} batches of {batch_size}; "
                         f"more than head_steps={head_steps} are needed")
    history = []
    with rt.torch_threads(threads):
        torch.manual_seed(seed)
        model = transformers.BertForMaskedLM.from_pretrained(str(base), local_files_only=True,
                                                             use_safetensors=True)
        model.train()
        n_vocab = model.config.vocab_size
        head = [p for name, p in model.named_parameters() if name.startswith("cls.") and "decoder.weight" not in name]
        optimizer = torch.optim.AdamW(head, lr=1e-3)
        schedule = None
        losses = []
        rest = steps - head_steps  # batches that train everything: 10% warmup, then linear decay
        warm = max(1, rest // 10)

        def rate(k: int) -> float:
            return min(1.0, (k + 1) / warm) * max(0.0, (rest - k) / rest)

        for step in range(steps):
            if step == head_steps:
                optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
                schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
            batch, attention = rt.padded(ids[step * batch_size:(step + 1) * batch_size])
            targets = np.full_like(batch, -100)
            masked = (attention == 1) & ~np.isin(batch, special) & (rng.rand(*batch.shape) < MASK_SHARE)
            targets[masked] = batch[masked]
            draw = rng.rand(*batch.shape)
            batch = batch.copy()
            batch[masked & (draw < 0.8)] = mask_id
            swapped = masked & (draw >= 0.8) & (draw < 0.9)
            batch[swapped] = rng.randint(1000, n_vocab, size=int(swapped.sum()))
            if not masked.any():
                continue
            inputs, attention = torch.from_numpy(batch), torch.from_numpy(attention)
            picked = torch.from_numpy(masked)
            if step < head_steps:
                with torch.no_grad():
                    hidden = model.bert(input_ids=inputs, attention_mask=attention).last_hidden_state
            else:
                hidden = model.bert(input_ids=inputs, attention_mask=attention).last_hidden_state
            loss = torch.nn.functional.cross_entropy(model.cls(hidden[picked]), torch.from_numpy(targets[masked]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            losses.append(loss.item())
            if progress is not None:
                progress(step + 1, steps, float(np.mean(losses[-50:])))
            if (step + 1) % 50 == 0 or step + 1 == steps:
                history.append({"step": step + 1, "loss": round(float(np.mean(losses[-50:])), 4)})
        model.eval()
        model.bert.save_pretrained(str(folder), safe_serialization=True)
    (folder / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.iterdir():  # safetensors writes its file owner-only; the folder is for anyone fine-tuning
        path.chmod(0o666 & ~umask)
    return {"base": "all-MiniLM-L6-v2", "sentences": len(ids), "steps": steps, "head_steps": head_steps,
            "max_length": max_length, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
            "history": history}
