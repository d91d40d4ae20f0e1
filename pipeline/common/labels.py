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


def label_set_problem(labels: list) -> str | None:
    """What is wrong with a list of labels to train or score with (one listed twice, fewer than
    two), or None: data.labels and --labels say it alike."""
    from pipeline.common.errors import quote

    repeated = next((label for label in labels if labels.count(label) > 1), None)
    if repeated is not None:
        return f"{quote(repeated)} is listed twice"
    if len(set(labels)) < 2:
        return f"needs at least 2 labels, got {', '.join(map(str, labels)) or 'none'}"
    return None
