"""Writes docs/samples/: one client notice per built-in language, as .eml and as its plain text.

Run `python scripts/samples.py` after changing a template; tests/unit/test_samples.py checks they are current.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from deadlinewatch.adapters.templates import builtin_languages, letters
from deadlinewatch.core.letters import ClientEnvelope, NoticeLetter, Recipient
from deadlinewatch.core.model import TimelineRow

OUT = Path(__file__).resolve().parent.parent / "docs" / "samples"
COMPOSED = dt.datetime(2026, 11, 25, 14, 5, tzinfo=dt.UTC)
CLIENTS = {
    "en": ("Jane Doe", "your annual shareholder meeting on 12 December", "the brand assets arrived a week late",
           "a second designer joins on Monday and we review the mockups with you daily",
           "We will not charge for the extra review round."),
    "tr": ("Ayşe Yılmaz", "12 Aralık'taki yıllık hissedarlar toplantınız", "marka dosyaları bir hafta geç geldi",
           "pazartesi ikinci bir tasarımcı katılıyor ve taslakları sizinle her gün gözden geçiriyoruz",
           "Ek inceleme turu için ücret almayacağız."),
    "bn": ("রহিমা খাতুন", "১২ ডিসেম্বরের বার্ষিক শেয়ারহোল্ডার সভা", "ব্র্যান্ডের ফাইলগুলো এক সপ্তাহ দেরিতে এসেছে",
           "সোমবার থেকে একজন দ্বিতীয় ডিজাইনার যোগ দিচ্ছেন এবং আমরা প্রতিদিন আপনার সঙ্গে খসড়াগুলো দেখছি",
           "অতিরিক্ত রিভিউ রাউন্ডের জন্য কোনো ফি নেওয়া হবে না।"),
}


def sample(language: str) -> bytes:
    name, context, cause, plan, offer = CLIENTS[language]
    rows = (
        TimelineRow("demo-design", "Design mockups", dt.date(2026, 12, 2), dt.date(2026, 12, 10), "moved", 1),
        TimelineRow("demo-content", "Content migration", dt.date(2026, 12, 7), dt.date(2026, 12, 7), "on track", 0),
        TimelineRow("demo-launch", "Launch", dt.date(2026, 12, 21), dt.date(2026, 12, 21), "on track", 0),
    )
    env = ClientEnvelope(project_name="ACME website relaunch",
                         client=Recipient(name, "client@acme.example", language, "Europe/London"),
                         sender="Studio PM <pm@studio.example>", manager="pm@studio.example", cc=(),
                         composed_at=COMPOSED, message_id=f"<dw.sample.{language}@studio.example>",
                         token="sample", kind="notice")
    letter = NoticeLetter(envelope=env, milestone=rows[0], deadline=dt.date(2026, 12, 2),
                          promised=dt.date(2026, 12, 10), slip_days=6, context=context, cause=cause, plan=plan,
                          offer=offer, rows=rows)
    return letters().notice(letter).as_bytes()


def write(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for language in builtin_languages():
        raw = sample(language)
        from email import message_from_bytes
        from email.policy import default

        text = message_from_bytes(raw, policy=default).get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for path, data in ((out / f"notice-{language}.eml", raw), (out / f"notice-{language}.txt", text.encode())):
            path.write_bytes(data)
            written.append(path)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(p)
