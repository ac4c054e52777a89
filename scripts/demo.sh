#!/usr/bin/env bash
# The demo (README: `make demo`): sets up a virtual environment, then runs `certpin demo`
# (an embedded HTTPS server on 127.0.0.1; no internet).
set -euo pipefail
cd "$(dirname "$0")/.."
py311=$(scripts/find-python.sh 3.11 || command -v python3)
scripts/bootstrap.sh .venv "$py311" test
exec .venv/bin/certpin demo "$@"
