"""The readable text of an email: the plain part (or the HTML one as text), without quotes or signature."""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from email.message import EmailMessage
from email.utils import parseaddr
from html.parser import HTMLParser
from typing import Any, ClassVar

from mailparser_reply.parser import EmailMessage as ReplyText

from deadlinewatch.core.notes import fold, is_note_line, last_note_line  # a note's own lines are never a quote's


class _TextOfHtml(HTMLParser):
    """HTML to lines of text as a mail program shows them: a block element starts a line of its own, <br> breaks a
    line, and a paragraph (<p>) stands apart by a blank line — but for Outlook's, one a line (class "MsoNormal",
    no margin), where an empty one (<p>&nbsp;</p>) is the blank line typed; Gmail's and Apple Mail's <div> a line
    (<div><br></div> the blank one); a list's items a hyphen list. The markup's own whitespace (its source's line
    wrapping) is a space, as a browser shows it; scripts, styles and quoted replies (<blockquote>) vanish."""

    BLOCKS: ClassVar[set[str]] = {"p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote",
                                  "ul", "ol", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._line = False  # the line being written holds text (or a no-break space: an empty block's)
        self._written = False  # any text written yet
        self._gap = False  # a paragraph ended: a blank line before the next text
        self._paragraphs: list[bool] = []  # the open <p>s: True for one that stands apart
        self._skip = 0
        self._quote = 0
        self._pre = 0

    def _break(self, always: bool = False) -> None:
        if self._skip or self._quote:
            return
        if always or self._line:
            self.parts.append("\n")
            self._line = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self._skip += 1
        if tag in self.BLOCKS:
            self._break()
        if tag in ("ul", "ol"):
            self._gap = False  # a list under a paragraph ("Plan:") is that paragraph's
        if tag == "p" and not (self._skip or self._quote):
            found = dict(attrs)
            style = (found.get("style") or "").replace(" ", "").lower()
            one_a_line = "mso" in (found.get("class") or "").lower() or "margin:0" in style
            self._paragraphs.append(not one_a_line)
            self._gap = self._gap or not one_a_line
        if tag == "blockquote":
            self._quote += 1  # quoted replies in HTML mail: not part of this note
        if tag == "pre":
            self._pre += 1
        if tag == "br":
            self._break(always=True)
        if tag == "li":
            self.handle_data("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self._skip = max(self._skip - 1, 0)
        if tag == "blockquote":
            self._quote = max(self._quote - 1, 0)
        if tag == "pre":
            self._pre = max(self._pre - 1, 0)
        if tag in self.BLOCKS:
            self._break()
        if tag == "p" and self._paragraphs and not (self._skip or self._quote):
            self._gap = self._gap or self._paragraphs.pop()

    def handle_data(self, data: str) -> None:
        if self._skip or self._quote:
            return
        if not self._pre:
            data = _MARKUP_SPACE.sub(" ", data)  # the markup's own line breaks and indents are a space
            if not (data.strip(" ") or (data and self._line)):
                return
        if self._gap and self._written and not self._line:
            self.parts.append("\n")  # the blank line between two paragraphs
        self._gap = False
        self.parts.append(data)
        self._written = True
        self._line = not data.endswith("\n") if self._pre else True


_MARKUP_SPACE = re.compile(r"[ \t\r\n\f]+")  # HTML's whitespace; a no-break space is text (an empty <p>&nbsp;</p>)


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


def signer_of(msg: EmailMessage) -> frozenset[str]:
    """How the sender may sign: their display name, whole and its first word, folded ("alice smith", "alice")."""
    try:
        name = fold(parseaddr(str(msg.get("From", "")))[0])
    except (ValueError, TypeError, IndexError):
        return frozenset()
    return frozenset(n for n in (name, name.split(" ")[0] if name else "") if n)


def body_text(msg: EmailMessage) -> tuple[str, bool]:
    """The newest text the sender wrote (attachments ignored, HTML-only mail read as text), and whether that text
    runs past MAX_TEXT. Only the first MAX_TEXT characters are read: what follows is the quoted thread of a long
    reply, or a note too long to be one."""
    text = full_text(msg)
    if len(text) <= MAX_TEXT:
        return strip_reply(text, signer_of(msg)), False
    cut = text[:MAX_TEXT].rsplit("\n", 1)[0]
    newest = strip_reply(cut, signer_of(msg))
    return newest, len(newest) > MAX_TEXT // 2  # no quote began early: the sender's own text is that long


# Where the quoted thread begins, told by its shape rather than by phrases: mail programs write the attribution
# and the original-message headers in the phone's or the computer's language (Russian, German, Chinese, …), and a
# list of English (or even of thirty languages') phrases always misses one — then the quoted sender's line ends up
# in a Plan and from there in a client's letter. The shapes:
# - an attribution: a line ending in a colon (ASCII, full-width, or after a space as in French) that names a date
#   or time (it has a digit) and either an address, or stands just above a quote ("> …") or ends the text (HTML
#   mail, whose <blockquote> is dropped already); Gmail may wrap it in two lines, the second ending "…>:";
# - an original-message header block (Outlook, and forwards in every program): "Label: … address …" followed at
#   once by "Label: …" lines, one of them a date or time — "Von:/Gesendet:", "От:/Отправлено:", "发件人:/发送时间:";
# - a separator: dashes around words ("---------- Пересланное сообщение ---------") or a rule of underscores.
_COLON_END = re.compile(r"[:：]\s*$")
_ADDRESS = re.compile(r"[^\s<>()\[\]@]+@[^\s<>()\[\]@]+\.[^\s<>()\[\]@]+")
_WHEN = re.compile(r"\d{1,2}[:.]\d{2}|\d{4}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d")
_LABEL = re.compile(r"^\s*\*?[^\W\d_][^:：\n]{0,24}?\*?\s?[:：]\s*(.*)$")
# what mail programs call the sender atop a quoted message ("From:", "Kimden:", "Von:", "От:", "发件人:"): a header
# block naming its sender without an address starts with one of these
_SENDER_LABELS = frozenset(map(fold, (
    "from", "de", "von", "van", "da", "od", "från", "fra", "frá", "kimden", "gönderen", "от", "від", "发件人", "寄件者",
    "差出人", "보낸 사람", "প্রেরক", "থেকে", "từ", "dari", "remitente", "mittente", "lähettäjä", "feladó", "από", "מאת",
    "من", "absender", "expéditeur")))
_NOTE_LINE = re.compile(r"^\s*[^\W\d_][^\W\d_ ]*(?: [^\W\d_]+){0,2}\s?[:：]\s")  # "Plan: …", "Kalan süre: …"
_SEPARATOR = re.compile(r"^\s*(-{3,}.*\S.*-{3,}|_{10,}|-{10,})\s*$")


def _attribution(line: str, below: str, last: bool) -> bool:
    if not _COLON_END.search(line) or not _WHEN.search(line) or len(line) < 12:
        return False
    return bool(_ADDRESS.search(line)) or below.lstrip().startswith(">") or last


def _header_block(lines: list[str], i: int) -> bool:
    """Does an original message's header block start here: "From: … address …" and two "Label: …" lines under
    it, one naming a time — or, with no address (Outlook names a sender of the same organisation by name alone:
    "Kimden: Studio PM"), three, all four lines of one block, none a note's (an empty "To:" or "Cc:" too)."""
    first = _LABEL.match(lines[i])
    if first is None or is_note_line(lines[i]):
        return False
    addressed = _ADDRESS.search(first[1]) is not None
    if not addressed and fold(lines[i].split(":")[0].split("：")[0]).strip(" *") not in _SENDER_LABELS:
        return False  # "Mon: finish the endpoints", "Alice: ticket 1234" — a Plan's own lines, not a header
    following = [_LABEL.match(line) for line in lines[i + 1:i + 4]]  # an empty "Cc:" is a label too
    labels = [m for m in following if m is not None]
    # a note's own lines are no header: "Cause: files from jane@acme.example", then "Plan: …" and "ETA: 2026-12-10"
    return len(labels) >= (2 if addressed else 3) and following[0] is not None and (
        addressed or None not in following) and not any(map(is_note_line, lines[i + 1:i + 4])) and any(
        re.search(r"\d{1,2}:\d{2}|\d{4}", m[1]) for m in labels)




def quote_start(lines: list[str]) -> int | None:
    """The index of the line where the quoted thread begins, or None (see above)."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    for n, i in enumerate(filled):
        line = lines[i]
        below = lines[filled[n + 1]] if n + 1 < len(filled) else ""
        last = n + 1 == len(filled)
        # a bare rule of dashes above more of the note ("Milestone: …" below it) parts its blocks, not a quote (a
        # worded one, "----- Original Message -----", and Outlook's underscores always start one)
        rule = _SEPARATOR.match(line) and not (set(line.strip()) == {"-"} and any(map(is_note_line, lines[i + 1:])))
        if rule or _header_block(lines, i) or _attribution(line, below, last):
            return i
        # Gmail wraps a long attribution: "On …, Alice Example <" / "alice@example.com> wrote:" — the first half
        # has the date, the second the address and the colon; a note's "Plan: …" line above one is no half
        if (not last and not _COLON_END.search(line) and not _NOTE_LINE.match(line) and _WHEN.search(line)
                and len(below) < 80 and _ADDRESS.search(below) and _COLON_END.search(below)
                and not _attribution(below, "", False)):
            return i
    return None


# a line that closes a mail: the signature follows. mail-parser-reply knows English ones only, and not alone on a
# line: "Saygılarımla," and the name under it were read as the Plan's next lines, which the client's letter quotes.
# Folded as notes.fold compares ("İyi", "iyi" and "Iyi" alike; "tesekkurler" written without its accents too)
_CLOSINGS = frozenset(map(fold, (
    "thanks", "thank you", "many thanks", "thanks a lot", "thanks again", "thanks so much", "thank you so much",
    "thanks in advance", "thx", "regards", "best regards", "kind regards", "warm regards", "warmest regards",
    "best wishes", "all the best", "best", "cheers", "br", "talk soon", "speak soon", "take care", "sincerely",
    "yours", "saygılarımla", "teşekkürler", "teşekkür ederim", "çok teşekkürler", "iyi çalışmalar", "iyi günler",
    "iyi akşamlar", "kolay gelsin", "sevgiler", "selamlar", "görüşmek üzere", "ধন্যবাদ", "ধন্যবাদান্তে",
    "শুভেচ্ছান্তে", "শুভেচ্ছা সহ", "শুভেচ্ছা")))
# a closing and the name after it on one line: "Saygılarımla, Ayşe", "Regards - Alice", "Thanks – Bob"
_CLOSING_AND_NAME = re.compile(r",|\s[-–—]\s")
_SENT_FROM = tuple(map(fold, ("sent from my", "iphone'umdan gönderildi", "iphone’umdan gönderildi", "আমার আইফোন থেকে")))


def closing_line(lines: list[str], signer: Collection[str] = ()) -> int | None:
    """The index of the line that closes the mail ("Thanks,", "Saygılarımla, Ayşe", "İyi çalışmalar.", "ধন্যবাদ",
    "Sent from my iPhone", "-Alice") below a line of the note ("Key: value"; a "Thanks!" above the note greets) and
    with no more of the note below it (a "Thanks!" between two blocks is no end); None when there is none."""
    keyed = False
    above = ""  # the last line with text above this one
    last_keyed = last_note_line(lines)  # below it, no more of the note: found once, not for every line
    for i, line in enumerate(lines):
        said = fold(line).rstrip("!,.;:-– ")
        # "-Alice" signs; "- Daily Reviews" under "Plan:" or another item is the hyphen list's last item — unless it
        # is the sender's own name ("-Alice", "— Alice Smith" from Alice Smith)
        dashed = _DASHED_NAME.match(line) is not None
        signed = dashed and (fold(line).strip(" -–—") in signer or not (
            _COLON_END.search(above) or above.lstrip().startswith(("-", "–", "—", "*", "•"))))
        closing = _CLOSING_AND_NAME.split(said)[0].strip() in _CLOSINGS or said.startswith(_SENT_FROM) or signed \
            or _contact(line)
        if keyed and closing and i >= last_keyed:
            return i
        keyed = keyed or ":" in line or "：" in line
        above = line if line.strip() else above
    return None


# a signature's contact line ("Phone: +1 555 0100", "T: 0212 …", "Web: www.studio.example", "Cep: 0532 …") or a
# disclaimer ("CONFIDENTIALITY NOTICE: …"): a mail program's signature needs no "-- " above it
_CONTACT_LABELS = frozenset(map(fold, (
    "phone", "tel", "telephone", "mobile", "cell", "fax", "email", "e-mail", "mail", "web", "website", "www", "t",
    "m", "f", "e", "w", "p", "skype", "linkedin", "address", "telefon", "cep", "faks", "adres", "e-posta", "eposta",
    "ফোন", "মোবাইল", "ইমেইল", "ই-মেইল", "ঠিকানা")))
# a contact line's value, whole: a telephone number, an address or a link ("T: 2 testers join" is a Plan's line)
_CONTACT_VALUE = re.compile(r"\s*(?:\+?\(?\d[\d\s()./-]{5,}\d|\S+@\S+\.\S+|(?:https?://|www\.)\S+)\s*[.,;]?\s*")
_DISCLAIMER = tuple(map(fold, ("confidentiality notice", "confidential", "disclaimer", "gizlilik", "yasal uyarı")))


def _contact(line: str) -> bool:
    label, colon, value = line.partition(":")
    if not colon:
        return False
    name = fold(label).strip(" *")
    return (name in _CONTACT_LABELS and _CONTACT_VALUE.fullmatch(value) is not None) or name.startswith(_DISCLAIMER)


_DASHED_NAME = re.compile(r"^\s*(?:--?|—)(?:[A-ZÇĞİÖŞÜ]\w*|\s[A-ZÇĞİÖŞÜ]\w*\s[A-ZÇĞİÖŞÜ]\w*)\s*$")  # "-Alice"


def strip_reply(text: str, signer: Collection[str] = ()) -> str:
    """Drop quoted replies and the signature (mail-parser-reply knows the usual mail programs' markers)."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    cut = quote_start(lines)
    if cut is not None:
        lines = lines[:cut]
    closed = closing_line(lines, signer)
    if cut is not None or closed is not None:
        text = "\n".join(lines[:closed])
    message = _Replies(text=text, languages=["en"], keep_hyphen_lists=True).read()
    if not message.replies:
        return text.strip()
    newest = message.replies[0].body or ""
    return "\n".join(line for line in newest.splitlines() if not line.lstrip().startswith(">")).strip()


class _Replies(ReplyText):  # type: ignore[misc]  # mail-parser-reply is untyped
    """mail-parser-reply's reading of a mail's text (what its EmailReplyParser.read makes), its three patterns
    — the reply headers, the signatures, the disclaimers of every language it knows — built and compiled once per
    set of languages rather than for each message: that was most of its time, a twentieth of taking a note in."""

    def __post_init__(self) -> None:
        super().__post_init__()
        key = (tuple(self.languages), self.default_language, self.keep_hyphen_lists)
        known = _PATTERNS.get(key)
        if known is None:
            known = _PATTERNS[key] = (self.HEADER_REGEX, self.DISCLAIMERS_REGEX, self.SIGNATURE_REGEX)
        self._header_regex, self._disclaimers_regex, self._signature_regex = known


_PATTERNS: dict[tuple[Any, ...], tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]] = {}
