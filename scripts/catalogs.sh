#!/usr/bin/env bash
# The translators' round trip: the words of the web pages' templates (and pages.py) extracted into web.pot, then
# each language's web.po updated from it (new words empty, gone ones dropped). Edit the .po files with Poedit or
# Weblate; tests/unit/test_web_pages.py fails while a word is untranslated or a placeholder differs.
set -euo pipefail
cd "$(dirname "$0")/.."
locale=src/deadlinewatch/locale
.venv/bin/pybabel extract -F babel.cfg --no-location --omit-header --sort-output -o "$locale/web.pot" . 2>/dev/null
.venv/bin/pybabel update -i "$locale/web.pot" -d "$locale" -D web --ignore-obsolete \
  --no-fuzzy-matching
