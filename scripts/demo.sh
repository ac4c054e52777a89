#!/usr/bin/env bash
# The demo (README: `make demo`): sets up its own virtual environment, .venv-demo, with certpin
# and the `demo` extra only (trustme, certifi: about 40 MB, against about 300 MB for the test
# toolchain in .venv), then runs `certpin demo` (an embedded HTTPS server on 127.0.0.1; no
# internet). `certpin demo` needs nothing else: the CLI imports each command lazily and the demo
# uses the stdlib client helpers only.
set -euo pipefail
cd "$(dirname "$0")/.."
py311=$(scripts/find-python.sh 3.11 || command -v python3)
scripts/bootstrap.sh .venv-demo "$py311" demo
exec .venv-demo/bin/certpin demo "$@"
