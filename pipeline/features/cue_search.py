"""Which sentences of a batch each discourse cue finds, each distinct word looked at once.

Searching 19 case-insensitive regexes through every sentence cost more than the character
n-grams. Most cues are word lists, `\\b(?:said|says|...)\\b`: such a regex matches a sentence
exactly when one of the sentence's words (a maximal run of \\w characters, which is what
`\\b...\\b` around word characters delimits) is one of the listed words, so it is decided by
looking each distinct word of the batch up once. The other cues name what any match must
contain: a word ("had" for `\\bhad\\s+(?:been|\\w+ed|\\w+en)\\b`) or a character (a quotation
mark); their regex then runs only on the sentences that contain it. Either way the answer is
the regex's own answer on every sentence (tests/test_fast_features.py checks it on random text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import reduce
from operator import or_

import numpy as np

from pipeline.features.words import numbered

_WORD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
_LISTED = re.compile(r"[a-z]+(?:s\?)?")  # a listed word: letters, maybe a plural s ("appears?")


@dataclass(frozen=True)
class CueRule:
    """How to decide one cue regex on a sentence without always running it.

    The cue is found when a word of the sentence is one of `decisive_words` (letters, maybe
    "s?"; compared ignoring case) or fully matches `decisive_digit_word` (a regex that only
    words holding a digit match), or a character of `decisive_chars` is in it. Otherwise,
    when a word is one of `needed_words` or a character of `needed_chars` is in it, the regex
    itself decides. Each needed part must be something every match of the regex contains.
    """

    pattern: str
    decisive_words: tuple[str, ...] = ()
    decisive_digit_word: str | None = None
    decisive_chars: str = ""
    needed_words: tuple[str, ...] = ()
    needed_chars: str = ""


def word_list_rule(pattern: str, words: tuple[str, ...]) -> CueRule:
    """The rule of `\\b(?:w1|w2|...)\\b`: one-word entries decide; the first word of a
    multi-word entry ("according to", "won't") is needed before the regex runs."""
    single = tuple(w for w in words if _LISTED.fullmatch(w))
    heads = []
    for entry in words:
        if entry in single:
            continue
        head = re.match(r"[a-z]+", entry)
        if head is None or entry[head.end()] not in " '’":
            raise ValueError(f"cue word {entry!r}: cannot tell which word every match starts with")
        heads.append(head.group())
    return CueRule(pattern, decisive_words=single, needed_words=tuple(dict.fromkeys(heads)))


def discourse_rules(cues: dict[str, str], cue_words: dict[str, tuple[str, ...]]) -> dict[str, CueRule]:
    """Rules for pipeline.features.discourse.CUES; a cue without a rule here raises."""
    rules = {name: word_list_rule(cues[name], words) for name, words in cue_words.items()}
    # What every match of the other cue regexes holds (see their patterns in discourse.CUES).
    rules["quote_mark"] = CueRule(cues["quote_mark"], needed_chars="“”\"«»'`‘")
    rules["we_future"] = CueRule(cues["we_future"], needed_words=("we",))
    rules["number"] = CueRule(cues["number"], decisive_digit_word=r"\w*\d\w*")  # digits are \w characters
    rules["money_or_percent"] = CueRule(cues["money_or_percent"], needed_chars="$€£¥%",
                                        needed_words=("percent", "per", "million", "billion", "trillion"))
    rules["year"] = CueRule(cues["year"], decisive_digit_word=r"(?:1[89]\d\d|20\d\d)s?")  # a whole \w run
    rules["past_perfect"] = CueRule(cues["past_perfect"], needed_words=("had",))
    rules["present_perfect"] = CueRule(cues["present_perfect"], needed_words=("has", "have", "ve"))
    rules["question"] = CueRule(cues["question"], decisive_chars="?")
    rules["exclamation"] = CueRule(cues["exclamation"], decisive_chars="!")
    missing = [name for name in cues if name not in rules]
    if missing:
        raise ValueError(f"no batch rule for cue {missing[0]!r}")
    return {name: rules[name] for name in cues}


def frame_rules(parts: dict[str, str], part_words: dict[str, tuple[str, ...]],
                menace_verbs: tuple[str, ...]) -> dict[str, CueRule]:
    """Rules for pipeline.features.discourse.FRAME_PARTS: word lists, and the menace clause,
    which only a sentence holding one of the menace verbs can match."""
    rules = {name: word_list_rule(parts[name], words) for name, words in part_words.items()}
    rules["menace_clause"] = CueRule(parts["menace_clause"], needed_words=menace_verbs)
    return {name: rules[name] for name in parts}


class CueSearch:
    """`found(texts)`: a (texts x cues) bool array, the same as `regex.search(text) is not
    None` for each cue regex (compiled with `flags`) and text."""

    def __init__(self, rules: dict[str, CueRule], flags: int = re.IGNORECASE):
        if 2 * len(rules) > 62:
            raise ValueError("CueSearch keeps two bits per cue in an int64: at most 31 cues")
        self.names = list(rules)
        self.regexes = [re.compile(rule.pattern, flags) for rule in rules.values()]
        # Bit 2k decides cue k; bit 2k+1 makes the regex of cue k run.
        self.listed: dict[str, int] = {}  # lower-case listed word -> its bits
        self.word_regexes = []  # (bit, regex): the exact test of words that are not plain ASCII
        self.digit_regexes = []  # (bit, regex) for words holding a digit
        for k, rule in enumerate(rules.values()):
            for bit, words in ((1 << (2 * k), rule.decisive_words), (1 << (2 * k + 1), rule.needed_words)):
                if not words:
                    continue
                if not all(_LISTED.fullmatch(w) for w in words):
                    raise ValueError(f"cue {self.names[k]!r}: listed words are letters, maybe with 's?'")
                for word in words:
                    for form in (word[:-2], word[:-1]) if word.endswith("s?") else (word,):
                        self.listed[form] = self.listed.get(form, 0) | bit
                self.word_regexes.append((bit, re.compile("|".join(words), flags)))
            if rule.decisive_digit_word:
                self.digit_regexes.append((1 << (2 * k), re.compile(rule.decisive_digit_word, flags)))
        self.char_bits: dict[str, int] = {}  # a character -> the bits it sets
        for k, rule in enumerate(rules.values()):
            for bit, chars in ((1 << (2 * k), rule.decisive_chars), (1 << (2 * k + 1), rule.needed_chars)):
                for char in chars:
                    self.char_bits[char] = self.char_bits.get(char, 0) | bit
        chars = "".join(sorted(self.char_bits))
        self.any_char = re.compile("[" + re.escape(chars) + "]") if chars else None

    def found(self, texts: list[str], words=None):
        """`words`: the batch's shared cut of `texts` (pipeline.features.words), if there is one."""
        n, k = len(texts), len(self.names)
        masks = self._word_masks(texts, words)
        if self.any_char is not None:
            bits_of = self.char_bits.__getitem__
            for row, chars in enumerate(map(self.any_char.findall, texts)):
                if chars:
                    masks[row] |= reduce(or_, map(bits_of, set(chars)))
        shifts = np.arange(k, dtype=np.int64) * 2
        decided = (masks[:, None] >> shifts) & 1 == 1
        to_check = (masks[:, None] >> (shifts + 1)) & 1 == 1
        for cue, regex in enumerate(self.regexes):
            rows = np.flatnonzero(to_check[:, cue] & ~decided[:, cue]).tolist()
            if rows:
                search = regex.search
                decided[rows, cue] = [search(texts[row]) is not None for row in rows]
        return decided.reshape(n, k)

    def word_bits(self, word: str) -> int:
        """The bits a word of a sentence sets (its \\w run, compared as the regexes compare it)."""
        if word.isascii():
            # ASCII letters match a listed word ignoring case exactly when their lower case is it.
            bits = self.listed.get(word.lower(), 0)
        else:
            bits = 0
            for bit, regex in self.word_regexes:
                if regex.fullmatch(word):
                    bits |= bit
        if not word.isalpha() and _DIGIT.search(word):
            for bit, regex in self.digit_regexes:
                if regex.fullmatch(word):
                    bits |= bit
        return bits

    def _word_masks(self, texts: list[str], words=None):
        """Per text, the OR of the bits of its words (each distinct word looked at once).

        With the batch's shared cut (pipeline.features.words.BatchWords), an ASCII text's bits
        come from its lower-cased pieces: lower-casing ASCII changes no word's extent, and
        ASCII words are compared by their lower case anyway. Other texts are read here.
        """
        masks = np.zeros(len(texts), dtype=np.int64)
        own = list(range(len(texts)))
        if words is not None:
            ascii_texts = np.fromiter(map(str.isascii, texts), dtype=bool, count=len(texts))
            if ascii_texts.any():
                # Pieces of other texts get bits too, unused: an ASCII text has ASCII pieces only.
                piece_bits = self._bits_of(list(words.pieces))
                masks = np.where(ascii_texts, words.per_text(piece_bits, np.bitwise_or), 0)
                own = np.flatnonzero(~ascii_texts).tolist()
        if own:
            masks[own] = self._bits_of([texts[row] for row in own])
        return masks

    def _bits_of(self, texts: list[str]):
        """Per text, the OR of the bits of its word (\\w) runs."""
        distinct, run_of, ends = numbered(list(map(_WORD.findall, texts)))
        bits = np.fromiter(map(self.word_bits, distinct), dtype=np.int64, count=len(distinct))
        per_run = bits[np.asarray(run_of, dtype=np.int64)]
        ends = np.asarray(ends, dtype=np.int64)
        out = np.zeros(len(texts), dtype=np.int64)
        has = np.flatnonzero(np.diff(ends))
        if len(has):
            out[has] = np.bitwise_or.reduceat(per_run, ends[:-1][has])
        return out
