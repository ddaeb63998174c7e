"""The letters' templates, read from the package (so a wheel works as well as a checkout) and from
`letters.template_dir`, whose files override the built-in ones per language. The core composes letters from
whatever loader it is given and never opens a file itself."""

from __future__ import annotations

from importlib.resources import files

import jinja2

from deadlinewatch.core.letters import Letters


def builtin_languages() -> tuple[str, ...]:
    """The languages deadlinewatch ships templates for: the folders of the package's templates/."""
    folder = files("deadlinewatch") / "templates"
    return tuple(sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))))


def letters(template_dir: str = "") -> Letters:
    """The composer over the user's folder (when set) and the built-in templates."""
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(template_dir)] if template_dir else []
    loaders.append(jinja2.PackageLoader("deadlinewatch", "templates"))
    return Letters(jinja2.ChoiceLoader(loaders), builtin_languages())
