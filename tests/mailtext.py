"""Reading a letter the way its client does: the text of its plain or HTML body."""

from email.message import EmailMessage, MIMEPart


def body(msg: EmailMessage | MIMEPart, kind: str = "plain") -> str:
    """The letter's text/plain (or text/html) body; a letter without one fails the test here, by name."""
    part = msg.get_body((kind,))
    assert part is not None, f"the letter has no text/{kind} body"
    text: str = part.get_content()
    return text
