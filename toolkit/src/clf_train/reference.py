"""The PyTorch side that training and export must agree on: one definition, used by both.

- `forward_inputs`: which tokenizer outputs a model's forward takes (the `token_type_ids` rule).
- `logits` / `folder_logits`: PyTorch logits of texts (or text pairs), truncated or cut into the
  runtime's own long-text windows. Training reports on these; the export gate compares every ONNX
  variant with them, so a difference between the two would show up as a false gate failure.
- `PROBLEM_TYPES` / `TASK_OF_PROBLEM_TYPE`: clf's task names and Hugging Face's `problem_type`.
- `MAIN_METRIC` / `label_ids`: the metric name per task (the same key in `metrics.json`, in
  `clf_train.json` and in the export checks of `clf.json`) and labels as the model's target ids.

Torch and transformers are imported inside the functions: importing this module stays cheap.
Not here: training itself (clf_train.training), metrics beyond their names (clf_train.metrics).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clf_runtime.long_text import LongText

PROBLEM_TYPES = {  # clf task (clf_runtime.artifact.TASKS) -> Hugging Face config.problem_type
    "single_label": "single_label_classification",
    "multi_label": "multi_label_classification",
    "regression": "regression",
}
TASK_OF_PROBLEM_TYPE = {problem: task for task, problem in PROBLEM_TYPES.items()}
# The metric that picks the best checkpoint and that the export gate compares across variants.
MAIN_METRIC = {"single_label": "accuracy", "multi_label": "f1_micro", "regression": "pearson"}


def label_ids(labels: Sequence[Any], task: str, names: tuple[str, ...]) -> np.ndarray:
    """Targets as the model sees them: class ids, a 0/1 matrix (multi-label) or floats."""
    if task == "regression":
        return np.asarray(labels, dtype=np.float32)
    index = {n: i for i, n in enumerate(names)}
    if task == "multi_label":
        out = np.zeros((len(labels), len(names)), dtype=np.float32)
        for row, items in enumerate(labels):
            for x in items:
                out[row, index[x]] = 1.0
        return out
    return np.asarray([index[x] for x in labels], dtype=np.int64)


def forward_inputs(model: Any) -> set[str]:
    """Names the model's forward takes: a tokenizer may produce token_type_ids a model rejects."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(inspect.signature(base.forward).parameters)
    if getattr(base.config, "type_vocab_size", 2) <= 1:
        names.discard("token_type_ids")  # RoBERTa-style: one segment embedding, pairs use separators
    return names


def logits(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    pairs: Sequence[str] | None = None,
    *,
    max_length: int,
    batch_size: int = 64,
    long_text: LongText | None = None,
) -> np.ndarray:
    """The model's logits, one row per text (windows aggregated back into their text's row)."""
    import torch

    if long_text is not None and long_text.strategy != "truncate" and len(texts):
        return _window_logits(model, tokenizer, texts, pairs, max_length, batch_size, long_text)
    model.eval()
    device = next(model.parameters()).device
    keep = forward_inputs(model)
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            second = None if pairs is None else list(pairs[start : start + batch_size])
            enc = tokenizer(
                batch, second, truncation=True, max_length=max_length, padding=True, return_tensors="pt"
            )
            feed = {k: v.to(device) for k, v in enc.items() if k in keep}
            out.append(model(**feed).logits.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.num_labels), np.float32)


def _window_logits(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    pairs: Sequence[str] | None,
    max_length: int,
    batch_size: int,
    long_text: LongText,
) -> np.ndarray:
    """Logits on the runtime's own windows (or head-tail inputs), aggregated the runtime's way."""
    import torch

    from clf_runtime.long_text import aggregate, to_arrays
    from clf_train.long_text import encode_split

    encoded = encode_split(
        tokenizer, list(texts), None if pairs is None else list(pairs), max_length, long_text
    )
    model.eval()
    device = next(model.parameters()).device
    keep = forward_inputs(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = []
    with torch.inference_mode():
        for start in range(0, len(encoded.encodings), batch_size):
            arrays = to_arrays(encoded.encodings[start : start + batch_size], pad_id)
            feed = {k: torch.from_numpy(v).to(device) for k, v in arrays.items() if k in keep}
            out.append(model(**feed).logits.float().cpu().numpy())
    return aggregate(np.concatenate(out), encoded.starts, long_text.aggregate)


def folder_logits(
    model_dir: Path,
    texts: Sequence[Any],
    max_length: int,
    batch_size: int = 32,
    long_text: LongText | None = None,
) -> np.ndarray:
    """`logits` of a saved model folder; `texts` holds strings, or (text, pair) tuples."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    first, pairs = list(texts), None
    if first and isinstance(first[0], tuple):
        first, pairs = [a for a, _ in texts], [b for _, b in texts]
    return logits(
        model, tokenizer, first, pairs, max_length=max_length, batch_size=batch_size, long_text=long_text
    )
