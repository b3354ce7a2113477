#!/usr/bin/env bash
# Create .venv (if needed) and install muse into it.
#   MUSE_TORCH   torch requirement installed first (default: torch==2.13.0, a CPU build here).
#                GPU users: MUSE_TORCH="torch --index-url https://download.pytorch.org/whl/cu124"
#   MUSE_EXTRAS  pip extras to install (default: none; the test script uses "test").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv || { echo "setup: '$PY -m venv' failed; on Debian/Ubuntu run: apt-get install python3-venv" >&2; exit 1; }
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  .venv/bin/python -m pip install -q ${MUSE_TORCH:-torch==2.13.0}
fi
spec="."
[ -n "${MUSE_EXTRAS:-}" ] && spec=".[${MUSE_EXTRAS}]"
.venv/bin/python -m pip install -q -e "$spec"
