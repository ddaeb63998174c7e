"""A server account's login, as the adapters need it: the name, and a password that never shows itself.

Kept apart from config.py so that the adapters (adapters/) depend on this small value, not on the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass


class Secret:
    """A password that never shows itself in logs, reprs or error messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class ServerAccount:
    username: str
    password: Secret | None
