#!/usr/bin/env bash
# Print the path of a Python interpreter of the version given (e.g. 3.13), or nothing.
set -u
v=${1:?version}
for cand in "python$v" "$(pyenv root 2>/dev/null)/versions/$v"*/bin/python3; do
  p=$(command -v "$cand" 2>/dev/null) || continue
  if "$p" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$v' else 1)" 2>/dev/null; then
    echo "$p"; exit 0
  fi
done
exit 1
