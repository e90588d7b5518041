"""Text cleaning and a rule-based sentence splitter (no models, nothing downloaded at run time).

A sentence ends at ``.``, ``!``, ``?`` or ``…`` (plus closing quotes/brackets) followed by whitespace and a
capital letter, digit or opening quote/bracket — unless the word before the period is a known abbreviation
("Dr.", "e.g.", "etc."), a single-letter initial ("J. R. R."), or a dotted acronym ("U.S."). CJK full stops
(``。！？``) end a sentence without a following space.
"""
from __future__ import annotations

import re
import unicodedata

# Lower-case, without the final period. Titles, Latin and reference abbreviations, months, a few units.
ABBREVIATIONS = frozenset("""
mr mrs ms mx dr prof sr jr st mt ft gen col lt sgt capt cmdr adm gov sen rep rev hon pres supt
vs etc e.g i.e cf al viz approx ca ibid op cit
fig figs eq eqs no nos vol vols ch chap sec sect p pp para art ed eds trans repr
jan feb mar apr jun jul aug sep sept oct nov dec
inc ltd co corp bros dept univ assn est
u.s u.k u.n a.m p.m b.c a.d ph.d m.d b.a m.a
""".split())

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f\u200b-\u200d\u2060\ufeff]")
_SPACES = re.compile(r"\s+")
# end punctuation, closing quotes/brackets, then whitespace
_BOUNDARY = re.compile(r"([.!?\u2026]+[\"'\u201d\u2019\u00bb)\]]*)(\s+)")
_CJK_BOUNDARY = re.compile(r"([\u3002\uff01\uff1f]+[\u300d\u300f\uff09]*)")
_OPENERS = "\"'\u201c\u2018\u00ab([\u00bf\u00a1"
_DOTTED = re.compile(r"^(?:[^\W\d_]\.){2,}$")     # U.S. / e.g. / i.e.


def clean_text(text: str) -> str:
    """NFC, control and zero-width characters removed, every whitespace run → one space, stripped."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text)
    return _SPACES.sub(" ", text).strip()


def _ends_with_abbreviation(before: str) -> bool:
    word = before.rsplit(" ", 1)[-1].lstrip(_OPENERS)
    if not word.endswith("."):
        return False
    stem = word[:-1]
    if not stem:
        return False
    if len(stem) == 1 and stem.isalpha():        # an initial: "J. Smith", "A. Turing"
        return True
    if _DOTTED.match(word):
        return True
    return stem.lower() in ABBREVIATIONS


def _starts_sentence(after: str) -> bool:
    for ch in after:
        if ch in _OPENERS:
            continue
        return ch.isupper() or ch.isdigit() or (ch.isalpha() and not ch.islower() and not ch.isupper())
    return False


def split_sentences(paragraph: str) -> list[str]:
    """One cleaned paragraph → sentences (each stripped, none empty)."""
    paragraph = _CJK_BOUNDARY.sub(r"\1\n", paragraph)
    sentences: list[str] = []
    for chunk in paragraph.split("\n"):
        start = 0
        for match in _BOUNDARY.finditer(chunk):
            end = match.end(1)
            if not _starts_sentence(chunk[match.end():]):
                continue
            if match.group(1) == "." and _ends_with_abbreviation(chunk[start:end]):
                continue
            sentences.append(chunk[start:end].strip())
            start = match.end()
        sentences.append(chunk[start:].strip())
    return [s for s in sentences if s]


def has_words(sentence: str) -> bool:
    """At least one letter or digit (drops separators like '* * *' and '----')."""
    return any(ch.isalnum() for ch in sentence)


def paragraph_to_sentences(paragraph: str) -> list[str]:
    return [s for s in split_sentences(clean_text(paragraph)) if has_words(s)]
