"""The artifact's tokenizer.json: the model's own fast tokenizer, truncating at max_length."""

from __future__ import annotations

from pathlib import Path

from clf_export.errors import ExportError


def save_tokenizer(model_dir: Path, max_length: int, dest: Path) -> None:
    """Write the fast tokenizer of the model in `model_dir` as a tokenizers file at `dest`."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(model_dir, use_fast=True)
    if not getattr(hf, "is_fast", False):
        raise ExportError(f"{model_dir} has no fast tokenizer; the runtime needs tokenizer.json")
    tok = Tokenizer.from_str(hf.backend_tokenizer.to_str())
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    tok.save(str(dest))
