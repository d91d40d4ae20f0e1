"""The HTTP service through Starlette's TestClient: records, health, and JSON 4xx errors."""

import socket
import subprocess
import sys

import pytest
from conftest import ROOT, run_cli

pytest.importorskip("fastapi", reason="the [serve] extra is not installed: pip install -e '.[serve]'")
pytest.importorskip("httpx", reason="TestClient needs httpx: pip install -e '.[test]'")

from fastapi.testclient import TestClient  # noqa: E402

from pipeline import load_model  # noqa: E402
from pipeline.serve import main  # noqa: E402
from pipeline.service.app import create_app

LIMIT = 4096
ARTICLE = "We will burn your city. The talks ended on Monday. Critics call the plan a reckless gamble."


@pytest.fixture(scope="module")
def model(trained_model):
    return load_model(trained_model)


@pytest.fixture(scope="module")
def client(model):
    return TestClient(create_app(model, max_body_bytes=LIMIT, max_sentences=50))


def test_score_text_returns_the_records_score_writes(client, model):
    response = client.post("/score", json={"text": ARTICLE})
    assert response.status_code == 200
    assert response.json() == model.score_text(ARTICLE)
    assert [r["sentence_index"] for r in response.json()] == [0, 1, 2]


def test_score_sentences_keeps_them_as_given_under_the_doc_id(client, model):
    sentences = ["We will come. For you.", "It rained."]
    response = client.post("/score", json={"sentences": sentences, "doc_id": "a7"})
    assert response.status_code == 200
    assert response.json() == model.predict_sentences(sentences, doc_id="a7")


def test_explain_adds_the_terms_behind_each_label(client):
    plain = client.post("/score", json={"text": ARTICLE}).json()
    explained = client.post("/score", json={"text": ARTICLE, "explain": True}).json()
    assert all("explanation" not in r for r in plain)
    assert [{k: v for k, v in r.items() if k != "explanation"} for r in explained] == plain
    assert explained[0]["explanation"][0]["weight"] > 0


def test_explain_to_a_model_that_cannot_explain_gets_422_as_health_says(client):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    from pipeline.artifacts.model import Model

    tree = Pipeline([("features", TfidfVectorizer()), ("clf", DecisionTreeClassifier(random_state=0))])
    tree.fit(["We will burn your city.", "The talks ended on Monday."], ["threat", "reporting"])
    tree_client = TestClient(create_app(Model(tree, {"name": "tree"})))
    assert tree_client.get("/health").json()["explainable"] is False
    assert tree_client.post("/score", json={"text": ARTICLE}).status_code == 200
    response = tree_client.post("/score", json={"text": ARTICLE, "explain": True})
    assert response.status_code == 422 and response.headers["content-type"] == "application/json"
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "explain"]
    assert error["msg"].startswith('this model gives no explanations (GET /health says "explainable": false)')
    page = tree_client.get("/").text  # the paste page asks for none
    assert '"explainable":false' in page.replace(" ", "") and "the words behind the label" not in page
    assert '"explainable":true' in client.get("/").text.replace(" ", "")


def test_blank_text_has_no_records(client):
    assert client.post("/score", json={"text": "  \n "}).json() == []


def test_health_names_model_labels_and_versions(client, model):
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["model"] == "seed-model"
    assert health["labels"] == model.labels
    assert health["versions"]["service"]["fastapi"] and health["versions"]["model"]["scikit-learn"]


@pytest.mark.parametrize(
    "body, where",
    [
        ({}, "exactly one of 'text' or 'sentences'"),
        ({"text": "a.", "sentences": ["b."]}, "exactly one of 'text' or 'sentences'"),
        ({"text": 5}, "text"),
        ({"sentences": "not a list"}, "sentences"),
        ({"sentences": [1, 2]}, "sentences"),
        ({"text": "a.", "colour": "red"}, "colour"),
        ([{"text": "a."}], "body"),
    ],
)
def test_bad_requests_get_json_422(client, body, where):
    response = client.post("/score", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert where in response.text


def test_malformed_json_gets_json_422(client):
    response = client.post("/score", content=b'{"text": ', headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("body", [b'{"text": "We will \\ud800 come."}', b'{"sentences": ["\\udfff"]}',
                                  b'{"sentences": ["a"], "doc_id": "\\ud800"}', b'{"text": ["\\ud800"]}'])
def test_a_lone_surrogate_escape_is_answered_not_a_500(client, body):
    """Valid JSON that no UTF-8 response can echo as text: the answer escapes it as the request did."""
    response = client.post("/score", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (200, 422) and response.headers["content-type"] == "application/json"
    assert "\\ud8" in response.text or "\\udf" in response.text


def test_a_text_with_too_many_sentences_gets_413(client):
    response = client.post("/score", json={"text": "Yes. " * 60})
    assert response.status_code == 413 and "at most 50" in response.json()["detail"]


def test_a_list_of_too_many_sentences_gets_413_as_serving_md_says(client):
    response = client.post("/score", json={"sentences": ["x"] * 51})
    assert response.status_code == 413
    assert response.json() == {"detail": "'sentences' holds 51 sentences; at most 50 per request"}


def test_an_oversized_body_gets_413_before_scoring(client):
    response = client.post("/score", json={"text": "x" * LIMIT})
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body larger than {LIMIT} bytes"}


def test_an_oversized_body_without_content_length_gets_413(client):
    chunks = (b'{"text": "' + b"x" * 1000 for _ in range(8))  # streamed: no Content-Length
    response = client.post("/score", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "larger than" in response.json()["detail"]


def test_unknown_paths_and_methods_get_json_errors(client):
    assert client.get("/nowhere").json() == {"detail": "Not Found"}
    assert client.get("/score").status_code == 405


def test_openapi_schema_describes_score_and_health(client):
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) == {"/", "/score", "/health"}
    request = schema["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    fields = schema["components"]["schemas"][request["$ref"].split("/")[-1]]["properties"]
    assert {"text", "sentences", "doc_id", "explain"} == set(fields)
    assert "413" in schema["paths"]["/score"]["post"]["responses"]


def test_index_page_is_self_contained(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<textarea id="article"' in page.text and "connect-src &#x27;self&#x27;" in page.text
    assert "http://" not in page.text and "https://" not in page.text


def test_without_the_serve_extra_the_error_says_what_to_install(trained_model):
    code = "import sys; sys.modules['fastapi'] = None; from pipeline.serve import main; main(['--model', sys.argv[1]])"
    result = subprocess.run([sys.executable, "-c", code, str(trained_model)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "pip install 'rhetoric-pipeline[serve]'" in result.stderr


def test_a_busy_port_is_one_line_before_the_model_loads(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exited:
            main(["--model", str(tmp_path / "no-model"), "--port", str(port)])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--port {port}: cannot listen on 127.0.0.1:{port}" in err


def test_a_missing_model_is_one_line(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("serve", "--model", tmp_path / "none", "--port", port)
    assert result.returncode == 2 and result.stderr == f"error: model folder not found: {tmp_path / 'none'}\n"


def test_help_does_not_import_the_server_libraries():
    code = "import sys; from pipeline.serve import parse_args; print([m for m in ('fastapi', 'uvicorn', 'sklearn') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("body", [b'{"text": NaN}', b'{"sentences": [Infinity]}', b'{"text": "a", "explain": NaN}',
                                  b'{"text": "a", "doc_id": -Infinity}', b'{"text": "a", "colour": 1e999}'])
def test_a_non_finite_number_is_a_422_not_a_500(client, body):
    """Python's JSON reader takes NaN and Infinity; the error that echoes them must still be JSON."""
    response = client.post("/score", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.headers["content-type"] == "application/json"
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_an_address_not_of_this_machine_names_the_host_not_the_port(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--host", "192.0.2.1", "--port", "8000", "--model", "no-model"])  # TEST-NET-1: never local
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.count("\n") == 1
    assert err.startswith("error: --host 192.0.2.1: cannot listen on 192.0.2.1:8000 (Cannot assign requested address")


@pytest.mark.parametrize("body, error", [(b'{"text": "caf\xe9"}', "not UTF-8"),
                                         (b"[" * 100_000 + b"]" * 100_000, "nested too deeply")])
def test_json_that_cannot_be_read_gets_422_as_serving_md_says_with_the_reason(model, body, error):
    client = TestClient(create_app(model))
    response = client.post("/score", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "json_invalid"
    assert error in response.json()["detail"][0]["ctx"]["error"]
