#!/usr/bin/env bash
# The test suite, on a fresh machine too: installs what it needs, then runs pytest (extra arguments pass on).
# Dovecot comes from apt when run as root; without it the IMAP tests skip (and fail under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/sbin/dovecot ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Dovecot (dovecot-imapd) for the IMAP tests …" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
  else
    echo "note: Dovecot is not installed, so the IMAP tests will skip (sudo apt-get install dovecot-imapd)" >&2
  fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,dev]'
exec .venv/bin/python -m pytest "$@"
