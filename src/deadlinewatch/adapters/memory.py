"""Memory the process freed, given back to the system.

A first pass reads every open milestone's notes and forecasts them: tens of megabytes are allocated, most of
them freed at its end, and glibc's allocator keeps what it freed for later use — the resident size stays at the
pass's peak for the daemon's whole life. `malloc_trim(0)` hands the free pages back. Elsewhere (musl, macOS) it
is absent and this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def _trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc: no such function
        return None
    return trim


def give_back_freed() -> None:
    """Return the pages the allocator holds free to the system (glibc's malloc_trim); nothing elsewhere."""
    trim = _trim()
    if trim is not None:
        trim(0)
