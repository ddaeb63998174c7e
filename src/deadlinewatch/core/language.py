"""Which language a short free text is written in — a Cause, a Plan, a Prevent or an offer set into a letter —
so that a letter is never half in another language (CONTRACT.md: such a letter is held for the manager).

Lingua (lingua-language-detector) is the detector built for short texts: its n-gram models are trained on words
and word pairs, where statistical detectors made for documents (langdetect, CLD) guess. It is asked only among a
few languages (those a studio's letters and notes are likely in), and it judges only what it can: a text of
fewer than two words, or one made of names and acronyms ("QA", "API"), is left alone; a text in another script
than the letter's ("সোমবার" in a Turkish letter) is foreign whatever the detector says.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

# the languages a text is weighed among: the letters' (en, tr, bn) and the ones a studio's notes are likely in
CANDIDATES = ("en", "tr", "bn", "de", "fr", "es", "it", "nl", "pt")
SURE = 0.6  # the detector's confidence in another language needed to call a text foreign …
DOUBT = 0.2  # … while its confidence in the letter's language stays at most this
SCRIPTS = {"bn": "BENGALI", "hi": "DEVANAGARI", "ar": "ARABIC", "ru": "CYRILLIC", "el": "GREEK"}  # else Latin
_WORD = re.compile(r"[^\W\d_]{2,}")


def _language(code: str) -> Language | None:
    try:
        return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
    except (AttributeError, ValueError):
        return None


@functools.cache
def _detector(letter: str) -> LanguageDetector:
    languages = {lang for lang in map(_language, (*CANDIDATES, letter)) if lang is not None}
    return LanguageDetectorBuilder.from_languages(*languages).build()


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return next((s for s in (*SCRIPTS.values(), "LATIN") if name.startswith(s)), "OTHER")


def foreign(text: str, language: str) -> str | None:
    """The language `text` is written in when that is clearly not `language` (an ISO 639-1 code, or the script's
    name when the text is in another script); None when it is the letter's language or cannot be told."""
    base = language.replace("-", "_").split("_")[0].lower()
    words = _WORD.findall(text)
    letters = [c for word in words for c in word]
    if not letters:
        return None
    expected = SCRIPTS.get(base, "LATIN")
    scripts = [_script(c) for c in letters]
    main = max(set(scripts), key=scripts.count)
    if main != expected and scripts.count(main) > len(scripts) / 2:
        return main.lower()
    own = _language(base)
    if len(words) < 2 or own is None:
        return None
    values = _detector(base).compute_language_confidence_values(text)
    best = values[0]
    mine = next((v.value for v in values if v.language == own), 0.0)
    if best.language != own and best.value >= SURE and mine <= DOUBT:
        return best.language.iso_code_639_1.name.lower()
    return None
