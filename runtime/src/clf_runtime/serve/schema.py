"""The request bodies clf-serve reads, the checks every body goes through, and the /predict answers.

Each request body is a `Body`: a table of `Field`s, each with the JSON Schema of its value. The
parser checks bodies against that table (unknown fields, types, choices, defaults), and
`/openapi.json` prints the same table (api.py), so the documentation cannot drift from what the
server accepts. The shapes of `inputs` (one text, a pair, a batch) depend on the model and are
checked by `_inputs`, next to the schema that documents them.

Requests follow text-embeddings-inference's `/predict` (so its clients work unchanged):

    {"inputs": "text"}                  one text
    {"inputs": ["a", "b"]}              a pair for a pair model; two texts for a single-text model
    {"inputs": ["t1", "t2", "t3"]}      several texts
    {"inputs": [["t1"], ["t2"]]}        several texts, TEI's batch form
    {"inputs": [["a", "b"], ["c", "d"]]} several pairs
    optional: "raw_scores": false, "truncate": true, "truncation_direction": "right"

the Hugging Face Inference API's `"parameters": {"top_k": 2, "function_to_apply": "softmax"}`, and
clf's own `"format": "clf"`, which answers with clf's prediction objects (`label` / `labels` /
`value`, `score`, `scores`), the fields `clf-run --format jsonl` writes. Nothing here imports the web
stack: a bad body becomes a RequestError, which the app turns into a 4xx JSON answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clf_runtime.classifier import TextInput
from clf_runtime.prediction import Prediction, _sigmoid, _softmax_row

RESPONSE_FORMATS = ("tei", "clf")
FUNCTIONS = ("sigmoid", "softmax", "none")  # the Hugging Face Inference API's function_to_apply


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
class Field:
    """One field of a request body: its name, the JSON Schema of its value, and what it means.

    `check` (the default) reads the value with `check_value`, which knows the schema keywords used
    here (type, enum, minimum, properties); `check=False` leaves the value to the caller, for the
    shapes that depend on the model (`inputs`).
    """

    name: str
    schema: dict[str, Any]
    description: str
    required: bool = False
    check: bool = True
    hint: str = ""  # added to a refusal of this field's value


@dataclass(frozen=True)
class Body:
    """A request body: an object of these fields, none other (a misspelt field is refused)."""

    name: str  # the schema's name in /openapi.json
    fields: tuple[Field, ...]
    tolerated: tuple[str, ...] = ()  # fields other clients send that change nothing here: ignored
    example: Any = None

    def read(self, payload: Any) -> dict[str, Any]:
        """Each field's value (checked, or its default), or a 422 RequestError."""
        if not isinstance(payload, dict):
            example = json.dumps(self.example)
            raise _invalid(f"the body is {_json_type(payload)}, expected an object like {example}")
        names = [f.name for f in self.fields]
        unknown = sorted(set(payload) - set(names) - set(self.tolerated))
        if unknown:
            shown = ", ".join(json.dumps(name) for name in unknown)  # a name may hold a lone surrogate
            raise _invalid(f"unknown field(s) {shown}; accepted: {', '.join(names)}")
        values = {}
        for f in self.fields:
            if f.name not in payload:
                if f.required:
                    raise _invalid(f'the body has no "{f.name}" field: send {json.dumps(self.example)}')
                values[f.name] = f.schema.get("default")
            elif f.check:
                values[f.name] = check_value(payload[f.name], f.schema, f.name, f.hint)
            else:
                values[f.name] = payload[f.name]
        return values

    def json_schema(self) -> dict[str, Any]:
        """This body as a JSON Schema object (OpenAPI 3.1)."""
        props = {f.name: {**f.schema, "description": f.description} for f in self.fields}
        out: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        if self.tolerated:
            for name in self.tolerated:
                props[name] = {"description": "accepted and ignored (sent by other clients)"}
        required = [f.name for f in self.fields if f.required]
        if required:
            out["required"] = required
        if self.example is not None:
            out["example"] = self.example
        return out


_TYPE_WORDS = {
    "boolean": "true or false",
    "integer": "an integer",
    "string": "a string",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _has_type(value: Any, kind: str) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "null":
        return value is None
    raise ValueError(f"check_value does not know JSON Schema type {kind!r}")


def check_value(value: Any, schema: dict[str, Any], where: str, hint: str = "") -> Any:
    """`value` if it matches `schema` (the keywords type, enum, minimum, properties; null: the
    schema's default), else a 422 RequestError naming `where`."""
    hint = f" ({hint})" if hint else ""
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_has_type(value, k) for k in kinds):
            expected = " or ".join(_TYPE_WORDS[k] for k in kinds)
            raise _invalid(f"'{where}' must be {expected}, got {json.dumps(value)}{hint}")
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(json.dumps(c) for c in schema["enum"] if c is not None)
        raise _invalid(f"'{where}' must be one of {choices}, got {json.dumps(value)}{hint}")
    if "minimum" in schema and value is not None and value < schema["minimum"]:
        raise _invalid(f"'{where}' must be at least {schema['minimum']}, got {json.dumps(value)}{hint}")
    if value is None:
        return schema.get("default")
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]  # the other keys of the object are ignored
        return {k: check_value(value.get(k), s, f"{where}.{k}") for k, s in props.items()}
    return value


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """schema, also accepting null (which means: the default)."""
    out = dict(schema)
    if "type" in out:
        out["type"] = [out["type"], "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


_STRING = {"type": "string"}
_PAIR = {"type": "array", "items": _STRING, "minItems": 2, "maxItems": 2, "description": "a pair of texts"}
INPUTS_SCHEMA = {
    "oneOf": [
        {**_STRING, "description": "one text"},
        {
            "type": "array",
            "items": _STRING,
            "minItems": 1,
            "description": "several texts; for a pair model, exactly two strings are one pair",
        },
        {
            "type": "array",
            "minItems": 1,
            "items": {
                "oneOf": [
                    {
                        "type": "array",
                        "items": _STRING,
                        "minItems": 1,
                        "maxItems": 1,
                        "description": "a text",
                    },
                    _PAIR,
                ]
            },
            "description": "a batch: [text] for a single-text model, [a, b] for a pair model",
        },
    ],
    "example": "where is my refund?",
}

PREDICT = Body(
    "PredictRequest",
    (
        Field("inputs", INPUTS_SCHEMA, "the texts or text pairs to classify", required=True, check=False),
        Field(
            "raw_scores",
            _nullable({"type": "boolean", "default": False}),
            "true: the logits instead of probabilities",
        ),
        Field(
            "truncate",
            _nullable({"type": "boolean", "default": True}),
            "true: cut longer inputs at the model's max length; false: refuse them (413)",
        ),
        Field(
            "truncation_direction",
            _nullable({"type": "string", "enum": ["right", "Right"], "default": "right"}),
            "where inputs are cut: right only (the model was trained so)",
            hint="the model was trained with right truncation",
        ),
        Field(
            "format",
            _nullable({"type": "string", "enum": list(RESPONSE_FORMATS), "default": "tei"}),
            "tei: every label with its score, best first; clf: clf-run --format jsonl's fields",
        ),
        Field(
            "parameters",
            _nullable(
                {
                    "type": "object",
                    "properties": {
                        "top_k": _nullable({"type": "integer", "minimum": 1}),
                        "function_to_apply": _nullable({"type": "string", "enum": list(FUNCTIONS)}),
                    },
                }
            ),
            "the Hugging Face Inference API's parameters: top_k (the k best labels) and "
            "function_to_apply (sigmoid, softmax or none on the logits) are honoured, other keys "
            "ignored; a body with parameters gets a list of answers even for one input",
        ),
    ),
    tolerated=("options",),  # the Inference API's {"wait_for_model": ..., "use_cache": ...}
    example={"inputs": "where is my refund?"},
)


@dataclass(frozen=True)
class PredictRequest:
    inputs: list[TextInput]
    batched: bool  # inputs came as a list of inputs, or with parameters: answer with a list
    raw_scores: bool = False
    truncate: bool = True
    fmt: str = "tei"
    top_k: int | None = None  # keep the k best labels
    function: str | None = None  # function_to_apply on the logits; None: the model's own


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


def text(value: Any, where: str) -> str:
    """value if it is a string a tokenizer takes, else a 422 RequestError naming `where`."""
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


def _inputs(raw: Any, text_pair: bool) -> tuple[list[TextInput], bool]:
    """(inputs, batched) from the 'inputs' field, for a pair or a single-text model."""
    if isinstance(raw, str):
        if text_pair:
            raise _invalid('this model classifies text pairs: send "inputs": ["a", "b"] or [["a", "b"], ...]')
        return [text(raw, "inputs")], False
    if not isinstance(raw, list):
        raise _invalid(f"'inputs' is {_json_type(raw)}, expected a string, a list of strings or of pairs")
    if not raw:
        raise RequestError(422, "empty", "'inputs' is an empty list: send at least one input")
    if all(isinstance(x, str) for x in raw):
        if not text_pair:
            return [text(x, f"inputs[{i}]") for i, x in enumerate(raw)], True
        if len(raw) == 2:  # text-embeddings-inference reads ["a", "b"] as one pair
            return [(text(raw[0], "inputs[0]"), text(raw[1], "inputs[1]"))], False
        raise _invalid(f"this model classifies text pairs: a list of {len(raw)} strings is not a pair")
    return [_batch_item(x, i, text_pair) for i, x in enumerate(raw)], True


def _batch_item(item: Any, i: int, text_pair: bool) -> TextInput:
    """One input of TEI's batch form: [text] for a single-text model, [a, b] for a pair model."""
    where = f"inputs[{i}]"
    if text_pair:
        if not (isinstance(item, list) and len(item) == 2):
            raise _invalid(f'{where} is not a pair: this model classifies text pairs, send ["a", "b"]')
        return (text(item[0], f"{where}[0]"), text(item[1], f"{where}[1]"))
    if isinstance(item, str):
        return text(item, where)
    if isinstance(item, list) and len(item) == 1:
        return text(item[0], f"{where}[0]")
    pair = isinstance(item, list) and len(item) == 2
    hint = "this model takes single texts, not pairs" if pair else "this model takes single texts"
    raise _invalid(f'{where} is {_json_type(item)}, expected a string or ["text"] ({hint})')


def too_many(count: int, limit: int) -> RequestError:
    return RequestError(
        413,
        "too_many_inputs",
        f"{count} inputs in one request, at most {limit} (--max-inputs): split the request",
    )


def parse_predict(payload: Any, text_pair: bool, max_inputs: int) -> PredictRequest:
    """Check a decoded /predict body against the model; raise RequestError (4xx) if it is unusable."""
    values = PREDICT.read(payload)
    inputs, batched = _inputs(values["inputs"], text_pair)
    if len(inputs) > max_inputs:
        raise too_many(len(inputs), max_inputs)
    parameters = values["parameters"]
    top_k = function = None
    if parameters is not None:
        top_k, function = parameters["top_k"], parameters["function_to_apply"]
    if values["raw_scores"] and function not in (None, "none"):
        raise _invalid(f'"raw_scores": true asks for the logits, "function_to_apply": "{function}" not')
    return PredictRequest(
        inputs=inputs,
        # The Inference API answers [[...]] for one text: the Hugging Face clients read that shape.
        batched=batched or parameters is not None,
        raw_scores=values["raw_scores"],
        truncate=values["truncate"],
        fmt=values["format"],
        top_k=top_k,
        function=function,
    )


def _kept(scores: dict[str, float], probs: dict[str, float], min_score: float) -> dict[str, float]:
    """scores without the labels whose probability is below min_score; the most likely one stays."""
    if min_score <= 0 or not probs:
        return scores
    top = max(probs, key=probs.__getitem__)
    return {k: v for k, v in scores.items() if probs[k] >= min_score or k == top}


def _applied(function: str, logits: Sequence[float]) -> list[float]:
    if function == "softmax":
        return _softmax_row(list(logits))
    if function == "sigmoid":
        return [_sigmoid(x) for x in logits]
    return list(logits)


def answer(
    pred: Prediction, logits: list[float], labels: tuple[str, ...], request: PredictRequest, min_score: float
) -> Any:
    """The JSON answer for one input, in the request's format."""
    probs = pred.scores if pred.value is None else {}
    if request.function is not None:
        scores = dict(zip(labels, _applied(request.function, logits)))
    elif request.raw_scores or pred.value is not None:
        scores = dict(zip(labels, logits))
    else:
        scores = probs
    kept = _kept(scores, probs, min_score)
    ranked = sorted(kept.items(), key=lambda kv: -kv[1])[: request.top_k]
    if request.fmt == "clf":
        out = pred.to_dict()
        top = {label for label, _ in ranked}
        out["scores"] = {k: v for k, v in kept.items() if k in top}  # in the model's label order
        return out
    return [{"score": score, "label": label} for label, score in ranked]
