"""Sentences the program writes, as data, so each reader gets them in their own language: a `Phrase` is the
English text with %(name)s placeholders — the msgid the `letters` catalogs translate — and its values (a date,
a number of working days, a percentage, a factor, free text, another phrase). `str()` gives the English (logs,
`status --json`, replay); `Letters.say` gives the reader's language, every value in their locale and digits.

A phrase's text is always written inside `_()` where it is made, so that `scripts/catalogs.sh` extracts it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, cast


def _(message: str) -> str:
    """Marks a message for the catalogs (scripts/catalogs.sh extracts it); translated where it is said."""
    return message


def ngettext(singular: str, plural: str, n: int) -> tuple[str, str]:
    """Marks a message with a plural for the catalogs; said with the count where it is used."""
    return singular, plural


@dataclass(frozen=True, slots=True)  # one per phrase of every forecast kept: small
class Days:
    """A duration in working days ("4 working days", "1,5 iş günü")."""

    n: float


@dataclass(frozen=True, slots=True)  # one per phrase of every forecast kept: small
class Percent:
    """A share, 0-100 ("60%", "%60", "৬০%")."""

    n: float


@dataclass(frozen=True, slots=True)  # one per phrase of every forecast kept: small
class Factor:
    """How many times as much ("1.8", "1,8")."""

    x: float


Value: TypeAlias = "str | int | float | dt.date | Days | Percent | Factor | Phrase"

DAYS = ngettext("%(n)s working day", "%(n)s working days", 1)


def _english(value: Value) -> str:
    # by the exact type first: every forecast's reason is rendered each first pass (ten thousand at a time), and
    # the isinstance chain below was half of it; any other type takes the chain
    if type(value) is str:
        return value
    if type(value) is Days:
        n = round(value.n, 1)
        return (DAYS[0] if n == 1 else DAYS[1]) % {"n": f"{n:g}"}
    if type(value) is Phrase:
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Days):
        n = round(value.n, 1)
        return (DAYS[0] if n == 1 else DAYS[1]) % {"n": f"{n:g}"}
    if isinstance(value, Percent):
        return f"{points(value.n):g}%"
    if isinstance(value, Factor):
        return f"{value.x:.1f}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def points(percent: float) -> float:
    """A percentage as it is said: whole points, but for a fraction of one, which keeps its decimals ("0.8%", never
    "1%"); the English here and every locale's (locales.format_percent)."""
    return percent if 0 < percent < 1 else round(percent)


@dataclass(frozen=True, slots=True)  # one per phrase of every forecast kept: small
class Phrase:
    text: str
    values: tuple[tuple[str, Value], ...] = ()

    def __str__(self) -> str:
        return self.text % {k: _english(v) for k, v in self.values} if self.values else self.text


def phrase(text: str, /, **values: Value) -> Phrase:
    return Phrase(text, tuple(values.items()))


def english(words: Sequence[Phrase], sep: str = " ") -> str:
    return sep.join(map(str, words))


def reason(words: Sequence[Phrase], p50: dt.date | None, p80: dt.date | None, p_miss: float | None) -> str:
    """A forecast's reason in English (`Forecast.reason`): its sentences, then its figures for scripts — "The team
    says it needs another 4 working days. → P50 2026-12-08, P80 2026-12-11, P(miss) 62%"; the P80 alone when the
    forecast has no other figure."""
    text = english(words)
    if p50 is not None and p80 is not None and p_miss is not None:
        return f"{text} → P50 {p50.isoformat()}, P80 {p80.isoformat()}, P(miss) {p_miss:.0%}"
    return f"{text} → P80 {p80.isoformat()}" if p80 is not None else text


# --- kept in the state as JSON --------------------------------------------------------------------------------


def _encode(value: Value) -> Any:
    # by the exact type first, as _english: any other type takes the chain
    if type(value) is Phrase:
        return {"phrase": [value.text, {k: _encode(v) for k, v in value.values}]}
    if type(value) is str or type(value) is int:
        return value
    if type(value) is Days:
        return {"days": value.n}
    if isinstance(value, Phrase):
        return {"phrase": [value.text, {k: _encode(v) for k, v in value.values}]}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    for kind, cls in (("days", Days), ("percent", Percent)):
        if isinstance(value, cls):
            return {kind: value.n}
    if isinstance(value, Factor):
        return {"factor": value.x}
    return value


def _decode(raw: Any) -> Value:
    if isinstance(raw, dict):
        (kind, v), = raw.items()
        if kind == "phrase":
            return Phrase(str(v[0]), tuple((k, _decode(x)) for k, x in v[1].items()))
        if kind == "date":
            return dt.date.fromisoformat(v)
        number = float(v)
        return Days(number) if kind == "days" else Percent(number) if kind == "percent" else Factor(number)
    return raw  # type: ignore[no-any-return]  # a JSON scalar: str, int or float, each a Value


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False), made once and not per call


_STRING = json.encoder.encode_basestring  # a JSON string without \\u escapes (ensure_ascii=False), in C


def _number(n: float) -> str:
    """A number as JSON writes it (json's own float repr; Infinity for a forecast beyond any horizon)."""
    return repr(n) if type(n) is float and math.isfinite(n) else str(n) if type(n) is int else _JSON.encode(n)


def _json(value: Value) -> str:
    """`_encode(value)` as JSON text, written directly: a first pass keeps ten thousand forecasts' words, and the
    nested dicts built only to be encoded were a fifth of writing them. Any type it does not know takes `_encode`."""
    kind = type(value)
    if kind is Phrase:
        p = cast(Phrase, value)  # the exact type, tested above (as the ones below)
        inner = ",".join(f"{_STRING(k)}:{_json(v)}" for k, v in p.values)
        return f'{{"phrase":[{_STRING(p.text)},{{{inner}}}]}}'
    if kind is str:
        return _STRING(cast(str, value))
    if kind is int:
        return str(value)
    if kind is Days:
        return f'{{"days":{_number(cast(Days, value).n)}}}'
    if kind is Percent:
        return f'{{"percent":{_number(cast(Percent, value).n)}}}'
    # a factor and a date as json.dumps wrote them (its ": " separator), as the rows kept before have them: every
    # forecast with a plan names its start and its team's factor
    if kind is Factor:
        return f'{{"factor": {_number(cast(Factor, value).x)}}}'
    if kind is dt.date:
        return f'{{"date": "{cast(dt.date, value).isoformat()}"}}'
    return _JSON.encode(_encode(value))


def dumps(words: Sequence[Phrase]) -> str:
    """Phrases as JSON (the forecasts table's `words`): what `loads` reads back."""
    return "[" + ",".join(map(_json, words)) + "]"


def loads(text: str | None) -> tuple[Phrase, ...]:
    """Phrases kept by `dumps`; none from a row written before they were kept (its English reason stands)."""
    if not text:
        return ()
    try:
        return tuple(p for p in map(_decode, json.loads(text)) if isinstance(p, Phrase))
    except (ValueError, KeyError, TypeError, IndexError):
        return ()
