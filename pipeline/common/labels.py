"""The label set of the annotation guide (docs/annotation-guide.md)."""

LABELS = ("threat", "reporting", "editorial_framing", "background_fact")

DISPLAY_NAMES = {
    "threat": "threat",
    "reporting": "reporting",
    "editorial_framing": "editorial framing",
    "background_fact": "background fact",
}
