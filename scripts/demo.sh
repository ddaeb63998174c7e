#!/usr/bin/env bash
# The demo, on a fresh machine too: installs deadlinewatch with its demo servers in .venv, then runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[demo]'
exec .venv/bin/deadlinewatch demo "$@"
