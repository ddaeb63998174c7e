"""The control socket: how `status`, `preview`, `approve` and `reject` reach a running daemon.

The daemon is the one writer of the state (and under systemd's DynamicUser the operator cannot even open the
database), so while it runs these commands are sent to it — one JSON line each way over a unix socket in its
runtime directory — and it answers with `manage.handle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deadlinewatch import config as config_mod
from deadlinewatch.errors import UsageError, exit_code

log = logging.getLogger(__name__)
SOCKET_NAME = "control.sock"
SYSTEMD_RUNTIME = Path("/run/deadlinewatch")  # RuntimeDirectory=deadlinewatch in the unit


def daemon_socket(config: config_mod.Config) -> Path:
    """Where the daemon listens: its runtime directory under systemd, else beside the state."""
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    return Path(runtime) / SOCKET_NAME if runtime else config.state_dir / SOCKET_NAME


def candidates(config: config_mod.Config) -> list[Path]:
    """Where a command looks for a running daemon (an operator's shell has no RUNTIME_DIRECTORY)."""
    return [daemon_socket(config), SYSTEMD_RUNTIME / SOCKET_NAME, config.state_dir / SOCKET_NAME]


def ask(config: config_mod.Config, request: dict[str, Any], timeout: float = 60) -> dict[str, Any] | None:
    """Send a request to the running daemon; None when no daemon answers (then the CLI works on the store)."""
    for path in dict.fromkeys(candidates(config)):
        if not path.is_socket():
            continue
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(str(path))
                sock.sendall(json.dumps(request).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            answer: dict[str, Any] = json.loads(data)
            return answer
        except (ConnectionRefusedError, FileNotFoundError):
            continue  # a socket left behind by a daemon that is gone
    return None


async def serve(path: Path, handle: Callable[[dict[str, Any]], dict[str, Any]]) -> asyncio.AbstractServer:
    """Listen on `path` (owner-only); each connection sends one JSON line and gets one back. `handle` runs in a
    thread of its own (it must not touch what the loop owns)."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
                # off the loop: a preview composes letters, a status reads every milestone — the daemon's pass,
                # IDLE and web pages go on meanwhile
                answer = await asyncio.to_thread(handle, request) if isinstance(request, dict) else {
                    "exit": exit_code(UsageError), "error": "bad request"}
            except json.JSONDecodeError:
                answer = {"exit": exit_code(UsageError), "error": "bad request: not JSON"}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, OSError) as e:
            log.debug("control: a client went away: %s", e)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by a daemon that died: we hold the state lock, so it is not in use
    old = os.umask(0o077)
    try:
        server = await asyncio.start_unix_server(on_connect, path=str(path))
    finally:
        os.umask(old)
    return server
