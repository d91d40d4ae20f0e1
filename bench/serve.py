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

    python bench/serve.py --model DIR --load [--clients 50] [--requests 3000] [--seconds 60]

is the load test instead: --clients concurrent clients (httpx on loopback) send at most
--requests requests for at most --seconds seconds, mixing valid requests with malformed JSON,
wrong types, bodies over the limit (declared and chunked) and slow senders (raw sockets that
trickle a valid body). It reports, per kind of request, the statuses seen, p50/p99 latency, the
server's memory (RSS sampled from /proc) and whether /health still answers afterwards, and
exits 1 on any 5xx, dropped connection, unexpected status, or a server that stopped.
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
    parser.add_argument("--load", action="store_true", help="run the mixed load test instead")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients of the load test")
    parser.add_argument("--max-bytes", type=int, default=LOAD_MAX_BYTES,
                        help="the server's --max-bytes (set when the script starts the server)")
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


def start_server(model: str, max_bytes: int | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    limit = ["--max-bytes", str(max_bytes)] if max_bytes else []
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline.serve", "--model", model, "--port", str(port), *limit],
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


# ---------------------------------------------------------------- the mixed load test
LOAD_MAX_BYTES = 100_000  # the server's body limit in the load test: oversized bodies stay cheap
ARTICLE = " ".join(SENTENCES)


def load_kinds(max_bytes: int, explainable: bool = True) -> dict[str, tuple[tuple[int, ...], object]]:
    """Kind of request -> (the statuses it may get, its body: bytes, or a list of chunks sent
    without Content-Length). Slow senders are sent by hand (`slow_send`). A model that cannot
    explain (/health "explainable": false) answers "explain": true with 422, so it is not asked."""
    over = json.dumps({"text": "x" * (max_bytes + 10)}).encode()
    return {
        "valid sentences": ((200,), json.dumps({"sentences": SENTENCES[:3]}).encode()),
        "valid article": ((200,), json.dumps({"text": ARTICLE, "doc_id": "a1", "explain": explainable}).encode()),
        "malformed JSON": ((400, 422), b'{"sentences": ["We will find you.", '),
        "deeply nested JSON": ((400, 413, 422), b"[" * 50_000 + b"]" * 50_000),
        "invalid UTF-8": ((400, 422), b'{"text": "\xff\xfe broken"}'),
        "wrong types": ((422,), json.dumps({"sentences": "not a list", "explain": "yes"}).encode()),
        "wrong item types": ((422,), json.dumps({"sentences": [1, None, {"a": 2}]}).encode()),
        "over the limit": ((413,), over),
        "over the limit, chunked": ((413,), [over[i:i + 8192] for i in range(0, len(over), 8192)]),
        "slow sender": ((200,), json.dumps({"sentences": SENTENCES}).encode()),
    }


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def slow_send(host: str, port: int, body: bytes, pieces: int = 8, pause: float = 0.15) -> int:
    """POST /score over a raw socket, the body trickled in `pieces` with pauses; the status."""
    import asyncio

    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"POST /score HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
        step = -(-len(body) // pieces)
        for start in range(0, len(body), step):
            await writer.drain()
            await asyncio.sleep(pause)
            writer.write(body[start:start + step])
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
        await reader.read()  # the rest, until the server closes
        return int(status_line.split()[1])
    finally:
        writer.close()


async def run_load(url: str, clients: int, max_requests: int, seconds: float, max_bytes: int,
                   server_pid: int | None = None) -> dict:
    """`clients` concurrent clients send a fixed mix of request kinds, bounded in count and time."""
    import asyncio

    import httpx

    parts = loopback_url(url)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        explainable = (await client.get("/health")).json().get("explainable", True)
    kinds = load_kinds(max_bytes, explainable)
    names = list(kinds)
    results: dict[str, dict] = {name: {"statuses": {}, "latencies": [], "unexpected": 0, "errors": []}
                                for name in names}
    sent = 0
    deadline = time.monotonic() + seconds
    memory = {"start": rss_mb(server_pid) if server_pid else None, "peak": 0.0}

    async def sample_memory() -> None:
        while server_pid:
            memory["peak"] = max(memory["peak"], rss_mb(server_pid))
            await asyncio.sleep(0.2)

    async def one_client(client: "httpx.AsyncClient") -> None:
        nonlocal sent
        while time.monotonic() < deadline and sent < max_requests:
            name = names[sent % len(names)]
            sent += 1
            allowed, body = kinds[name]
            began = time.perf_counter()
            try:
                if name == "slow sender":
                    status = await slow_send(parts.hostname, parts.port, body)
                else:
                    content = body if isinstance(body, bytes) else _chunks(body)
                    response = await client.post("/score", content=content,
                                                 headers={"Content-Type": "application/json"})
                    status = response.status_code
            except (httpx.HTTPError, OSError, asyncio.TimeoutError, ValueError, IndexError) as exc:
                results[name]["errors"].append(f"{type(exc).__name__}: {exc}")
                continue
            finally:
                results[name]["latencies"].append(time.perf_counter() - began)
            results[name]["statuses"][status] = results[name]["statuses"].get(status, 0) + 1
            results[name]["unexpected"] += status not in allowed

    probe = results["health, during the load"] = {"statuses": {}, "latencies": [], "unexpected": 0, "errors": []}

    async def probe_health() -> None:
        """What a load balancer sees: GET /health on a connection of its own, every 0.25 s."""
        async with httpx.AsyncClient(base_url=url, timeout=60) as own:
            while True:
                began = time.perf_counter()
                try:
                    status = (await own.get("/health")).status_code
                except httpx.HTTPError as exc:
                    probe["errors"].append(f"{type(exc).__name__}: {exc}")
                else:
                    probe["statuses"][status] = probe["statuses"].get(status, 0) + 1
                    probe["unexpected"] += status != 200
                probe["latencies"].append(time.perf_counter() - began)
                await asyncio.sleep(0.25)

    # Idle connections are dropped after 2 s, before uvicorn closes them (5 s): reusing one the
    # server is closing at that moment fails a request (a race of HTTP/1.1 keep-alive itself).
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients, keepalive_expiry=2.0)
    sampler, prober = asyncio.ensure_future(sample_memory()), asyncio.ensure_future(probe_health())
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        await asyncio.gather(*(one_client(client) for _ in range(clients)))
        elapsed = time.perf_counter() - started
        sampler.cancel()
        prober.cancel()
        health = await client.get("/health")
        check = await client.post("/score", json={"sentences": SENTENCES[:1]})
    end_memory = rss_mb(server_pid) if server_pid else None
    latencies = sorted(x for name, r in results.items() if name in kinds for x in r["latencies"])
    return {
        "clients": clients, "requests": sent, "seconds": elapsed, "kinds": results,
        "p50_ms": 1000 * percentile(latencies, 0.50), "p99_ms": 1000 * percentile(latencies, 0.99),
        "server_errors": sum(n for r in results.values() for s, n in r["statuses"].items() if s >= 500),
        "sent_by_kind": {name: len(results[name]["latencies"]) for name in kinds},
        "unexpected": sum(r["unexpected"] for r in results.values()),
        "dropped": sum(len(r["errors"]) for r in results.values()),
        "health_after": health.status_code, "score_after": check.status_code,
        "rss_mb": {"start": memory["start"], "peak": memory["peak"] or None, "end": end_memory},
    }


async def _chunks(pieces):
    for piece in pieces:
        yield piece


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def load_table(result: dict) -> str:
    """The load test as a Markdown table, one row per kind of request, then the totals."""
    lines = ["| request | sent | statuses | p50 ms | p99 ms | dropped |", "|---|---:|---|---:|---:|---:|"]
    for name, r in result["kinds"].items():
        latencies = sorted(r["latencies"])
        statuses = ", ".join(f"{s}×{n}" for s, n in sorted(r["statuses"].items())) or "-"
        lines.append(f"| {name} | {len(latencies)} | {statuses} | {1000 * percentile(latencies, 0.5):.0f} "
                     f"| {1000 * percentile(latencies, 0.99):.0f} | {len(r['errors'])} |")
    errors = sorted({e for r in result["kinds"].values() for e in r["errors"]})
    memory = result["rss_mb"]
    lines.append(f"| **all** | {result['requests']} | 5xx: {result['server_errors']}, unexpected: "
                 f"{result['unexpected']} | {result['p50_ms']:.0f} | {result['p99_ms']:.0f} | {result['dropped']} |")
    lines.append("")
    if errors:
        lines.append("dropped: " + "; ".join(errors))
    lines.append(f"{result['clients']} clients, {result['requests']} requests in {result['seconds']:.1f} s; "
                 f"/health afterwards: {result['health_after']}, a valid request afterwards: {result['score_after']}")
    if memory["start"] is not None:
        lines.append(f"server RSS: {memory['start']:.0f} MB before, {memory['peak']:.0f} MB peak, "
                     f"{memory['end']:.0f} MB after")
    return "\n".join(lines)


def load_passed(result: dict, server: subprocess.Popen | None = None) -> bool:
    return (result["server_errors"] == 0 and result["unexpected"] == 0 and result["dropped"] == 0
            and result["health_after"] == 200 and result["score_after"] == 200
            and (server is None or server.poll() is None))


def main() -> None:
    args = parse_args()
    if args.load:
        return main_load(args)
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
        stop_server(server)


def stop_server(server) -> None:
    """Stop the server this script started (None: it was given --url)."""
    if server is None:
        return
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


def main_load(args) -> None:
    import asyncio

    if args.requests < 1 or args.seconds <= 0 or not 1 <= args.clients <= 200:
        sys.exit("error: --requests >= 1, --seconds > 0 and 1 <= --clients <= 200")
    server = None
    if args.url is None:
        server, url = start_server(args.model, args.max_bytes)
    else:
        url = args.url
    loopback_url(url)
    try:
        result = asyncio.run(run_load(url, args.clients, args.requests, args.seconds, args.max_bytes,
                                      server.pid if server else None))
        print(load_table(result))
        passed = load_passed(result, server)
        print("passed" if passed else "FAILED: a 5xx, a dropped connection, an unexpected status or a stopped server")
    finally:
        stop_server(server)
    if not passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
