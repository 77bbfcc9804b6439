"""The artifact's tokenizer.json: the model's own fast tokenizer, with its truncation and padding.

Padding is kept as the model's tokenizer does it (pad token, pad id, side), so the runtime can let
the tokenizers library pad a batch instead of guessing a pad id; truncation is set to the
artifact's max_length. Runtimes that pad by hand call `no_padding()` and are unaffected.
"""

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
    if hf.pad_token is not None and hf.pad_token_id is not None:
        tok.enable_padding(
            direction=hf.padding_side,
            pad_id=hf.pad_token_id,
            pad_type_id=hf.pad_token_type_id,
            pad_token=hf.pad_token,
        )
    tok.enable_truncation(max_length=max_length)
    tok.save(str(dest))
