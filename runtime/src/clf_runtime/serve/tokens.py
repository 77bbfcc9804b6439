"""POST /tokenize and POST /decode: text-embeddings-inference's shapes, with the artifact's tokenizer.

/tokenize answers, for each input, every token the tokenizer makes of it, not truncated (as TEI):
`{"id", "text", "special", "start", "stop"}`, where `start`/`stop` are byte offsets into the input
(null for special tokens, whose `text` is the token itself). /decode turns ids back into text.
Both always answer a list, one entry per input.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clf_runtime.serve.schema import Body, Field, RequestError, _invalid, _json_type, text, too_many

if TYPE_CHECKING:
    from tokenizers import Encoding, Tokenizer

_STRING = {"type": "string"}
_IDS = {"type": "array", "items": {"type": "integer", "minimum": 0}}

TOKENIZE = Body(
    "TokenizeRequest",
    (
        Field(
            "inputs",
            {"oneOf": [_STRING, {"type": "array", "items": _STRING, "minItems": 1}], "example": "refund?"},
            "one text or several",
            required=True,
            check=False,
        ),
        Field(
            "add_special_tokens",
            {"type": ["boolean", "null"], "default": True},
            "add the model's special tokens ([CLS], [SEP], ...) as the model sees them",
        ),
        Field(
            "prompt_name",
            {"type": "null"},
            "TEI's sentence-transformers prompts: a clf model has none, so only null is accepted",
            hint="a clf model has no prompts",
        ),
    ),
    example={"inputs": "where is my refund?"},
)

DECODE = Body(
    "DecodeRequest",
    (
        Field(
            "ids",
            {"oneOf": [_IDS, {"type": "array", "items": _IDS, "minItems": 1}], "example": [101, 7592, 102]},
            "token ids of one text, or a list of them",
            required=True,
            check=False,
        ),
        Field(
            "skip_special_tokens",
            {"type": ["boolean", "null"], "default": True},
            "leave the special tokens out of the text",
        ),
    ),
    example={"ids": [101, 7592, 102]},
)


@dataclass(frozen=True)
class TokenizeRequest:
    texts: list[str]
    add_special_tokens: bool


@dataclass(frozen=True)
class DecodeRequest:
    ids: list[list[int]]
    skip_special_tokens: bool


def parse_tokenize(payload: Any, max_inputs: int) -> TokenizeRequest:
    values = TOKENIZE.read(payload)
    raw = values["inputs"]
    if isinstance(raw, str):
        texts = [text(raw, "inputs")]
    elif isinstance(raw, list):
        if not raw:
            raise RequestError(422, "empty", "'inputs' is an empty list: send at least one text")
        texts = [text(x, f"inputs[{i}]") for i, x in enumerate(raw)]
    else:
        raise _invalid(f"'inputs' is {_json_type(raw)}, expected a string or a list of strings")
    if len(texts) > max_inputs:
        raise too_many(len(texts), max_inputs)
    return TokenizeRequest(texts, values["add_special_tokens"])


def _is_id(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def parse_decode(payload: Any, max_inputs: int, vocab_size: int) -> DecodeRequest:
    values = DECODE.read(payload)
    raw = values["ids"]
    if not isinstance(raw, list):
        raise _invalid(f"'ids' is {_json_type(raw)}, expected a list of token ids or a list of such lists")
    if not raw:
        raise RequestError(422, "empty", "'ids' is an empty list: send at least one token id")
    batch = raw if isinstance(raw[0], list) else [raw]
    if len(batch) > max_inputs:
        raise too_many(len(batch), max_inputs)
    for i, ids in enumerate(batch):
        where = f"ids[{i}]" if batch is raw else "ids"
        if not isinstance(ids, list):
            raise _invalid(f"{where} is {_json_type(ids)}, expected a list of token ids")
        if not ids:
            raise RequestError(422, "empty", f"{where} is an empty list: send at least one token id")
        for j, x in enumerate(ids):
            if not _is_id(x) or not 0 <= x < vocab_size:
                raise _invalid(f"{where}[{j}] is {x!r}: token ids are integers from 0 to {vocab_size - 1}")
    return DecodeRequest(batch, values["skip_special_tokens"])


class Tokens:
    """The artifact's tokenizer for /tokenize and /decode: a copy without truncation, made on first
    use (copying MiniLM's tokenizer took 0.17 s), so the model's own tokenizer is never changed."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._source = tokenizer
        self._copy: Tokenizer | None = None
        self._lock = threading.Lock()

    @property
    def vocab_size(self) -> int:
        return self._source.get_vocab_size(with_added_tokens=True)

    def _tokenizer(self) -> Tokenizer:
        with self._lock:
            if self._copy is None:
                from tokenizers import Tokenizer

                copy = Tokenizer.from_str(self._source.to_str())
                copy.no_truncation()
                copy.no_padding()
                self._copy = copy
            return self._copy

    def tokenize(self, req: TokenizeRequest) -> list[list[dict[str, Any]]]:
        encodings = self._tokenizer().encode_batch(req.texts, add_special_tokens=req.add_special_tokens)
        return [_tokens(e, t) for e, t in zip(encodings, req.texts, strict=True)]

    def decode(self, req: DecodeRequest) -> list[str]:
        return self._tokenizer().decode_batch(req.ids, skip_special_tokens=req.skip_special_tokens)


def _tokens(encoding: Encoding, source: str) -> list[dict[str, Any]]:
    """TEI's SimpleToken list: offsets as byte positions in the UTF-8 input, as TEI's `into_tokens`."""
    data = source.encode("utf-8")
    char_to_byte = _char_to_byte(source)
    out = []
    for token_id, token, (start, stop), special in zip(
        encoding.ids, encoding.tokens, encoding.offsets, encoding.special_tokens_mask, strict=True
    ):
        if special:
            out.append({"id": token_id, "text": token, "special": True, "start": None, "stop": None})
            continue
        b0, b1 = char_to_byte[start], char_to_byte[stop]
        piece = data[b0:b1].decode("utf-8", errors="replace")
        out.append({"id": token_id, "text": piece, "special": False, "start": b0, "stop": b1})
    return out


def _char_to_byte(source: str) -> list[int]:
    """Byte offset of each character position (and of the end) in the UTF-8 encoding of source."""
    offsets = [0]
    for ch in source:
        offsets.append(offsets[-1] + len(ch.encode("utf-8")))
    return offsets
