"""The HTML report and the served page in a real browser: Debian's headless Chromium, driven
by Playwright with the system browser (never `playwright install`)."""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, write_jsonl

from pipeline.score import main as score_main

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
INJECTED = ('A post read <script>window.__pwned = 1</script> before it vanished. '
            'Another showed <img src=x onerror="window.__pwned = 2"> to readers.')


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install -e '.[test]'")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    page.close()


def spans(page, scope="#articles"):
    return page.eval_on_selector_all(
        f"{scope} .sent",
        "nodes => nodes.map(n => [n.closest('article').dataset.doc, n.textContent, n.dataset.label, n.classList.contains('dim')])",
    )


def test_report_shows_the_scored_articles_and_runs_no_injected_script(page, tmp_path, trained_model):
    articles = tmp_path / "articles"
    articles.mkdir()
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        (articles / path.name).write_bytes(path.read_bytes())
    (articles / "zz_injected.txt").write_text(INJECTED + "\n", encoding="utf-8")
    report, scores = tmp_path / "report.html", tmp_path / "scores.jsonl"
    score_main(["--model", str(trained_model), str(articles), "--format", "html", "-o", str(report)])
    score_main(["--model", str(trained_model), str(articles), "--format", "jsonl", "-o", str(scores)])
    records = [json.loads(line) for line in scores.read_text(encoding="utf-8").splitlines()]

    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(report.as_uri())
    page.wait_for_selector("#articles .sent")
    assert requested == [report.as_uri()], "the report loaded something besides itself"
    assert spans(page) == [[r["doc_id"], r["text"], r["label"], False] for r in records]
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#articles img").count() == 0
    assert page.locator("#articles .sent", has_text="<script>window.__pwned = 1</script>").count() == 1
    assert page.errors == []

    # Hover: the sentence's probabilities, the predicted label first, and the terms behind it.
    first = records[0]
    page.locator("#articles .sent").first.hover()
    tip = page.locator("#tip")
    assert tip.is_visible()
    rows = tip.locator("tr").evaluate_all("rows => rows.map(r => [r.dataset.label, r.cells[2].textContent])")
    assert rows[0] == [first["label"], f"{first['scores'][first['label']]:.3f}"]
    assert {label for label, _ in rows} == set(first["scores"])
    assert "Pushed towards" in tip.inner_text()
    page.screenshot(path=str(tmp_path / "report.png"), full_page=False)

    # Each article's bar: one segment per label it holds, widths adding up to the whole.
    widths = page.eval_on_selector_all(
        "#articles .article:first-child .share-bar .share", "s => s.map(x => x.getBoundingClientRect().width)")
    bar = page.eval_on_selector("#articles .article:first-child .share-bar", "b => b.getBoundingClientRect().width")
    assert abs(sum(widths) - bar) < 1 and len(widths) == len({r["label"] for r in records if r["doc_id"] == first["doc_id"]})

    # Filter by label: only articles holding it stay, and its sentences stay highlighted.
    page.select_option("#label-filter", "threat")
    shown = spans(page)
    assert {doc for doc, *_ in shown} == {r["doc_id"] for r in records if r["label"] == "threat"}
    assert all(dim == (label != "threat") for _, _, label, dim in shown)
    page.locator('#legend .legend-item[data-label="threat"]').click()  # picking it again clears it
    assert len(spans(page)) == len(records)


def test_report_of_a_thousand_articles_pages_and_finds_them(page, tmp_path, trained_model):
    sentences = ["We will burn your city.", "The talks ended on Monday.", "The dam was built in 1964."]
    source = write_jsonl(tmp_path / "many.jsonl", [
        {"doc_id": f"article-{n:04d}", "sentence_index": i, "text": text}
        for n in range(1000) for i, text in enumerate(sentences[n % 3:] + sentences[:n % 3])
    ])
    report = tmp_path / "many.html"
    score_main(["--model", str(trained_model), str(source), "-o", str(report)])
    page.goto(report.as_uri())
    page.wait_for_selector("#articles .article")
    assert page.locator("#nav-list a").count() == 1000
    assert page.locator("#articles .article").count() == 20
    assert page.locator(".page-info").first.inner_text() == "articles 1–20 of 1000 (page 1 of 50)"

    page.locator(".next").first.click()
    assert page.locator("#articles .article").first.get_attribute("data-doc") == "article-0020"
    page.locator('#nav-list a[data-doc="article-0537"]').click()
    assert "article-0537" in page.locator("#articles .article").evaluate_all("a => a.map(x => x.dataset.doc)")
    assert page.locator(".page-info").first.inner_text() == "articles 521–540 of 1000 (page 27 of 50)"

    page.fill("#search", "article-099")
    assert page.locator("#nav-list a").count() == 10
    assert page.locator("#articles .article").first.get_attribute("data-doc") == "article-0990"
    assert page.errors == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(trained_model):
    pytest.importorskip("uvicorn", reason="the [serve] extra is not installed: pip install -e '.[serve]'")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.serve", "--model", str(trained_model), "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer /health within 60 s"
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)


def post_json(url: str, path: str, body: dict):
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_served_page_highlights_a_pasted_article_like_the_api(page, tmp_path, server):
    article = (ROOT / "seeds" / "001_34ed1d8fc32fd563.txt").read_text(encoding="utf-8") + "\n" + INJECTED + "\n"
    status, records = post_json(server, "/score", {"text": article})
    assert status == 200

    page.goto(server + "/")
    page.fill("#article", article)
    page.click("#highlight")
    page.wait_for_selector("#result .sent")
    assert page.locator("#status").inner_text() == f"{len(records)} sentences scored"
    assert [[text, label] for _, text, label, _ in spans(page, "#result")] == [[r["text"], r["label"]] for r in records]
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#result img").count() == 0
    page.locator("#result .sent").nth(1).hover()
    assert page.locator("#tip").is_visible() and "Pushed towards" in page.locator("#tip").inner_text()
    page.screenshot(path=str(tmp_path / "served.png"), full_page=True)
    assert page.errors == []

    # A bad request shows the service's JSON error on the page.
    page.fill("#article", "x" * 1_100_000)
    page.click("#highlight")
    page.wait_for_function("document.getElementById('error').textContent.length > 0")
    assert "request body larger than" in page.locator("#error").inner_text()


def test_served_page_of_a_model_that_cannot_explain_asks_for_no_explanations(page):
    from pipeline.reports.articles_page import render_paste_page

    sent = []

    def answer(route):
        if route.request.url.endswith("/score"):
            sent.append(json.loads(route.request.post_data))
            record = {"doc_id": "pasted article", "sentence_index": 0, "text": "It rained.", "label": "reporting",
                      "scores": {"reporting": 1.0, "threat": 0.0}}
            route.fulfill(status=200, content_type="application/json", body=json.dumps([record]))
        else:
            route.fulfill(status=200, content_type="text/html",
                          body=render_paste_page(["reporting", "threat"], "tree", explainable=False))

    page.route("http://rhetoric.test/**", answer)
    page.goto("http://rhetoric.test/")
    page.fill("#article", "It rained.")
    page.click("#highlight")
    page.wait_for_selector("#result .sent")
    assert sent == [{"text": "It rained.", "doc_id": "pasted article", "explain": False}]
    assert page.errors == []
