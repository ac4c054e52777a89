#!/usr/bin/env bash
# The test command (README: `make test`): sets everything up, then lints, type-checks and runs
# the suite on Python 3.11 and, when installed, 3.13 (which has the public get_verified_chain()),
# and builds the documentation site strictly (its own .venv-docs: the docs extra, kept out of the
# test venv).
set -euo pipefail
cd "$(dirname "$0")/.."
py311=$(scripts/find-python.sh 3.11 || command -v python3)
scripts/bootstrap.sh .venv "$py311" test
echo "== ruff"; .venv/bin/ruff check src tests bench fuzz
echo "== mypy"; .venv/bin/mypy
echo "== import contracts (.importlinter: the layers of DESIGN.md)"; .venv/bin/lint-imports --no-cache
# mitmproxy (a real interception proxy for the client attack tests) in its own venv, once.
scripts/mitm-setup.sh >/dev/null 2>.venv-mitm.log || echo "mitmproxy unavailable (see .venv-mitm.log); its tests will skip"
status=0
echo "== docs: mkdocs build --strict"
scripts/bootstrap.sh .venv-docs "$py311" docs
site=$(mktemp -d)
# the two variables silence banners that mkdocs-material and a plugin print at every build
NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true \
  .venv-docs/bin/mkdocs build --strict -q -d "$site" || { status=$?; echo "docs build FAILED"; }
rm -rf "$site"
if py313=$(scripts/find-python.sh 3.13); then
  scripts/bootstrap.sh .venv313 "$py313" test
  echo "== pytest on $(.venv313/bin/python -V)"
  .venv313/bin/python -m pytest -q -p no:cacheprovider "$@" || status=$?
fi
echo "== pytest on $(.venv/bin/python -V)"
.venv/bin/python -m pytest -q "$@" || status=$?
# Fuzz every parser for a short fixed budget with a fixed seed, on 3.11 only (about 3 minutes).
echo "== fuzz (fuzz/run.py, 140 s, seed 16)"
scripts/fuzz-ci.sh 140 || status=$?
exit $status
