#!/usr/bin/env bash
# The translators' round trip, for both domains: the words of the letters' templates (and the sentences Python
# composes, marked _()) into locale/letters.pot, the web pages' into locale/web.pot; then each language's .po
# updated from them (new words empty, gone ones dropped). Edit the .po files with Poedit or Weblate; the tests
# (tests/unit/test_catalogs.py) fail while a .pot is out of date, a word untranslated, or a placeholder differs.
set -euo pipefail
cd "$(dirname "$0")/.."
locale=src/deadlinewatch/locale
pybabel=${PYBABEL:-.venv/bin/pybabel}
extract() {  # domain config output
  "$pybabel" extract -F "$2" --no-location --omit-header --sort-output -o "$3" . 2>/dev/null
}
extract web babel.cfg "$locale/web.pot"
extract letters babel-letters.cfg "$locale/letters.pot"
for d in web letters; do
  for lang in tr bn; do
    po="$locale/$lang/LC_MESSAGES/$d.po"
    if [[ -f "$po" ]]; then
      "$pybabel" update -i "$locale/$d.pot" -d "$locale" -D "$d" -l "$lang" --ignore-obsolete --no-fuzzy-matching
    else
      "$pybabel" init -i "$locale/$d.pot" -d "$locale" -D "$d" -l "$lang"
    fi
  done
done
