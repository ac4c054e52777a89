#!/usr/bin/env bash
# Create (or refresh) a virtual environment with certpin installed with EXTRAS (default: test,
# the test tools; `demo` for make demo, `docs` for the documentation build).
#   scripts/bootstrap.sh VENV_DIR PYTHON [EXTRAS]
# Idempotent: re-running only reinstalls when pyproject.toml changed.
set -euo pipefail
venv=${1:?venv dir}; python=${2:?python}; extras=${3:-test}
here=$(cd "$(dirname "$0")/.." && pwd)
stamp="$venv/.certpin-installed"
want="$(sha256sum "$here/pyproject.toml" | cut -c1-16)-$extras"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  "$venv/bin/python" -m pip install -q -e "$here[$extras]"
  echo "$want" > "$stamp"
fi
