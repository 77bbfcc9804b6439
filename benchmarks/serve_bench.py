"""clf-serve under load on this machine: dynamic batching against --max-batch 1, in one run.

    python benchmarks/serve_bench.py --model clf-model [--duration 5] [--clients 1,8,64]

Starts `clf-serve` twice on 127.0.0.1 (a free port; nothing leaves the machine): with dynamic
batching (--max-batch 32) and without (--max-batch 1). Against each, a bounded load generator runs
for --duration seconds per cell: N client threads, each with its own keep-alive connection, send one
text per request back to back (short texts, then texts of 128 tokens or the model's max length) and
stop by themselves at the deadline. It reports texts/s and p50/p99 latency per cell, then the ratios
the issue asks for, measured side by side: batching vs no batching at the most clients, the server
vs `TextClassifier.predict` offline throughput (batch 32, in this process, no HTTP), and p50 at one
client vs `TextClassifier.predict` of one text. Both servers stay up and their cells alternate, and
the in-process numbers are taken in every round, so a change in the machine's load hits both sides
of a ratio alike. Client and server share the machine's cores, as they would on one host. This is a
benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HOST = "127.0.0.1"  # loopback only, on purpose
SHORT = [
    "where is my refund?",
    "the app crashes when I open it",
    "thanks, great support",
    "I was charged twice this month",
    "how do I change my delivery address",
    "my parcel never arrived",
    "cancel my subscription please",
    "the new update is fantastic",
]
WORDS = str.split(
    "my order arrived late and the package was damaged so I would like a refund or a replacement "
    "as soon as possible because I need it for work and the support line did not answer"
)


def long_texts(clf, tokens: int, n: int = 8) -> list[str]:  # type: ignore[no-untyped-def]
    """n different texts of about `tokens` tokens (special tokens included)."""
    out = []
    for i in range(n):
        words: list[str] = []
        while len(clf.tokenizer.encode(" ".join(words)).ids) < tokens:
            words.append(WORDS[(len(words) + i * 7) % len(WORDS)])
        out.append(" ".join(words[:-1]) if len(words) > 1 else words[0])
    return out


def offline(clf, texts: list[str], runs: int, batch_texts: int) -> dict:  # type: ignore[no-untyped-def]
    """TextClassifier.predict in this process: one text at a time, then texts in batches of 32."""
    from clf_runtime.timing import time_calls

    times = time_calls(lambda i: clf.predict([texts[i % len(texts)]]), runs, warmup=min(4, len(texts)))
    many = [texts[i % len(texts)] for i in range(batch_texts)]
    start = time.perf_counter()
    clf.predict(many, batch_size=32)
    return {"times_ms": times, "texts": batch_texts, "seconds": time.perf_counter() - start}


def offline_summary(runs: list[dict]) -> dict[str, float]:
    from clf_runtime.timing import percentile

    times = [t for r in runs for t in r["times_ms"]]
    rate = sum(r["texts"] for r in runs) / sum(r["seconds"] for r in runs)
    return {"p50_ms": percentile(times, 50), "texts_per_s": rate}


class Server:
    def __init__(self, model: Path, *args: str) -> None:
        cmd = [
            sys.executable,
            "-m",
            "clf_runtime.cli.serve",
            "--model",
            str(model),
            "--host",
            HOST,
            "--port",
            "0",
        ]
        self.proc = subprocess.Popen(
            [*cmd, *args], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        first = self.proc.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        if not found:
            self.proc.kill()
            raise SystemExit(f"clf-serve did not start: {first}{self.proc.stderr.read()}")
        self.port = int(found.group(1))

    def batches(self) -> tuple[float, float]:
        """(inputs, model calls) so far, from /metrics."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()

        def value(name: str) -> float:
            found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
            return float(found.group(1)) if found else 0.0

        return value("clf_batch_size_sum"), value("clf_batch_size_count")

    def cpu_seconds(self) -> float:
        """CPU time the server process has used (user + system; Linux's /proc, else nan).

        On a machine shared with other work, wall-clock numbers move with the load; the server's
        CPU time per text is what batching saves whatever the load.
        """
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def load(port: int, texts: list[str], clients: int, duration: float) -> dict:
    """`clients` threads send one text per request until the deadline: every answer's latency."""
    bodies = [json.dumps({"inputs": t}).encode() for t in texts]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start_at = time.perf_counter() + 0.2  # every client connected before the clock starts
    deadline = start_at + duration

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=60)
        conn.connect()
        mine = latencies[k]
        i = k
        time.sleep(max(0.0, start_at - time.perf_counter()))
        while (now := time.perf_counter()) < deadline:
            conn.request("POST", "/predict", bodies[i % len(bodies)], {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                mine.append(time.perf_counter() - now)
            else:
                errors[k] += 1
            i += clients
        conn.close()

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 120)
    elapsed = time.perf_counter() - start_at
    return {"latencies": [x for per in latencies for x in per], "seconds": elapsed, "errors": sum(errors)}


def summary(runs: list[dict]) -> dict[str, float]:
    """One cell over its rounds: texts/s of all rounds together, p50/p99 of all latencies."""
    from clf_runtime.timing import percentile

    done = [x for r in runs for x in r["latencies"]]
    return {
        "texts_per_s": len(done) / sum(r["seconds"] for r in runs),
        "p50_ms": 1000 * percentile(done, 50),
        "p99_ms": 1000 * percentile(done, 99),
        "requests": len(done),
        "errors": sum(r["errors"] for r in runs),
        "mean_batch": sum(r["inputs"] for r in runs) / max(1.0, sum(r["calls"] for r in runs)),
        "server_cpu_ms_per_text": 1000 * sum(r["cpu"] for r in runs) / max(1, len(done)),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path(os.environ.get("CLF_MODEL") or "clf-model"))
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all cells, alternating order")
    parser.add_argument("--clients", default="1,8,64")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument(
        "--slow-clients",
        action="store_true",
        help="instead: the server's default limits under stalled and honest slow clients (slow_clients())",
    )
    parser.add_argument("--stalled", type=int, default=600, help="--slow-clients: stalled connections")
    parser.add_argument("--slow-rate-kib", type=float, default=8.0, help="--slow-clients: upload KiB/s")
    parser.add_argument("--slow-body-kib", type=int, default=256, help="--slow-clients: body size")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.slow_clients:
        slow_clients(args)
        return
    clients = [int(c) for c in args.clients.split(",")]

    from clf_runtime import TextClassifier

    clf = TextClassifier.load(args.model, threads=args.threads)
    tokens = min(128, clf.manifest.max_length)
    kinds = {"short": SHORT, f"{tokens} tokens": long_texts(clf, tokens)}

    extra = ["--threads", str(args.threads)] if args.threads else []
    modes = {
        f"dynamic batching (--max-batch {args.max_batch})": ["--max-batch", str(args.max_batch)],
        "no batching (--max-batch 1)": ["--max-batch", "1"],
    }
    servers = {
        mode: Server(args.model, *flags, "--max-wait-ms", str(args.max_wait_ms), *extra)
        for mode, flags in modes.items()
    }
    try:
        cells, offline_runs = run_rounds(args, clf, kinds, clients, servers)
    finally:
        for server in servers.values():
            server.stop()
    base = {kind: offline_summary(runs) for kind, runs in offline_runs.items()}
    rows = [
        {"mode": mode, "texts": kind, "clients": n, **summary(cells[(mode, kind, n)])}
        for mode in modes
        for kind in kinds
        for n in clients
    ]
    print_tables(args, rows, base)
    print_comparisons(rows, base, list(modes), list(kinds), clients)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "offline": base}, indent=2) + "\n")


def run_rounds(  # type: ignore[no-untyped-def]
    args: argparse.Namespace, clf, kinds: dict[str, list[str]], clients: list[int], servers: dict[str, Server]
) -> tuple[dict[tuple[str, str, int], list[dict]], dict[str, list[dict]]]:
    """Every cell (server, texts, clients) once a round, and the in-process numbers in the same round."""
    offline_runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    cells: dict[tuple[str, str, int], list[dict]] = {}
    for server in servers.values():
        load(server.port, SHORT, 4, 1.0)  # warm-up
    # Both servers are up (the idle one costs nothing); their cells alternate, so a change in
    # the machine's load hits both sides of each ratio alike.
    for r in range(args.rounds):
        for kind, texts in kinds.items():
            offline_runs[kind].append(offline(clf, texts, 100, 1000))  # in the same round
            for n in clients:
                for mode in list(servers)[:: 1 if r % 2 == 0 else -1]:
                    run = measure_cell(servers[mode], texts, n, args.duration)
                    cells.setdefault((mode, kind, n), []).append(run)
                    rate = len(run["latencies"]) / run["seconds"]
                    print(
                        f"  round {r + 1}: {mode}, {kind}, {n} clients: {rate:.0f} texts/s",
                        file=sys.stderr,
                    )
    return cells, offline_runs


def measure_cell(server: Server, texts: list[str], clients: int, duration: float) -> dict:
    """One load run on `server`, with the inputs, model calls and CPU time the server spent on it."""
    before, cpu = server.batches(), server.cpu_seconds()
    run = load(server.port, texts, clients, duration)
    cpu, after = server.cpu_seconds() - cpu, server.batches()
    run.update(inputs=after[0] - before[0], calls=after[1] - before[1], cpu=cpu)
    return run


def print_tables(args: argparse.Namespace, rows: list[dict], base: dict[str, dict[str, float]]) -> None:
    print(
        f"model: {args.model} ({clf_desc(args.model)}), {args.rounds} x {args.duration:g} s per cell, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| server | texts | clients | texts/s | p50 ms | p99 ms | mean batch | server CPU ms/text | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['mode']} | {r['texts']} | {r['clients']} | {r['texts_per_s']:.0f} | {r['p50_ms']:.2f} "
            f"| {r['p99_ms']:.2f} | {r['mean_batch']:.1f} | {r['server_cpu_ms_per_text']:.2f} "
            f"| {r['errors']} |"
        )
    print("\n| TextClassifier.predict, in process | texts | p50 ms (1 text) | texts/s (batch 32) |")
    print("|---|---|---|---|")
    for kind, b in base.items():
        print(f"| | {kind} | {b['p50_ms']:.2f} | {b['texts_per_s']:.0f} |")


def print_comparisons(
    rows: list[dict],
    base: dict[str, dict[str, float]],
    modes: list[str],
    kinds: list[str],
    clients: list[int],
) -> None:
    """The ratios the issue asks for, one column per kind of text."""

    def cell(mode_index: int, kind: str, n: int) -> dict:
        mode = modes[mode_index]
        return next(r for r in rows if r["mode"] == mode and r["texts"] == kind and r["clients"] == n)

    most, fewest = max(clients), min(clients)
    print("\n| comparison | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    lines = {
        f"batching / no batching texts/s at {most} clients (target >= 3)": lambda k: (
            cell(0, k, most)["texts_per_s"] / cell(1, k, most)["texts_per_s"]
        ),
        f"server at {most} clients / offline predict texts/s (target >= 0.6)": lambda k: (
            cell(0, k, most)["texts_per_s"] / base[k]["texts_per_s"]
        ),
        f"p50 at {fewest} client - predict p50, ms (target <= 1)": lambda k: (
            cell(0, k, fewest)["p50_ms"] - base[k]["p50_ms"]
        ),
        f"no batching / batching server CPU per text at {most} clients": lambda k: (
            cell(1, k, most)["server_cpu_ms_per_text"] / cell(0, k, most)["server_cpu_ms_per_text"]
        ),
    }
    for name, f in lines.items():
        print(f"| {name} | " + " | ".join(f"{f(k):.2f}" for k in kinds) + " |")


def clf_desc(model: Path) -> str:
    manifest = json.loads((model / "clf.json").read_text())
    return f"{manifest['task']}, {len(manifest['labels'])} labels, max length {manifest['max_length']}"


# --- slow, stalled and honest slow clients against the default limits --------------------------------


def stall(port: int, n: int) -> list:  # type: ignore[type-arg]
    """n connections that send a request's headers and one byte of its body, then nothing."""
    import socket

    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: 30\r\n\r\n{"
    socks = []
    for _ in range(n):
        sock = socket.create_connection((HOST, port), timeout=120)
        sock.sendall(head)
        socks.append(sock)
    return socks


def answered_after(socks: list, start: float) -> dict:  # type: ignore[type-arg]
    """When (seconds after start) and with what status the server answered each stalled connection."""
    statuses: dict[str, int] = {}
    last = 0.0
    for sock in socks:
        try:
            data = sock.recv(4096)
        except OSError:
            data = b""
        status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "closed"
        statuses[status] = statuses.get(status, 0) + 1
        last = max(last, time.perf_counter() - start)
        sock.close()
    return {"statuses": statuses, "last_s": last}


def slow_upload(port: int, body: bytes, rate: float) -> tuple[int, float]:
    """(status, seconds) of one request whose headers and body are sent at `rate` bytes/s."""
    import socket

    data = (
        f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    start = time.perf_counter()
    with socket.create_connection((HOST, port), timeout=300) as sock:
        piece = max(1, int(rate / 8))  # 8 sends a second
        for i in range(0, len(data), piece):
            sock.sendall(data[i : i + piece])
            time.sleep(max(0.0, start + (i + piece) / rate - time.perf_counter()))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), time.perf_counter() - start


def slow_clients(args: argparse.Namespace) -> None:
    """The default --header-timeout, --body-timeout and --max-concurrent against clients that stall
    and clients that are only slow: honest fast clients' throughput and errors alone and beside
    `--stalled` stalled uploads, when the stalled ones are answered, and whether honest uploads at
    `--slow-rate-kib` get their answers."""
    from concurrent.futures import ThreadPoolExecutor

    from clf_runtime.serve.config import ServeConfig

    defaults = ServeConfig(model=args.model)
    extra = ["--threads", str(args.threads)] if args.threads else []
    server = Server(args.model, *extra)
    try:
        load(server.port, SHORT, 4, 1.0)  # warm-up
        alone = summary_of(load(server.port, SHORT, 8, args.duration))
        start = time.perf_counter()
        socks = stall(server.port, args.stalled)
        beside = summary_of(load(server.port, SHORT, 8, args.duration))
        per_text = args.slow_body_kib * 1024 // 64  # 64 texts fill the body
        body = json.dumps({"inputs": [(" ".join(WORDS) + " ") * (per_text // 180)] * 64}).encode()
        rate = args.slow_rate_kib * 1024
        with ThreadPoolExecutor(8) as pool:
            uploads = list(pool.map(lambda _: slow_upload(server.port, body, rate), range(8)))
        stalled = answered_after(socks, start)
    finally:
        server.stop()
    print(
        f"model: {args.model} ({clf_desc(args.model)}), {os.cpu_count()} CPUs; defaults: "
        f"--header-timeout {defaults.header_timeout_s:g} s, --body-timeout {defaults.body_timeout_s:g} s, "
        f"--max-concurrent {defaults.max_concurrent}\n"
    )
    print("| honest clients (8, short texts, keep-alive) | texts/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|")
    for name, r in (("alone", alone), (f"beside {args.stalled} stalled uploads", beside)):
        print(f"| {name} | {r['texts_per_s']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |")
    print(
        f"\n{args.stalled} stalled uploads (headers and 1 byte of body): answered {stalled['statuses']}, "
        f"the last {stalled['last_s']:.1f} s after they stalled"
    )
    statuses = sorted({s for s, _ in uploads})
    print(
        f"8 honest uploads of {len(body) / 1024:.0f} KiB (64 long texts) at "
        f"{args.slow_rate_kib:g} KiB/s each: statuses {statuses}, "
        f"{min(t for _, t in uploads):.1f}-{max(t for _, t in uploads):.1f} s each"
    )


def summary_of(run: dict) -> dict:
    from clf_runtime.timing import percentile

    done = run["latencies"]
    return {
        "texts_per_s": len(done) / run["seconds"],
        "p50_ms": 1000 * percentile(done, 50) if done else float("nan"),
        "p99_ms": 1000 * percentile(done, 99) if done else float("nan"),
        "errors": run["errors"],
    }


if __name__ == "__main__":
    main()
