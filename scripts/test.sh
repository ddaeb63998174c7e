#!/usr/bin/env bash
# The test suite, on a fresh machine too: installs what it needs, then runs pytest (extra arguments pass on).
# From apt when run as root: Dovecot for the IMAP tests, Debian's PostgreSQL for the shared state's (the tests
# start their own server in a temporary folder), Debian's Chromium (and Noto fonts, so Bengali shows in the
# screenshots) for the browser tests. Without them those tests skip (and fail under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
[ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
browser=()  # the browser needs none of its recommended extras (printing, desktop integration)
[ -x /usr/bin/chromium ] || browser+=(chromium)
[ -d /usr/share/fonts/truetype/noto ] || browser+=(fonts-noto-core)
if [ $(( ${#missing[@]} + ${#browser[@]} )) -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]} ${browser[*]} for the IMAP, PostgreSQL and browser tests …" >&2
    apt-get update -qq
    export DEBIAN_FRONTEND=noninteractive
    [ ${#missing[@]} -eq 0 ] || apt-get install -y -qq "${missing[@]}" >/dev/null
    [ ${#browser[@]} -eq 0 ] || apt-get install -y -qq --no-install-recommends "${browser[@]}" >/dev/null
  else
    missing+=("${browser[@]}")
    echo "note: ${missing[*]} not installed, so the IMAP, PostgreSQL or browser tests will skip" \
         "(sudo apt-get install ${missing[*]})" >&2
  fi
fi
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,dev]'
# two processes (pytest-xdist), each test file in one of them (its servers started once): `-n 0` runs one
exec .venv/bin/python -m pytest -n "${DW_TEST_WORKERS:-2}" --dist loadfile "$@"
