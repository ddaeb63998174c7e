"""The refresh token a provider rotates is never lost: it is written whole or not at all (a temp file beside it,
fsynced, renamed over, the folder fsynced), readable by its owner only, and when it cannot be written the daemon
goes on with it from memory and says where and why. A provider that rotates refresh tokens has already revoked the
old one by the time we write: losing the new one would mean signing in again by hand."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from deadlinewatch.adapters import oauth
from deadlinewatch.adapters.oauth import RefreshTokens, TokenSource
from deadlinewatch.credentials import OAuthClient
from deadlinewatch.errors import ConfigError

CLIENT = OAuthClient("generic", "deadlinewatch-test", None, "", "https://idp.example/token", ("imap",))


class RotatingProvider:
    """A token endpoint that rotates: each refresh token works once, and the answer carries the next one."""

    def __init__(self, first: str = "r1") -> None:
        self.valid = {first}
        self.used: list[str] = []
        self.issued = 1

    def refresh_token(self, url: str, refresh_token: str) -> dict[str, Any]:
        from authlib.integrations.base_client import OAuthError

        self.used.append(refresh_token)
        if refresh_token not in self.valid:
            raise OAuthError(error="invalid_grant", description="the refresh token was revoked")
        self.valid.discard(refresh_token)
        self.issued += 1
        new = f"r{self.issued}"
        self.valid.add(new)
        return {"access_token": f"a{self.issued}", "refresh_token": new, "expires_in": 3600}


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> RotatingProvider:
    provider = RotatingProvider()
    monkeypatch.setattr(oauth, "_session", lambda client: provider)
    return provider


def refuse_writes(monkeypatch: pytest.MonkeyPatch, folder: Path, failure: OSError) -> None:
    """Every file opened for writing in `folder` fails as a read-only, foreign or full folder would."""
    real_open = os.open

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(path).parent == folder and flags & (os.O_WRONLY | os.O_RDWR):
            raise failure
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)


def signed_in(tmp_path: Path) -> RefreshTokens:
    tokens = RefreshTokens(tmp_path / "state", "imap")
    tokens.write("r1")  # as `login` leaves it
    return tokens


def test_the_refresh_token_is_written_beside_itself_fsynced_and_renamed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = signed_in(tmp_path)
    folder = tokens.path.parent
    steps: list[tuple[str, Any]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        steps.append(("fsync", "folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        src, dst = Path(src), Path(dst)
        # what is renamed over the token is complete and private before it takes the token's name
        steps.append(("replace", (src.parent == dst.parent, stat.S_IMODE(src.stat().st_mode),
                                  json.loads(src.read_text())["refresh_token"], dst == tokens.path)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    tokens.write("r2")
    assert steps == [("fsync", "file"), ("replace", (True, 0o600, "r2", True)), ("fsync", "folder")]
    assert tokens.read() == "r2"
    assert stat.S_IMODE(tokens.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["imap-refresh-token"]  # no temp file left behind


def test_a_stale_temp_file_with_loose_permissions_does_not_leak_the_token(tmp_path: Path) -> None:
    tokens = signed_in(tmp_path)
    for leftover in (tokens.path.with_suffix(".tmp"), tokens.path.parent / "imap-refresh-token.tmp"):
        leftover.write_text("")
        leftover.chmod(0o644)  # left by an older version, or by a hand with another umask
    tokens.write("r2")
    assert stat.S_IMODE(tokens.path.stat().st_mode) == 0o600
    assert tokens.read() == "r2"


def test_a_write_that_fails_midway_leaves_the_old_token_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    tokens = signed_in(tmp_path)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ConfigError) as e:
        tokens.write("r2")
    assert str(tokens.path) in str(e.value) and "No space left on device" in str(e.value)
    assert json.loads(tokens.path.read_text())["refresh_token"] == "r1"  # the file on disk: the old one, whole
    assert sorted(p.name for p in tokens.path.parent.iterdir()) == ["imap-refresh-token"]
    assert tokens.read() == "r2"  # while this process runs, the new one is the one used


@pytest.mark.parametrize("failure", [
    OSError(errno.EROFS, "Read-only file system"),  # the state folder mounted read-only (ReadOnlyPaths=)
    OSError(errno.EACCES, "Permission denied"),  # the folder owned by another user (a `login` run as root)
    OSError(errno.ENOSPC, "No space left on device"),
])
def test_a_rotated_token_that_cannot_be_saved_is_used_from_memory_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: RotatingProvider, caplog: pytest.LogCaptureFixture,
    failure: OSError,
) -> None:
    tokens = signed_in(tmp_path)
    now = [1_000_000.0]
    source = TokenSource("imap", CLIENT, tokens, clock=lambda: now[0])

    refuse_writes(monkeypatch, tokens.path.parent, failure)
    with caplog.at_level(logging.INFO, logger="deadlinewatch.adapters.oauth"):
        assert source().reveal() == "a2"  # the login goes on: the provider has rotated r1 into r2
        [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
        said = error.getMessage()
        assert failure.strerror is not None  # each failure above names its error
        assert str(tokens.path) in said and failure.strerror in said and "writable" in said
        assert "r2" not in said.split() and "a2" not in said.split()  # no token in the log
        assert source.problem is not None and str(tokens.path) in source.problem  # for status and STATUS

        now[0] += 3600  # the next renewal: with r2 (the one in memory), not r1 (revoked)
        assert source().reveal() == "a3"
        assert provider.used == ["r1", "r2"]
        assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1  # said once per episode

        monkeypatch.undo()  # the folder is writable again: the token in memory is saved at the next use
        monkeypatch.setattr(oauth, "_session", lambda client: provider)
        assert source().reveal() == "a3"
        assert source.problem is None
        assert json.loads(tokens.path.read_text())["refresh_token"] == "r3"
        assert any("saved" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
    after_restart = TokenSource("imap", CLIENT, RefreshTokens(tmp_path / "state", "imap"), clock=lambda: now[0])
    now[0] += 3600
    assert after_restart().reveal() == "a4"


def test_a_newer_token_put_in_the_credential_wins_over_the_one_held_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: RotatingProvider
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "imap-refresh-token").write_text("r1\n")
    tokens = RefreshTokens(tmp_path / "state", "imap", credentials_dir=str(creds))
    source = TokenSource("imap", CLIENT, tokens)

    refuse_writes(monkeypatch, tokens.path.parent, OSError(errno.EROFS, "Read-only file system"))
    source()
    assert tokens.read() == "r2"
    assert source.problem is not None
    (creds / "imap-refresh-token").write_text("fresh-from-login-print\n")
    assert tokens.read() == "fresh-from-login-print"
    assert source.problem is None  # nothing is at stake any more


# --- the browser sign-in's callback: only this sign-in's state counts ----------------------------------------------

STATE = "Kq3w-this-sign-ins-state-x7"


@pytest.mark.parametrize("address", [
    f"/?code=c0de&state={STATE}",
    f"http://127.0.0.1:4711/?state={STATE}&code=c0de",  # the whole address, pasted back
    f"?code=c0de&state={STATE}&scope=imap",
    f"  http://127.0.0.1:4711/?code=c0de&state={STATE}#\n",
])
def test_a_callback_with_this_sign_ins_state_carries_its_code(address: str) -> None:
    assert oauth.judge_callback(address, STATE) == oauth.Callback(True, code="c0de")


@pytest.mark.parametrize("address", [
    "/?code=c0de&state=wrong",
    "/?code=c0de",  # no state at all
    "/?code=c0de&state=",
    f"/?code=c0de&state={STATE[:-1]}",
    f"/?code=c0de&state={STATE}x",
    f"/?code=c0de&state=wrong&state={STATE}",  # which copy counts is anyone's guess: neither
    f"/?code=a&code=b&state={STATE}",
    "/?error=access_denied&state=wrong",  # a forged refusal ends nothing
    "/?error=access_denied",
    f"/?code=c0de&state={STATE.lower()}",
    "/?code=c0de&state=%C3%A9t%C3%A9",  # not ASCII: still compared, still not ours
])
def test_a_callback_without_this_sign_ins_state_is_not_ours(address: str) -> None:
    assert oauth.judge_callback(address, STATE) == oauth.NOT_OURS


@pytest.mark.parametrize("address", ["/favicon.ico", "/", "", "hello", "http://127.0.0.1:4711/?scope=imap"])
def test_what_is_no_callback_at_all_is_neither(address: str) -> None:
    assert oauth.judge_callback(address, STATE) is None


def test_a_refusal_with_this_sign_ins_state_is_told_in_printable_words() -> None:
    judged = oauth.judge_callback(f"/?error=access_denied&error_description=The+user%0D%0Asaid+no%1B[31m"
                                  f"&state={STATE}", STATE)
    assert judged == oauth.Callback(True, error="access_denied", description="The usersaid no[31m")
