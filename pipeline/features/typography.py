"""Plain typography for character n-grams and the fine-tuned encoder: curly quotes, apostrophes,
dashes and the ellipsis read as their typewriter forms.

Outlets differ in typography, not in rhetoric: real news in PTC writes “ ” and ’ in about a third
of its quoted sentences, the written corpus mostly " and '. Character n-grams see the glyph, so a
model learns which kind of text a sentence comes from (and how often that kind holds a threat)
instead of what the sentence says. Word tokens never hold these characters; the discourse
features keep the curly forms, which tell an opening quote from a closing one. The fine-tuned
encoder's WordPiece vocabulary holds “ ” ’ as tokens of their own: with typography=plain it reads
the typewriter forms instead (pipeline.models.finetune).
"""

from __future__ import annotations

PLAIN = str.maketrans({
    "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "«": '"', "»": '"',
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'",
    "–": "-", "—": "-", "―": "-", "…": "...",
})


def plain_lowercase(text: str) -> str:
    """A TfidfVectorizer preprocessor: the text lower-cased, with plain typography."""
    return plain(text.lower())


def plain(text: str) -> str:
    """The text with plain typography (case kept)."""
    return text.translate(PLAIN)
