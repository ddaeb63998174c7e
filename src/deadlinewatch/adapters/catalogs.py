"""Message catalogs: the words of the letters and of the web pages in every language, one gettext catalog per
language and domain (`deadlinewatch/locale/<lang>/LC_MESSAGES/<domain>.po`, the format Poedit and Weblate edit),
compiled in memory by Babel when first used — a wheel carries the .po files and needs no build step. English is
the source text: a language without a catalog (English among them) reads it. A catalog is compiled the first time
a reader of its language needs it, and once: "tr", "tr-TR" and "tr_TR" share Turkish's, and the answer to which
catalog a language reads is kept (the package's files do not change under a running daemon)."""

from __future__ import annotations

import functools
import io
from importlib.resources import files

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations


def catalog_path(domain: str, language: str) -> str:
    """Where a language's catalog of a domain lives in the package."""
    return f"locale/{language}/LC_MESSAGES/{domain}.po"


def languages(domain: str) -> tuple[str, ...]:
    """English and every language with a catalog of `domain`."""
    folder = files("deadlinewatch") / "locale"
    found = [p.name for p in folder.iterdir() if (p / "LC_MESSAGES" / f"{domain}.po").is_file()] \
        if folder.is_dir() else []
    return ("en", *sorted(found))


@functools.cache
def catalog_language(domain: str, language: str) -> str | None:
    """The catalog a language reads: its own ("pt_BR"), else its base language's ("pt"); None for English or a
    language without one."""
    language = language.replace("-", "_")
    for candidate in (language, language.split("_")[0]):
        if candidate != "en" and (files("deadlinewatch") / catalog_path(domain, candidate)).is_file():
            return candidate
    return None


def translations(domain: str, language: str) -> NullTranslations:
    """The language's catalog of `domain`, compiled; English (or a language without one) reads the source text."""
    found = catalog_language(domain, language)
    return _NONE if found is None else _compiled(domain, found)


_NONE = NullTranslations()


@functools.cache
def _compiled(domain: str, found: str) -> Translations:
    with (files("deadlinewatch") / catalog_path(domain, found)).open("rb") as f:
        catalog = read_po(f, locale=found)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=domain)
