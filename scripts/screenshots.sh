#!/usr/bin/env bash
# docs/screenshots/: every web page as Chromium shows it on a phone (sign-in, the manager's dashboard, the client's
# page in Turkish and in Bengali), taken by the browser tests themselves on real servers — never by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
DEADLINEWATCH_SCREENSHOTS="$PWD/docs/screenshots" .venv/bin/python -m pytest -q -p no:randomly \
  tests/integration/test_browser.py "$@"
