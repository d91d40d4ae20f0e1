"""Requests per second of `pipeline.serve` for one-sentence POST /score requests, on loopback.

    python bench/serve.py --model DIR [--url http://127.0.0.1:PORT] [--requests 3000] [--seconds 20]

Without --url the script starts `python -m pipeline.serve` on a free loopback port and stops
it at the end. Each concurrency level sends at most --requests requests for at most --seconds
seconds over keep-alive connections. The baseline is raw scikit-learn in this process:
`predict_proba([sentence])` on the same Pipeline, one call per sentence, measured in the
same run; the ratio says what HTTP, JSON and the service cost on top of it. Client and
server share the machine's cores, and on a busy machine a process's share of them grows
with its thread count, so wall-clock rates are a floor. When the script starts the server it
also reports CPU-time rates (requests per server CPU-second against predict_proba calls per
CPU-second), which other load does not distort.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = [
    "We will find you and make you pay for what you have done.",
    "The talks ended on Monday without an agreement.",
    "The policy is a reckless gamble with other people's money.",
    "The dam was completed in 1964 and supplies three provinces.",
    "Police said two men were arrested near the border on Friday.",
    "Officials warned that further strikes would follow if the demands were ignored.",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "latest"), help="model folder")
    parser.add_argument("--url", default=None, help="a running server (loopback only); default: start one")
    parser.add_argument("--requests", type=int, default=3000, help="at most this many requests per level")
    parser.add_argument("--seconds", type=float, default=20.0, help="at most this long per level")
    parser.add_argument("--concurrency", default="1,4", help="comma-separated client connection counts")
    return parser.parse_args()


def loopback_url(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        ok = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = False
    if parts.scheme != "http" or not ok:
        sys.exit(f"error: --url must be http:// on a loopback address, got {url}")
    return parts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline.serve", "--model", model, "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"error: the server stopped: {server.stderr.read().strip()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return server, url
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("error: the server did not answer /health within 60 s")


def load(parts: urllib.parse.SplitResult, concurrency: int, max_requests: int, seconds: float) -> dict:
    """Send one-sentence requests from `concurrency` keep-alive connections; bounded in count and time."""
    lock = threading.Lock()
    sent = 0
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    def worker(offset: int) -> None:
        nonlocal sent, errors
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
        i = offset
        while time.monotonic() < deadline:
            with lock:
                if sent >= max_requests:
                    break
                sent += 1
            body = json.dumps({"sentences": [SENTENCES[i % len(SENTENCES)]]})
            i += 1
            began = time.perf_counter()
            try:
                connection.request("POST", "/score", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = response.read()
                ok = response.status == 200 and len(json.loads(answer)) == 1
            except (OSError, http.client.HTTPException, ValueError):
                ok = False
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
            with lock:
                latencies.append(time.perf_counter() - began)
                errors += not ok
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "seconds": elapsed,
        "per_second": (len(latencies) - errors) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raw_baseline(model_dir: str, max_calls: int, seconds: float) -> tuple[float, float]:
    """predict_proba calls per wall-clock second and per CPU second, one sentence per call."""
    import joblib

    estimator = joblib.load(Path(model_dir) / "model.joblib")
    estimator.predict_proba([SENTENCES[0]])  # warm up
    calls = 0
    deadline = time.monotonic() + seconds
    started, cpu_started = time.perf_counter(), time.process_time()
    while calls < max_calls and time.monotonic() < deadline:
        estimator.predict_proba([SENTENCES[calls % len(SENTENCES)]])
        calls += 1
    return calls / (time.perf_counter() - started), calls / (time.process_time() - cpu_started)


def main() -> None:
    args = parse_args()
    levels = [int(n) for n in args.concurrency.split(",") if n.strip()]
    if args.requests < 1 or args.seconds <= 0 or not levels or min(levels) < 1 or max(levels) > 32:
        sys.exit("error: --requests >= 1, --seconds > 0 and 1 <= --concurrency <= 32")
    server = None
    if args.url is None:
        server, url = start_server(args.model)
    else:
        url = args.url
    parts = loopback_url(url)
    try:
        print(f"server {url}; model {os.path.realpath(args.model)}; {os.cpu_count()} cores shared by client and server")
        baseline, baseline_cpu = raw_baseline(args.model, args.requests, args.seconds)
        print(f"raw scikit-learn predict_proba, one sentence per call: {baseline:,.0f} calls/s, "
              f"{baseline_cpu:,.0f} calls per CPU-second")
        for concurrency in levels:
            load(parts, concurrency, min(50, args.requests), 5)  # warm up connections and the thread pool
            cpu_before = cpu_seconds(server.pid) if server else None
            result = load(parts, concurrency, args.requests, args.seconds)
            line = (
                f"POST /score, 1 sentence, {concurrency} connection{'s' if concurrency > 1 else ''}: "
                f"{result['per_second']:,.0f} requests/s ({result['requests']} in {result['seconds']:.1f} s, "
                f"{result['errors']} errors), p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms; "
                f"ratio to raw scikit-learn {result['per_second'] / baseline:.2f}"
            )
            if server:
                per_cpu = (result["requests"] - result["errors"]) / max(cpu_seconds(server.pid) - cpu_before, 1e-9)
                line += f"; {per_cpu:,.0f} requests per server CPU-second, ratio {per_cpu / baseline_cpu:.2f}"
            print(line)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()


if __name__ == "__main__":
    main()
