"""The pages' words in every language: one template per page, one gettext catalog per language
(`deadlinewatch/locale/<lang>/LC_MESSAGES/web.po`, the format Poedit and Weblate edit), compiled in memory by
Babel when first used — a wheel carries the .po files and needs no build step. English is the source text."""

from __future__ import annotations

import functools
import io
from importlib.resources import files

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

DOMAIN = "web"


def catalog_path(language: str) -> str:
    return f"locale/{language}/LC_MESSAGES/{DOMAIN}.po"


def languages() -> tuple[str, ...]:
    """English and every language with a catalog."""
    folder = files("deadlinewatch") / "locale"
    found = [p.name for p in folder.iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()] \
        if folder.is_dir() else []
    return ("en", *sorted(found))


@functools.cache
def translations(language: str) -> NullTranslations:
    """The language's catalog; English (or a language without one) reads the source text."""
    source = files("deadlinewatch") / catalog_path(language)
    if language == "en" or not source.is_file():
        return NullTranslations()
    with source.open("rb") as f:
        catalog = read_po(f, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


@functools.cache
def environment(language: str) -> jinja2.Environment:
    """The pages' templates with this language's words installed (one environment per language: rendering in
    one never sees another's catalog)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("deadlinewatch", "web/templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.i18n"],
        trim_blocks=True, lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env
