"""Which language a short free text is in (core/language.py): Lingua among the studio's languages, on the short
texts a note's Cause and Plan are — a mix-up is caught, and product names, acronyms and single words are not."""

from __future__ import annotations

import pytest

from deadlinewatch.core.language import foreign

STUDIO = ("en", "tr", "bn")


@pytest.mark.parametrize(("letter", "text", "found"), [
    ("tr", "the brand assets arrived a week late", "en"),
    ("tr", "code freeze on Friday", "en"),
    ("en", "marka dosyaları bir hafta geç geldi", "tr"),
    ("en", "kod dondurma cuma", "tr"),
    ("en", "günlük kontrol", "tr"),
    ("bn", "the brand assets arrived a week late", "latin"),  # another script: whatever the detector says
    ("en", "ব্র্যান্ডের ফাইলগুলো এক সপ্তাহ দেরিতে এসেছে", "bengali"),
])
def test_a_short_text_in_another_of_the_studios_languages_is_caught(letter: str, text: str, found: str) -> None:
    assert foreign(text, letter, STUDIO) == found


@pytest.mark.parametrize(("letter", "text"), [
    ("en", "the brand assets arrived a week late"),
    ("en", "a second designer joins on Monday"),
    ("en", "Figma handoff delayed"),  # a product name: Italian among nine languages, English among the studio's
    ("en", "SSO integration with Okta"),
    ("en", "Kickoff with ACME GmbH"),
    ("en-GB", "We will not charge for the extra review round."),
    ("tr", "API ve CDN güncellemesi gecikti"),
    ("tr", "Figma teslimi gecikti"),
    ("tr", "QA"),  # one word: not judged
    ("tr", "Ek inceleme turu için ücret almayacağız."),
    ("bn", "QA দল এখন প্রতিদিন রিভিউ করবে"),  # a Latin acronym inside Bengali
    ("bn", "সোমবার থেকে একজন দ্বিতীয় ডিজাইনার যোগ দিচ্ছেন"),
    ("de", "die Markendateien kamen eine Woche zu spät"),  # not among the studio's: nothing to weigh it against
])
def test_the_letters_own_language_names_acronyms_and_single_words_are_left_alone(letter: str, text: str) -> None:
    assert foreign(text, letter, STUDIO if letter != "de" else ("de",)) is None


@pytest.mark.parametrize("text", ["Emre Yıldız joins the team on Monday", "Ayşe Yılmaz was ill",
                                  "the İstanbul team", "waiting on Çağlar"])
def test_an_english_text_naming_a_turkish_colleague_or_city_is_english(text: str) -> None:
    """The review: the names made these read as Turkish, and the letter left the team's English Plan out — with no
    way to put it back ("a note giving it in English composes the letter again": it was English)."""
    assert foreign(text, "en", STUDIO) is None
    assert foreign("Marka dosyaları bir hafta geç geldi", "en", STUDIO) == "tr"  # a Turkish sentence still is
