"""The control socket answers a command off the daemon's loop: a slow one (a preview composing letters) does not
hold up the loop, so another command, IDLE and the pass go on meanwhile."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from deadlinewatch import control


async def _ask(path: Path, request: dict[str, Any]) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(json.dumps(request).encode() + b"\n")
    await writer.drain()
    answer: dict[str, Any] = json.loads(await reader.readline())
    writer.close()
    await writer.wait_closed()
    return answer


async def test_a_slow_command_does_not_hold_up_another(tmp_path: Path) -> None:
    released = threading.Event()

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        if request["command"] == "slow":  # waits for the quick one: only answered if the loop kept serving
            return {"exit": 0, "released": released.wait(timeout=10)}
        released.set()
        return {"exit": 0}

    server = await control.serve(tmp_path / "control.sock", handle)
    try:
        slow = asyncio.create_task(_ask(tmp_path / "control.sock", {"command": "slow"}))
        await asyncio.sleep(0.05)  # the slow one is in its handler
        quick = await asyncio.wait_for(_ask(tmp_path / "control.sock", {"command": "quick"}), timeout=5)
        assert quick == {"exit": 0}
        assert await slow == {"exit": 0, "released": True}
    finally:
        server.close()
        await server.wait_closed()


async def test_a_request_that_is_not_an_object_is_refused_without_the_handler(tmp_path: Path) -> None:
    called: list[object] = []

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        called.append(request)
        return {"exit": 0}

    server = await control.serve(tmp_path / "control.sock", handle)
    try:
        assert (await _ask(tmp_path / "control.sock", [1, 2]))["error"] == "bad request"  # type: ignore[arg-type]  # a list on purpose
        assert called == []
    finally:
        server.close()
        await server.wait_closed()
