"""The memory a big pass freed goes back to the system (adapters/memory.py)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import pytest

from deadlinewatch.adapters import memory


def _resident() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's; elsewhere it does nothing")
def test_memory_a_pass_freed_leaves_the_resident_set() -> None:
    used = [bytes(1000) for _ in range(200_000)]  # about 200 MB of malloc'ed blocks a pass used …
    kept = used[::50]  # … of which a few outlive it, scattered through the heap (forecasts, notes kept)
    del used
    before = _resident()  # glibc keeps the pages between the kept blocks: the resident set stays at the peak
    memory.give_back_freed()
    assert before - _resident() > 100 * 2**20  # most of it returned
    assert len(kept) == 4000


def test_giving_back_never_fails() -> None:
    memory.give_back_freed()
    memory.give_back_freed()
