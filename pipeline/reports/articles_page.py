"""Self-contained HTML pages of scored articles.

`python -m pipeline.score --format html -o report.html` writes one file through `HtmlWriter`:
the score records as JSON inside the page, with the style and the scripts that draw them
(pipeline/reports/assets/). The served page of `pipeline.serve` draws `/score` answers with the same
scripts. No page loads anything from elsewhere; a Content-Security-Policy lets only the
page's own scripts run, and text reaches the page only through textContent.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import time
from functools import lru_cache
from importlib import resources
from typing import Sequence

from pipeline.common.labels import DISPLAY_NAMES, LABELS

# Colour-blind-safe hues (Okabe-Ito); labels outside the project's four take the rest in turn.
LABEL_COLORS = {
    "threat": "#d55e00",
    "reporting": "#0072b2",
    "editorial_framing": "#cc79a7",
    "background_fact": "#009e73",
}
SPARE_COLORS = ("#e69f00", "#56b4e9", "#f0e442", "#000000", "#999999")


def label_meta(labels: Sequence[str]) -> dict:
    """Labels (the guide's order first) with a display name and a colour each, for the page scripts."""
    given = [str(label) for label in labels]
    labels = [label for label in LABELS if label in given] + [label for label in given if label not in LABELS]
    spare = iter(SPARE_COLORS * (len(labels) // len(SPARE_COLORS) + 1))
    return {
        "labels": labels,
        "names": {label: DISPLAY_NAMES.get(label, label.replace("_", " ")) for label in labels},
        "colors": {label: LABEL_COLORS.get(label) or next(spare) for label in labels},
    }


@lru_cache(maxsize=None)
def asset(name: str) -> str:
    return resources.files("pipeline.reports").joinpath("assets", name).read_text(encoding="utf-8")


def script_json(value) -> str:
    """JSON that is safe inside <script>: no "</script>", no "<!--", no HTML entities."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _digest(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def page_head(title: str, scripts: Sequence[str], connect: str = "'none'", style_attributes: bool = False) -> str:
    """<!doctype> to <body>: inline style, and a policy that runs only `scripts` and fetches nothing else.

    `style_attributes` allows style="..." in the markup (pages drawn by script set styles
    through the DOM, which the policy does not restrict).
    """
    css = asset("report.css")
    policy = "; ".join([
        "default-src 'none'",
        "style-src " + ("'unsafe-inline'" if style_attributes else _digest(css)),
        "script-src " + (" ".join(_digest(asset(name)) for name in scripts) or "'none'"),
        f"connect-src {connect}",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
    ])
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">\n'
        f"<title>{html.escape(title)}</title>\n<style>{css}</style>\n</head>\n"
    )


def page_scripts(scripts: Sequence[str]) -> str:
    return "".join(f"<script>{asset(name)}</script>\n" for name in scripts)


REPORT_SCRIPTS = ("report.js", "articles.js")
PASTE_SCRIPTS = ("report.js", "paste.js")


class HtmlWriter:
    """Streams score records into one self-contained HTML report.

    Same interface as score's writers: write(records) per batch, close() at the end. Each
    record gains an "explanation" (the top terms behind its label) where the model is linear.
    """

    def __init__(self, stream, model, title: str | None = None):
        from pipeline.reports.explain import explainer_for

        self.stream = stream
        self.explainer = explainer_for(model.estimator)
        self.first = True
        name = model.card.get("name") or (model.path.name if model.path else "model")
        title = title or f"Scored articles — {name}"
        meta = dict(label_meta(model.labels), model=name, title=title)
        explained = (
            "Hover over a sentence (or focus it with Tab) for its label probabilities"
            + (f" and {self.explainer.description}." if self.explainer else ".")
        )
        stream.write(
            page_head(title, REPORT_SCRIPTS)
            + '<body class="report">\n<header class="top">\n'
            + f"<h1>{html.escape(title)}</h1>\n"
            + f'<p class="sub">Model {html.escape(name)}; written {html.escape(time.strftime("%Y-%m-%d %H:%M"))}. '
            + f"{html.escape(explained)}</p>\n"
            + '<div id="legend" class="legend" aria-label="Labels: pick one to filter"></div>\n'
            + '<div class="controls"><label>Show <select id="label-filter"></select></label>\n'
            + '<input id="search" type="search" placeholder="Find an article by id" aria-label="Find an article by id">\n'
            + '<span id="summary" class="muted"></span></div>\n</header>\n'
            + '<noscript><p>This report draws its articles with JavaScript; please enable it.</p></noscript>\n'
            + '<div class="layout">\n<nav class="nav" aria-label="Articles"><ol id="nav-list"></ol></nav>\n<main>\n'
            + _pager()
            + '<div id="articles"></div>\n'
            + _pager()
            + "</main>\n</div>\n"
            + '<script type="application/json" id="report-data">{"meta":'
            + script_json(meta)
            + ',"records":[\n'
        )

    def write(self, records: list[dict]) -> None:
        if self.explainer is not None and records:
            records = self.explainer.explain_records(records)
        for record in records:
            self.stream.write(("" if self.first else ",\n") + script_json(record))
            self.first = False

    def close(self) -> None:
        self.stream.write("\n]}</script>\n" + page_scripts(REPORT_SCRIPTS) + "</body>\n</html>\n")


def _pager() -> str:
    return (
        '<div class="pager"><button type="button" class="prev">← Previous</button>'
        '<span class="page-info"></span><button type="button" class="next">Next →</button></div>\n'
    )


def render_paste_page(labels: Sequence[str], model_name: str, explainable: bool = True) -> str:
    """The served page: paste an article, see it highlighted as in the HTML report (with the words behind
    each label when the model can explain)."""
    title = f"Rhetoric highlighter — {model_name}"
    meta = dict(label_meta(labels), model=model_name, title=title, explainable=explainable)
    words = " and the words behind the label" if explainable else ""
    return (
        page_head(title, PASTE_SCRIPTS, connect="'self'")
        + '<body>\n<div class="paste">\n'
        + f"<h1>{html.escape(title)}</h1>\n"
        + '<p class="sub">Paste a news article and press Highlight: each sentence is coloured by its label; '
        + f"hover over it for the label probabilities{words}.</p>\n"
        + '<div id="legend" class="legend"></div>\n'
        + '<form id="paste-form">\n<label for="article" class="muted">Article text</label>\n'
        + '<textarea id="article" name="article" spellcheck="false" required></textarea>\n'
        + '<div class="row"><button id="highlight" type="submit">Highlight</button>'
        + '<span id="status" class="muted" aria-live="polite"></span>'
        + '<span id="error" class="error" role="alert"></span></div>\n</form>\n'
        + '<div id="result"></div>\n</div>\n'
        + f'<script type="application/json" id="page-meta">{script_json(meta)}</script>\n'
        + page_scripts(PASTE_SCRIPTS)
        + "</body>\n</html>\n"
    )
