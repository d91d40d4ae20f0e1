"""The HTTP service: POST /score, GET /health, the paste page, with request limits.
"""

# No `from __future__ import annotations`: pydantic and FastAPI read the annotations at run time.
from pipeline.common.errors import PipelineError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_BODY_BYTES = 1_000_000  # about 150 pages of text; larger requests get 413
MAX_SENTENCES = 20_000
SERVE_EXTRA = "pip install 'rhetoric-pipeline[serve]'"
NO_EXPLANATIONS = "this model gives no explanations (GET /health says \"explainable\": false): leave out 'explain'"


def create_app(model, *, max_body_bytes: int = MAX_BODY_BYTES, max_sentences: int = MAX_SENTENCES):
    """The ASGI app for a loaded `pipeline.model.Model`."""
    import json
    from typing import Optional  # pydantic and FastAPI read these annotations at run time

    from fastapi import FastAPI, HTTPException
    from fastapi.encoders import jsonable_encoder
    from fastapi.exception_handlers import http_exception_handler
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel, ConfigDict, Field, model_validator
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from pipeline.reports.articles_page import render_paste_page
    from pipeline.reports.explain import explainer_for

    class EscapingJSONResponse(JSONResponse):
        """JSON that may hold a lone surrogate (a request's \\ud800 escape, which UTF-8 cannot encode):
        then it is sent back escaped, as it came, rather than failing with a 500."""

        def render(self, content) -> bytes:
            try:
                return super().render(content)
            except UnicodeEncodeError:
                return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")

    class ScoreRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")

        text: Optional[str] = Field(None, description="an article, split into sentences by the server",
                                    examples=["We will find you. The talks ended on Monday."])
        sentences: Optional[list[str]] = Field(None, description="sentences already split, scored as given "
                                               f"(at most {max_sentences}: more get 413, as a text of more does)")
        doc_id: str = Field("text", max_length=500, description="doc_id of the returned records")
        explain: bool = Field(False, description="add the top terms that pushed each sentence to its label "
                              "(coefficients of a linear model; for a fine-tuned encoder, the words whose "
                              "removal lowers the label's probability most; 422 from a model that cannot "
                              "explain, see /health 'explainable')")

        @model_validator(mode="after")
        def one_input(self):
            if (self.text is None) == (self.sentences is None):
                raise ValueError("give exactly one of 'text' or 'sentences'")
            return self

    class Term(BaseModel):
        term: str
        source: Optional[str]
        weight: float

    class ScoreRecord(BaseModel):
        doc_id: str
        sentence_index: int
        text: str
        label: str
        scores: dict[str, float]
        explanation: Optional[list[Term]] = Field(None, description="only when the request asks to explain")

    class Health(BaseModel):
        status: str
        model: Optional[str]
        labels: list[str]
        score_method: Optional[str]
        explainable: bool
        versions: dict[str, dict[str, Optional[str]]]

    name = model.card.get("name") or (model.path.name if model.path else None)
    explainer = explainer_for(model.estimator)  # weights of a linear model, or token occlusion
    health = {
        "status": "ok",
        "model": name,
        "labels": model.labels,
        "score_method": model.card.get("score_method"),
        "explainable": explainer is not None,
        "versions": {"model": dict(model.card.get("versions") or {}), "service": service_versions()},
    }
    page = render_paste_page(model.labels, name or "model", explainable=explainer is not None)

    app = FastAPI(
        title="Rhetoric sentence classifier",
        description="Labels each sentence of a news article: " + ", ".join(model.labels) + ".",
        version=health["versions"]["service"].get("rhetoric-pipeline") or "0",
        docs_url=None,  # the interactive docs load scripts from a CDN; this service works offline
        redoc_url=None,
    )

    @app.post("/score", response_model=list[ScoreRecord], summary="Score an article or a list of sentences",
              responses={413: {"description": "request body too large"}, 422: {"description": "bad request"}})
    def score(request: ScoreRequest):
        if request.explain and explainer is None:  # answered without them, a client would think none applied
            raise RequestValidationError([{"type": "value_error", "loc": ["body", "explain"], "msg": NO_EXPLANATIONS,
                                           "input": True}])
        if request.text is not None:
            from pipeline.data.sentences import split_sentences

            sentences = split_sentences(request.text)
        else:
            sentences = request.sentences
        if len(sentences) > max_sentences:
            what = "the text has" if request.text is not None else "'sentences' holds"
            raise HTTPException(413, f"{what} {len(sentences)} sentences; at most {max_sentences} per request")
        records = model.predict_sentences(sentences, doc_id=request.doc_id)
        if request.explain and records:
            records = explainer.explain_records(records)
        return EscapingJSONResponse(records)

    @app.exception_handler(RequestValidationError)  # FastAPI's own, but its errors echo the input
    async def invalid_request(request, exc: RequestValidationError):
        # the input may be NaN or Infinity, which Python's JSON reader takes and strict JSON cannot send
        return EscapingJSONResponse({"detail": finite_json(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, exc: StarletteHTTPException):
        # FastAPI answers 400 "There was an error parsing the body" for JSON that is not UTF-8 or
        # nests past Python's limit; serving.md promises 422 for malformed JSON, with its reason.
        if exc.status_code == 400 and isinstance(exc.__cause__, (UnicodeDecodeError, RecursionError)):
            cause = exc.__cause__
            where, why = ((cause.start, f"not UTF-8 (byte {cause.object[cause.start]:#04x})")
                          if isinstance(cause, UnicodeDecodeError) else (0, "nested too deeply"))
            return EscapingJSONResponse({"detail": [{"type": "json_invalid", "loc": ["body", where],
                                                     "msg": "JSON decode error", "input": {},
                                                     "ctx": {"error": why}}]}, status_code=422)
        return await http_exception_handler(request, exc)

    # async: answered on the event loop at once, not queued behind scoring in the thread pool,
    # so a health check (a load balancer's, say) answers while the server is busy.
    @app.get("/health", response_model=Health, summary="Model name, labels and versions")
    async def get_health():
        return health

    @app.get("/", response_class=HTMLResponse, summary="Paste an article and see it highlighted")
    async def index():
        return HTMLResponse(page)

    return BodyLimit(app, max_body_bytes)


class BodyLimit:
    """ASGI middleware: answer 413 with a JSON error when a request body exceeds `max_bytes`.

    Checks Content-Length first, and counts the bytes of bodies sent without it.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def __getattr__(self, name):  # the wrapped app's routes, openapi() and state stay reachable
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._reject(send)
        from starlette.exceptions import HTTPException

        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body parsing to its JSON error handler.
                    raise HTTPException(413, self._message())
            return message

        async def watched_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except HTTPException as exc:  # read outside a route, where no handler turns it into JSON
            if exc.status_code != 413 or started:
                raise
            await self._reject(send)

    def _message(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"

    async def _reject(self, send) -> None:
        import json

        body = json.dumps({"detail": self._message()}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def finite_json(value):
    """A JSON value with each NaN or infinite float spelt as a string, as the request spelt it."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_json(item) for item in value]
    return value


def service_versions() -> dict:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("rhetoric-pipeline", "scikit-learn", "fastapi", "starlette", "uvicorn"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def check_port(host: str, port: int) -> None:
    """Fail with one line, before loading the model, when the address cannot be listened on."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PipelineError(f"--host {host}: unknown address ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            import errno

            option = f"--host {host}" if exc.errno == errno.EADDRNOTAVAIL else f"--port {port}"  # not this machine's
            raise PipelineError(f"{option}: cannot listen on {host}:{port} ({exc.strerror})") from None
