#!/usr/bin/env bash
# The package as a user installs it: build the wheel, check every file of src/deadlinewatch is in it, install it
# non-editable (with the demo's servers) in a fresh virtualenv outside the checkout, and run --help, init and the
# demo from there. Run by CI after the tests; needs the package registries (or their mirror) for the install.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip wheel -q --no-deps -w "$work/dist" . >/dev/null
wheel=$(ls "$work"/dist/deadlinewatch-*.whl)
# every file the package holds in the checkout (templates, catalogs, web assets, …) must be in the wheel
python3 - "$wheel" <<'EOF'
import subprocess, sys, zipfile
shipped = set(zipfile.ZipFile(sys.argv[1]).namelist())
tracked = subprocess.run(["git", "ls-files", "src/deadlinewatch"], capture_output=True, text=True,
                         check=True).stdout.split()
missing = [p for p in tracked if p.removeprefix("src/") not in shipped]
if missing:
    sys.exit("the wheel leaves out: " + ", ".join(missing))
print(f"wheel: all {len(tracked)} files of src/deadlinewatch are in {sys.argv[1].rsplit('/', 1)[-1]}")
EOF
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$wheel[demo]"
cd "$work"  # nothing of the checkout is importable from here
"$work/venv/bin/deadlinewatch" --help >/dev/null
"$work/venv/bin/deadlinewatch" init --out - | grep -q '^\[caldav\]'
"$work/venv/bin/deadlinewatch" demo --out "$work/demo-out" >"$work/demo.log"
ls "$work"/demo-out/*.eml >/dev/null
echo "wheel: --help, init --out - and the demo run from the installed wheel ($(ls "$work"/demo-out | wc -l) files written)"
