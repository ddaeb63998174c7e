"""The pages' words in every language: one template per page, the `web` domain's catalogs
(adapters/catalogs.py). English is the source text."""

from __future__ import annotations

import functools

import jinja2
from babel.support import NullTranslations

from deadlinewatch.adapters import catalogs

DOMAIN = "web"


def catalog_path(language: str) -> str:
    return catalogs.catalog_path(DOMAIN, language)


def languages() -> tuple[str, ...]:
    """English and every language with a catalog of the pages."""
    return catalogs.languages(DOMAIN)


def translations(language: str) -> NullTranslations:
    """The language's catalog of the pages; English (or a language without one) reads the source text."""
    return catalogs.translations(DOMAIN, language)


def environment(language: str) -> jinja2.Environment:
    """The pages' templates with this language's words installed (one environment per catalog, made when a page
    is first shown in it: rendering in one never sees another's words; "tr" and "tr-TR" share Turkish's)."""
    return _environment(catalogs.catalog_language(DOMAIN, language) or "en")


@functools.cache
def _environment(language: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("deadlinewatch", "web/templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.i18n"],
        trim_blocks=True, lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]  # added by the i18n extension at run time
    return env
