#!/usr/bin/env bash
# Install mitmproxy (a real TLS interception proxy used by the attack tests) into its own virtual
# environment, .venv-mitm, once. Prints the path of mitmdump on success.
#   scripts/mitm-setup.sh [VENV_DIR]
# mitmproxy 12 needs Python 3.12+; with only 3.11 available, mitmproxy 11 is installed instead.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-"$here/.venv-mitm"}
stamp="$venv/.mitm-installed"
if [ -f "$stamp" ] && [ -x "$venv/bin/mitmdump" ]; then
  echo "$venv/bin/mitmdump"; exit 0
fi
if py=$("$here/scripts/find-python.sh" 3.12) || py=$("$here/scripts/find-python.sh" 3.13); then
  spec="mitmproxy>=12,<13"
elif py=$("$here/scripts/find-python.sh" 3.11); then
  spec="mitmproxy>=11,<12"
else
  echo "mitm-setup: no Python 3.11-3.13 found" >&2; exit 1
fi
"$py" -m venv "$venv" >&2
"$venv/bin/python" -m pip install -q --upgrade pip >&2 || true
"$venv/bin/python" -m pip install -q "$spec" >&2
"$venv/bin/mitmdump" --version >&2
echo "$spec" > "$stamp"
echo "$venv/bin/mitmdump"
