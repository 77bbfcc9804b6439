"""Texts longer than the model's max length: truncate, head-tail or overlapping windows.

One implementation, used by the runtime, by clf-train's evaluation and by clf-export's gate, so
that all three see exactly the same token ids for a long text:

- `truncate`: the first `max_length` tokens (what clf always did).
- `head-tail`: the first `head` and the last `max_length - head - specials` tokens, joined into one
  input (Sun et al. 2019 found this best for long reviews).
- `windows`: overlapping windows of `max_length` tokens, `stride` tokens shared by neighbours, made
  by the tokenizers library's own truncation with overflow; at most `max_windows` per text (evenly
  spread over the text, first and last always kept). The model runs on every window and the
  per-window logits are averaged (`mean`) or maxed (`max`) into one row per text.

A text that fits in `max_length` gives the same single input under every strategy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from itertools import chain
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from clf_runtime.errors import InputError

#: The model inputs clf knows, each with the attribute of tokenizers.Encoding that feeds it: the
#: runtime, clf-train and clf-export build model inputs from this one table.
ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

STRATEGIES = ("truncate", "head-tail", "windows")
AGGREGATES = ("mean", "max")
DEFAULT_MAX_WINDOWS = 8

TextItem = Union[str, tuple[str, str]]


@dataclass(frozen=True)
class LongText:
    """How to read texts longer than max_length. Stored in the manifest as `long_text`.

    stride: windows only, tokens shared by consecutive windows (the tokenizers library's meaning);
        None: a quarter of the window's text tokens.
    head: head-tail only, tokens kept from the start; None: a quarter of the text tokens.
    """

    strategy: str = "truncate"
    stride: int | None = None
    max_windows: int = DEFAULT_MAX_WINDOWS
    aggregate: str = "mean"
    head: int | None = None

    def check(self) -> None:
        """Raise InputError for values no max_length can make valid."""
        if self.strategy not in STRATEGIES:
            raise InputError(
                f"unknown long-text strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        if self.aggregate not in AGGREGATES:
            raise InputError(f"unknown window aggregation {self.aggregate!r}; choose mean or max")
        if self.max_windows < 1:
            raise InputError(f"max-windows must be at least 1, got {self.max_windows}")
        if self.stride is not None and self.stride < 0:
            raise InputError(f"stride must be 0 or more, got {self.stride}")
        if self.head is not None and self.head < 0:
            raise InputError(f"head must be 0 or more, got {self.head}")

    def resolve(self, max_length: int, specials: int) -> LongText:
        """Fill in stride/head for a model; InputError when they do not fit its window."""
        self.check()
        budget = max_length - specials  # text tokens per model input
        if budget < 2:
            raise InputError(
                f"max_length {max_length} leaves no room for text next to {specials} special tokens"
            )
        stride = budget // 4 if self.stride is None else self.stride
        head = budget // 4 if self.head is None else self.head
        if self.strategy == "windows" and stride >= budget:
            raise InputError(
                f"stride {stride} must be smaller than the window's {budget} text tokens "
                f"(max_length {max_length} minus {specials} special tokens)"
            )
        if self.strategy == "head-tail" and head >= budget:
            raise InputError(f"head {head} must be smaller than the {budget} text tokens of an input")
        return replace(self, stride=stride, head=head)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> LongText:
        """Read the manifest field; absent (older artifacts) means truncate."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"long_text must be an object, got {type(data).__name__}")
        known = {"strategy", "stride", "max_windows", "aggregate", "head"}
        value = cls(**{k: v for k, v in data.items() if k in known})
        try:
            value.check()
        except InputError as exc:
            raise ValueError(str(exc)) from None
        return value


def parse(value: LongText | str | None, default: LongText) -> LongText:
    """A LongText from an override: None keeps `default`, a strategy name keeps its other settings."""
    if value is None:
        return default
    if isinstance(value, LongText):
        return value
    if isinstance(value, str):
        return replace(default, strategy=value)
    raise InputError(f"long_text must be a strategy name or a LongText, got {type(value).__name__}")


@dataclass(frozen=True)
class Encoded:
    """Model inputs for a list of texts: `encodings[starts[i]:starts[i+1]]` belong to text i."""

    encodings: list[Encoding]
    starts: np.ndarray  # int64, len(texts) + 1
    too_long: int  # texts longer than max_length

    @property
    def one_per_text(self) -> bool:
        return len(self.encodings) == len(self.starts) - 1


def _spread(n: int, k: int) -> list[int]:
    """k of range(n) evenly spread, first and last included (all of them when n <= k)."""
    if n <= k:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def is_long(e: Encoding, max_length: int) -> bool:
    # `overflowing` builds Python objects: look only when the input is at the limit.
    return len(e) >= max_length and bool(e.overflowing)


def window_truncation(max_length: int, stride: int | None) -> dict[str, Any]:
    """A tokenizer's truncation settings that cut a text into windows of max_length tokens.

    Only the overflowing parts depend on the stride: the first `max_length` tokens of an encoding
    are the same with any stride, so one tokenizer set up so serves truncate and windows alike.
    """
    return {
        "max_length": max_length,
        "stride": stride or 0,
        "strategy": "longest_first",
        "direction": "right",
    }


#: Texts are cut to what the strategy reads before they are tokenized in full: tokenizing a 4 MB
#: text whole took about 1 GB (every overflowing window is an Encoding with its own copies), for a
#: model that reads max_length tokens of it. A text longer than need x CUT_FIRST_CHARS characters
#: (need: the tokens the strategy reads from its start, and from its end) has that many characters
#: tokenized alone; if they hold `need` tokens that end at least two words before the cut, the cut
#: cannot change them, and the text is cut there. If not (long whitespace runs, words the tokenizer
#: drops), the span grows 4x at a time, and stops at max_length x CUT_MAX_CHARS characters (times
#: max_windows under windows), kept unchecked: only a text with more than 1,000 characters per token
#: there (runs of whitespace or of characters the tokenizer drops, or one endless word) can read
#: differently.
CUT_FIRST_CHARS = 16
CUT_MAX_CHARS = 1024
#: windows: a text of up to this many times max_windows windows is kept whole, so its max_windows
#: windows are spread over all of it, exactly as without the cut (MiniLM, max length 128, 8 windows:
#: about 12,000 tokens, 50,000 characters of English). Past that, its start and its end are kept,
#: each holding as many windows.
WINDOWS_KEPT_WHOLE = 16


def _safe_tokens(word_ids: list[int | None], from_end: bool) -> int:
    """Tokens of a piece of text that no cut at its far end can change: all but its last two words
    (from its start), or all but its first two (when the piece is a text's end)."""
    words = [w for w in word_ids if w is not None]
    if not words:
        return 0
    if from_end:
        first = words[0]
        return sum(1 for w in words if w > first + 1)
    last = words[-1]
    return sum(1 for w in words if w < last - 1)


class LongTextEncoder:
    """Turns texts into model inputs under one LongText setting. Thread-safe.

    `tokenizer` must already truncate at max_length (the artifact's tokenizer.json does); it is
    cloned, never changed, for the settings that need other truncation parameters.

    Each text is first cut to what the setting reads (see CUT_FIRST_CHARS): truncate keeps the
    start, head-tail the start and the end, each holding the tokens the model reads, so the model
    inputs are the same as for the whole text. windows keeps a text whole while it has at most
    WINDOWS_KEPT_WHOLE x `max_windows` windows (the same windows are read); a longer one keeps its
    start and its end, each holding that many windows, and its windows are spread over those two
    parts (the first window stays the text's own, the last one ends where the text ends) instead
    of the whole text.
    """

    def __init__(self, tokenizer: Tokenizer, max_length: int, config: LongText, text_pair: bool = False):
        from tokenizers import Tokenizer

        if text_pair and config.strategy != "truncate":
            raise InputError(
                f"long-text strategy {config.strategy} applies to single-text models; "
                "pair models truncate (use --long-text truncate)"
            )
        self.max_length = max_length
        self.tokenizer = tokenizer
        self.config = config.resolve(max_length, tokenizer.num_special_tokens_to_add(text_pair))
        self._windows: Tokenizer | None = None
        self._raw: Tokenizer | None = None
        self._raw_lock = threading.Lock()
        specials = tokenizer.num_special_tokens_to_add(text_pair)
        self._head_need, self._tail_need, self._most = self._needs(specials)
        if self.config.strategy == "windows":
            if tokenizer.padding is None and tokenizer.truncation == window_truncation(
                max_length, self.config.stride
            ):
                self._windows = tokenizer  # already cuts these windows (the runtime sets it up so)
            else:
                self._windows = Tokenizer.from_str(tokenizer.to_str())  # ~2x a tokenizer's load time
                self._windows.no_padding()
                self._windows.enable_truncation(max_length=max_length, stride=self.config.stride)
        elif self.config.strategy == "head-tail":
            self._raw_tokenizer()

    def _needs(self, specials: int) -> tuple[int, int, int]:
        """(tokens read from a text's start, tokens read from its end, at most how many characters of
        each are kept) under this setting."""
        config, budget = self.config, self.max_length - specials
        assert config.head is not None and config.stride is not None
        most = self.max_length * CUT_MAX_CHARS
        if config.strategy == "head-tail":  # _head_tail looks one token past each part
            return config.head + 1, budget - config.head + 1, most
        if config.strategy == "windows":  # one more than WINDOWS_KEPT_WHOLE x max_windows windows hold
            windows = config.max_windows * WINDOWS_KEPT_WHOLE
            whole = budget + (windows - 1) * (budget - config.stride) + 1
            return whole, whole, most * config.max_windows
        return self.max_length, 0, most  # past max_length: the text overflows, and is counted as long

    def _raw_tokenizer(self) -> Tokenizer:
        """A copy of the tokenizer without truncation, padding or special tokens' effect on words."""
        from tokenizers import Tokenizer

        if self._raw is None:
            with self._raw_lock:
                if self._raw is None:
                    raw = Tokenizer.from_str(self.tokenizer.to_str())
                    raw.no_padding()
                    raw.no_truncation()
                    self._raw = raw
        return self._raw

    def _span(self, text: str, need: int, from_end: bool) -> int | None:
        """How many characters from the start (or end) of `text` hold the `need` tokens the model
        reads there, beyond the reach of a cut; None: keep the whole text."""
        most = self._most
        chars = min(need * CUT_FIRST_CHARS, most)
        while chars < len(text):
            if chars >= most:
                return most
            piece = text[-chars:] if from_end else text[:chars]
            encoding = self._raw_tokenizer().encode(piece, add_special_tokens=False)
            if _safe_tokens(encoding.word_ids, from_end) >= need:
                return chars
            chars *= 4
        return None

    def cut(self, text: str) -> str:
        """`text`, or its parts this setting reads when it is longer (see the class docstring)."""
        head_need, tail_need = self._head_need, self._tail_need
        if len(text) <= (head_need + tail_need) * CUT_FIRST_CHARS:
            return text
        head = self._span(text, head_need, from_end=False)
        if head is None:
            return text
        if not tail_need:
            return text[:head]
        tail = self._span(text, tail_need, from_end=True)
        if tail is None or head + tail >= len(text):
            return text
        return text[:head] + "\n" + text[-tail:]

    def cut_items(self, items: Sequence[TextItem]) -> list[TextItem]:
        """`items` with every text (each part of a pair) cut to what this setting reads."""
        limit = (self._head_need + self._tail_need) * CUT_FIRST_CHARS
        out = list(items)
        for i, item in enumerate(out):
            if isinstance(item, str):
                if len(item) > limit:
                    out[i] = self.cut(item)
            elif len(item[0]) > limit or len(item[1]) > limit:
                out[i] = (self.cut(item[0]), self.cut(item[1]))
        return out

    def encode(self, items: Sequence[TextItem]) -> Encoded:
        if not items:
            return Encoded([], np.zeros(1, dtype=np.int64), 0)
        items = self.cut_items(items)
        tok = self._windows or self.tokenizer
        if len(items) == 1:  # encode() skips the thread pool that encode_batch() dispatches to
            item = items[0]
            encodings = [tok.encode(item) if isinstance(item, str) else tok.encode(*item)]
        else:
            encodings = tok.encode_batch(list(items))
        long = [i for i, e in enumerate(encodings) if is_long(e, self.max_length)]
        strategy = self.config.strategy
        if strategy == "truncate" or not long:
            return Encoded(encodings, np.arange(len(items) + 1, dtype=np.int64), len(long))
        if strategy == "head-tail":
            for i, e in zip(long, self._head_tail([items[i] for i in long]), strict=True):
                encodings[i] = e
            return Encoded(encodings, np.arange(len(items) + 1, dtype=np.int64), len(long))
        return self._expand(encodings, set(long))

    def _expand(self, encodings: list[Encoding], long: set[int]) -> Encoded:
        out: list[Encoding] = []
        starts = np.zeros(len(encodings) + 1, dtype=np.int64)
        for i, e in enumerate(encodings):
            if i in long:
                windows = [e, *e.overflowing]
                out.extend(windows[j] for j in _spread(len(windows), self.config.max_windows))
            else:
                out.append(e)
            starts[i + 1] = len(out)
        return Encoded(out, starts, len(long))

    def _head_tail(self, texts: list[TextItem]) -> list[Encoding]:
        """The first `head` and the last tokens of each text, as one input.

        Head and tail are cut at word boundaries in the text and encoded again without truncation:
        joining truncated encodings (Encoding.merge) would also join their overflow lists, whose
        size grows with the product of the two.
        """
        from tokenizers import Encoding

        assert self._raw is not None and self.config.head is not None
        head_n = self.config.head
        tail_n = self.max_length - self.tokenizer.num_special_tokens_to_add(False) - head_n
        out = []
        for text, full in zip(texts, self._raw.encode_batch(texts, add_special_tokens=False), strict=True):
            assert isinstance(text, str)
            offsets, words = full.offsets, full.word_ids
            end = head_n  # back to the end of the last whole word
            while 0 < end < len(words) and words[end] is not None and words[end] == words[end - 1]:
                end -= 1
            start = len(offsets) - tail_n  # forward to the start of the next whole word
            while (
                0 < start < len(words) - 1 and words[start] is not None and words[start] == words[start - 1]
            ):
                start += 1
            head_end = offsets[end - 1][1] if end else 0
            tail_start = offsets[start][0]
            parts = self._raw.encode_batch([text[:head_end], text[tail_start:]], add_special_tokens=False)
            merged = Encoding.merge([p for p in parts if p.ids], growing_offsets=False)
            out.append(self.tokenizer.post_process(merged))
        return out


def aggregate(logits: np.ndarray, starts: np.ndarray, how: str = "mean") -> np.ndarray:
    """One row per text from per-window rows: text i owns rows starts[i]:starts[i+1]."""
    if len(starts) - 1 == len(logits):
        return logits
    first = starts[:-1]
    if how == "max":
        return np.maximum.reduceat(logits, first, axis=0)
    counts = np.diff(starts).astype(logits.dtype)[:, None]
    return np.add.reduceat(logits, first, axis=0) / counts


class EncoderCache:
    """One LongTextEncoder per setting, made on first use (cloning a tokenizer takes a few ms)."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, text_pair: bool) -> None:
        self._args = (tokenizer, max_length)
        self._text_pair = text_pair
        self._made: dict[LongText, LongTextEncoder] = {}
        self._lock = threading.Lock()

    def get(self, config: LongText) -> LongTextEncoder:
        encoder = self._made.get(config)
        if encoder is None:
            with self._lock:
                encoder = self._made.get(config)
                if encoder is None:
                    encoder = LongTextEncoder(*self._args, config, self._text_pair)
                    self._made[config] = encoder
        return encoder


def to_arrays(encodings: list[Encoding], pad_id: int) -> dict[str, np.ndarray]:
    """input_ids, attention_mask and token_type_ids of `encodings` as one padded int64 batch.

    For the PyTorch side (clf-train's evaluation, clf-export's gate), which feeds these to the
    model exactly as the runtime feeds them to ONNX Runtime.
    """
    fields = [(name, attr, pad_id if name == "input_ids" else 0) for name, attr in ENCODING_FIELDS.items()]
    return pad_batch(encodings, fields)


def pad_batch(encodings: Sequence[Encoding], fields: Iterable[tuple[str, str, int]]) -> dict[str, np.ndarray]:
    """Unpadded encodings as one int64 batch, padded on the right to the longest.

    fields: (input name, Encoding attribute, fill value) per array. The encodings must be unpadded,
    so each one's attention mask is all ones: the mask is built from the lengths, and each other
    field is copied in one step into the real positions (a boolean-mask assignment fills them row by
    row, in order): 0.67x the time of a row-by-row loop at batch 32, 0.87x at 8.
    """
    n = len(encodings)
    lengths = np.fromiter((len(e) for e in encodings), dtype=np.int64, count=n)
    real = np.arange(int(lengths.max()) if n else 0) < lengths[:, None]
    total = int(lengths.sum())
    out = {}
    for name, attr, fill in fields:
        if attr == "attention_mask":
            out[name] = real.astype(np.int64)
            continue
        arr = np.full(real.shape, fill, dtype=np.int64)
        arr[real] = np.fromiter(chain.from_iterable(getattr(e, attr) for e in encodings), np.int64, total)
        out[name] = arr
    return out
