"""The letters' templates and words, read from the package (so a wheel works as well as a checkout) and from
`letters.template_dir`, whose files override the built-in ones (for every language, or under `<lang>/` for one).
The core composes letters from whatever loader and catalogs it is given and never opens a file itself."""

from __future__ import annotations

import jinja2
from babel.support import NullTranslations

from deadlinewatch.adapters import catalogs
from deadlinewatch.core.letters import DOMAIN, Letters


def builtin_languages() -> tuple[str, ...]:
    """The languages deadlinewatch ships letters in: English and every language with a `letters` catalog."""
    return catalogs.languages(DOMAIN)


def catalog(language: str) -> NullTranslations | None:
    """A language's compiled `letters` catalog; None when it has none."""
    return catalogs.translations(DOMAIN, language) if catalogs.catalog_language(DOMAIN, language) else None


def letters(template_dir: str = "", zone: str = "") -> Letters:
    """The composer over the user's folder (when set) and the built-in templates and catalogs; `zone` is the
    team's time zone (the region of its language's dates)."""
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(template_dir)] if template_dir else []
    loaders.append(jinja2.PackageLoader("deadlinewatch", "templates"))
    return Letters(jinja2.ChoiceLoader(loaders), builtin_languages(), catalog, zone, own=template_dir)
