"""Reference logits: what the PyTorch model outputs on the validation texts, the gate's yardstick.

Tokenized by the model's own Hugging Face tokenizer; models with long-text windows are run on the
runtime's own windows (clf_runtime.long_text) and aggregated the same way, so the comparison is
like for like.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from clf_runtime.long_text import LongText


def torch_logits(
    model_dir: Path,
    texts: list[Any],
    max_length: int,
    batch_size: int = 32,
    long_text: LongText | None = None,
) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    accepted = set(inspect.signature(model.forward).parameters)
    if getattr(model.config, "type_vocab_size", 2) <= 1:
        accepted.discard("token_type_ids")  # RoBERTa-style models have one segment embedding
    if long_text is not None and long_text.strategy != "truncate" and texts:
        return _windowed_logits(model, tokenizer, texts, max_length, batch_size, long_text, accepted)
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            if batch and isinstance(batch[0], tuple):
                enc = tokenizer(
                    [a for a, _ in batch],
                    [b for _, b in batch],
                    truncation=True,
                    max_length=max_length,
                    padding=True,
                    return_tensors="pt",
                )
            else:
                enc = tokenizer(
                    batch, truncation=True, max_length=max_length, padding=True, return_tensors="pt"
                )
            feed = {k: v for k, v in enc.items() if k in accepted}
            out.append(model(**feed).logits.float().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.num_labels), np.float32)


def _windowed_logits(
    model: Any,
    tokenizer: Any,
    texts: list[Any],
    max_length: int,
    batch_size: int,
    long_text: LongText,
    accepted: set[str],
) -> np.ndarray:
    """PyTorch logits on the runtime's own windows (or head-tail inputs), aggregated the same way."""
    import torch
    from tokenizers import Tokenizer

    from clf_runtime.long_text import LongTextEncoder, aggregate, to_arrays

    tok = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    encoded = LongTextEncoder(tok, max_length, long_text, isinstance(texts[0], tuple)).encode(texts)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = []
    with torch.inference_mode():
        for start in range(0, len(encoded.encodings), batch_size):
            arrays = to_arrays(encoded.encodings[start : start + batch_size], pad_id)
            out.append(model(**{k: torch.from_numpy(v) for k, v in arrays.items() if k in accepted}).logits)
    return aggregate(torch.cat(out).float().numpy(), encoded.starts, long_text.aggregate)
