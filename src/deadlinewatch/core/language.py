"""Which language a short free text is written in — a Cause, a Plan, a Prevent or an offer set into a letter —
so that a letter is never half in another language (CONTRACT.md: such a letter is held for the manager).

Lingua (lingua-language-detector) is the detector built for short texts: its n-gram models are trained on words
and word pairs, where statistical detectors made for documents (langdetect, CLD) guess. It is asked only among the
languages the studio works in (the team's, its clients', and English) — the mix-up to catch is a note written in
the team's language set into a client's letter, and every language more is one more to confuse a product name
with ("Figma handoff delayed" reads as Italian among nine) — and it judges only what it can: a text of fewer than
two words, or one made of names and acronyms ("QA", "API"), is left alone; a text in another script than the
letter's ("সোমবার" in a Turkish letter) is foreign whatever the detector says. Its low-accuracy mode (trigrams
only) keeps the models at about 15 MB instead of 100-200 MB in a daemon that runs for months; on these texts it
decides as the full mode does (tests/unit/test_language.py). Lingua itself is imported, and its models read,
the first time a text needs weighing — in most passes no letter carries a Cause or a Plan, and a daemon that
never checks one never holds the models (about 11 MB for three languages) — and then once: one detector per set
of languages, the models shared between them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import Language, LanguageDetector

SURE = 0.6  # the detector's confidence in another language needed to call a text foreign …
DOUBT = 0.2  # … while its confidence in the letter's language stays at most this
SCRIPTS = {"bn": "BENGALI", "hi": "DEVANAGARI", "ar": "ARABIC", "ru": "CYRILLIC", "el": "GREEK"}  # else Latin
_WORD = re.compile(r"[^\W\d_]{2,}")


def _language(code: str) -> Language | None:
    from lingua import IsoCode639_1, Language

    try:
        return Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
    except (AttributeError, ValueError):
        return None


@functools.cache
def _detector(among: frozenset[Language]) -> LanguageDetector:
    from lingua import LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(*among).with_low_accuracy_mode().build()


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return next((s for s in (*SCRIPTS.values(), "LATIN") if name.startswith(s)), "OTHER")


CLEARED = 0.8  # how sure the text without its names must be of the letter's own language to clear it (a fragment
# of three words can lean either way: "code freeze on" is 0.63 Turkish)


def foreign(text: str, language: str, among: Iterable[str] = ("en",)) -> str | None:
    """The language `text` is written in when that is clearly not `language` (an ISO 639-1 code, or the script's
    name when the text is in another script); None when it is the letter's language or cannot be told. `among`:
    the other languages it may be in (the studio's)."""
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
    if len(words) < 2:
        return None
    own = _language(base)
    others = {lang for lang in (_language(code.replace("-", "_").split("_")[0]) for code in among) if lang}
    if own is None or not others - {own}:
        return None
    detector = _detector(frozenset({own, *others}))
    values = detector.compute_language_confidence_values(text)
    best = values[0]
    mine = next((v.value for v in values if v.language == own), 0.0)
    if best.language == own or best.value < SURE or mine > DOUBT:
        return None
    # a capitalised word is most often a name — a colleague's, a city's — and a name says nothing of the language
    # around it: "Emre Yıldız joins the team on Monday" read as Turkish. Without them, the letter's own language
    # clears it (what is left may also say nothing: "code freeze on" stays caught)
    plain = [w for w in words if not w[:1].isupper()] if expected == "LATIN" else []
    if len(plain) >= 2 and (left := detector.compute_language_confidence_values(" ".join(plain))[0]).language == own \
            and left.value >= CLEARED:
        return None
    return best.language.iso_code_639_1.name.lower()
