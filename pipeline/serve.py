"""Serve a saved model over HTTP (loopback by default); the model is loaded once.

    python -m pipeline.serve --model DIR [--host 127.0.0.1] [--port 8000]

    POST /score         {"text": "article ..."} or {"sentences": ["...", ...]}
                        -> the records `python -m pipeline.score` writes, as a JSON list
                        ("explain": true adds the terms behind each label)
    GET  /health        model name, labels and versions
    GET  /              a page to paste an article into and see it highlighted
    GET  /openapi.json  the OpenAPI schema

Needs the [serve] extra: pip install 'rhetoric-pipeline[serve]' (FastAPI and uvicorn).
"""

from __future__ import annotations

import argparse
import sys

from pipeline.common.cli import at_least_one, model_options, precision_options
from pipeline.common.errors import ArgumentParser, PipelineError, reports_errors
from pipeline.service.app import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    MAX_BODY_BYTES,
    SERVE_EXTRA,
    check_port,
    create_app,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m pipeline.serve",
        description="Serve a saved model: POST /score, GET /health, and a page at / to highlight a pasted article.",
        parents=[model_options(), precision_options()],
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST}, loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    parser.add_argument("--max-bytes", type=at_least_one, default=MAX_BODY_BYTES,
                        help=f"largest request body accepted (default: {MAX_BODY_BYTES})")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be between 1 and 65535")
    return args


@reports_errors
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise PipelineError(f"serving needs the [serve] extra ({exc.name} is not installed): {SERVE_EXTRA}") from None
    from pipeline.artifacts.loading import default_model_dir, load_model

    check_port(args.host, args.port)
    model = load_model(args.model or default_model_dir(), trust=args.trust, scoring_precision=args.precision)
    model.predict_sentences(["The talks ended."])  # a part that cannot score (a broken ONNX graph) stops here, not
    # at every request with a 500; it also readies the runtime before the first request
    app = create_app(model, max_body_bytes=args.max_bytes)
    print(f"serving {model.path} on http://{args.host}:{args.port}/ (Ctrl-C stops)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
