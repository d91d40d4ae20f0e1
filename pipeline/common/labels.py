"""The label set of the annotation guide (docs/annotation-guide.md)."""

from __future__ import annotations

LABELS = ("threat", "reporting", "editorial_framing", "background_fact")

DISPLAY_NAMES = {
    "threat": "threat",
    "reporting": "reporting",
    "editorial_framing": "editorial framing",
    "background_fact": "background fact",
}


def label_named(label: str, labels) -> str | None:
    """The one of `labels` that `label` names with stray spaces or capitals (" Threat "), else None.
    Training, validate and agreement all read labels so."""
    return {str(name).casefold(): name for name in labels}.get(label.strip().casefold())
