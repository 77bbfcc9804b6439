"""The routes of clf-serve in one table, which the app, the API-key check and /openapi.json all read.

The OpenAPI document (3.1) is built from this table and from the request `Body` tables that the
server checks requests with (schema.py, tokens.py): what it documents is what the server accepts.
The answers' schemas are declared here; the tests check real answers against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clf_runtime.serve.schema import PREDICT, Body
from clf_runtime.serve.tokens import DECODE, TOKENIZE


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: str  # the name of the app's method that answers it
    summary: str
    body: Body | None = None
    answer: str | None = None  # the schema of a 200 answer (application/json), or None: text
    errors: tuple[int, ...] = ()  # statuses of the refusals it may answer
    public: bool = False  # answered without the API key: health checks, for load balancers

    @property
    def operation_id(self) -> str:
        name = self.path.strip("/").replace(".", "_").replace("/", "_") or "root"
        return f"{self.method.lower()}_{name}"


_PREDICT_ERRORS = (400, 413, 422, 429, 500)
_TOKEN_ERRORS = (400, 413, 422)

ENDPOINTS = (
    Endpoint(
        "POST", "/predict", "predict", "Classify texts or pairs (TEI's /predict)", PREDICT, "PredictResponse",
        _PREDICT_ERRORS,
    ),
    Endpoint(
        "POST", "/", "predict", "/predict on TEI's and the Hugging Face Inference API's route", PREDICT,
        "PredictResponse", _PREDICT_ERRORS,
    ),
    Endpoint(
        "POST", "/invocations", "predict", "/predict on SageMaker's route", PREDICT, "PredictResponse",
        _PREDICT_ERRORS,
    ),
    Endpoint(
        "POST", "/tokenize", "tokenize", "The tokens of texts, with the model's tokenizer", TOKENIZE,
        "TokenizeResponse", _TOKEN_ERRORS,
    ),
    Endpoint(
        "POST", "/decode", "decode", "Texts from token ids, with the model's tokenizer", DECODE,
        "DecodeResponse", _TOKEN_ERRORS,
    ),
    Endpoint("GET", "/health", "health", "Health check", answer="Health", errors=(503,), public=True),
    Endpoint("GET", "/", "health", "Health (TEI)", answer="Health", errors=(503,), public=True),
    Endpoint("GET", "/ping", "health", "Health (SageMaker)", answer="Health", errors=(503,), public=True),
    Endpoint("GET", "/info", "get_info", "The model and the server's limits", answer="Info"),
    Endpoint("GET", "/metrics", "get_metrics", "Prometheus metrics"),
    Endpoint("GET", "/openapi.json", "get_openapi", "This document", answer="OpenAPI"),
)  # fmt: skip

PATHS = frozenset(e.path for e in ENDPOINTS)
PUBLIC = frozenset((e.method, e.path) for e in ENDPOINTS if e.public)
ROUTES = ", ".join(f"{e.method} {e.path}" for e in ENDPOINTS)  # named in 404 and 405 answers

_ERRORS = {
    400: "The body is not UTF-8 or not JSON",
    401: "No API key, or a wrong one: send Authorization: Bearer KEY",
    413: "The body or the number of inputs is over the server's limits",
    422: "Fields or inputs the model cannot take",
    429: "More /predict requests at once than --max-concurrent",
    500: "The model failed",
    503: "The model worker is not running",
}

_LABEL_SCORE = {
    "type": "object",
    "properties": {"score": {"type": "number"}, "label": {"type": "string"}},
    "required": ["score", "label"],
}
_TEI_ANSWER = {"type": "array", "items": {"$ref": "#/components/schemas/Prediction"}}
_NUMBER_MAP = {"type": "object", "additionalProperties": {"type": "number"}}

ANSWERS: dict[str, dict[str, Any]] = {
    "Prediction": {**_LABEL_SCORE, "additionalProperties": False, "description": "a label and its score"},
    "ClfPrediction": {
        "type": "object",
        "description": 'clf-run --format jsonl\'s fields, for "format": "clf"',
        "properties": {
            "label": {"type": ["string", "null"], "description": "single-label"},
            "labels": {"type": "array", "items": {"type": "string"}, "description": "multi-label"},
            "value": {"type": "number", "description": "regression"},
            "score": {"type": "number"},
            "scores": _NUMBER_MAP,
        },
        "required": ["scores"],
        "additionalProperties": False,
    },
    "PredictResponse": {
        "description": "per input, its labels best first (TEI); a list for a list of inputs or a body "
        'with parameters; clf\'s objects for "format": "clf"',
        "anyOf": [
            _TEI_ANSWER,
            {"type": "array", "items": _TEI_ANSWER},
            {"$ref": "#/components/schemas/ClfPrediction"},
            {"type": "array", "items": {"$ref": "#/components/schemas/ClfPrediction"}},
        ],
    },
    "SimpleToken": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "text": {"type": "string"},
            "special": {"type": "boolean"},
            "start": {"type": ["integer", "null"], "description": "byte offset in the input"},
            "stop": {"type": ["integer", "null"], "description": "byte offset in the input"},
        },
        "required": ["id", "text", "special", "start", "stop"],
        "additionalProperties": False,
    },
    "TokenizeResponse": {
        "type": "array",
        "items": {"type": "array", "items": {"$ref": "#/components/schemas/SimpleToken"}},
    },
    "DecodeResponse": {"type": "array", "items": {"type": "string"}},
    "Health": {
        "type": "object",
        "properties": {"status": {"const": "ok"}},
        "required": ["status"],
        "additionalProperties": False,
    },
    "Info": {
        "type": "object",
        "description": "text-embeddings-inference's fields, then clf's",
        "properties": {
            "model_id": {"type": "string"},
            "model_dtype": {"type": "string"},
            "model_type": {"type": "object"},
            "max_input_length": {"type": "integer"},
            "max_client_batch_size": {"type": "integer"},
            "max_concurrent_requests": {"type": "integer"},
            "version": {"type": "string"},
            "task": {"enum": ["single_label", "multi_label", "regression"]},
            "labels": {"type": "array", "items": {"type": "string"}},
            "text_pair": {"type": "boolean"},
            "provider": {"type": "string"},
            "precision": {"type": "string"},
            "max_length": {"type": "integer"},
            "max_batch": {"type": "integer"},
            "max_wait_ms": {"type": "number"},
            "max_inputs": {"type": "integer"},
            "max_body_bytes": {"type": "integer"},
            "header_timeout_s": {"type": "number"},
            "body_timeout_s": {"type": "number"},
            "max_header_bytes": {"type": "integer"},
            "max_headers": {"type": "integer"},
            "min_score": {"type": "number"},
        },
        "additionalProperties": False,
    },
    "OpenAPI": {"type": "object", "description": "an OpenAPI 3.1 document"},
    "ErrorResponse": {
        "type": "object",
        "properties": {
            "error": {"type": "string", "description": "what is wrong, and the fix"},
            "error_type": {"type": "string", "description": "validation, empty, json, overloaded, ..."},
        },
        "required": ["error", "error_type"],
    },
}


def _json(schema_name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}}


def _operation(endpoint: Endpoint, keyed: bool) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "OK"}
    ok["content"] = (
        _json(endpoint.answer) if endpoint.answer else {"text/plain": {"schema": {"type": "string"}}}
    )
    responses: dict[str, Any] = {"200": ok}
    statuses = endpoint.errors + ((401,) if keyed and not endpoint.public else ())
    for status in sorted(statuses):
        responses[str(status)] = {"description": _ERRORS[status], "content": _json("ErrorResponse")}
    op: dict[str, Any] = {"operationId": endpoint.operation_id, "summary": endpoint.summary}
    if endpoint.body is not None:
        op["requestBody"] = {"required": True, "content": _json(endpoint.body.name)}
    op["responses"] = responses
    if keyed and not endpoint.public:
        op["security"] = [{"bearer": []}]
    return op


def openapi(version: str, keyed: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 document of clf-serve; keyed: the server was started with --api-key."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, keyed)
    schemas = {body.name: body.json_schema() for body in (PREDICT, TOKENIZE, DECODE)}
    components: dict[str, Any] = {"schemas": {**schemas, **ANSWERS}}
    if keyed:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "clf-serve",
            "version": version,
            "description": "A clf text classifier over HTTP, with text-embeddings-inference's routes "
            "and shapes.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": components,
    }
