"""The service under a small version of `bench/serve.py --load`: concurrent clients mixing valid
requests, malformed JSON, wrong types, bodies over the limit and slow senders get no 5xx and no
dropped connection, the server's memory stays bounded, and /health answers afterwards."""

import asyncio
import importlib.util

import pytest
from conftest import ROOT

pytest.importorskip("fastapi", reason="the [serve] extra is not installed: pip install -e '.[serve]'")
pytest.importorskip("httpx", reason="the load test's client is httpx: pip install -e '.[test]'")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_serve", ROOT / "bench" / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ten_clients_mixing_good_and_bad_requests(bench, trained_model):
    limit = 20_000
    server, url = bench.start_server(str(trained_model), limit)
    try:
        result = asyncio.run(bench.run_load(url, clients=10, max_requests=200, seconds=60, max_bytes=limit,
                                            server_pid=server.pid))
        alive = server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=30)
    table = bench.load_table(result)
    assert alive, table
    assert result["server_errors"] == 0 and result["dropped"] == 0 and result["unexpected"] == 0, table
    assert result["requests"] == 200, table  # the count bound, not the time bound, ended it
    assert all(sent >= 10 for sent in result["sent_by_kind"].values()), table
    assert result["kinds"]["health, during the load"]["statuses"].get(200, 0) >= 1, table
    assert result["health_after"] == 200 and result["score_after"] == 200, table
    memory = result["rss_mb"]
    assert memory["peak"] - memory["start"] < 150, table  # bodies over the limit are never held whole


def test_the_load_asks_a_model_that_cannot_explain_for_no_explanations(bench):
    """Such a model answers "explain": true with 422, which the load would count as unexpected."""
    import json

    assert json.loads(bench.load_kinds(1000)["valid article"][1])["explain"] is True
    assert json.loads(bench.load_kinds(1000, explainable=False)["valid article"][1])["explain"] is False
