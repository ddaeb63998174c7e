"""The readable text of an email: the plain part (or the HTML one as text), without quotes or signature."""

from __future__ import annotations

import html
import re
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import ClassVar

from mailparser_reply import EmailReplyParser


class _TextOfHtml(HTMLParser):
    """HTML to lines of text: block elements break lines, scripts and styles vanish."""

    BREAKS: ClassVar[set[str]] = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._quote = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        if tag == "blockquote":
            self._quote += 1  # quoted replies in HTML mail: not part of this note
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(self._skip - 1, 0)
        if tag == "blockquote":
            self._quote = max(self._quote - 1, 0)
        if tag in self.BREAKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip and not self._quote:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextOfHtml()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.parts)).replace("\xa0", " ")
    return "\n".join(line.strip() for line in re.split(r"\n", text)).strip()


def _decoded(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError):
        # an unknown or lying charset: keep what can be read rather than drop the note
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else str(payload)
    return content if isinstance(content, str) else ""


def full_text(msg: EmailMessage) -> str:
    """The text of a message, quotes and all: attachments ignored, HTML-only mail read as text."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if not isinstance(part, EmailMessage):  # none (or, with another policy, a legacy Message)
        return ""
    text = _decoded(part)
    return html_to_text(text) if part.get_content_subtype() == "html" else text


MAX_TEXT = 200_000  # characters of a message's text read for a note: a note is a few hundred; quotes may be more


def body_text(msg: EmailMessage) -> tuple[str, bool]:
    """The newest text the sender wrote (attachments ignored, HTML-only mail read as text), and whether that text
    runs past MAX_TEXT. Only the first MAX_TEXT characters are read: what follows is the quoted thread of a long
    reply, or a note too long to be one."""
    text = full_text(msg)
    if len(text) <= MAX_TEXT:
        return strip_reply(text), False
    cut = text[:MAX_TEXT].rsplit("\n", 1)[0]
    newest = strip_reply(cut)
    return newest, len(newest) > MAX_TEXT // 2  # no quote began early: the sender's own text is that long


# mail-parser-reply knows English and a dozen European languages, not Turkish or Bengali: their mail programs'
# attribution lines ("… tarihinde … şunu yazdı:", "… লিখেছেন:") and original-message separators end the note here
_OTHER_QUOTE_HEADERS = re.compile(
    r"^\s*(.+\b(tarihinde|yazdı)\b.*:|.+লিখেছেন\s*:|-{2,}\s*(orijinal mesaj|özgün ileti|মূল বার্তা)\s*-{2,})\s*$",
    re.IGNORECASE,
)


def strip_reply(text: str) -> str:
    """Drop quoted replies and the signature (mail-parser-reply knows the usual mail programs' markers)."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    cut = next((i for i, line in enumerate(lines) if _OTHER_QUOTE_HEADERS.match(line)), None)
    if cut is not None:
        text = "\n".join(lines[:cut])
    message = EmailReplyParser(languages=["en"]).read(text=text)
    if not message.replies:
        return text.strip()
    newest = message.replies[0].body or ""
    return "\n".join(line for line in newest.splitlines() if not line.lstrip().startswith(">")).strip()
