"""Long texts in training: the runtime's own encoder (clf_runtime.long_text) on the training tokenizer.

Training, the export gate and the runtime therefore cut a long text into the same windows (or the
same head and tail). With `windows`, every window of a training text is a training row carrying the
text's label; evaluation aggregates the windows' logits back into one row per text.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import click

from clf_runtime.long_text import (
    AGGREGATES,
    DEFAULT_MAX_WINDOWS,
    ENCODING_FIELDS,
    STRATEGIES,
    Encoded,
    LongText,
    LongTextEncoder,
)
from clf_train.config import DEFAULT_LONG_TEXT

log = logging.getLogger("clf_train")


def encoder(hf_tokenizer: Any, max_length: int, config: LongText, text_pair: bool) -> LongTextEncoder:
    """A LongTextEncoder on a copy of a Hugging Face fast tokenizer's backend (what clf-export saves)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    tok.no_padding()
    tok.enable_truncation(max_length=max_length)
    return LongTextEncoder(tok, max_length, config, text_pair)


def resolve(hf_tokenizer: Any, max_length: int, config: LongText, text_pair: bool) -> LongText:
    """The setting with stride/head filled in for this model (InputError when they do not fit).

    Pair models always truncate: there is no one text to cut into windows.
    """
    if text_pair and config.strategy != "truncate":
        log.info("text pairs: long-text strategy %s does not apply, truncating", config.strategy)
        config = LongText()
    return encoder(hf_tokenizer, max_length, config, text_pair).config


def encode_split(
    hf_tokenizer: Any, texts: list[str], pairs: list[str] | None, max_length: int, config: LongText
) -> Encoded:
    items: list[Any] = list(texts) if pairs is None else list(zip(texts, pairs, strict=True))
    return encoder(hf_tokenizer, max_length, config, pairs is not None).encode(items)


def features(encoded: Encoded, keep: set[str]) -> list[dict[str, list[int]]]:
    """One feature dict per model input (window), with the fields the model's forward takes."""
    fields = [(k, a) for k, a in ENCODING_FIELDS.items() if k in keep]
    return [{k: list(getattr(e, a)) for k, a in fields} for e in encoded.encodings]


def options(f: Callable[..., Any]) -> Callable[..., Any]:
    """clf-train's --long-text, --stride, --max-windows and --window-aggregate."""
    opts = [
        click.option(
            "--long-text",
            type=click.Choice(STRATEGIES),
            default=DEFAULT_LONG_TEXT,
            show_default=True,
            help="Texts longer than --max-length: truncate, head-tail, or overlapping windows.",
        ),
        click.option(
            "--stride",
            type=click.IntRange(min=0),
            default=None,
            help="windows: tokens shared by neighbouring windows (default: a quarter of a window).",
        ),
        click.option(
            "--max-windows",
            type=click.IntRange(min=1),
            default=DEFAULT_MAX_WINDOWS,
            show_default=True,
            help="windows: at most this many per text, spread over it.",
        ),
        click.option(
            "--window-aggregate",
            type=click.Choice(AGGREGATES),
            default="mean",
            show_default=True,
            help="windows: combine the windows' logits by mean or max.",
        ),
    ]
    return functools.reduce(lambda acc, opt: opt(acc), reversed(opts), f)


def from_options(kw: dict[str, Any]) -> LongText:
    """Pop the options above from click's keyword arguments into a LongText."""
    return LongText(
        strategy=kw.pop("long_text"),
        stride=kw.pop("stride"),
        max_windows=kw.pop("max_windows"),
        aggregate=kw.pop("window_aggregate"),
    )
