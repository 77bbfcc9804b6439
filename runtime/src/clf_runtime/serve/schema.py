"""The /predict request and response shapes, and the checks every request body goes through.

Requests follow text-embeddings-inference's `/predict` (so its clients work unchanged):

    {"inputs": "text"}                  one text
    {"inputs": ["a", "b"]}              a pair for a pair model; two texts for a single-text model
    {"inputs": ["t1", "t2", "t3"]}      several texts
    {"inputs": [["a", "b"], ["c", "d"]]} several pairs
    optional: "raw_scores": false, "truncate": true, "truncation_direction": "right"

and clf's own `"format": "clf"`, which answers with clf's prediction objects (`label` / `labels` /
`value`, `score`, `scores`), the fields `clf-run --format jsonl` writes. Nothing here imports the web
stack: a bad body becomes a RequestError, which the app turns into a 4xx JSON answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from clf_runtime.classifier import TextInput
from clf_runtime.prediction import Prediction

FIELDS = ("inputs", "raw_scores", "truncate", "truncation_direction", "format")
RESPONSE_FORMATS = ("tei", "clf")


class RequestError(Exception):
    """A request the server refuses: HTTP status, a machine-readable type and a message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        # A message quoting the request must still encode as UTF-8 (lone surrogates escaped).
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message

    def body(self) -> dict[str, str]:
        return {"error": self.message, "error_type": self.error_type}


def _invalid(message: str) -> RequestError:
    return RequestError(422, "validation", message)


@dataclass(frozen=True)
class PredictRequest:
    inputs: list[TextInput]
    batched: bool  # inputs came as a list of inputs: answer with a list
    raw_scores: bool = False
    truncate: bool = True
    fmt: str = "tei"


def decode_json(body: bytes) -> Any:
    """The parsed JSON body, or a 400 RequestError for non-UTF-8 text or malformed JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(
            400, "encoding", f"request body is not UTF-8 (bad byte at offset {exc.start}): send UTF-8 JSON"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(400, "json", f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise RequestError(400, "json", "request body nests JSON too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits (Python's int_max_str_digits)
        raise RequestError(400, "json", f"request body is not usable JSON: {exc}") from None


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _invalid(f"{where} is {_json_type(value)}, expected a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # JSON may escape lone surrogates ("\ud800"), which no tokenizer takes
        raise _invalid(f"{where} contains an unpaired UTF-16 surrogate escape") from None
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _flag(payload: dict, name: str, default: bool) -> bool:
    value = payload.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid(f"'{name}' must be true or false, got {json.dumps(value)}")
    return value


def _inputs(raw: Any, text_pair: bool) -> tuple[list[TextInput], bool]:
    """(inputs, batched) from the 'inputs' field, for a pair or a single-text model."""
    kind = "text pairs" if text_pair else "single texts"
    if isinstance(raw, str):
        if text_pair:
            raise _invalid('this model classifies text pairs: send "inputs": ["a", "b"] or [["a", "b"], ...]')
        return [_text(raw, "inputs")], False
    if not isinstance(raw, list):
        raise _invalid(f"'inputs' is {_json_type(raw)}, expected a string, a list of strings or of pairs")
    if not raw:
        raise RequestError(422, "empty", "'inputs' is an empty list: send at least one input")
    if all(isinstance(x, str) for x in raw):
        if not text_pair:
            return [_text(x, f"inputs[{i}]") for i, x in enumerate(raw)], True
        if len(raw) == 2:  # text-embeddings-inference reads ["a", "b"] as one pair
            return [(_text(raw[0], "inputs[0]"), _text(raw[1], "inputs[1]"))], False
        raise _invalid(f"this model classifies text pairs: a list of {len(raw)} strings is not a pair")
    if not text_pair:
        bad = next(i for i, x in enumerate(raw) if not isinstance(x, str))
        pair = isinstance(raw[bad], list) and len(raw[bad]) == 2
        hint = "this model takes single texts, not pairs" if pair else f"this model takes {kind}"
        raise _invalid(f"inputs[{bad}] is {_json_type(raw[bad])}, expected a string ({hint})")
    pairs: list[TextInput] = []
    for i, x in enumerate(raw):
        if not (isinstance(x, list) and len(x) == 2):
            raise _invalid(f'inputs[{i}] is not a pair: this model classifies text pairs, send ["a", "b"]')
        pairs.append((_text(x[0], f"inputs[{i}][0]"), _text(x[1], f"inputs[{i}][1]")))
    return pairs, True


def parse_predict(payload: Any, text_pair: bool, max_inputs: int) -> PredictRequest:
    """Check a decoded /predict body against the model; raise RequestError (4xx) if it is unusable."""
    if not isinstance(payload, dict):
        raise _invalid(f'the body is {_json_type(payload)}, expected an object like {{"inputs": "text"}}')
    unknown = sorted(set(payload) - set(FIELDS))
    if unknown:
        names = ", ".join(json.dumps(name) for name in unknown)  # escaped: a name may hold a lone surrogate
        raise _invalid(f"unknown field(s) {names}; accepted: {', '.join(FIELDS)}")
    if "inputs" not in payload:
        raise _invalid('the body has no "inputs" field: send {"inputs": "text"} or {"inputs": [...]}')
    fmt = payload.get("format") or "tei"
    if fmt not in RESPONSE_FORMATS:
        raise _invalid(f"'format' must be one of {', '.join(RESPONSE_FORMATS)}, got {json.dumps(fmt)}")
    direction = payload.get("truncation_direction") or "right"
    if direction not in ("right", "Right"):
        raise _invalid("only 'truncation_direction': 'right' is supported (the model was trained so)")
    inputs, batched = _inputs(payload["inputs"], text_pair)
    if len(inputs) > max_inputs:
        raise RequestError(
            413,
            "too_many_inputs",
            f"{len(inputs)} inputs in one request, at most {max_inputs} (--max-inputs): split the request",
        )
    return PredictRequest(
        inputs=inputs,
        batched=batched,
        raw_scores=_flag(payload, "raw_scores", False),
        truncate=_flag(payload, "truncate", True),
        fmt=fmt,
    )


def _kept(scores: dict[str, float], probs: dict[str, float], min_score: float) -> dict[str, float]:
    """scores without the labels whose probability is below min_score; the most likely one stays."""
    if min_score <= 0 or not probs:
        return scores
    top = max(probs, key=probs.__getitem__)
    return {k: v for k, v in scores.items() if probs[k] >= min_score or k == top}


def answer(
    pred: Prediction, logits: list[float], labels: tuple[str, ...], request: PredictRequest, min_score: float
) -> Any:
    """The JSON answer for one input, in the request's format."""
    probs = pred.scores if pred.value is None else {}
    scores = dict(zip(labels, logits)) if request.raw_scores or pred.value is not None else probs
    scores = _kept(scores, probs, min_score)
    if request.fmt == "clf":
        out = pred.to_dict()
        out["scores"] = scores
        return out
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    return [{"score": score, "label": label} for label, score in ranked]
