"""The message catalogs: every word the letters and the pages say is extracted into the .pot files (CI fails on a
catalog out of date), and every language's .po translates each one, not fuzzy, with the same placeholders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from deadlinewatch.adapters import catalogs

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "src/deadlinewatch/locale"
DOMAINS = {"letters": "babel-letters.cfg", "web": "babel.cfg"}
LANGUAGES = ("tr", "bn")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@pytest.mark.parametrize("domain", DOMAINS)
def test_the_template_of_each_catalog_is_what_the_code_says(domain: str, tmp_path: Path) -> None:
    fresh = tmp_path / f"{domain}.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", DOMAINS[domain],
                    "--no-location", "--omit-header", "--sort-output", "-o", str(fresh), "."],
                   cwd=ROOT, check=True, capture_output=True)
    assert fresh.read_text() == (LOCALE / f"{domain}.pot").read_text(), \
        f"locale/{domain}.pot is out of date: run scripts/catalogs.sh, then translate what it adds"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(domain: str, language: str) -> None:
    with (LOCALE / f"{domain}.pot").open("rb") as f:
        wanted = {m.id if isinstance(m.id, str) else tuple(m.id) for m in read_po(f) if m.id}
    with (LOCALE / language / "LC_MESSAGES" / f"{domain}.po").open("rb") as f:
        catalog = read_po(f)
    messages = {m.id if isinstance(m.id, str) else tuple(m.id): m for m in catalog if m.id}
    missing = wanted - set(messages)
    assert not missing, f"not in {language}/{domain}.po (run scripts/catalogs.sh, then translate): {missing}"
    for key, m in messages.items():
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        ids = key if isinstance(key, tuple) else (key,)
        assert all(strings) and not m.fuzzy, f"{language}: untranslated or fuzzy: {key!r}"
        # a plural's forms may leave out the count ("one milestone"); nothing else may differ
        allowed = set().union(*(PLACEHOLDER.findall(i) for i in ids))
        needed = set.intersection(*(set(PLACEHOLDER.findall(i)) for i in ids))
        for s in strings:
            assert isinstance(s, str)  # all translated, as asserted above
            found = set(PLACEHOLDER.findall(s))
            assert needed <= found <= allowed, f"{language}: placeholders differ in {key!r}: {s!r}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_plurals_singular_names_nothing_its_plural_does_not(domain: str) -> None:
    """GNU msgfmt -c — what Poedit runs when a translator saves — checks every form of a plural's translation
    against the English plural: a singular naming what the plural does not ("“%(name)s” builds on this" beside
    "Later work builds on this") made each translation of it refused, and the translator could not save."""
    with (LOCALE / f"{domain}.pot").open("rb") as f:
        plurals = [m.id for m in read_po(f) if isinstance(m.id, tuple | list)]
    for one, other in plurals:
        assert set(PLACEHOLDER.findall(one)) <= set(PLACEHOLDER.findall(other)), (one, other)


def test_the_catalogs_are_found_in_the_package_for_each_language() -> None:
    for domain in DOMAINS:
        assert set(catalogs.languages(domain)) >= {"en", *LANGUAGES}
        assert catalogs.catalog_language(domain, "tr_TR") == "tr" and catalogs.catalog_language(domain, "en-GB") is None
        assert catalogs.translations(domain, "bn").gettext("Kind regards,") != "Kind regards," or domain == "web"


# A person's name is free text ("Ayşe Yılmaz", "Jane", "রহিমা খাতুন"): a Turkish suffix after it needs vowel
# harmony and a Bengali genitive depends on its last letter, neither of which a translation can know. So the client's
# name takes no case ending that depends on it: Turkish says "müşteriye (Ayşe Yılmaz)", never "Ayşe Yılmaz
# müşterisine"; Bengali uses -কে, which follows any name, never a hyphenated "-এর"/"-কে" (fifth native reading,
# defects 5 and 6).
NAME = r"%\((?:client|client_name)\)s"
NAME_SUFFIX = {"tr": re.compile(NAME + r"(?:'|\s+müşteri|\s+\(\S+\)\s+adresine)"),
               "bn": re.compile(NAME + r"-|" + NAME + r"(?:ের|র )")}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_clients_name_takes_no_case_ending_that_depends_on_it(language: str) -> None:
    with (LOCALE / language / "LC_MESSAGES" / "letters.po").open("rb") as f:
        catalog = read_po(f)
    texts = [s for m in catalog if m.id for s in ((m.string,) if isinstance(m.string, str) else m.string or ())]
    assert [t for t in texts if NAME_SUFFIX[language].search(t)] == []
