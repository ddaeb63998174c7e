"""The email library's modern policy, made affordable for an inbox of thousands of notes.

`email.policy.default` parses a header every time it is read (and builds a new header class each time, too):
about 70 µs, and a note's headers are read a dozen times between classifying it and finding its body — the
biggest cost of taking a note in; writing a header out folds it anew each time as well. Headers are immutable
values, so each distinct (name, value) is parsed once and shared, and folded once per policy. The messages read
and written are exactly those of the stock policies.
"""

from __future__ import annotations

from email.headerregistry import BaseHeader, HeaderRegistry
from email.policy import EmailPolicy, default
from typing import Any

_PARSED_KEPT = 20_000  # distinct header values kept; a full cache starts over (the values are cheap to redo)


class CachingHeaderRegistry(HeaderRegistry):
    """A HeaderRegistry that builds each header class once and parses each distinct (name, value) once."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._parsed: dict[tuple[str, str], Any] = {}

    def __getitem__(self, name: str) -> Any:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = _folding_once(super().__getitem__(name))
        return cls

    def __call__(self, name: str, value: Any) -> Any:
        if type(value) is not str:  # a Header or header object given to set: the stock path
            return super().__call__(name, value)
        key = (name, value)
        parsed = self._parsed.get(key)
        if parsed is None:
            if len(self._parsed) >= _PARSED_KEPT:
                self._parsed.clear()
            parsed = self._parsed[key] = self[name](name, value)
        return parsed


def _folding_once(base: type[BaseHeader]) -> type[BaseHeader]:
    """The header class, remembering its folded form per policy: a shared header is written out many times."""

    def fold(self: BaseHeader, *, policy: Any) -> str:
        memo = self.__dict__.get("_folded")
        if memo is not None and memo[0] is policy:
            known: str = memo[1]
            return known
        folded = base.fold(self, policy=policy)
        self.__dict__["_folded"] = (policy, folded)
        return folded

    return type(base.__name__, (base,), {"fold": fold})


class _FoldingOncePolicy(EmailPolicy):
    """The SMTP policy, folding each header value we compose once. The letters set some headers as `str`
    subclasses that fold themselves (core/mime.py `Subject`, `Addresses`: RFC 2047 written whole): their folded
    form depends only on their class, name and text — and encoding a non-ASCII reply's Subject (email.header) took
    most of writing the message out (45 of 59 µs), the same text again for every note of a thread. Header objects
    of the registry keep their own (above)."""

    def _fold(self, name: str, value: Any, refold_binary: bool = False) -> str:
        if not hasattr(value, "name") or isinstance(value, BaseHeader) or not isinstance(value, str):
            return super()._fold(name, value, refold_binary)  # type: ignore[misc,no-any-return]  # typeshed has no _fold
        key = (self, type(value), getattr(value, "name"), str(value), name, refold_binary)  # noqa: B009 - str has none
        folded = _FOLDED.get(key)
        if folded is None:
            if len(_FOLDED) >= _PARSED_KEPT:
                _FOLDED.clear()
            folded = _FOLDED[key] = super()._fold(name, value, refold_binary)  # type: ignore[misc]  # typeshed has no _fold
        return folded


_FOLDED: dict[tuple[Any, ...], str] = {}
_REGISTRY = CachingHeaderRegistry()
READ = default.clone(header_factory=_REGISTRY)  # for mail read from the inbox
# for mail deadlinewatch composes: email.policy.SMTP (CRLF line ends), each composed header folded once
WRITE = _FoldingOncePolicy(linesep="\r\n", header_factory=_REGISTRY)
