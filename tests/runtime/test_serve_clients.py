"""clf-serve with the clients people already use, on a loopback port: the Hugging Face InferenceClient
unchanged, `requests` with text-embeddings-inference's documented bodies on each of its routes, an
API key, HTTPS, and /openapi.json checked with a maintained OpenAPI validator.

Every answer is checked against `TextClassifier.predict` (fp32, so to 1e-5). Needs the serve extra
and the clients (requests, huggingface_hub): the slim-wheel run skips this module.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
pytest.importorskip("requests")

import requests

from clf_runtime import TextClassifier

from .conftest import fixture_path
from .test_serve import Server

KEY = "k3y-for-tests_0123456789"
TEXT = "where is my refund?"
TEXTS = ["where is my refund?", "the app crashes on start", "great service, thanks"]


@pytest.fixture(scope="module")
def clf() -> TextClassifier:
    return TextClassifier.load(fixture_path("tiny-bert"), precision="fp32")


@pytest.fixture(scope="module")
def open_server() -> Iterator[Server]:
    server = Server("tiny-bert", "--precision", "fp32", "--max-inputs", "8")
    yield server
    assert server.stop() in (0, -signal.SIGTERM)
    assert "Traceback" not in server.stderr() and "warning" not in server.stderr(), server.stderr()


@pytest.fixture(scope="module")
def keyed() -> Iterator[Server]:
    server = Server("tiny-bert", "--precision", "fp32", env={"CLF_API_KEY": KEY})
    yield server
    assert server.stop() in (0, -signal.SIGTERM)
    assert KEY not in server.stderr() and "Traceback" not in server.stderr(), server.stderr()


def ranked(scores: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda kv: -kv[1])


def assert_ranked(answer: list, expected: list[tuple[str, float]]) -> None:
    assert [e["label"] for e in answer] == [label for label, _ in expected]
    assert [e["score"] for e in answer] == pytest.approx([s for _, s in expected], abs=1e-5)


def logits(clf: TextClassifier, text: str) -> dict[str, float]:
    return dict(zip(clf.labels, clf.logits([text])[0].tolist()))


# --- the Hugging Face client, unchanged ------------------------------------------------------------


@pytest.fixture
def hf(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # it would refuse even a loopback URL
    return hub.InferenceClient


def as_pairs(elements) -> list[dict]:  # type: ignore[no-untyped-def]
    return [{"label": e.label, "score": e.score} for e in elements]


def test_hugging_face_client_text_classification(hf, open_server: Server, clf: TextClassifier) -> None:  # type: ignore[no-untyped-def]
    client = hf(base_url=open_server.url)
    assert_ranked(as_pairs(client.text_classification(TEXT)), ranked(clf.predict(TEXT)[0].scores))


def test_hugging_face_client_top_k_and_function_to_apply(
    hf, open_server: Server, clf: TextClassifier
) -> None:  # type: ignore[no-untyped-def]
    client = hf(base_url=open_server.url)
    best = ranked(clf.predict(TEXT)[0].scores)
    assert_ranked(as_pairs(client.text_classification(TEXT, top_k=2)), best[:2])
    raw = ranked(logits(clf, TEXT))
    assert_ranked(as_pairs(client.text_classification(TEXT, function_to_apply="none")), raw)
    sig = [(label, 1 / (1 + math.exp(-x))) for label, x in raw]
    assert_ranked(as_pairs(client.text_classification(TEXT, function_to_apply="sigmoid", top_k=1)), sig[:1])
    assert_ranked(as_pairs(client.text_classification(TEXT, function_to_apply="softmax")), best)


def test_hugging_face_client_with_the_api_key(hf, keyed: Server, clf: TextClassifier) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub.errors import HfHubHTTPError

    got = hf(base_url=keyed.url, api_key=KEY).text_classification(TEXT, top_k=3)
    assert_ranked(as_pairs(got), ranked(clf.predict(TEXT)[0].scores)[:3])
    with pytest.raises(HfHubHTTPError, match="401"):
        hf(base_url=keyed.url, api_key="not-the-key").text_classification(TEXT)


# --- requests with TEI's documented bodies ---------------------------------------------------------


@pytest.mark.parametrize("route", ["/", "/invocations", "/predict"])
def test_tei_predict_bodies_on_each_route(open_server: Server, clf: TextClassifier, route: str) -> None:
    url = open_server.url + route
    one = requests.post(url, json={"inputs": TEXT}, timeout=60)
    assert one.status_code == 200
    assert_ranked(one.json(), ranked(clf.predict(TEXT)[0].scores))
    # TEI's batch form: a list of one-text lists; and clf's list of strings.
    for inputs in ([[t] for t in TEXTS], TEXTS):
        batch = requests.post(url, json={"inputs": inputs, "truncate": True}, timeout=60)
        assert batch.status_code == 200
        for answer, pred in zip(batch.json(), clf.predict(TEXTS), strict=True):
            assert_ranked(answer, ranked(pred.scores))
    body = {"inputs": TEXT, "raw_scores": True, "truncate": False, "truncation_direction": "Right"}
    raw = requests.post(url, json=body, timeout=60)
    assert raw.status_code == 200
    assert_ranked(raw.json(), ranked(logits(clf, TEXT)))


def test_parameters_are_honoured_or_ignored_and_misspelt_fields_refused(
    open_server: Server, clf: TextClassifier
) -> None:
    url = open_server.url + "/"
    best = ranked(clf.predict(TEXT)[0].scores)
    body = {"inputs": TEXT, "parameters": {"top_k": 2, "truncation": "only_first", "max_length": 3}}
    got = requests.post(url, json={**body, "options": {"wait_for_model": True}}, timeout=60)
    assert got.status_code == 200
    [answer] = got.json()  # the Inference API's shape: a list per input, even for one text
    assert_ranked(answer, best[:2])
    clf_body = {"inputs": TEXT, "parameters": {"top_k": 1}, "format": "clf"}
    [clf_answer] = requests.post(url, json=clf_body, timeout=60).json()
    assert clf_answer["label"] == best[0][0] and list(clf_answer["scores"]) == [best[0][0]]
    for bad in (
        {"inputs": TEXT, "raw_score": True},  # misspelt: would silently change the answer
        {"inputs": TEXT, "parameters": {"top_k": 0}},
        {"inputs": TEXT, "parameters": {"top_k": True}},
        {"inputs": TEXT, "parameters": {"function_to_apply": "relu"}},
        {"inputs": TEXT, "parameters": "top_k=2"},
        {"inputs": TEXT, "raw_scores": True, "parameters": {"function_to_apply": "softmax"}},
    ):
        refused = requests.post(url, json=bad, timeout=60)
        assert (refused.status_code, refused.json()["error_type"]) == (422, "validation"), bad


def test_tokenize_and_decode(open_server: Server, clf: TextClassifier) -> None:
    text = "é refund?"
    got = requests.post(
        open_server.url + "/tokenize", json={"inputs": text, "add_special_tokens": True}, timeout=60
    )
    assert got.status_code == 200
    [tokens] = got.json()
    encoding = clf.tokenizer.encode(text)
    assert [t["id"] for t in tokens] == encoding.ids
    assert tokens[0]["special"] and tokens[0]["start"] is None
    data = text.encode()
    for t in tokens[1:-1]:  # TEI's offsets: bytes of the UTF-8 input
        assert not t["special"] and data[t["start"] : t["stop"]].decode() == t["text"]
    assert tokens[1]["text"] == "é" and (tokens[1]["start"], tokens[1]["stop"]) == (0, 2)

    long_text = "word " * 100  # longer than the model's 32 tokens: /tokenize does not truncate (as TEI)
    batch = requests.post(
        open_server.url + "/tokenize",
        json={"inputs": [text, long_text], "add_special_tokens": False},
        timeout=60,
    ).json()
    assert len(batch) == 2 and not any(t["special"] for t in batch[0]) and len(batch[1]) > 32

    ids = [t["id"] for t in tokens]
    decoded = requests.post(open_server.url + "/decode", json={"ids": ids}, timeout=60)
    assert decoded.status_code == 200 and decoded.json() == [clf.tokenizer.decode(ids)]
    both = requests.post(
        open_server.url + "/decode", json={"ids": [ids, ids], "skip_special_tokens": False}, timeout=60
    )
    assert both.json() == [clf.tokenizer.decode(ids, skip_special_tokens=False)] * 2

    for route, bad, status, error_type in (
        ("/tokenize", {"inputs": []}, 422, "empty"),
        ("/tokenize", {"inputs": "x", "prompt_name": "query"}, 422, "validation"),
        ("/tokenize", {"inputs": ["x"] * 9}, 413, "too_many_inputs"),
        ("/tokenize", {"input": "x"}, 422, "validation"),
        ("/decode", {"ids": []}, 422, "empty"),
        ("/decode", {"ids": [1, 10**9]}, 422, "validation"),
        ("/decode", {"ids": [1, "2"]}, 422, "validation"),
        ("/decode", {"ids": [[1], 2]}, 422, "validation"),
    ):
        refused = requests.post(open_server.url + route, json=bad, timeout=60)
        assert (refused.status_code, refused.json()["error_type"]) == (status, error_type), bad


def test_health_routes(open_server: Server) -> None:
    for route in ("/", "/ping", "/health"):
        got = requests.get(open_server.url + route, timeout=60)
        assert (got.status_code, got.json()) == (200, {"status": "ok"})
        assert requests.head(open_server.url + route, timeout=60).status_code == 200


# --- the API key --------------------------------------------------------------------------------------

KEYED_ROUTES = [
    ("POST", "/predict"),
    ("POST", "/"),
    ("POST", "/invocations"),
    ("POST", "/tokenize"),
    ("POST", "/decode"),
    ("GET", "/info"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/no-such-route"),
]


@pytest.mark.parametrize(("method", "route"), KEYED_ROUTES)
def test_without_the_key_every_route_but_health_is_401(keyed: Server, method: str, route: str) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
    ):
        got = requests.request(method, keyed.url + route, json={"inputs": TEXT}, headers=headers, timeout=60)
        assert got.status_code == 401, headers
        assert got.json()["error_type"] == "unauthorized" and KEY not in got.text
        assert got.headers["www-authenticate"] == "Bearer"


def test_with_the_key_the_answer_of_predict(keyed: Server, clf: TextClassifier) -> None:
    for route in ("/predict", "/", "/invocations"):
        for scheme in ("Bearer", "bearer"):
            got = requests.post(
                keyed.url + route,
                json={"inputs": TEXTS},
                headers={"Authorization": f"{scheme} {KEY}"},
                timeout=60,
            )
            assert got.status_code == 200
            for answer, pred in zip(got.json(), clf.predict(TEXTS), strict=True):
                assert_ranked(answer, ranked(pred.scores))
    for route in ("/", "/ping", "/health"):  # load balancers' health checks need no key
        assert requests.get(keyed.url + route, timeout=60).status_code == 200


def test_the_key_is_not_in_metrics_and_refusals_are_counted(keyed: Server) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    before = requests.get(keyed.url + "/metrics", headers=auth, timeout=60).text
    requests.post(keyed.url + "/predict", json={"inputs": "x"}, timeout=60)
    requests.get(keyed.url + "/no-such-route", timeout=60)
    after = requests.get(keyed.url + "/metrics", headers=auth, timeout=60).text
    assert KEY not in after

    def count(text: str, sample: str) -> float:
        line = next((ln for ln in text.splitlines() if ln.startswith(sample + " ")), f"{sample} 0")
        return float(line.split()[-1])

    assert (
        count(after, 'clf_errors_total{error_type="unauthorized"}')
        - count(before, 'clf_errors_total{error_type="unauthorized"}')
        == 2
    )
    assert count(after, 'clf_requests_total{route="other",status="401"}') >= 1


def test_the_key_is_checked_at_start(tmp_path: Path) -> None:
    model = str(fixture_path("tiny-bert"))
    for key in ("", "has space", "clé"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "clf_runtime.cli.serve",
                "--model",
                model,
                "--port",
                "0",
                "--api-key",
                key,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode != 0 and "API key" in result.stderr and "Traceback" not in result.stderr
        assert not key or key not in result.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "clf_runtime.cli.serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CLF_API_KEY": KEY},
    )
    assert "CLF_API_KEY" in shown.stdout and KEY not in shown.stdout


def test_listening_beyond_loopback_without_a_key_warns() -> None:
    # All interfaces, for the second it takes to read the start lines; nothing is sent to it.
    cmd = [sys.executable, "-m", "clf_runtime.cli.serve", "--model", str(fixture_path("tiny-bert"))]
    proc = subprocess.Popen([*cmd, "--host", "0.0.0.0", "--port", "0"], stderr=subprocess.PIPE, text=True)
    try:
        first, second = proc.stderr.readline(), proc.stderr.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert "http://0.0.0.0:" in first
    assert "warning" in second and "--api-key" in second and "TLS" in second


def test_only_loopback_addresses_are_private() -> None:
    from clf_runtime.serve.auth import exposed

    assert not any(exposed(h) for h in ("127.0.0.1", "127.0.1.1", "::1"))
    assert all(exposed(h) for h in ("0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "fe80::1%eth0"))


# --- HTTPS (uvicorn's own TLS) -----------------------------------------------------------------------


def test_https_with_ssl_certfile_and_keyfile(tmp_path: Path, clf: TextClassifier) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = Server(
        "tiny-bert", "--precision", "fp32", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)
    )
    try:
        assert server.url.startswith("https://")
        got = requests.post(server.url + "/", json={"inputs": TEXT}, verify=str(cert), timeout=60)
        assert got.status_code == 200
        assert_ranked(got.json(), ranked(clf.predict(TEXT)[0].scores))
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.url + "/health", timeout=60)  # not a certificate the system trusts
    finally:
        server.stop()


# --- /openapi.json ----------------------------------------------------------------------------------


def _schema_validator(doc: dict, name: str):  # type: ignore[no-untyped-def]
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    )


def test_openapi_is_valid_openapi_3(open_server: Server, keyed: Server) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    doc = requests.get(open_server.url + "/openapi.json", timeout=60).json()
    validator.validate(doc)
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) >= {"/", "/predict", "/invocations", "/tokenize", "/decode", "/health", "/ping"}
    assert set(doc["paths"]["/"]) == {"get", "post"} and "securitySchemes" not in doc["components"]
    keyed_doc = requests.get(
        keyed.url + "/openapi.json", headers={"Authorization": f"Bearer {KEY}"}, timeout=60
    ).json()
    validator.validate(keyed_doc)
    assert keyed_doc["paths"]["/predict"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in keyed_doc["paths"]["/health"]["get"]


def test_answers_match_the_openapi_schemas(open_server: Server) -> None:
    doc = requests.get(open_server.url + "/openapi.json", timeout=60).json()
    url = open_server.url
    cases = [
        ("PredictResponse", requests.post(url + "/", json={"inputs": TEXT}, timeout=60)),
        ("PredictResponse", requests.post(url + "/", json={"inputs": TEXTS, "format": "clf"}, timeout=60)),
        ("PredictResponse", requests.post(url + "/", json={"inputs": TEXT, "parameters": {}}, timeout=60)),
        ("TokenizeResponse", requests.post(url + "/tokenize", json={"inputs": TEXTS}, timeout=60)),
        ("DecodeResponse", requests.post(url + "/decode", json={"ids": [[5, 6], [7]]}, timeout=60)),
        ("Info", requests.get(url + "/info", timeout=60)),
        ("Health", requests.get(url + "/ping", timeout=60)),
        ("ErrorResponse", requests.post(url + "/", json={"inputs": []}, timeout=60)),
    ]
    for name, response in cases:
        errors = list(_schema_validator(doc, name).iter_errors(response.json()))
        assert not errors, (name, response.json(), errors[0].message)


BODIES = [  # (body, accepted by a single-text model)
    ({"inputs": "x"}, True),
    ({"inputs": ["x", "y"], "raw_scores": None, "truncate": False}, True),
    ({"inputs": [["x"], ["y"]], "truncation_direction": "right"}, True),
    ({"inputs": "x", "parameters": {"top_k": 2, "function_to_apply": "none", "other": 1}}, True),
    ({"inputs": "x", "format": "clf", "options": {"use_cache": False}}, True),
    ({"inputs": "x", "raw_score": True}, False),
    ({"inputs": 5}, False),
    ({"inputs": "x", "raw_scores": "yes"}, False),
    ({"inputs": "x", "truncation_direction": "left"}, False),
    ({"inputs": "x", "format": "xml"}, False),
    ({"inputs": "x", "parameters": {"top_k": 0}}, False),
    ({"inputs": "x", "parameters": {"function_to_apply": "relu"}}, False),
    ({"raw_scores": True}, False),
]


@pytest.mark.parametrize(("body", "accepted"), BODIES)
def test_the_documented_schema_is_what_the_server_accepts(body: dict, accepted: bool) -> None:
    from clf_runtime.serve.api import openapi
    from clf_runtime.serve.schema import RequestError, parse_predict

    valid = _schema_validator(openapi("0", keyed=False), "PredictRequest").is_valid(body)
    try:
        parse_predict(body, text_pair=False, max_inputs=10)
        parsed = True
    except RequestError:
        parsed = False
    assert (valid, parsed) == (accepted, accepted)
