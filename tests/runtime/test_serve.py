"""clf-serve: the real server (uvicorn in a subprocess) on a free loopback port, spoken to over HTTP.

Needs the serve extra (starlette, uvicorn, prometheus-client): the slim-wheel run skips this module.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families

from clf_runtime import TextClassifier

from .conftest import fixture_path

TEXTS = ["where is my refund?", "the app crashes on start", "great service, thanks", "", "ok", "é ü 中文 🙂"]


class Server:
    """`python -m clf_runtime.cli.serve --port 0 ...` and what it printed on stderr."""

    def __init__(self, fixture: str, *args: str, env: dict[str, str] | None = None) -> None:
        cmd = [sys.executable, "-m", "clf_runtime.cli.serve", "--model", str(fixture_path(fixture))]
        self.proc = subprocess.Popen(
            [*cmd, "--host", "127.0.0.1", "--port", "0", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        first = self.proc.stderr.readline()  # the server prints its address once it listens
        self.lines.append(first)
        found = re.search(r"(https?)://127\.0\.0\.1:(\d+)", first)
        if not found:
            self.proc.kill()
            raise AssertionError(f"server did not start: {first}{self.proc.stderr.read()}")
        self.url = f"{found.group(1)}://127.0.0.1:{found.group(2)}"
        self.port = int(found.group(2))
        self._drain = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr), daemon=True)
        self._drain.start()

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.getheader("content-type"), response.read()
        finally:
            conn.close()

    def predict(self, payload) -> tuple[int, object]:  # type: ignore[no-untyped-def]
        status, _, body = self.call("POST", "/predict", json.dumps(payload).encode())
        return status, json.loads(body)

    def metrics(self) -> dict[str, float]:
        """Every sample of /metrics as 'name{label="value",...}' -> value."""
        status, _, body = self.call("GET", "/metrics")
        assert status == 200
        out = {}
        for family in text_string_to_metric_families(body.decode()):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return out

    def raw(self, data: bytes) -> socket.socket:
        """A connection that has sent `data` (perhaps an incomplete request)."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock.sendall(data)
        return sock

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self._drain.join(timeout=10)
        return code

    def stderr(self) -> str:
        return "".join(self.lines)


def read_response(sock: socket.socket) -> tuple[int, dict]:
    """Status and JSON body of the one response on `sock` (the server closes after it)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        if length and len(body) >= int(length.group(1)):
            break
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def request_bytes(payload: bytes, extra_headers: str = "") -> bytes:
    head = f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra_headers}"
    return f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload


def wait_for(condition, what: str, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def bert() -> Iterator[Server]:
    server = Server("tiny-bert", "--precision", "fp32", "--max-inputs", "8", "--max-body-bytes", "4000")
    yield server
    assert server.stop() in (0, -signal.SIGTERM)
    assert "Traceback" not in server.stderr(), server.stderr()


@pytest.fixture(scope="module")
def pair() -> Iterator[Server]:
    server = Server("tiny-pair", "--precision", "fp32")
    yield server
    server.stop()
    assert "Traceback" not in server.stderr(), server.stderr()


@pytest.fixture(scope="module")
def multi() -> Iterator[Server]:
    server = Server("tiny-multi", "--precision", "fp32")
    yield server
    server.stop()
    assert "Traceback" not in server.stderr(), server.stderr()


@pytest.fixture(scope="module")
def clf() -> TextClassifier:
    return TextClassifier.load(fixture_path("tiny-bert"), precision="fp32")


def tei(pred) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    return sorted(pred.scores.items(), key=lambda kv: -kv[1])


def assert_tei_answer(answer: list, pred) -> None:  # type: ignore[no-untyped-def]
    assert [e["label"] for e in answer] == [label for label, _ in tei(pred)]
    assert [e["score"] for e in answer] == pytest.approx([s for _, s in tei(pred)], abs=1e-6)


# --- /predict: text-embeddings-inference's shapes ---------------------------------------------------


def test_one_text_gets_all_labels_best_first(bert: Server, clf: TextClassifier) -> None:
    status, answer = bert.predict({"inputs": TEXTS[0]})
    assert status == 200
    assert_tei_answer(answer, clf.predict(TEXTS[0])[0])


def test_a_list_of_texts_gets_one_answer_each_in_order(bert: Server, clf: TextClassifier) -> None:
    status, answers = bert.predict({"inputs": TEXTS})
    assert status == 200 and len(answers) == len(TEXTS)
    for answer, pred in zip(answers, clf.predict(TEXTS), strict=True):
        assert_tei_answer(answer, pred)


def test_raw_scores_are_the_logits(bert: Server, clf: TextClassifier) -> None:
    status, (answer,) = bert.predict({"inputs": ["ok"], "raw_scores": True})
    assert status == 200
    logits = dict(zip(clf.labels, clf.logits(["ok"])[0].tolist()))
    assert {e["label"]: e["score"] for e in answer} == pytest.approx(logits, abs=1e-5)
    assert [e["score"] for e in answer] == sorted((e["score"] for e in answer), reverse=True)


def test_clf_format_has_the_fields_of_clf_run_jsonl(bert: Server, clf: TextClassifier) -> None:
    status, answer = bert.predict({"inputs": "where is my refund?", "format": "clf"})
    assert status == 200
    pred = clf.predict("where is my refund?")[0]
    assert answer["label"] == pred.label
    assert answer["score"] == pytest.approx(pred.score, abs=1e-6)
    assert answer["scores"] == pytest.approx(pred.scores, abs=1e-6)


def test_two_strings_are_two_texts_for_a_single_text_model(bert: Server) -> None:
    status, answers = bert.predict({"inputs": ["a", "b"]})
    assert status == 200 and len(answers) == 2


def test_pairs(pair: Server) -> None:
    ref = TextClassifier.load(fixture_path("tiny-pair"), precision="fp32")
    pairs = [("a man is eating", "someone eats"), ("the sky is blue", "cats purr")]
    status, answer = pair.predict({"inputs": list(pairs[0])})  # ["a", "b"] is one pair, as in TEI
    assert status == 200
    assert answer == [
        {"score": pytest.approx(ref.predict([pairs[0]])[0].value, abs=1e-5), "label": "similarity"}
    ]
    status, answers = pair.predict({"inputs": [list(p) for p in pairs], "format": "clf"})
    assert status == 200
    assert [a["value"] for a in answers] == pytest.approx([p.value for p in ref.predict(pairs)], abs=1e-5)


def test_multi_label_clf_format_gives_labels(multi: Server) -> None:
    ref = TextClassifier.load(fixture_path("tiny-multi"), precision="fp32")
    status, answers = multi.predict({"inputs": TEXTS, "format": "clf"})
    assert status == 200
    for answer, pred in zip(answers, ref.predict(TEXTS), strict=True):
        assert answer["labels"] == list(pred.labels)
        assert answer["scores"] == pytest.approx(pred.scores, abs=1e-6)
    status, tei_answers = multi.predict({"inputs": TEXTS})
    assert [len(a) for a in tei_answers] == [4] * len(TEXTS)


def test_truncate_false_refuses_a_text_longer_than_the_model_takes(bert: Server) -> None:
    long_text = "word " * 200
    assert bert.predict({"inputs": long_text})[0] == 200  # truncated, as in training
    status, body = bert.predict({"inputs": ["short", long_text], "truncate": False})
    assert status == 413 and body["error_type"] == "validation" and "inputs[1]" in body["error"]
    assert bert.predict({"inputs": "short", "truncate": False})[0] == 200


# --- bad requests: 4xx JSON, never a 500, and the server keeps serving -----------------------------

BAD = [
    (b'{"inputs": ', 400, "json"),
    (b"not json at all", 400, "json"),
    (b"[" * 1900 + b"]" * 1900, 400, "json"),  # nesting deeper than Python's recursion limit
    (b'{"inputs": "caf\xe9"}', 400, "encoding"),  # latin-1, not UTF-8
    (b'{"inputs": "\\ud800"}', 422, "validation"),  # a lone surrogate escape
    (b'"just a string"', 422, "validation"),
    (b'{"text": "hi"}', 422, "validation"),  # unknown field, no inputs
    (b"{}", 422, "validation"),
    (b'{"inputs": 5}', 422, "validation"),
    (b'{"inputs": null}', 422, "validation"),
    (b'{"inputs": ["ok", 3]}', 422, "validation"),
    (b'{"inputs": {"a": "b"}}', 422, "validation"),
    (b'{"inputs": []}', 422, "empty"),
    (b'{"inputs": [["a", "b"]]}', 422, "validation"),  # a pair to a single-text model
    (b'{"inputs": "hi", "raw_scores": "yes"}', 422, "validation"),
    (b'{"inputs": "hi", "truncate": 1}', 422, "validation"),
    (b'{"inputs": "hi", "format": "xml"}', 422, "validation"),
    (b'{"inputs": "hi", "truncation_direction": "left"}', 422, "validation"),
    (json.dumps({"inputs": ["x"] * 9}).encode(), 413, "too_many_inputs"),  # --max-inputs 8
    (json.dumps({"inputs": "x" * 5000}).encode(), 413, "payload_too_large"),  # --max-body-bytes 4000
    (b"", 400, "json"),
    (b'{"inputs": "x", "\\ud800": 1}', 422, "validation"),  # an unknown field named by a lone surrogate
    (b'{"\\udc00": 1}', 422, "validation"),
]


@pytest.mark.parametrize(("body", "status", "error_type"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_request_is_a_4xx_json_error(bert: Server, body: bytes, status: int, error_type: str) -> None:
    got, content_type, raw = bert.call("POST", "/predict", body)
    answer = json.loads(raw)
    assert (got, answer["error_type"]) == (status, error_type), answer
    assert content_type == "application/json" and answer["error"]
    assert bert.predict({"inputs": "still serving"})[0] == 200


def test_pairs_rules_for_a_pair_model(pair: Server) -> None:
    for payload in ({"inputs": "one text"}, {"inputs": ["a", "b", "c"]}, {"inputs": [["a", "b"], ["c"]]}):
        status, answer = pair.predict(payload)
        assert status == 422 and answer["error_type"] == "validation" and "pair" in answer["error"]


def test_unknown_routes_and_methods_are_json(bert: Server) -> None:
    for method, path, status in (("GET", "/nope", 404), ("GET", "/predict", 405), ("POST", "/health", 405)):
        got, content_type, raw = bert.call(method, path)
        assert got == status and content_type == "application/json"
        assert "POST /predict" in json.loads(raw)["error"]


def test_body_limit_is_enforced_before_the_body_is_read(bert: Server) -> None:
    # Announces 1 GB and sends 100 bytes: the answer comes without the server waiting for the rest.
    sock = bert.raw(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n" + b"x" * 100)
    with sock:
        status, body = read_response(sock)
    assert (status, body["error_type"]) == (413, "payload_too_large")


def test_chunked_body_limit_is_enforced_while_streaming(bert: Server) -> None:
    # No Content-Length: the server counts chunks as they come and answers before the body ends.
    chunk = b"x" * 1000
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    sock = bert.raw(b"POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + frame * 5)
    with sock:
        status, body = read_response(sock)
    assert (status, body["error_type"]) == (413, "payload_too_large")


# --- /health, /info, /metrics -----------------------------------------------------------------------


def test_health_and_info(bert: Server) -> None:
    status, _, body = bert.call("GET", "/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, _, body = bert.call("GET", "/info")
    info = json.loads(body)
    assert status == 200
    assert info["task"] == "single_label" and info["labels"] == ["negative", "neutral", "positive"]
    assert (info["provider"], info["precision"], info["max_length"]) == ("cpu", "fp32", 32)
    assert info["model_type"]["classifier"]["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}
    assert info["max_client_batch_size"] == 8 and info["max_concurrent_requests"] == 512 and info["version"]


def test_metrics_count_requests_inputs_and_errors(bert: Server) -> None:
    before = bert.metrics()
    bert.predict({"inputs": ["a", "b", "c"]})
    bert.predict({"inputs": []})
    after = bert.metrics()

    def grew(key: str) -> float:
        return after.get(key, 0) - before.get(key, 0)

    assert grew("clf_inputs_total") == 3
    assert grew('clf_requests_total{route="/predict",status="200"}') == 1
    assert grew('clf_requests_total{route="/predict",status="422"}') == 1
    assert grew('clf_errors_total{error_type="empty"}') == 1
    assert grew("clf_request_duration_seconds_count") == 2
    assert grew("clf_batch_size_sum") == 3
    _, content_type, _ = bert.call("GET", "/metrics")
    assert content_type.startswith("text/plain")


# --- batching, concurrency, shutdown ----------------------------------------------------------------


def test_concurrent_requests_get_the_answers_of_serial_predict(bert: Server, clf: TextClassifier) -> None:
    texts = [f"message number {i} about {TEXTS[i % len(TEXTS)]}" for i in range(48)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda t: bert.predict({"inputs": t, "format": "clf"}), texts))
    for (status, answer), text in zip(answers, texts, strict=True):
        pred = clf.predict([text])[0]  # one at a time, fp32
        assert status == 200 and answer["label"] == pred.label
        assert answer["scores"] == pytest.approx(pred.scores, abs=1e-5)


def test_concurrent_requests_are_batched_together(clf: TextClassifier) -> None:
    # Eight requests send all but the last byte of their body, so all eight are in flight; then the
    # bodies complete. The first one complete waits (up to --max-wait-ms) for the others: one batch.
    server = Server("tiny-bert", "--precision", "fp32", "--max-batch", "8", "--max-wait-ms", "20000")
    try:
        payloads = [json.dumps({"inputs": f"text {i}", "format": "clf"}).encode() for i in range(8)]
        socks = [server.raw(request_bytes(p)[:-1]) for p in payloads]
        wait_for(lambda: server.metrics()["clf_requests_in_flight"] == 8, "8 requests in flight")
        for sock, p in zip(socks, payloads, strict=True):
            sock.sendall(p[-1:])
        answers = []
        for sock in socks:
            with sock:
                answers.append(read_response(sock))
        metrics = server.metrics()
        assert (metrics["clf_batch_size_count"], metrics["clf_batch_size_sum"]) == (1, 8)
        assert metrics['clf_batch_size_bucket{le="4.0"}'] == 0
        for (status, answer), i in zip(answers, range(8), strict=True):
            assert status == 200
            assert answer["scores"] == pytest.approx(clf.predict([f"text {i}"])[0].scores, abs=1e-5)
    finally:
        server.stop()
    assert "Traceback" not in server.stderr()


def test_a_lone_request_does_not_wait_for_batch_mates() -> None:
    # --max-wait-ms is a minute, the client's timeout 30 s: only requests already arriving are awaited.
    server = Server("tiny-bert", "--max-wait-ms", "60000")
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        for text in TEXTS:
            conn.request("POST", "/predict", json.dumps({"inputs": text}).encode())
            response = conn.getresponse()
            assert (response.status, bool(response.read())) == (200, True)
        conn.close()
        assert server.metrics()["clf_batch_size_count"] == len(TEXTS)
    finally:
        server.stop()


def test_a_client_that_leaves_mid_body_is_forgotten(bert: Server) -> None:
    sock = bert.raw(request_bytes(json.dumps({"inputs": "bye"}).encode())[:-3])
    wait_for(lambda: bert.metrics()["clf_requests_in_flight"] == 1, "the upload to start")
    sock.close()
    wait_for(lambda: bert.metrics()["clf_requests_in_flight"] == 0, "the server to drop it")
    assert bert.predict({"inputs": "next"})[0] == 200


def test_max_batch_1_runs_each_request_alone() -> None:
    server = Server("tiny-bert", "--max-batch", "1")
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: server.predict({"inputs": f"t{i}"})[0], range(16)))
        assert results == [200] * 16
        metrics = server.metrics()
        assert metrics["clf_batch_size_count"] == metrics["clf_batch_size_sum"] == 16
    finally:
        server.stop()


def test_sigterm_answers_the_requests_in_flight(clf: TextClassifier) -> None:
    server = Server("tiny-bert", "--precision", "fp32", "--max-wait-ms", "20000")
    # One request still uploading its body, one complete and waiting for it in the batch.
    uploading = json.dumps({"inputs": "still uploading", "format": "clf"}).encode()
    slow = server.raw(request_bytes(uploading)[:-1])
    wait_for(lambda: server.metrics()["clf_requests_in_flight"] == 1, "the upload to start")
    waiting = server.raw(request_bytes(json.dumps({"inputs": "waiting", "format": "clf"}).encode()))
    wait_for(lambda: server.metrics()["clf_queued_inputs"] == 1, "the complete request to queue")
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # the server is shutting down now; it must still take the rest of the body
    assert server.proc.poll() is None
    slow.sendall(uploading[-1:])
    with slow, waiting:
        (s1, a1), (s2, a2) = read_response(slow), read_response(waiting)
    assert (s1, a1["label"]) == (200, clf.predict(["still uploading"])[0].label)
    assert (s2, a2["label"]) == (200, clf.predict(["waiting"])[0].label)
    assert server.stop() in (0, -signal.SIGTERM)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=5)
    assert "Traceback" not in server.stderr()


# --- the command line -------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "clf_runtime.cli.serve", *args], capture_output=True, text=True, timeout=120
    )


def test_missing_model_is_one_line(tmp_path: Path) -> None:
    result = run_cli("--model", str(tmp_path / "nothing"), "--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error:") and "Traceback" not in result.stderr


def test_busy_port_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("--model", str(fixture_path("tiny-bert")), "--port", str(port))
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1" in result.stderr and "Traceback" not in result.stderr
