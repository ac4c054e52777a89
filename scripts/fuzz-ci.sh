#!/usr/bin/env bash
# The CI fuzz step: every fuzz target (fuzz/targets.py) for a short fixed budget with a fixed
# seed, on one Python (3.11). About 3 minutes in all: 140 s of fuzzing, then one ~1 MiB input
# per target (scale pass), plus start-up.
#   scripts/fuzz-ci.sh [SECONDS]
# Uses atheris (the `fuzz` extra) where it installs, else fuzz/run.py's seeded mutator.
# Exit 1 if any target crashed; the inputs are under fuzz/crashes/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-140}
py311=$(scripts/find-python.sh 3.11 || command -v python3)
scripts/bootstrap.sh .venv "$py311" test
# atheris as the `fuzz` extra pins it, added to the test venv (keeps bootstrap's stamp as is)
.venv/bin/python -c "import atheris" 2>/dev/null \
  || .venv/bin/python -m pip install -q 'atheris>=2.3' >/dev/null 2>&1 \
  || echo "atheris unavailable: fuzzing with the built-in mutator"
exec .venv/bin/python fuzz/run.py --seconds "$budget" --seed 16
